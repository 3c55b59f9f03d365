//! End-to-end: `consent-url` (URLs, --listen capture, declined/forged/timeout), `redeem`
//! (single use, state checks, public client), `login` (browser + PKCE through the loopback
//! listener, forged state, loopback-only binding, device code), `get --user` (refresh-token
//! grant with rotation, account choice), `logout`, file modes, and a real headless Chromium
//! sign-in. The test plays the browser by following the emulator's redirects to the listener.

mod common;
use common::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const GRAPH_DEFAULT: &str = "https://graph.microsoft.com/.default";
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A command running in the background whose stderr is read line by line.
struct Bg {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

fn spawn(env: &Env, args: &[&str]) -> Bg {
    let mut c = env.command(args);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn entra-token");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(l) = line else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    Bg {
        child,
        lines: rx,
        seen: Vec::new(),
    }
}

impl Bg {
    /// The first stderr line that satisfies `pred` (waits up to 30 s).
    fn line(&mut self, pred: impl Fn(&str) -> bool) -> String {
        if let Some(l) = self.seen.iter().find(|l| pred(l)) {
            return l.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if pred(&l) {
                        return l;
                    }
                }
                Err(_) => panic!("no such stderr line; seen: {:#?}", self.seen),
            }
        }
    }

    /// The URL printed on stderr (authorize or consent).
    fn url(&mut self) -> String {
        self.line(|l| l.starts_with("http://") || l.starts_with("https://"))
    }

    fn finish(mut self) -> Run {
        let mut stdout = String::new();
        self.child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
        let status = self.child.wait().unwrap();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(l);
        }
        Run {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr: self.seen.join("\n") + "\n",
            elapsed: Duration::ZERO,
        }
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Plays the browser: GETs `url`, following redirects (the emulator's 302 to the loopback
/// listener). Returns the final status, URL and body.
fn browse(url: &str) -> (u16, String, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let resp = client.get(url).send().await.expect("browser GET");
        let status = resp.status().as_u16();
        let final_url = resp.url().to_string();
        (status, final_url, resp.text().await.unwrap_or_default())
    })
}

/// GETs `url` without following redirects; returns the status, `Location` (if any) and body.
fn get_no_follow(url: &str) -> (u16, Option<String>, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let resp = client.get(url).send().await.expect("GET");
        let status = resp.status().as_u16();
        let loc = resp.headers().get("location").map(|l| l.to_str().unwrap().to_string());
        (status, loc, resp.text().await.unwrap_or_default())
    })
}

/// GETs `url` without following redirects; returns the `Location` header of its 302.
fn location(url: &str) -> String {
    let (status, loc, body) = get_no_follow(url);
    assert_eq!(status, 302, "{body}");
    loc.expect("a Location header")
}

fn query(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param(url: &str, name: &str) -> Option<String> {
    query(url).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// POSTs to a token endpoint (`emu.token_requests()` also counts GET /authorize).
fn token_endpoint_posts(emu: &Emulator) -> Vec<Value> {
    emu.requests()
        .into_iter()
        .filter(|r| r["method"] == "POST" && r["path"].as_str().unwrap_or("").ends_with("/token"))
        .collect()
}

fn token_posts<'a>(reqs: &'a [Value], grant: &str) -> Vec<&'a Value> {
    reqs.iter()
        .filter(|r| r["method"] == "POST" && r["form"]["grant_type"] == grant)
        .collect()
}

/// An environment for the public-client fixture app (no credential at all).
fn public_env(emu: &Emulator) -> Env {
    let mut env = Env::for_emulator(emu);
    env.unset("AZURE_CLIENT_SECRET");
    env.set("AZURE_CLIENT_ID", fx::PUBLIC_CLIENT_ID);
    env.set("ENTRA_TOKEN_CACHE", "file");
    env
}

/// Runs `login --no-browser` and completes it by following the printed URL.
fn login(env: &Env, extra: &[&str]) -> (Run, String) {
    let mut args = vec!["login", "--no-browser"];
    args.extend_from_slice(extra);
    let mut bg = spawn(env, &args);
    let url = bg.url();
    let (status, _, body) = browse(&url);
    let run = bg.finish();
    assert!(status == 200 || run.code != 0, "page {status}: {body}");
    (run, url)
}

// ---- consent-url ----------------------------------------------------------------------------

#[test]
fn consent_url_forms_and_state() {
    let emu = Emulator::start();
    let mut env = Env::for_emulator(&emu);
    env.unset("AZURE_TENANT_ID");
    let cb = "https://app.contoso.com/callback";
    let a = env.run(&["consent-url", "--redirect-uri", cb]);
    a.ok();
    let url = a.stdout.trim();
    assert!(
        url.starts_with(&format!("{}/organizations/adminconsent?", emu.base)),
        "{url}"
    );
    assert_eq!(param(url, "client_id").as_deref(), Some(fx::CLIENT_ID));
    assert_eq!(param(url, "redirect_uri").as_deref(), Some(cb));
    let state = param(url, "state").unwrap();
    assert!(state.len() >= 22, "at least 128 bits: {state}");
    let b = env.run(&["consent-url", "--redirect-uri", cb]);
    assert_ne!(param(b.stdout.trim(), "state").unwrap(), state, "a new state per call");
    assert!(emu.requests().is_empty(), "printing a URL sends nothing");

    let s = env.run(&[
        "consent-url",
        "--redirect-uri",
        cb,
        "--scope",
        GRAPH_DEFAULT,
        "--state",
        "xyz",
    ]);
    s.ok();
    let u = s.stdout.trim();
    assert!(u.contains("/organizations/v2.0/adminconsent?"), "{u}");
    assert_eq!(param(u, "scope").as_deref(), Some(GRAPH_DEFAULT));
    assert_eq!(param(u, "state").as_deref(), Some("xyz"));

    let v1 = env.run(&[
        "--tenant",
        fx::OTHER_TENANT_DOMAIN,
        "consent-url",
        "--v1",
        "--resource",
        fx::MANAGE_OFFICE_RESOURCE,
        "--redirect-uri",
        cb,
    ]);
    v1.ok();
    let u = v1.stdout.trim();
    assert!(
        u.contains(&format!("/{}/oauth2/authorize?", fx::OTHER_TENANT_DOMAIN)),
        "{u}"
    );
    for (k, v) in [
        ("response_type", "code"),
        ("resource", fx::MANAGE_OFFICE_RESOURCE),
        ("prompt", "admin_consent"),
    ] {
        assert_eq!(param(u, k).as_deref(), Some(v), "{k} in {u}");
    }
    env.run(&["consent-url"]).fails(2).stderr_has("--redirect-uri");
    env.run(&["consent-url", "--resource", "x", "--redirect-uri", cb])
        .fails(2);
}

