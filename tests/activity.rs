//! End-to-end: `activity` — subscriptions and `pull` through the real binary against the
//! emulator's Management Activity API: windows of at most 24 hours across a 60-hour span,
//! `NextPageUri` pages, a throttled blob retried, every event exactly once, `PublisherIdentifier`
//! on every call, a second run with the same `--state` delivering nothing twice, a blob that
//! appears late inside a listed span delivered by the next run, a run killed (SIGKILL) mid-way
//! and run again losing nothing, a `--since` beyond the 7-day retention refused with nothing
//! sent; and `listen`, the webhook receiver (validation, auth id, dedupe, SIGTERM).

mod common;
use common::*;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const HOUR: i64 = 3600;

/// An environment for the emulator's tenant whose Management API base is the emulator.
fn feed_env(emu: &Emulator) -> Env {
    let mut env = Env::for_emulator(emu);
    env.set("ENTRA_TOKEN_MANAGEMENT_URL", &emu.base);
    env
}

fn feed_requests(emu: &Emulator) -> Vec<Value> {
    emu.requests()
        .into_iter()
        .filter(|r| r["path"].as_str().unwrap_or("").starts_with("/api/"))
        .collect()
}

fn path(r: &Value) -> &str {
    r["path"].as_str().unwrap_or("")
}

