//! End-to-end: `activity` — subscriptions and `pull` through the real binary against the
//! emulator's Management Activity API: windows of at most 24 hours across a 60-hour span,
//! `NextPageUri` pages, a throttled blob retried, every event exactly once, `PublisherIdentifier`
//! on every call, a second run with the same `--state` delivering nothing twice, and a `--since`
//! beyond the 7-day retention refused with nothing sent.

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

#[test]
fn pull_lists_24h_windows_follows_pages_retries_a_throttled_blob_and_writes_every_event_once() {
    let emu = Emulator::start();
    emu.config(json!({"content_blobs": 5, "content_page_size": 2}));
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
    let emu = Emulator::start();
    emu.config(json!({"content_blobs": 4, "content_page_size": 10}));
    let env = feed_env(&emu);
    let state = env.dir.path().join("o365-state.json");
    let state_arg = state.display().to_string();
    let now = OffsetDateTime::now_utc().unix_timestamp();
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
    let emu = Emulator::start();
    emu.config(json!({"content_blobs": 2, "content_page_size": 10}));
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