#[test]
fn consent_listen_captures_the_tenant_then_app_only_tokens_work_there() {
    let emu = Emulator::start();
    let mut env = Env::for_emulator(&emu);
    env.unset("AZURE_TENANT_ID");
    env.set("ENTRA_TOKEN_CACHE", "none");
    // before consent, the app does not exist in the customer's tenant
    env.run(&["get", "--tenant", fx::OTHER_TENANT_ID])
        .fails(3)
        .stderr_has("AADSTS700016");

    emu.config(json!({"signed_in_user": fx::OTHER_ADMIN_UPN}));
    let mut bg = spawn(&env, &["consent-url", "--listen", "--no-browser", "-o", "json"]);
    let url = bg.url();
    assert!(
        url.starts_with(&format!("{}/organizations/adminconsent?", emu.base)),
        "{url}"
    );
    let redirect = param(&url, "redirect_uri").unwrap();
    assert!(
        redirect.starts_with("http://localhost:") && !redirect.starts_with("http://localhost:0/"),
        "{redirect}"
    );
    let state = param(&url, "state").unwrap();
    let (status, landed, page) = browse(&url);
    assert_eq!(status, 200, "{page}");
    assert!(landed.starts_with(&redirect), "{landed}");
    assert!(page.contains("complete"), "{page}");
    let run = bg.finish();
    run.ok();
    let out = run.json();
    assert_eq!(out["tenant"], fx::OTHER_TENANT_ID);
    assert_eq!(out["admin_consent"], true);
    assert_eq!(out["state"], state.as_str());
    assert!(!run.stderr.contains("error"), "{}", run.stderr);

    let reqs = emu.requests();
    assert!(
        reqs.iter()
            .any(|r| r["method"] == "GET" && r["path"] == "/organizations/adminconsent"),
        "{reqs:#?}"
    );
    let t = env.run(&["get", "--tenant", fx::OTHER_TENANT_ID]);
    t.ok();
    assert_eq!(claims(&t.token())["tid"], fx::OTHER_TENANT_ID);

    // text output: the tenant id alone; the /v2.0/adminconsent form with scope
    let mut bg = spawn(
        &env,
        &["consent-url", "--listen", "--no-browser", "--scope", GRAPH_DEFAULT],
    );
    let url = bg.url();
    assert!(url.contains("/organizations/v2.0/adminconsent?"), "{url}");
    browse(&url);
    let run = bg.finish();
    run.ok();
    assert_eq!(run.stdout, format!("{}\n", fx::OTHER_TENANT_ID));
}

#[test]
fn consent_v1_listen_learns_the_tenant_from_the_code() {
    let emu = Emulator::start();
    let mut env = Env::for_emulator(&emu);
    env.unset("AZURE_TENANT_ID");
    env.set("ENTRA_TOKEN_CACHE", "none");
    emu.config(json!({"signed_in_user": fx::OTHER_ADMIN_UPN}));
    let args = [
        "consent-url",
        "--listen",
        "--no-browser",
        "--v1",
        "--resource",
        fx::MANAGE_OFFICE_RESOURCE,
    ];
    let mut bg = spawn(&env, &args);
    let url = bg.url();
    assert!(
        url.contains("/organizations/oauth2/authorize?") && url.contains("prompt=admin_consent"),
        "{url}"
    );
    browse(&url);
    let run = bg.finish();
    run.ok();
    assert_eq!(run.stdout, format!("{}\n", fx::OTHER_TENANT_ID));
    let reqs = emu.requests();
    let posts = token_posts(&reqs, "authorization_code");
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["path"], "/organizations/oauth2/token");
    assert_eq!(posts[0]["form"]["resource"], fx::MANAGE_OFFICE_RESOURCE);
    env.run(&[
        "get",
        "--tenant",
        fx::OTHER_TENANT_ID,
        "--v1",
        "--resource",
        fx::MANAGE_OFFICE_RESOURCE,
    ])
    .ok();
}

#[test]
fn consent_declined_is_exit_3_with_the_aadsts_code() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    emu.config(json!({"decline_next": true}));
    let mut bg = spawn(&env, &["consent-url", "--listen", "--no-browser"]);
    let (_, _, page) = browse(&bg.url());
    assert!(page.contains("failed") && page.contains("AADSTS65004"), "{page}");
    bg.finish().fails(3).stderr_has("AADSTS65004").stderr_has("cancel");
}

#[test]
fn consent_redirect_with_a_forged_state_or_no_tenant_is_refused() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let mut bg = spawn(&env, &["consent-url", "--listen", "--no-browser"]);
    let url = bg.url();
    let redirect = param(&url, "redirect_uri").unwrap();
    let (status, _, page) = browse(&format!(
        "{redirect}?admin_consent=True&tenant={}&state=forged",
        fx::OTHER_TENANT_ID
    ));
    assert_eq!(status, 400);
    assert!(page.contains("refused"), "{page}");
    // any local process can reach the port: the forged request does not end the wait, and the
    // real redirect that follows is taken
    let state = param(&url, "state").unwrap();
    let (status, _, page) = browse(&format!(
        "{redirect}?admin_consent=True&tenant={}&state={state}",
        fx::TENANT_ID
    ));
    assert_eq!(status, 200, "{page}");
    let run = bg.finish();
    run.ok().stderr_has("state does not match");
    assert_eq!(run.stdout.trim(), fx::TENANT_ID);

    // a forged request alone: the command waits until --wait, then gives up (exit 4)
    let mut bg = spawn(&env, &["consent-url", "--listen", "--no-browser", "--wait", "2"]);
    let redirect = param(&bg.url(), "redirect_uri").unwrap();
    let (status, _, _) = browse(&format!("{redirect}?admin_consent=True&tenant=x&state=forged"));
    assert_eq!(status, 400);
    bg.finish()
        .fails(4)
        .stderr_has("state does not match")
        .stderr_has("within 2 s");

    let mut bg = spawn(&env, &["consent-url", "--listen", "--no-browser", "--state", "s1"]);
    let redirect = param(&bg.url(), "redirect_uri").unwrap();
    browse(&format!("{redirect}?admin_consent=True&state=s1"));
    bg.finish().fails(3).stderr_has("no tenant");

    // the documented error form with admin_consent=True
    let mut bg = spawn(&env, &["consent-url", "--listen", "--no-browser", "--state", "s2"]);
    let redirect = param(&bg.url(), "redirect_uri").unwrap();
    browse(&format!(
        "{redirect}?admin_consent=True&error=consent_required&error_description=AADSTS65004%3a+declined&state=s2"
    ));
    bg.finish().fails(3).stderr_has("AADSTS65004");
}

#[test]
fn consent_listen_gives_up_after_wait() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let r = timed(|| env.run(&["consent-url", "--listen", "--no-browser", "--wait", "1"]));
    r.fails(4).stderr_has("within 1 s");
    assert!(r.elapsed < Duration::from_secs(10), "{:?}", r.elapsed);
}

// ---- redeem -----------------------------------------------------------------------------------