fn params(r: &Value) -> HashMap<String, String> {
    let q = r["query"].as_str().unwrap_or("");
    url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

/// The listing API's times: RFC 3339 with or without the `Z`.
fn api_time(text: &str) -> i64 {
    let t = if text.ends_with('Z') {
        text.to_string()
    } else {
        format!("{text}Z")
    };
    OffsetDateTime::parse(&t, &Rfc3339)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .unix_timestamp()
}

fn rfc3339(epoch: i64) -> String {
    OffsetDateTime::from_unix_timestamp(epoch)
        .unwrap()
        .format(&Rfc3339)
        .unwrap()
}

fn ndjson(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON event per line ({e}): {l}")))
        .collect()
}

/// What tells the emulator's events apart (its `Id`s repeat from one window to the next).
fn event_key(e: &Value) -> String {
    format!("{}|{}|{}", e["CreationTime"], e["ObjectId"], e["Workload"])
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// An emulator whose feed holds only what a test seeds (no generated baseline), listed
/// `page_size` blobs a page.
fn empty_feed(page_size: u64) -> Emulator {
    let emu = Emulator::start();
    emu.config(json!({"content_blobs": 0, "content_page_size": page_size}));
    emu
}

/// `blobs` Audit.General blobs (three events each) created evenly over `[start, end)`.
fn seed(emu: &Emulator, blobs: u64, start: i64, end: i64) {
    emu.control(
        "POST",
        "/_emulator/activity/seed",
        Some(json!({"blobs": blobs, "start": start, "end": end})),
    );
}

/// One Audit.General blob created at `created` and available from `available_at` (default
/// now): the listing entry the emulator made for it.
fn add_blob(emu: &Emulator, created: i64, available_at: Option<i64>) -> Value {
    let mut spec = json!({"content_type": "Audit.General", "created": created});
    if let Some(at) = available_at {
        spec["available_at"] = json!(at);
    }
    emu.control("POST", "/_emulator/activity/content", Some(spec))
}

#[test]
fn pull_lists_24h_windows_follows_pages_retries_a_throttled_blob_and_writes_every_event_once() {
    let emu = empty_feed(2);
    // five blobs well inside each of the three windows a 60-hour span makes
    let t = now();
    for (start, end) in [
        (t - 59 * HOUR, t - 39 * HOUR),
        (t - 35 * HOUR, t - 15 * HOUR),
        (t - 11 * HOUR, t - HOUR),
    ] {
        seed(&emu, 5, start, end);
    }
    emu.fault(json!({"kind": "throttle", "retry_after": "0", "path": "/activity/feed/audit/", "count": 1}));
    let env = feed_env(&emu);
    let r = env.run(&["activity", "pull", "--content-type", "audit.general", "--since", "60h"]);
    r.ok();
    assert!(r.stderr.is_empty(), "no progress on a pipe: {}", r.stderr);

    let reqs = feed_requests(&emu);
    let tenant = fx::TENANT_ID;
    for q in &reqs {
        assert_eq!(
            params(q).get("PublisherIdentifier").map(String::as_str),
            Some(tenant),
            "PublisherIdentifier on {}",
            path(q)
        );
        assert!(q["headers"]["authorization"].as_str().is_some());
    }
    // Listing: three windows of at most 24 h, contiguous, covering the 60 hours; each window's
    // further pages come from NextPageUri.
    let listings: Vec<&Value> = reqs
        .iter()
        .filter(|q| path(q).ends_with("/subscriptions/content"))
        .collect();
    let firsts: Vec<(i64, i64)> = listings
        .iter()
        .map(|q| params(q))
        .filter(|p| !p.contains_key("nextPage"))
        .map(|p| (api_time(&p["startTime"]), api_time(&p["endTime"])))
        .collect();
    assert_eq!(firsts.len(), 3, "{firsts:?}");
    for (i, (start, end)) in firsts.iter().enumerate() {
        assert!(end > start && end - start <= 24 * HOUR, "window {i}: {start}..{end}");
        if i > 0 {
            assert_eq!(*start, firsts[i - 1].1, "windows are contiguous");
        }
    }
    let span = firsts[2].1 - firsts[0].0;
    assert!((60 * HOUR - 120..=60 * HOUR).contains(&span), "span {span}");
    let pages = listings.iter().filter(|q| params(q).contains_key("nextPage")).count();
    assert_eq!(pages, 3 * 2, "5 blobs at 2 a page: two NextPageUri pages per window");

    // Blobs: 15 distinct, the throttled one asked twice.
    let blobs: Vec<&str> = reqs
        .iter()
        .map(path)
        .filter(|p| p.contains("/activity/feed/audit/"))
        .collect();
    let distinct: BTreeSet<&str> = blobs.iter().copied().collect();
    assert_eq!(distinct.len(), 15);
    assert_eq!(blobs.len(), 16, "one 429 retried");

    // Events: 3 per blob, each once, each blob's together.
    let events = ndjson(&r.stdout);
    assert_eq!(events.len(), 45);
    let keys: BTreeSet<String> = events.iter().map(event_key).collect();
    assert_eq!(keys.len(), 45, "no event repeated");
    for chunk in events.chunks(3) {
        let object = |e: &Value| e["ObjectId"].as_str().unwrap().rsplit_once('-').unwrap().0.to_string();
        assert!(
            chunk.iter().all(|e| object(e) == object(&chunk[0])),
            "a blob's events together"
        );
    }
}

#[test]
fn a_second_run_with_the_same_state_writes_nothing_twice_and_fetches_no_blob_again() {
    let emu = empty_feed(10);
    let now = now();
    seed(&emu, 4, now - 19 * HOUR, now - 3 * HOUR);
    let env = feed_env(&emu);
    let state = env.dir.path().join("o365-state.json");
    let state_arg = state.display().to_string();
    let (since, until) = (rfc3339(now - 20 * HOUR), rfc3339(now - 2 * HOUR));
    let args = [
        "activity",
        "pull",
        "--content-type",
        "Audit.General",
        "--since",
        &since,
        "--until",
        &until,
        "--state",
        &state_arg,
    ];
    let first = env.run(&args);
    first.ok();
    assert_eq!(ndjson(&first.stdout).len(), 12);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&state).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the state file is private");
    }
    let blobs_before = feed_requests(&emu)
        .iter()
        .filter(|q| path(q).contains("/activity/feed/audit/"))
        .count();
    assert_eq!(blobs_before, 4);

    // The same window again: listed (same content ids), nothing fetched, nothing written.
    let second = env.run(&args);
    second.ok();
    assert_eq!(second.stdout, "", "every event was delivered by the first run");
    let reqs = feed_requests(&emu);
    let blobs_after = reqs
        .iter()
        .filter(|q| path(q).contains("/activity/feed/audit/"))
        .count();
    assert_eq!(blobs_after, blobs_before, "no blob fetched again");
    assert_eq!(
        reqs.iter()
            .filter(|q| path(q).ends_with("/subscriptions/content"))
            .count(),
        2,
        "each run listed its window once"
    );
}

#[test]
fn since_nine_days_ago_is_exit_2_with_nothing_sent() {
    let emu = Emulator::start();
    let env = feed_env(&emu);
    env.run(&["activity", "pull", "--since", "9d"])
        .fails(2)
        .stderr_has("7 days");
    assert_eq!(
        emu.requests(),
        Vec::<Value>::new(),
        "nothing sent, not even for a token"
    );
}

#[test]
fn subscriptions_start_list_stop_and_a_pull_without_one_is_exit_5_with_the_hint() {
    let emu = Emulator::start();
    let env = feed_env(&emu);
    let r = env.run(&["activity", "subscriptions", "start", "--content-type", "audit.exchange"]);
    r.ok();
    assert_eq!(r.json()["contentType"], "Audit.Exchange");
    let r = env.run(&["activity", "subscriptions", "list"]);
    r.ok();
    let types: BTreeSet<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["contentType"].as_str().unwrap().to_string())
        .collect();
    assert!(types.contains("Audit.Exchange"), "{types:?}");
    env.run(&["activity", "subscriptions", "stop", "--content-type", "Audit.Exchange"])
        .ok();
    let reqs = feed_requests(&emu);
    let ops: Vec<(String, String)> = reqs
        .iter()
        .map(|q| {
            (
                q["method"].as_str().unwrap_or("").to_string(),
                path(q).rsplit('/').next().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        ops,
        [("POST", "start"), ("GET", "list"), ("POST", "stop")].map(|(m, p)| (m.to_string(), p.to_string()))
    );
    assert!(reqs.iter().all(|q| params(q).contains_key("PublisherIdentifier")));

    env.run(&["activity", "pull", "--content-type", "Audit.Exchange"])
        .fails(5)
        .stderr_has("AF20022")
        .stderr_has("subscriptions start");
}

#[test]
fn a_bad_content_type_or_concurrency_is_exit_2_with_nothing_sent() {
    let emu = Emulator::start();
    let env = feed_env(&emu);
    env.run(&["activity", "pull", "--content-type", "Audit.Nothing"])
        .fails(2)
        .stderr_has("Audit.Nothing");
    env.run(&["activity", "pull", "--concurrency", "0"])
        .fails(2)
        .stderr_has("--concurrency");
    assert_eq!(emu.requests(), Vec::<Value>::new());
}

#[test]
fn af429_sent_with_a_403_is_retried_like_a_429() {
    let emu = empty_feed(10);
    seed(&emu, 2, now() - 10 * HOUR, now() - HOUR);
    let af429 = json!({"error": {"code": "AF429", "message": "Too many requests. Method=GetBlob, PublisherId=00000000-0000-0000-0000-000000000000"}});
    emu.fault(
        json!({"kind": "status", "status": 403, "path": "/activity/feed/audit/", "count": 1,
                     "headers": {"Retry-After": "0"}, "body": af429.to_string()}),
    );
    let env = feed_env(&emu);
    let r = env.run(&["activity", "pull", "--content-type", "Audit.General", "--since", "12h"]);
    r.ok();
    assert_eq!(ndjson(&r.stdout).len(), 6);
    let blobs: Vec<String> = feed_requests(&emu)
        .iter()
        .map(|q| path(q).to_string())
        .filter(|p| p.contains("/activity/feed/audit/"))
        .collect();
    assert_eq!(blobs.len(), 3, "the throttled blob asked again: {blobs:?}");

    // Without retries left it is the service's error.
    let emu = Emulator::start();
    emu.fault(
        json!({"kind": "status", "status": 403, "path": "/activity/feed/audit/", "count": 100,
                     "headers": {"Retry-After": "0"}, "body": af429.to_string()}),
    );
    let env = feed_env(&emu);
    let r = env.run(&[
        "activity",
        "pull",
        "--content-type",
        "Audit.General",
        "--since",
        "12h",
        "--max-retries",
        "1",
    ]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("AF429"), "{}", r.stderr);
    let blob_requests = feed_requests(&emu)
        .iter()
        .filter(|q| path(q).contains("/activity/feed/audit/"))
        .count();
    assert!(blob_requests >= 2, "one retry before giving up: {blob_requests}");
}

// ---- activity listen: the webhook receiver ----

const HOOK_SECRET: &str = "hook-s3cr3t-7f4c";

/// A running `activity listen`: its URL (from its first stderr line), stdout and stderr
/// collected by threads so that neither pipe fills up.
struct Listening {
    child: std::process::Child,
    url: String,
    stdout: std::thread::JoinHandle<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Listening {
    fn start(env: &Env, extra: &[&str]) -> Listening {
        use std::io::{BufRead, Read};
        let mut args = vec!["activity", "listen", "--bind", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut child = env
            .command(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start activity listen");
        let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        err.read_line(&mut first).unwrap();
        let Some(url) = first.split_whitespace().find(|w| w.starts_with("http://")) else {
            let _ = child.kill();
            let mut rest = String::new();
            let _ = err.read_to_string(&mut rest);
            panic!("activity listen did not start: {first}{rest}");
        };
        let url = url.to_string();
        let mut out = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut s = String::new();
            out.read_to_string(&mut s).unwrap();
            s
        });
        let stderr = std::thread::spawn(move || {
            let mut s = first;
            err.read_to_string(&mut s).unwrap();
            s
        });
        Listening {
            child,
            url,
            stdout,
            stderr,
        }
    }

    /// POSTs `body` with `headers`; the status.
    fn post(&self, headers: &[(&str, &str)], body: &str) -> u16 {
        post(&self.url, headers, body)
    }

    /// SIGTERM, then the exit (a hang guard of 20 s, far above the few milliseconds it takes).
    fn stop(mut self) -> Run {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(sent.success());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("activity listen did not stop on SIGTERM");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        Run {
            code: status.code().unwrap_or(-1),
            stdout: self.stdout.join().unwrap(),
            stderr: self.stderr.join().unwrap(),
            elapsed: std::time::Duration::ZERO,
        }
    }
}

/// POSTs `body` with `headers` to `url`; the status.
fn post(url: &str, headers: &[(&str, &str)], body: &str) -> u16 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut rb = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .post(url)
            .header("content-type", "application/json; charset=utf-8")
            .body(body.to_string());
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        rb.send().await.expect("the listener answers").status().as_u16()
    })
}