/// The v2 /authorize URL of the home tenant for `client_id` and `redirect_uri`.
fn authorize_url(emu: &Emulator, client_id: &str, redirect_uri: &str, state: &str) -> url::Url {
    let mut url = url::Url::parse(&format!("{}/{}/oauth2/v2.0/authorize", emu.base, fx::TENANT_ID)).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", &format!("{GRAPH_DEFAULT} openid profile offline_access"))
        .append_pair("state", state);
    url
}

/// An authorization code for `client_id`, obtained by GETting /authorize without following the
/// redirect (to the registered web callback).
fn code_url(emu: &Emulator, client_id: &str, state: &str, challenge: Option<&str>) -> String {
    let mut url = authorize_url(emu, client_id, "https://app.contoso.com/callback", state);
    if let Some(c) = challenge {
        url.query_pairs_mut()
            .append_pair("code_challenge", c)
            .append_pair("code_challenge_method", "S256");
    }
    location(url.as_str())
}

#[test]
fn redeem_once_prints_like_get_and_stores_the_refresh_token() {
    let emu = Emulator::start();
    let mut env = Env::for_emulator(&emu);
    env.set("ENTRA_TOKEN_CACHE", "file");
    let landed = code_url(&emu, fx::CLIENT_ID, "st-1", None);
    let r = env.run(&[
        "redeem",
        "--redirect-url",
        &landed,
        "--expected-state",
        "st-1",
        "-o",
        "json",
    ]);
    r.ok();
    let v = r.json();
    assert_eq!(v["tenant"], fx::TENANT_ID);
    assert_eq!(claims(v["accessToken"].as_str().unwrap())["upn"], fx::ADMIN_UPN);
    assert!(
        v.get("refresh_token").is_none(),
        "not without --show-refresh-token: {v}"
    );
    let posts = token_endpoint_posts(&emu);
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["form"]["grant_type"], "authorization_code");
    assert_eq!(posts[0]["form"]["redirect_uri"], "https://app.contoso.com/callback");
    assert_eq!(
        posts[0]["form"]["client_secret"],
        redacted(fx::CLIENT_SECRET).as_str(),
        "confidential client"
    );

    // a second redemption of the same code: 54005, exactly one more request (never retried)
    let again = env.run(&["redeem", "--redirect-url", &landed]);
    again.fails(3).stderr_has("AADSTS54005");
    assert_eq!(token_endpoint_posts(&emu).len(), 2);

    // the refresh token was stored: get --user works without a browser
    let u = env.run(&["get", "--user", "--scope", "https://graph.microsoft.com/User.Read"]);
    u.ok();
    assert_eq!(claims(&u.token())["upn"], fx::ADMIN_UPN);
    let reqs = emu.requests();
    assert_eq!(token_posts(&reqs, "refresh_token").len(), 1);

    // --show-refresh-token; --code with an explicit --redirect-uri
    let landed = code_url(&emu, fx::CLIENT_ID, "st-2", None);
    let code = param(&landed, "code").unwrap();
    let r = env.run(&[
        "redeem",
        "--code",
        &code,
        "--redirect-uri",
        "https://app.contoso.com/callback",
        "-o",
        "json",
        "--show-refresh-token",
    ]);
    r.ok();
    assert!(r.json()["refresh_token"].as_str().is_some_and(|t| !t.is_empty()));
    env.run(&["redeem", "--code", "x"])
        .fails(2)
        .stderr_has("--redirect-uri");
}

#[test]
fn redeem_refuses_wrong_state_and_error_redirects_before_sending() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let landed = code_url(&emu, fx::CLIENT_ID, "good", None);
    env.run(&["redeem", "--redirect-url", &landed, "--expected-state", "other"])
        .fails(2)
        .stderr_has("state");
    let err = "https://app.contoso.com/callback?error=access_denied&error_subcode=cancel&error_description=AADSTS65004%3a+User+declined&state=good";
    env.run(&["redeem", "--redirect-url", err])
        .fails(3)
        .stderr_has("AADSTS65004");
    assert!(token_endpoint_posts(&emu).is_empty(), "nothing was sent");
}

#[test]
fn redeem_as_public_client_with_pkce_sends_no_credential() {
    let emu = Emulator::start();
    let env = public_env(&emu);
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU2p1r-wW1gFWFOEjXk";
    let challenge = "ds6m7b3BphPhC5KVSTwj-8sjyMhumHpOHDawE-oZNgQ";
    let landed = code_url(&emu, fx::PUBLIC_CLIENT_ID, "p", Some(challenge));
    let wrong = env.write("wrong-verifier", b"wrong-verifier-wrong-verifier-wrong-verif\n");
    env.run(&[
        "redeem",
        "--redirect-url",
        &landed,
        "--code-verifier-file",
        wrong.to_str().unwrap(),
    ])
    .fails(3)
    .stderr_has("AADSTS501481");
    let landed = code_url(&emu, fx::PUBLIC_CLIENT_ID, "p", Some(challenge));
    // '-': the verifier comes on stdin, never on the command line
    let r = env.run_stdin(
        &["redeem", "--redirect-url", &landed, "--code-verifier-file", "-"],
        format!("{verifier}\n").as_bytes(),
    );
    r.ok();
    assert!(!r.stderr.contains(verifier), "{}", r.stderr);
    let posts = token_endpoint_posts(&emu);
    assert_eq!(posts.last().unwrap()["form"]["code_verifier"], redacted(verifier));
    for r in token_endpoint_posts(&emu) {
        let form = r["form"].as_object().unwrap();
        assert!(
            !form.contains_key("client_secret") && !form.contains_key("client_assertion"),
            "public client: {form:?}"
        );
    }
}

#[test]
fn a_redemption_answered_503_is_not_retried() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let landed = code_url(&emu, fx::CLIENT_ID, "r", None);
    // one 503 only: a retry would have succeeded
    emu.fault(json!({"kind": "status", "status": 503, "headers": {"Retry-After": "0"}, "path": "/token"}));
    let r = env.run(&["redeem", "--redirect-url", &landed]);
    // exit 4 (5xx from the token endpoint), at once: a code is single-use, a retry could be a reuse
    r.fails(4).stderr_has("HTTP 503");
    let posts = token_endpoint_posts(&emu);
    assert_eq!(posts.len(), 1, "never retried: {posts:#?}");
    assert_eq!(posts[0]["form"]["grant_type"], "authorization_code");
    assert_eq!(
        posts[0]["form"]["code"],
        redacted(&param(&landed, "code").unwrap()).as_str()
    );
    assert_eq!(posts[0]["status"], 503);
}