/// The notification the service POSTs for `blobs` (listing entries of the emulator's).
fn notification(blobs: &[&Value]) -> String {
    Value::Array(
        blobs
            .iter()
            .map(|b| {
                let mut n = (*b).clone();
                n["tenantId"] = json!(fx::TENANT_ID);
                n["clientId"] = json!(fx::CLIENT_ID);
                n
            })
            .collect(),
    )
    .to_string()
}

fn content_id(blob: &Value) -> String {
    blob["contentId"].as_str().unwrap().to_string()
}

/// The content ids of the blob downloads, in the order they were asked.
fn blob_fetches(emu: &Emulator) -> Vec<String> {
    feed_requests(emu)
        .iter()
        .map(path)
        .filter(|p| p.contains("/activity/feed/audit/"))
        .map(|p| p.rsplit('/').next().unwrap().to_string())
        .collect()
}

#[test]
fn listen_answers_the_validation_refuses_a_wrong_auth_id_and_writes_notified_events_once() {
    let emu = Emulator::start();
    let env = feed_env(&emu);
    let secret = env.write("hook.secret", format!("{HOOK_SECRET}\n").as_bytes());
    let listening = Listening::start(&env, &["--auth-id-file", &secret.display().to_string()]);
    let auth = ("Webhook-AuthId", HOOK_SECRET);

    // The validation request a subscription start with this webhook sends.
    let validation = json!({"validationCode": "e4b2a3f0-validation"}).to_string();
    assert_eq!(
        listening.post(&[auth, ("Webhook-ValidationCode", "e4b2a3f0-validation")], &validation),
        200
    );

    // Without the shared secret: 401 and nothing fetched.
    let (a, b) = (add_blob(&emu, now() - 900, None), add_blob(&emu, now() - 800, None));
    let note = notification(&[&a, &b]);
    assert_eq!(listening.post(&[("Webhook-AuthId", "not-the-secret")], &note), 401);
    assert_eq!(listening.post(&[], &note), 401);
    assert_eq!(
        listening.post(&[("Webhook-AuthId", &HOOK_SECRET.to_ascii_uppercase())], &note),
        401
    );
    assert_eq!(
        blob_fetches(&emu),
        Vec::<String>::new(),
        "nothing fetched without the auth id"
    );

    // A contentUri on another origin: 400, nothing of that notification fetched.
    let mut elsewhere = add_blob(&emu, now() - 700, None);
    let uri = elsewhere["contentUri"]
        .as_str()
        .unwrap()
        .replace(&emu.base, "http://127.0.0.1:9");
    elsewhere["contentUri"] = json!(uri);
    let evil = notification(&[&elsewhere]);
    assert_eq!(listening.post(&[auth], &evil), 400);
    assert_eq!(blob_fetches(&emu), Vec::<String>::new());

    // The notification: its two blobs fetched and written; the service's retry of it and a
    // notification repeating one of them fetch nothing again.
    assert_eq!(listening.post(&[auth], &note), 200);
    assert_eq!(listening.post(&[auth], &note), 200);
    assert_eq!(listening.post(&[auth], &notification(&[&b])), 200);
    let mut fetched = blob_fetches(&emu);
    fetched.sort();
    let mut expected = [content_id(&a), content_id(&b)];
    expected.sort();
    assert_eq!(fetched, expected, "each notified blob fetched once");
    for q in feed_requests(&emu) {
        assert_eq!(
            params(&q).get("PublisherIdentifier").map(String::as_str),
            Some(fx::TENANT_ID)
        );
    }

    let run = listening.stop();
    run.ok();
    let events = ndjson(&run.stdout);
    assert_eq!(events.len(), 6, "three events per blob, each once:\n{}", run.stdout);
    let keys: BTreeSet<String> = events.iter().map(event_key).collect();
    assert_eq!(keys.len(), 6);
    assert!(run.stderr.contains("refused"), "{}", run.stderr);
    assert!(
        !run.stderr.contains(HOOK_SECRET),
        "the auth id is never logged: {}",
        run.stderr
    );
}

#[test]
fn listen_with_state_never_delivers_a_notified_blob_twice_across_runs() {
    let emu = Emulator::start();
    let env = feed_env(&emu);
    let state = env.dir.path().join("listen-state.json");
    let state_arg = state.display().to_string();
    let mut env = env;
    env.set("ENTRA_TOKEN_WEBHOOK_AUTH_ID", HOOK_SECRET);
    let auth = ("Webhook-AuthId", HOOK_SECRET);
    let (a, b, c) = (
        add_blob(&emu, now() - 900, None),
        add_blob(&emu, now() - 800, None),
        add_blob(&emu, now() - 700, None),
    );

    let first = Listening::start(&env, &["--state", &state_arg]);
    assert_eq!(first.post(&[auth], &notification(&[&a, &b])), 200);
    let first = first.stop();
    first.ok();
    assert_eq!(ndjson(&first.stdout).len(), 6);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&state).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the state file is private");
    }

    // A new process: the state says a and b were delivered.
    let second = Listening::start(&env, &["--state", &state_arg]);
    assert_eq!(second.post(&[auth], &notification(&[&a, &b, &c])), 200);
    let second = second.stop();
    second.ok();
    let events = ndjson(&second.stdout);
    assert_eq!(events.len(), 3, "only the new blob's events:\n{}", second.stdout);
    let before: BTreeSet<String> = ndjson(&first.stdout).iter().map(event_key).collect();
    assert!(
        events.iter().all(|e| !before.contains(&event_key(e))),
        "none of the first run's events again:\n{}",
        second.stdout
    );
    let mut fetched = blob_fetches(&emu);
    fetched.sort();
    let mut expected = [content_id(&a), content_id(&b), content_id(&c)];
    expected.sort();
    assert_eq!(fetched, expected, "each blob fetched once across both runs");
}

#[test]
fn listen_and_a_webhook_start_refuse_bad_input_with_nothing_sent() {
    let emu = Emulator::start();
    let env = feed_env(&emu);
    env.run(&["activity", "listen", "--bind", "127.0.0.1:0"])
        .fails(2)
        .stderr_has("ENTRA_TOKEN_WEBHOOK_AUTH_ID");
    let empty = env.write("empty.secret", b"\n");
    env.run(&[
        "activity",
        "listen",
        "--bind",
        "127.0.0.1:0",
        "--auth-id-file",
        &empty.display().to_string(),
    ])
    .fails(2)
    .stderr_has("--auth-id-file");
    let secret = env.write("hook.secret", HOOK_SECRET.as_bytes());
    let secret_arg = secret.display().to_string();
    env.run(&["activity", "listen", "--bind", "nowhere", "--auth-id-file", &secret_arg])
        .fails(2)
        .stderr_has("--bind");
    env.run(&[
        "activity",
        "subscriptions",
        "start",
        "--webhook",
        "http://hooks.example.com/o365",
        "--auth-id-file",
        &secret_arg,
    ])
    .fails(2)
    .stderr_has("--webhook");
    env.run(&[
        "activity",
        "subscriptions",
        "start",
        "--webhook",
        "https://hooks.example.com/o365",
    ])
    .fails(2)
    .stderr_has("auth id");
    assert_eq!(emu.requests(), Vec::<Value>::new(), "nothing sent");
}