#[test]
fn redirect_uris_are_matched_as_entra_does() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    // a loopback registration (http://localhost) accepts any port at /authorize ...
    let loopback = "http://localhost:53111/";
    let landed = location(authorize_url(&emu, fx::CLIENT_ID, loopback, "lb").as_str());
    assert!(landed.starts_with(&format!("{loopback}?code=")), "{landed}");
    let code = param(&landed, "code").unwrap();
    // ... but /token wants the very URI the code was issued to
    let r = env.run(&["redeem", "--code", &code, "--redirect-uri", "https://evil.example/cb"]);
    r.fails(3)
        .stderr_has("AADSTS50011")
        .stderr_has("https://evil.example/cb");
    let posts = token_endpoint_posts(&emu);
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["form"]["code"], redacted(&code).as_str());
    assert_eq!(posts[0]["form"]["redirect_uri"], "https://evil.example/cb");
    assert_eq!(posts[0]["status"], 400);

    // an unregistered redirect URI at /authorize: an error page, never a redirect to it
    let url = authorize_url(&emu, fx::CLIENT_ID, "https://evil.example/cb", "ev");
    let (status, loc, page) = get_no_follow(url.as_str());
    assert_eq!(status, 400, "{page}");
    assert_eq!(loc, None, "no redirect");
    assert!(page.contains("AADSTS50011"), "{page}");
    assert!(!page.contains("code="), "no code issued: {page}");
    // and not for a registered host with another path or scheme either
    for other in ["http://localhost:53111/other", "https://localhost:53111/"] {
        let url = authorize_url(&emu, fx::CLIENT_ID, other, "ev");
        let (status, loc, page) = get_no_follow(url.as_str());
        assert!(status == 400 && loc.is_none(), "{other}: {status} {loc:?} {page}");
    }
}

// ---- login (browser) ---------------------------------------------------------------------------

#[test]
fn login_public_client_pkce_then_get_user_from_the_refresh_token() {
    let emu = Emulator::start();
    let env = public_env(&emu);
    let (run, url) = login(&env, &[]);
    run.ok();
    assert!(run.stdout.is_empty(), "login prints no token: {}", run.stdout);
    run.stderr_has(&format!("Signed in as {}", fx::ADMIN_UPN));
    assert!(
        url.starts_with(&format!("{}/{}/oauth2/v2.0/authorize?", emu.base, fx::TENANT_ID)),
        "{url}"
    );
    for (k, v) in [
        ("code_challenge_method", "S256"),
        ("response_type", "code"),
        ("client_id", fx::PUBLIC_CLIENT_ID),
    ] {
        assert_eq!(param(&url, k).as_deref(), Some(v), "{k}");
    }
    let scope = param(&url, "scope").unwrap();
    for s in [GRAPH_DEFAULT, "openid", "profile", "offline_access"] {
        assert!(scope.split(' ').any(|x| x == s), "{s} in {scope}");
    }
    assert!(param(&url, "state").unwrap().len() >= 22 && param(&url, "nonce").unwrap().len() >= 22);
    assert_eq!(param(&url, "code_challenge").unwrap().len(), 43);
    let redirect = param(&url, "redirect_uri").unwrap();
    assert!(
        redirect.starts_with("http://localhost:") && redirect.ends_with('/'),
        "{redirect}"
    );

    let reqs = emu.requests();
    let posts = token_posts(&reqs, "authorization_code");
    assert_eq!(posts.len(), 1, "{reqs:#?}");
    let form = posts[0]["form"].as_object().unwrap();
    assert_eq!(form["redirect_uri"], redirect.as_str());
    assert!(
        form["code_verifier"]
            .as_str()
            .unwrap()
            .starts_with("[redacted 43 chars sha256:"),
        "a 43-character verifier, logged redacted: {form:?}"
    );
    assert!(!form.contains_key("client_secret") && !form.contains_key("client_assertion"));

    // the account is stored: a cached user token (no request), then the refresh-token grant
    let before = emu.requests().len();
    let t = env.run(&["get", "--user"]);
    t.ok();
    assert_eq!(emu.requests().len(), before, "served from the cache");
    let c = claims(&t.token());
    assert_eq!(
        (c["upn"].as_str(), c["tid"].as_str()),
        (Some(fx::ADMIN_UPN), Some(fx::TENANT_ID))
    );
    env.run(&["get", "--user", "--force-refresh", "-o", "json"]).ok();
    env.run(&["get", "--user", "--force-refresh"]).ok();
    let reqs = emu.requests();
    let refreshes = token_posts(&reqs, "refresh_token");
    assert_eq!(refreshes.len(), 2);
    let (rt1, rt2) = (
        &refreshes[0]["form"]["refresh_token"],
        &refreshes[1]["form"]["refresh_token"],
    );
    assert_ne!(rt1, rt2, "the rotated refresh token was stored and used");
    assert!(!refreshes[0]["form"].as_object().unwrap().contains_key("client_secret"));
    let authorizes = reqs
        .iter()
        .filter(|r| r["path"].as_str().unwrap().ends_with("/authorize"))
        .count();
    assert_eq!(authorizes, 1, "get --user never needs the browser");

    // cache list shows the account (never a token); every file is private
    let list = env.run(&["cache", "list", "-o", "json"]);
    list.ok();
    let rows = list.json();
    let kinds: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"refresh") && kinds.contains(&"user"), "{rows}");
    assert!(rows.as_array().unwrap().iter().all(|r| r["account"] == fx::ADMIN_UPN));
    assert!(!list.stdout.contains(rt2.as_str().unwrap()));
    check_private_files(&env);
}

#[cfg(unix)]
fn check_private_files(env: &Env) {
    use std::os::unix::fs::PermissionsExt;
    let files = files_under(&env.home());
    assert!(!files.is_empty());
    for f in files {
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} has mode {mode:o}", f.display());
    }
}

#[cfg(not(unix))]
fn check_private_files(_: &Env) {}

#[test]
fn login_confidential_client_sends_its_credential() {
    let emu = Emulator::start();
    let mut env = Env::for_emulator(&emu);
    env.set("ENTRA_TOKEN_CACHE", "file");
    let (run, _) = login(&env, &["--login-hint", fx::ADMIN_UPN, "--prompt", "select_account"]);
    run.ok();
    let reqs = emu.requests();
    let auth = reqs
        .iter()
        .find(|r| r["path"].as_str().unwrap().ends_with("/authorize"))
        .unwrap();
    let q = auth["query"].as_str().unwrap();
    assert!(
        q.contains("login_hint=admin%40contoso") && q.contains("prompt=select_account"),
        "{q}"
    );
    let posts = token_posts(&reqs, "authorization_code");
    assert_eq!(posts[0]["form"]["client_secret"], redacted(fx::CLIENT_SECRET).as_str());
}

#[test]
fn login_public_client_with_a_secret_is_rejected_by_entra() {
    let emu = Emulator::start();
    let mut env = public_env(&emu);
    env.set("AZURE_CLIENT_SECRET", "not-for-public-clients");
    let (run, _) = login(&env, &[]);
    run.fails(3).stderr_has("AADSTS700025");
}