#[test]
fn subscriptions_start_with_a_webhook_sends_its_address_and_auth_id() {
    let emu = Emulator::start();
    let mut env = feed_env(&emu);
    env.set("ENTRA_TOKEN_WEBHOOK_AUTH_ID", HOOK_SECRET);
    let r = env.run(&[
        "activity",
        "subscriptions",
        "start",
        "--content-type",
        "Audit.SharePoint",
        "--webhook",
        "https://hooks.example.com/o365?x=1",
        "-vv",
    ]);
    r.ok();
    assert!(!r.stderr.contains(HOOK_SECRET), "never logged: {}", r.stderr);
    let start = feed_requests(&emu)
        .into_iter()
        .find(|q| path(q).ends_with("/subscriptions/start"))
        .expect("a start request");
    assert_eq!(start["method"], "POST");
    assert_eq!(params(&start)["contentType"], "Audit.SharePoint");
    let body: Value = serde_json::from_str(start["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["webhook"]["address"], "https://hooks.example.com/o365?x=1");
    // sent, and kept by the emulator's request log only as a fingerprint
    assert_eq!(body["webhook"]["authId"], redacted(HOOK_SECRET), "{body}");
}

#[test]
fn listen_stopped_by_sigterm_finishes_the_delivery_in_progress() {
    let emu = Emulator::start();
    // the blob's answer takes a while: SIGTERM arrives while it is being fetched
    emu.fault(json!({"kind": "delay", "delay_ms": 1500, "path": "/activity/feed/audit/", "count": 1}));
    let mut env = feed_env(&emu);
    env.set("ENTRA_TOKEN_WEBHOOK_AUTH_ID", HOOK_SECRET);
    let listening = Listening::start(&env, &[]);
    let (url, note) = (
        listening.url.clone(),
        notification(&[&add_blob(&emu, now() - 600, None)]),
    );
    let sender = std::thread::spawn(move || post(&url, &[("Webhook-AuthId", HOOK_SECRET)], &note));
    let guard = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while blob_fetches(&emu).is_empty() {
        assert!(std::time::Instant::now() < guard, "the blob was never requested");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let run = listening.stop();
    run.ok();
    assert_eq!(sender.join().unwrap(), 200, "the notification in progress was answered");
    assert_eq!(ndjson(&run.stdout).len(), 3, "its events were written:\n{}", run.stdout);
}

// ---- the state file across runs: late content, a killed run ----

fn blob_fetch_count(emu: &Emulator) -> usize {
    blob_fetches(emu).len()
}

#[test]
fn a_blob_that_appears_late_inside_the_first_runs_span_is_delivered_by_the_next_run_and_nothing_twice() {
    let emu = empty_feed(10);
    let t = now();
    seed(&emu, 3, t - 10 * HOUR, t - 2 * HOUR);
    let env = feed_env(&emu);
    let state = env.dir.path().join("late-state.json").display().to_string();
    let args = ["activity", "pull", "--content-type", "Audit.General", "--state", &state];
    let first = env.run(&[&args[..], &["--since", "12h"]].concat());
    first.ok();
    let first_events: BTreeSet<String> = ndjson(&first.stdout).iter().map(event_key).collect();
    assert_eq!(first_events.len(), 9);

    // Content created 5 hours ago, inside the window the first run listed, shows up only now.
    let late = add_blob(&emu, t - 5 * HOUR, None);
    let second = env.run(&args);
    second.ok();
    let second_events: Vec<Value> = ndjson(&second.stdout);
    assert_eq!(second_events.len(), 3, "the late blob's events:\n{}", second.stdout);
    assert!(
        second_events.iter().all(|e| !first_events.contains(&event_key(e))),
        "nothing repeated"
    );
    let fetched = blob_fetches(&emu);
    let distinct: BTreeSet<&String> = fetched.iter().collect();
    assert_eq!(fetched.len(), 4, "each blob fetched once: {fetched:?}");
    assert_eq!(distinct.len(), 4);
    assert!(fetched.contains(&content_id(&late)));

    // A third run finds nothing new.
    let third = env.run(&args);
    third.ok();
    assert_eq!(third.stdout, "");
    assert_eq!(blob_fetch_count(&emu), 4);
}

#[test]
fn a_run_killed_mid_way_then_run_again_loses_nothing() {
    let emu = empty_feed(5);
    let t = now();
    // twelve blobs an hour apart, listed in that order
    let blobs: Vec<Value> = (0..12)
        .map(|i| {
            let created = t - (14 - i) * HOUR;
            add_blob(&emu, created, Some(created))
        })
        .collect();
    // the eighth blob's answer is held back: the run is killed while it waits for it
    let held = content_id(&blobs[7]);
    emu.fault(json!({"kind": "delay", "delay_ms": 30000, "path": held.clone(), "count": 1}));
    let env = feed_env(&emu);
    let state = env.dir.path().join("killed-state.json").display().to_string();
    let args = [
        "activity",
        "pull",
        "--content-type",
        "Audit.General",
        "--since",
        "16h",
        "--concurrency",
        "1",
        "--state",
        &state,
    ];
    let mut child = env
        .command(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).unwrap();
        s
    });
    let guard = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !blob_fetches(&emu).contains(&held) {
        assert!(std::time::Instant::now() < guard, "the held blob was never requested");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let killed = ndjson(&reader.join().unwrap());
    assert!(!killed.is_empty(), "the blobs before the held one were written");

    let rerun = env.run(&args);
    rerun.ok();
    let again = ndjson(&rerun.stdout);
    let all: BTreeSet<String> = killed.iter().chain(&again).map(event_key).collect();
    assert_eq!(all.len(), 36, "every event of the twelve blobs, nothing lost");
    assert!(
        killed.len() + again.len() <= 36 + 3,
        "duplicates at most from the one blob in flight (--concurrency 1): {} + {}",
        killed.len(),
        again.len()
    );
}

// ---- the emulator's webhook delivery to `activity listen` ----

fn deliveries(emu: &Emulator) -> Vec<(String, String, Value)> {
    emu.control("GET", "/_emulator/webhook-deliveries", None)
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().to_string(),
                d["contentType"].as_str().unwrap().to_string(),
                d["status"].clone(),
            )
        })
        .collect()
}