#[test]
fn login_refuses_a_forged_state_and_redeems_nothing() {
    let emu = Emulator::start();
    let env = public_env(&emu);
    let mut bg = spawn(&env, &["login", "--no-browser"]);
    let url = bg.url();
    let redirect = param(&url, "redirect_uri").unwrap();
    let (status, _, page) = browse(&format!("{redirect}?code=1.forged&state=not-the-one"));
    assert_eq!(status, 400);
    assert!(page.contains("refused"), "{page}");
    bg.line(|l| l.contains("state does not match"));
    assert!(
        token_endpoint_posts(&emu).is_empty(),
        "a forged redirect never reaches the token endpoint"
    );
    // the listener is still there for the real sign-in, which completes
    let (status, _, page) = browse(&url);
    assert_eq!(status, 200, "{page}");
    bg.finish().ok().stderr_has(&format!("Signed in as {}", fx::ADMIN_UPN));
    let posts = token_endpoint_posts(&emu);
    assert_eq!(posts.len(), 1, "only the real code is redeemed: {posts:?}");
    assert_ne!(posts[0]["form"]["code"], "1.forged");
}

#[test]
fn login_declined_is_exit_3() {
    let emu = Emulator::start();
    let env = public_env(&emu);
    emu.config(json!({"decline_next": true}));
    let (run, _) = login(&env, &[]);
    run.fails(3).stderr_has("AADSTS65004");
    assert!(token_endpoint_posts(&emu).is_empty());
}

#[test]
fn login_listener_is_reachable_on_loopback_only() {
    let emu = Emulator::start();
    let env = public_env(&emu);
    let mut bg = spawn(&env, &["login", "--no-browser", "--wait", "20"]);
    let redirect = param(&bg.url(), "redirect_uri").unwrap();
    let port: u16 = url::Url::parse(&redirect).unwrap().port().unwrap();
    let t = Duration::from_secs(2);
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), t).expect("127.0.0.1 answers");
    let out = std::process::Command::new("hostname").arg("-I").output();
    let ips: Vec<std::net::IpAddr> = out
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .filter_map(|s| s.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let ips: Vec<_> = ips.into_iter().filter(|ip| !ip.is_loopback()).collect();
    if ips.is_empty() {
        eprintln!("skipped: this machine has no non-loopback address");
        return;
    }
    for ip in ips {
        let r = std::net::TcpStream::connect_timeout(&(ip, port).into(), t);
        assert!(r.is_err(), "the listener answered on {ip}:{port}");
    }
}

#[test]
fn login_redemption_answered_503_is_not_retried() {
    let emu = Emulator::start();
    let env = public_env(&emu);
    emu.fault(json!({"kind": "status", "status": 503, "headers": {"Retry-After": "0"}, "path": "/token"}));
    let (run, _) = login(&env, &[]);
    run.fails(4).stderr_has("HTTP 503");
    let reqs = emu.requests();
    let posts = token_posts(&reqs, "authorization_code");
    assert_eq!(posts.len(), 1, "never retried: {reqs:#?}");
    assert_eq!(posts[0]["status"], 503);
    assert_eq!(
        token_endpoint_posts(&emu).len(),
        1,
        "nothing else reached the token endpoint"
    );
    let list = env.run(&["cache", "list", "-o", "json"]);
    assert_eq!(list.json(), json!([]), "no account stored");
}

/// The listening sockets on `port` in /proc/net/tcp or tcp6: their local addresses, as hex.
#[cfg(target_os = "linux")]
fn listening_addresses(table: &str, port: u16) -> Vec<String> {
    let text = std::fs::read_to_string(table).unwrap_or_default();
    let port = format!("{port:04X}");
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (addr, p) = f.get(1)?.split_once(':')?;
            (p == port && f.get(3) == Some(&"0A")).then(|| addr.to_string())
        })
        .collect()
}

#[cfg(target_os = "linux")]
#[test]
fn login_listener_binds_loopback_addresses_only() {
    let emu = Emulator::start();
    let env = public_env(&emu);
    let mut bg = spawn(&env, &["login", "--no-browser", "--wait", "20"]);
    let redirect = param(&bg.url(), "redirect_uri").unwrap();
    let port: u16 = url::Url::parse(&redirect).unwrap().port().unwrap();
    // 127.0.0.1 as /proc shows it (a little-endian u32), ::1 likewise (four of them)
    const V4_LOOPBACK: &str = "0100007F";
    const V6_LOOPBACK: &str = "00000000000000000000000001000000";
    let v4 = listening_addresses("/proc/net/tcp", port);
    let v6 = listening_addresses("/proc/net/tcp6", port);
    assert_eq!(v4, [V4_LOOPBACK], "IPv4 listeners on {port}");
    assert!(v6.iter().all(|a| a == V6_LOOPBACK), "IPv6 listeners on {port}: {v6:?}");
    assert!(
        !v4.iter().chain(&v6).any(|a| a.chars().all(|c| c == '0')),
        "a wildcard listener"
    );
    let t = Duration::from_secs(2);
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), t).expect("127.0.0.1 answers");
    let has_v6_loopback = std::net::TcpListener::bind("[::1]:0").is_ok();
    if !has_v6_loopback {
        eprintln!("skipped the [::1] part: this machine has no IPv6 loopback");
        return;
    }
    assert_eq!(v6, [V6_LOOPBACK], "a [::1] listener on {port}");
    let v6_addr = std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port));
    std::net::TcpStream::connect_timeout(&v6_addr, t).expect("[::1] answers");
    drop(bg);
    assert!(token_endpoint_posts(&emu).is_empty());
}

#[test]
fn login_gives_up_after_wait_with_exit_4() {
    let emu = Emulator::start();
    let env = public_env(&emu);
    let started = Instant::now();
    let mut bg = spawn(&env, &["login", "--wait", "1", "--no-browser"]);
    let url = bg.url();
    let redirect = param(&url, "redirect_uri").unwrap();
    let r = bg.finish();
    r.fails(4)
        .stderr_has(&format!("no redirect reached {redirect} within 1 s"));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(emu.requests().is_empty(), "nobody signed in: nothing was sent");
}

// ---- get --user / logout -----------------------------------------------------------------------

#[test]
fn get_user_chooses_among_accounts_and_logout_removes_them() {
    let emu = Emulator::start();
    let mut env = public_env(&emu);
    env.unset("AZURE_TENANT_ID");
    env.run(&["get", "--user"]).fails(2).stderr_has("entra-token login");
    login(&env, &[]).0.ok();
    emu.config(json!({"signed_in_user": fx::OTHER_ADMIN_UPN}));
    login(&env, &[]).0.ok();

    let both = env.run(&["get", "--user"]);
    both.fails(2)
        .stderr_has("--account")
        .stderr_has(fx::ADMIN_UPN)
        .stderr_has(fx::OTHER_ADMIN_UPN);
    let other = env.run(&["get", "--user", "--account", "Admin@Fabrikam.onmicrosoft.com"]);
    other.ok();
    assert_eq!(claims(&other.token())["tid"], fx::OTHER_TENANT_ID);
    env.run(&["get", "--user", "--account", "nobody@contoso.com"]).fails(2);

    env.run(&["logout", "--account", fx::OTHER_ADMIN_UPN])
        .ok()
        .stderr_has(&format!("signed out {}", fx::OTHER_ADMIN_UPN));
    let one = env.run(&["get", "--user"]);
    one.ok();
    assert_eq!(claims(&one.token())["upn"], fx::ADMIN_UPN);
    env.run(&["logout"]).ok();
    env.run(&["get", "--user"]).fails(2).stderr_has("entra-token login");
    let list = env.run(&["cache", "list", "-o", "json"]);
    assert_eq!(list.json(), json!([]));
}

#[test]
fn revoked_refresh_token_says_to_login_again() {
    let emu = Emulator::start();
    let env = public_env(&emu);
    login(&env, &[]).0.ok();
    emu.config(json!({"revoke_refresh_tokens": true}));
    env.run(&["get", "--user", "--force-refresh"])
        .fails(3)
        .stderr_has("AADSTS50173")
        .stderr_has("entra-token login");
}

#[test]
fn an_mfa_challenge_on_refresh_says_to_login_again() {
    let emu = Emulator::start();
    let env = public_env(&emu);
    login(&env, &[]).0.ok();
    emu.config(json!({"refresh_interaction_required": true}));
    emu.control("DELETE", "/_emulator/requests", None);
    env.run(&["get", "--user", "--force-refresh"])
        .fails(3)
        .stderr_has("AADSTS50076")
        .stderr_has("interaction_required")
        .stderr_has("run `entra-token login` again");
    let reqs = emu.requests();
    let refreshes = token_posts(&reqs, "refresh_token");
    assert_eq!(refreshes.len(), 1, "not retried: {reqs:#?}");
    assert_eq!(refreshes[0]["status"], 400);
    assert_eq!(reqs.len(), 1, "no browser, nothing else: {reqs:#?}");
}

// ---- device code ---------------------------------------------------------------------------------