fn add_content(emu: &Emulator, content_type: &str) -> Value {
    emu.control(
        "POST",
        "/_emulator/activity/content",
        Some(json!({"content_type": content_type, "created": now() - 600})),
    )
}

#[test]
fn the_emulator_validates_the_webhook_and_notifies_listen_which_fetches_only_with_the_right_auth_id() {
    let emu = empty_feed(10);
    let mut env = feed_env(&emu);
    env.set("ENTRA_TOKEN_WEBHOOK_AUTH_ID", HOOK_SECRET);
    let listening = Listening::start(&env, &[]);
    let hook = listening.url.clone();

    // A subscription with this webhook: the service validates it while starting it.
    env.run(&[
        "activity",
        "subscriptions",
        "start",
        "--content-type",
        "Audit.SharePoint",
        "--webhook",
        &hook,
    ])
    .ok();
    let s = "Audit.SharePoint".to_string();
    assert_eq!(deliveries(&emu), [("validation".to_string(), s.clone(), json!(200))]);

    // New content: notified, fetched, written.
    let good = add_content(&emu, "Audit.SharePoint");
    assert_eq!(deliveries(&emu)[1], ("notification".to_string(), s, json!(200)));
    assert_eq!(blob_fetches(&emu), [content_id(&good)]);

    // A subscription registered with another auth id: its validation and notifications are
    // refused (401) and nothing is fetched.
    let mut other = feed_env(&emu);
    other.set("ENTRA_TOKEN_WEBHOOK_AUTH_ID", "an-old-secret");
    other
        .run(&[
            "activity",
            "subscriptions",
            "start",
            "--content-type",
            "Audit.Exchange",
            "--webhook",
            &hook,
        ])
        .ok();
    add_content(&emu, "Audit.Exchange");
    let x = "Audit.Exchange".to_string();
    assert_eq!(
        deliveries(&emu)[2..],
        [
            ("validation".to_string(), x.clone(), json!(401)),
            ("notification".to_string(), x, json!(401)),
        ]
    );
    assert_eq!(
        blob_fetches(&emu),
        [content_id(&good)],
        "nothing fetched for a refused notification"
    );

    let run = listening.stop();
    run.ok();
    assert_eq!(
        ndjson(&run.stdout).len(),
        3,
        "the notified blob's events, once:\n{}",
        run.stdout
    );
}