fn user_code(bg: &mut Bg) -> String {
    let line = bg.line(|l| l.contains("enter the code"));
    line.split("enter the code ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn device_code_approved_with_string_numbers() {
    let emu = Emulator::start();
    let env = public_env(&emu);
    emu.config(json!({"device_interval": 1, "device_numbers_as_strings": true}));
    let mut bg = spawn(&env, &["login", "--device-code"]);
    let code = user_code(&mut bg);
    emu.control("POST", "/_emulator/device/approve", Some(json!({"user_code": code})));
    let run = bg.finish();
    run.ok().stderr_has(&format!("Signed in as {}", fx::ADMIN_UPN));
    let reqs = emu.requests();
    assert!(
        reqs.iter()
            .any(|r| r["path"] == format!("/{}/oauth2/v2.0/devicecode", fx::TENANT_ID))
    );
    let polls = token_posts(&reqs, DEVICE_GRANT);
    assert!(!polls.is_empty());
    assert!(
        polls
            .iter()
            .all(|p| !p["form"].as_object().unwrap().contains_key("client_secret"))
    );
    env.run(&["get", "--user"]).ok();
}

#[test]
fn device_code_declined_is_exit_3() {
    let emu = Emulator::start();
    let env = public_env(&emu);
    emu.config(json!({"device_interval": 1}));
    let mut bg = spawn(&env, &["login", "--device-code"]);
    let code = user_code(&mut bg);
    emu.control(
        "POST",
        "/_emulator/device/approve",
        Some(json!({"user_code": code, "decline": true})),
    );
    bg.finish().fails(3).stderr_has("authorization_declined");
}

#[test]
fn device_code_slow_down_adds_five_seconds() {
    let emu = Emulator::start();
    let env = public_env(&emu);
    emu.config(json!({"device_interval": 1, "device_slow_down": true}));
    let start = Instant::now();
    let mut bg = spawn(&env, &["login", "--device-code"]);
    let code = user_code(&mut bg);
    // approve only after the first poll, which the emulator answers slow_down
    let polled = |emu: &Emulator| token_posts(&emu.requests(), DEVICE_GRANT).len();
    while polled(&emu) == 0 {
        assert!(start.elapsed() < Duration::from_secs(20), "no poll");
        std::thread::sleep(Duration::from_millis(100));
    }
    emu.control("POST", "/_emulator/device/approve", Some(json!({"user_code": code})));
    let run = bg.finish();
    run.ok();
    let reqs = emu.requests();
    let polls = token_posts(&reqs, DEVICE_GRANT);
    assert_eq!(polls.len(), 2, "slow_down, then success: {polls:#?}");
    assert!(start.elapsed() >= Duration::from_secs(7), "{:?}", start.elapsed());
}

#[test]
fn device_code_expiry_is_exit_3() {
    // the code's own lifetime runs out well inside --wait: Entra answers expired_token (exit 3)
    let emu = Emulator::start();
    let env = public_env(&emu);
    // the first poll comes a whole interval (1 s) after the code was issued: it has expired by then
    emu.config(json!({"device_interval": 1, "device_expires_in": 1}));
    let mut bg = spawn(&env, &["login", "--device-code", "--wait", "60"]);
    user_code(&mut bg);
    bg.finish()
        .fails(3)
        .stderr_has("expired_token")
        .stderr_has("AADSTS70019");
}

#[test]
fn device_code_wait_running_out_is_exit_4() {
    // --wait ends long before the code's expires_in (900 s): our own timeout, not an expiry
    let emu = Emulator::start();
    let env = public_env(&emu);
    emu.config(json!({"device_interval": 1}));
    let started = Instant::now();
    let mut bg = spawn(&env, &["login", "--device-code", "--wait", "2"]);
    user_code(&mut bg);
    let r = bg.finish();
    r.fails(4)
        .stderr_has("no sign-in within --wait 2 s")
        .stderr_has("900 s");
    assert!(!r.stderr.contains("expired"), "not reported as an expiry: {}", r.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    let polls = emu
        .token_requests()
        .iter()
        .filter(|t| t["form"]["grant_type"] == "urn:ietf:params:oauth:grant-type:device_code")
        .count();
    assert!((1..=3).contains(&polls), "polled until --wait ran out: {polls}");

    // --wait shorter than the interval: one poll when --wait runs out, no longer
    emu.config(json!({"device_interval": 30}));
    let started = Instant::now();
    let mut bg = spawn(&env, &["login", "--device-code", "--wait", "1"]);
    user_code(&mut bg);
    bg.finish().fails(4).stderr_has("--wait 1 s");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

// ---- a real browser -----------------------------------------------------------------------------

/// Debian's Chromium (what `.ci/run` installs), or `$CHROMIUM`, or a Chrome where runners have one.
fn chromium() -> Option<std::path::PathBuf> {
    runner_var("CHROMIUM")
        .map(std::path::PathBuf::from)
        .into_iter()
        .chain(
            [
                "/usr/bin/chromium",
                "/usr/bin/chromium-browser",
                "/usr/bin/google-chrome",
            ]
            .map(std::path::PathBuf::from),
        )
        .find(|p| p.exists())
}

#[test]
fn headless_chromium_signs_in_through_the_loopback_listener() {
    let Some(browser) = chromium() else {
        if runner_var("CI").is_some() {
            panic!("Chromium (Debian package `chromium`) is required in CI");
        }
        eprintln!("skipped: Chromium is not installed");
        return;
    };
    let emu = Emulator::start();
    let env = public_env(&emu);
    let mut bg = spawn(&env, &["login", "--no-browser", "--wait", "60"]);
    let url = bg.url();
    let profile = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-proxy-server",
            "--dump-dom",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(&url)
        .env("HOME", profile.path())
        .stdin(Stdio::null())
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&out.stdout);
    let run = bg.finish();
    run.ok().stderr_has(&format!("Signed in as {}", fx::ADMIN_UPN));
    assert!(
        dom.contains("sign-in complete"),
        "chromium's page:\n{dom}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = env.run(&["cache", "list", "-o", "json"]);
    assert!(
        list.json()
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "refresh" && r["account"] == fx::ADMIN_UPN)
    );
    let t = env.run(&["get", "--user"]);
    t.ok();
    assert_eq!(claims(&t.token())["upn"], fx::ADMIN_UPN);
}

#[test]
fn api_with_user_sends_the_delegated_token() {
    let emu = Emulator::start();
    let env = public_env(&emu);
    login(&env, &[]).0.ok();
    let r = env.run(&["api", "/v1.0/me", "--user", "--graph-url", &emu.base]);
    r.ok();
    let me: Value = serde_json::from_str(&r.stdout).expect("JSON body");
    assert_eq!(me["userPrincipalName"], fx::ADMIN_UPN, "{me}");
    let call = emu
        .requests()
        .into_iter()
        .rfind(|q| q["path"] == "/v1.0/me")
        .expect("the Graph call");
    let bearer = call["headers"]["authorization"]
        .as_str()
        .unwrap()
        .trim_start_matches("Bearer ")
        .to_string();
    let c = claims(&bearer);
    assert_eq!(c["upn"], fx::ADMIN_UPN);
    assert_eq!(c["idtyp"], "user");
    // an unknown account is exit 2 before anything is sent
    env.run(&[
        "api",
        "/v1.0/me",
        "--user",
        "--account",
        "nobody@contoso.com",
        "--graph-url",
        &emu.base,
    ])
    .fails(2);
}

// ---- accounts: object id + tenant ----------------------------------------------------------------

/// The cache entries of signed-in accounts (`refresh` and `user` rows of `cache list`).
fn account_rows(env: &Env) -> Vec<Value> {
    let list = env.run(&["cache", "list", "-o", "json"]);
    list.ok();
    list.json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "refresh" || r["kind"] == "user")
        .cloned()
        .collect()
}

#[test]
fn an_account_signed_in_at_organizations_is_stored_under_its_tenant_and_found_by_name_or_oid() {
    let emu = Emulator::start();
    let mut env = public_env(&emu);
    env.unset("AZURE_TENANT_ID");
    let (run, url) = login(&env, &["--tenant", "organizations"]);
    run.ok()
        .stderr_has(&format!("Signed in as {} (tenant {})", fx::ADMIN_UPN, fx::TENANT_ID));
    assert!(url.contains("/organizations/oauth2/v2.0/authorize?"), "{url}");
    let rows = account_rows(&env);
    assert_eq!(rows.len(), 2, "one refresh and one user entry: {rows:?}");
    for r in &rows {
        assert_eq!(
            r["tenant"],
            fx::TENANT_ID,
            "stored under the tid, not 'organizations': {r}"
        );
        assert_eq!(r["account"], fx::ADMIN_UPN, "{r}");
        assert_eq!(r["oid"], fx::ADMIN_USER_ID, "{r}");
    }
    let before = emu.requests().len();
    let by_name = env.run(&["get", "--user", "--account", "Admin@Contoso.onmicrosoft.com"]);
    by_name.ok();
    assert_eq!(claims(&by_name.token())["oid"], fx::ADMIN_USER_ID);
    env.run(&["get", "--user", "--account", fx::ADMIN_UPN, "--tenant", fx::TENANT_ID])
        .ok();
    env.run(&["get", "--user", "--account", fx::ADMIN_USER_ID]).ok();
    assert_eq!(emu.requests().len(), before, "all three served from the cache");
    env.run(&["get", "--user", "--account", fx::OTHER_ADMIN_USER_ID])
        .fails(2)
        .stderr_has(fx::ADMIN_UPN);
    env.run(&["logout", "--account", fx::ADMIN_USER_ID])
        .ok()
        .stderr_has(&format!("signed out {}", fx::ADMIN_UPN));
    assert!(account_rows(&env).is_empty());
}

#[test]
fn login_and_get_user_work_when_the_id_token_names_only_its_subject() {
    let emu = Emulator::start();
    let env = public_env(&emu);
    // as a standards-only OpenID provider: the id_token has `sub` (no oid, tid, preferred_username)
    // and the access token no user name
    emu.config(json!({"minimal_id_token": true}));
    let (run, _) = login(&env, &[]);
    run.ok().stderr_has("Signed in as ");
    assert!(!run.stderr.contains(fx::ADMIN_UPN), "no name was given: {}", run.stderr);
    let rows = account_rows(&env);
    let refresh = rows
        .iter()
        .find(|r| r["kind"] == "refresh")
        .expect("the account is stored");
    let account = refresh["account"].as_str().unwrap().to_string();
    assert!(
        account.ends_with(&format!(".{}", fx::TENANT_ID)) && !account.starts_with(fx::ADMIN_USER_ID),
        "named by its subject and tenant: {account}"
    );
    let t = env.run(&["get", "--user"]);
    t.ok();
    assert_eq!(claims(&t.token())["oid"], fx::ADMIN_USER_ID);
    assert!(claims(&t.token()).get("upn").is_none());
    env.run(&["get", "--user", "--account", &account]).ok();
    env.run(&["get", "--user", "--force-refresh"]).ok();
    let reqs = emu.requests();
    assert_eq!(
        token_posts(&reqs, "refresh_token").len(),
        1,
        "the refresh token was found"
    );
}

/// sha256 of the key's canonical JSON (its fields in declaration order), as the cache names files.
fn entry_stem(key: &Value) -> String {
    use sha2::{Digest, Sha256};
    let fields = [
        "kind",
        "authority",
        "tenant",
        "client_id",
        "credential",
        "endpoint",
        "audience",
        "account",
    ];
    let body: Vec<String> = fields
        .iter()
        .map(|f| format!("{}:{}", Value::from(*f), key[*f]))
        .collect();
    let canonical = format!("{{{}}}", body.join(","));
    Sha256::digest(canonical.as_bytes())
        .iter()
        .take(20)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn an_account_stored_under_its_user_name_is_used_without_a_new_sign_in() {
    let emu = Emulator::start();
    let mut env = public_env(&emu);
    env.unset("AZURE_TENANT_ID");
    login(&env, &["--tenant", "organizations"]).0.ok();
    // rewrite the entries as earlier versions stored them: the account key was the user name
    // and the tenant the string signed in with
    let tokens = env.home().join(".cache/entra-token/tokens");
    let mut rewritten = 0;
    for e in std::fs::read_dir(&tokens).unwrap().flatten() {
        let path = e.path();
        let mut record: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let kind = record["meta"]["key"]["kind"].clone();
        if kind != "refresh" && kind != "user" {
            continue;
        }
        let current = entry_stem(&record["meta"]["key"]);
        assert_eq!(
            path.file_stem().unwrap().to_str().unwrap(),
            current,
            "the test names files as the cache does"
        );
        record["meta"]["key"]["account"] = json!(fx::ADMIN_UPN);
        record["meta"]["key"]["tenant"] = json!("organizations");
        record["meta"].as_object_mut().unwrap().remove("label");
        let old = tokens.join(format!("{}.json", entry_stem(&record["meta"]["key"])));
        std::fs::write(&old, serde_json::to_vec(&record).unwrap()).unwrap();
        std::fs::remove_file(&path).unwrap();
        rewritten += 1;
    }
    assert_eq!(rewritten, 2);
    let authorizes = |emu: &Emulator| {
        emu.requests()
            .iter()
            .filter(|r| r["path"].as_str().unwrap().ends_with("/authorize"))
            .count()
    };
    let before = emu.requests().len();
    let cached = env.run(&["get", "--user", "--account", fx::ADMIN_UPN]);
    cached.ok();
    assert_eq!(
        emu.requests().len(),
        before,
        "the old user entry still serves the token"
    );
    env.run(&["get", "--user", "--force-refresh"]).ok();
    assert_eq!(token_posts(&emu.requests(), "refresh_token").len(), 1);
    assert_eq!(authorizes(&emu), 1, "no new sign-in");
    let rows = account_rows(&env);
    assert!(rows.iter().all(|r| r["account"] == fx::ADMIN_UPN), "{rows:?}");

    // signing in again replaces the old entries: one account, not two
    login(&env, &[]).0.ok();
    let refresh: Vec<Value> = account_rows(&env)
        .into_iter()
        .filter(|r| r["kind"] == "refresh")
        .collect();
    assert_eq!(refresh.len(), 1, "{refresh:?}");
    assert_eq!(refresh[0]["tenant"], fx::TENANT_ID);
    env.run(&["get", "--user", "--account", fx::ADMIN_UPN]).ok();
}

// ---- consent-url: whose tenant -------------------------------------------------------------------

#[test]
fn consent_url_targets_organizations_unless_the_command_line_or_profile_names_a_tenant() {
    let emu = Emulator::start();
    // AZURE_TENANT_ID is the ISV's own tenant, as in every CI setup: not the one consenting
    let mut env = Env::for_emulator(&emu);
    let cb = "https://app.contoso.com/callback";
    let url = |r: &Run| r.stdout.trim().to_string();
    let own = env.run(&["consent-url", "--redirect-uri", cb]);
    own.ok();
    assert!(
        url(&own).starts_with(&format!("{}/organizations/adminconsent?", emu.base)),
        "{}",
        url(&own)
    );
    let flag = env.run(&["consent-url", "--tenant", fx::OTHER_TENANT_DOMAIN, "--redirect-uri", cb]);
    flag.ok();
    assert!(
        url(&flag).starts_with(&format!("{}/{}/adminconsent?", emu.base, fx::OTHER_TENANT_DOMAIN)),
        "{}",
        url(&flag)
    );

    // a profile's `tenant` is the app's; its `consent_tenant` is the customer's
    env.write(
        "home/.config/entra-token/config.toml",
        format!(
            "[profiles.isv]\ntenant = \"{}\"\n\n[profiles.customer]\ntenant = \"{}\"\nconsent_tenant = \"{}\"\n\n[profiles.bad]\nconsent_tenant = \"not a tenant\"\n",
            fx::TENANT_ID,
            fx::TENANT_ID,
            fx::OTHER_TENANT_ID
        )
        .as_bytes(),
    );
    env.unset("AZURE_TENANT_ID");
    let isv = env.run(&["--profile", "isv", "consent-url", "--redirect-uri", cb]);
    isv.ok();
    assert!(url(&isv).contains("/organizations/adminconsent?"), "{}", url(&isv));
    let customer = env.run(&["--profile", "customer", "consent-url", "--redirect-uri", cb]);
    customer.ok();
    assert!(
        url(&customer).contains(&format!("/{}/adminconsent?", fx::OTHER_TENANT_ID)),
        "{}",
        url(&customer)
    );
    env.run(&["--profile", "bad", "consent-url", "--redirect-uri", cb])
        .fails(2)
        .stderr_has("profile 'bad': consent_tenant");
    assert!(emu.requests().is_empty(), "printing a URL sends nothing");

    // --listen names the tenant the URL is for
    env.set("AZURE_TENANT_ID", fx::TENANT_ID);
    let mut bg = spawn(&env, &["consent-url", "--listen", "--no-browser", "--wait", "1"]);
    let listen_url = bg.url();
    let r = bg.finish();
    assert!(listen_url.contains("/organizations/adminconsent?"), "{listen_url}");
    r.stderr_has("an administrator of the customer's tenant (the URL is for 'organizations'");
    let mut bg = spawn(
        &env,
        &[
            "consent-url",
            "--listen",
            "--no-browser",
            "--wait",
            "1",
            "--tenant",
            fx::OTHER_TENANT_ID,
        ],
    );
    bg.url();
    bg.finish().stderr_has(&format!(
        "an administrator of tenant {} (the URL is for that tenant only)",
        fx::OTHER_TENANT_ID
    ));
}

// ---- help and hints ------------------------------------------------------------------------------

#[test]
fn prompt_takes_only_the_openid_values_and_hints_fit_the_command() {
    let emu = Emulator::start();
    let env = public_env(&emu);
    let bad = env.run(&["login", "--no-browser", "--prompt", "admin_consent"]);
    bad.fails(2).stderr_has("--prompt").stderr_has("select_account");
    assert!(emu.requests().is_empty(), "nothing sent");
    let (run, url) = login(&env, &["--prompt", "consent"]);
    run.ok();
    assert_eq!(param(&url, "prompt").as_deref(), Some("consent"));

    // redeem opens no browser: its state hint does not say it does
    let landed = code_url(&emu, fx::CLIENT_ID, "good", None);
    let r = env.run(&["redeem", "--redirect-url", &landed, "--expected-state", "other"]);
    r.fails(2).stderr_has("hint:");
    assert!(!r.stderr.contains("browser it opens"), "{}", r.stderr);

    // get --help says what the README says: GitHub Actions OIDC needs no flag
    let help = env.run(&["get", "--help"]);
    help.ok();
    assert!(
        help.stdout
            .contains("automatic: GitHub Actions OIDC (ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN)"),
        "{}",
        help.stdout
    );
    assert!(!help.stdout.contains("only when asked for"), "{}", help.stdout);
}
