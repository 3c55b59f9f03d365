//! End-to-end: `api` — Graph, Intune and Management Activity API calls through the real binary
//! against the real emulator: pagination merged and as NDJSON (every page request checked,
//! custom headers re-sent), retries of 429/503, the token kept on its origin (cross-origin next
//! links and redirects), scope inference and refusal, request bodies from a file and stdin, exit-5
//! summaries, `--max-pages`, `-i`, a user's own Authorization, and a token that expires mid-run.

mod common;
use common::*;
use serde_json::{Value, json};

/// `entra-token api --graph-url <emulator> ARGS...` (relative paths go to the emulator's Graph).
fn api(env: &Env, emu: &Emulator, args: &[&str]) -> Run {
    let mut full = vec!["api", "--graph-url", emu.base.as_str()];
    full.extend_from_slice(args);
    env.run(&full)
}

fn graph_requests(emu: &Emulator) -> Vec<Value> {
    emu.requests()
        .into_iter()
        .filter(|r| {
            let p = r["path"].as_str().unwrap_or("");
            p.starts_with("/v1.0/") || p.starts_with("/beta/")
        })
        .collect()
}

fn management_requests(emu: &Emulator) -> Vec<Value> {
    emu.requests()
        .into_iter()
        .filter(|r| r["path"].as_str().unwrap_or("").starts_with("/api/"))
        .collect()
}

fn query(r: &Value) -> &str {
    r["query"].as_str().unwrap_or("")
}

fn bearer(r: &Value) -> Option<&str> {
    r["headers"]["authorization"].as_str()
}

fn ndjson(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON item per line ({e}): {l}")))
        .collect()
}

fn management_url(emu: &Emulator, rest: &str) -> String {
    format!("{}/api/v1.0/{}/activity/feed/{rest}", emu.base, fx::TENANT_ID)
}

const MANAGE_SCOPE: &str = "https://manage.office.com/.default";

#[test]
fn graph_pages_are_merged_with_custom_headers_resent() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let r = api(
        &env,
        &emu,
        &[
            "--paginate",
            "-H",
            "ConsistencyLevel: eventual",
            "/v1.0/users?$top=100&$count=true",
        ],
    );
    r.ok();
    let doc = r.json();
    let items = doc["value"].as_array().unwrap();
    assert_eq!(items.len(), 250, "all pages merged");
    let ids: std::collections::BTreeSet<&str> = items.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 250, "no page twice");
    assert_eq!(items[0]["id"], fx::ADMIN_USER_ID);
    assert_eq!(doc["@odata.count"], 250, "page 1's count is kept");
    assert!(doc["@odata.context"].as_str().unwrap().ends_with("$metadata#users"));
    assert!(doc.get("@odata.nextLink").is_none());
    assert!(
        r.stderr.is_empty(),
        "nothing on stderr when it is not a terminal: {}",
        r.stderr
    );

    let tokens = emu.token_requests();
    assert_eq!(tokens.len(), 1, "one token for the whole run");
    assert_eq!(tokens[0]["form"]["scope"], "https://graph.microsoft.com/.default");
    let pages = graph_requests(&emu);
    assert_eq!(pages.len(), 3, "{pages:#?}");
    assert_eq!(query(&pages[0]), "$top=100&$count=true");
    for (i, p) in pages.iter().enumerate() {
        assert_eq!(p["method"], "GET");
        assert_eq!(p["status"], 200);
        assert_eq!(
            p["headers"]["consistencylevel"],
            "eventual",
            "page {} re-sends it",
            i + 1
        );
        assert!(bearer(p).unwrap().starts_with("Bearer ey"));
        if i > 0 {
            assert!(
                query(p).contains("$skiptoken="),
                "page {} follows the next link: {}",
                i + 1,
                query(p)
            );
            assert!(query(p).starts_with("$top=100&$count=true&"), "verbatim: {}", query(p));
        }
    }
}

#[test]
fn intune_devices_stream_as_ndjson() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let r = api(
        &env,
        &emu,
        &[
            "--paginate",
            "--ndjson",
            "-H",
            "X-Trace: abc",
            "/beta/deviceManagement/managedDevices",
        ],
    );
    r.ok();
    let items = ndjson(&r.stdout);
    assert_eq!(items.len(), 120);
    assert!(
        items
            .iter()
            .all(|d| d["@odata.type"] == "#microsoft.graph.managedDevice")
    );
    let pages = graph_requests(&emu);
    assert_eq!(pages.len(), 3, "50 per page");
    assert!(pages.iter().all(|p| p["headers"]["x-trace"] == "abc"));
    assert!(
        pages
            .iter()
            .all(|p| p["path"] == "/beta/deviceManagement/managedDevices")
    );
}

#[test]
fn management_content_pages_merge_into_one_array_via_next_page_uri() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let url = management_url(&emu, "subscriptions/content?contentType=Audit.General");
    let r = env.run(&["api", "--scope", MANAGE_SCOPE, "--paginate", &url]);
    r.ok();
    let blobs = r.json();
    let blobs = blobs.as_array().expect("one JSON array");
    assert_eq!(blobs.len(), 30);
    let reqs = management_requests(&emu);
    assert_eq!(reqs.len(), 3);
    assert!(reqs[0]["path"].as_str().unwrap().starts_with("/api/v1.0/"));
    for p in &reqs[1..] {
        assert!(
            p["path"].as_str().unwrap().starts_with("/api/v1/"),
            "NextPageUri as given"
        );
        assert!(query(p).contains("nextPage="));
        assert!(bearer(p).is_some());
    }
    assert_eq!(emu.token_requests()[0]["form"]["scope"], MANAGE_SCOPE);

    // then the events of one blob (the token now comes from the cache)
    let uri = blobs[0]["contentUri"].as_str().unwrap();
    let r = env.run(&["api", "--scope", MANAGE_SCOPE, uri]);
    r.ok();
    let events = r.json();
    assert_eq!(events.as_array().unwrap().len(), 3);
    assert_eq!(events[0]["OrganizationId"], fx::TENANT_ID);
    assert_eq!(emu.token_requests().len(), 1, "cached token reused");

    let r = env.run(&["api", "--scope", MANAGE_SCOPE, "--paginate", "--ndjson", &url]);
    r.ok();
    assert_eq!(ndjson(&r.stdout).len(), 30);
}

#[test]
fn throttling_and_unavailability_are_retried_to_success() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    emu.config(json!({"graph_throttle_every": 2, "graph_retry_after": "0.1"}));
    emu.fault(json!({"kind": "status", "status": 503, "path": "/v1.0/users", "headers": {"Retry-After": "0"}}));
    let r = api(&env, &emu, &["--paginate", "--ndjson", "/v1.0/users?$top=100"]);
    r.ok();
    assert_eq!(ndjson(&r.stdout).len(), 250);
    let statuses: Vec<u64> = graph_requests(&emu)
        .iter()
        .map(|p| p["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 3, "{statuses:?}");
    assert!(statuses.contains(&429) && statuses.contains(&503), "{statuses:?}");

    // without Retry-After: exponential backoff with jitter (short first waits)
    emu.config(json!({"graph_throttle_every": 0}));
    emu.fault(json!({"kind": "status", "status": 504, "path": "/v1.0/users", "count": 1}));
    api(&env, &emu, &["/v1.0/users?$top=1"]).ok();
}

#[test]
fn retries_run_out_with_exit_5() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    emu.fault(json!({"kind": "throttle", "retry_after": "0", "path": "/v1.0/users", "count": 10}));
    let r = api(&env, &emu, &["--max-retries", "2", "/v1.0/users"]);
    r.fails(5).stderr_has("HTTP 429").stderr_has("--max-retries");
    assert_eq!(graph_requests(&emu).len(), 3, "1 + 2 retries");
}

#[test]
fn a_next_link_to_another_origin_is_refused_and_never_sent() {
    let emu = Emulator::start();
    let foreign = Emulator::start();
    let env = Env::for_emulator(&emu);
    emu.config(json!({"foreign_next_link": format!("{}/v1.0/users?$skiptoken=stolen", foreign.base)}));
    let r = api(&env, &emu, &["--paginate", "/v1.0/users"]);
    r.fails(4)
        .stderr_has("another origin")
        .stderr_has(&foreign.base)
        .stderr_has("refusing");
    assert!(foreign.requests().is_empty(), "the foreign origin saw nothing");
    assert_eq!(graph_requests(&emu).len(), 1);
}

#[test]
fn redirects_to_another_origin_lose_the_token() {
    let emu = Emulator::start();
    let foreign = Emulator::start();
    let env = Env::for_emulator(&emu);
    let target = format!("{}/v1.0/users", foreign.base);
    emu.fault(json!({"kind": "status", "status": 302, "path": "/v1.0/reports", "headers": {"Location": target}}));
    let r = api(&env, &emu, &["/v1.0/reports/getOffice365ActiveUserDetail(period='D7')"]);
    // the foreign Graph wants a token it never got
    r.fails(5).stderr_has("HTTP 401");
    let seen = foreign.requests();
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert!(
        bearer(&seen[0]).is_none(),
        "Authorization stripped: {:?}",
        seen[0]["headers"]
    );
    assert!(
        bearer(&graph_requests(&emu)[0]).is_some(),
        "the token went to its own origin"
    );
}

#[test]
fn unknown_hosts_need_a_scope_and_nothing_is_sent() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let r = env.run(&["api", "https://api.example.com/items"]);
    r.fails(2).stderr_has("no token scope").stderr_has("--scope");
    let r = env.run(&["api", &format!("{}/v1.0/users", emu.base)]);
    r.fails(2).stderr_has("--scope");
    let r = env.run(&["api", "--scope", "https://x/.default", "http://api.example.com/items"]);
    r.fails(2).stderr_has("plain http");
    let r = api(&env, &emu, &["--paginate", "-X", "POST", "/v1.0/groups"]);
    r.fails(2).stderr_has("--paginate");
    let r = api(&env, &emu, &["--paginate", "--input", "missing.json", "/v1.0/groups"]);
    r.fails(2);
    let r = api(
        &env,
        &emu,
        &["-X", "POST", "--input", "/nonexistent/group.json", "/v1.0/groups"],
    );
    r.fails(2).stderr_has("--input");
    let r = api(&env, &emu, &["-H", "no-colon", "/v1.0/users"]);
    r.fails(2).stderr_has("Name: value");
    assert!(emu.requests().is_empty(), "no token request, no API request");
}

#[test]
fn post_a_group_from_a_file_and_from_stdin() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let group = br#"{"displayName":"Ops","mailNickname":"ops","mailEnabled":false,"securityEnabled":true}"#;
    let file = env.write("group.json", group);
    let r = api(&env, &emu, &["--input", file.to_str().unwrap(), "/v1.0/groups"]);
    r.ok();
    assert_eq!(r.json()["displayName"], "Ops");
    let posts = graph_requests(&emu);
    assert_eq!(posts[0]["method"], "POST", "--input means POST");
    assert_eq!(posts[0]["headers"]["content-type"], "application/json");
    assert_eq!(posts[0]["body"].as_str().unwrap().as_bytes(), group);
    assert_eq!(posts[0]["status"], 201);

    let mut full = vec!["api", "--graph-url", emu.base.as_str()];
    full.extend_from_slice(&[
        "-X",
        "post",
        "-H",
        "Content-Type: application/json; charset=utf-8",
        "--input",
        "-",
        "/v1.0/groups",
    ]);
    let r = env.run_stdin(&full, group);
    r.ok();
    assert_eq!(r.json()["mailNickname"], "ops");
    let posts = graph_requests(&emu);
    assert_eq!(posts.len(), 2);
    assert_eq!(
        posts[1]["headers"]["content-type"], "application/json; charset=utf-8",
        "-H wins"
    );
    assert_eq!(posts[1]["body"].as_str().unwrap().as_bytes(), group);
}

#[test]
fn error_summaries_name_status_code_message_request_id_and_a_hint() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);

    // 400 from Graph itself: /me needs a delegated token
    let r = api(&env, &emu, &["/v1.0/me"]);
    r.fails(5)
        .stderr_has("HTTP 400 Bad Request")
        .stderr_has("BadRequest: /me request is only valid with delegated authentication flow.")
        .stderr_has("(request-id ");

    // 401: a token for the wrong audience, fetched just now, is not retried
    emu.control("DELETE", "/_emulator/requests", None);
    let r = api(&env, &emu, &["--scope", MANAGE_SCOPE, "/v1.0/users"]);
    r.fails(5)
        .stderr_has("HTTP 401")
        .stderr_has("InvalidAuthenticationToken: Invalid audience.")
        .stderr_has(&format!(
            "hint: the token was not accepted: check that its audience ({MANAGE_SCOPE}) is the API's"
        ));
    let sent = graph_requests(&emu);
    assert_eq!(sent.len(), 1, "no second try with a fresh token");
    assert_eq!(sent[0]["status"], 401);
    assert_eq!(
        emu.token_requests()[0]["form"]["scope"],
        MANAGE_SCOPE,
        "--scope wins over the host"
    );

    // 403: the missing application permission
    let graph_403 = json!({"error": {"code": "Authorization_RequestDenied",
        "message": "Insufficient privileges to complete the operation.",
        "innerError": {"request-id": "body-request-id"}}});
    emu.fault(
        json!({"kind": "status", "status": 403, "path": "/v1.0/users", "body": graph_403.to_string(),
        "headers": {"request-id": "3f0c0f8e-0000-4000-8000-000000000403"}}),
    );
    let r = api(&env, &emu, &["/v1.0/users"]);
    r.fails(5)
        .stderr_has("HTTP 403 Forbidden")
        .stderr_has("Authorization_RequestDenied: Insufficient privileges")
        .stderr_has("request-id 3f0c0f8e-0000-4000-8000-000000000403")
        .stderr_has("User.Read.All");
    emu.fault(json!({"kind": "status", "status": 403, "path": "/v1.0/groups", "body": graph_403.to_string()}));
    let file = env.write("g.json", br#"{"displayName":"x"}"#);
    let r = api(&env, &emu, &["--input", file.to_str().unwrap(), "/v1.0/groups"]);
    r.fails(5)
        .stderr_has("Group.ReadWrite.All")
        .stderr_has("request-id body-request-id");
    emu.fault(json!({"kind": "status", "status": 403, "path": "managedDevices", "body": graph_403.to_string()}));
    api(&env, &emu, &["/beta/deviceManagement/managedDevices"])
        .fails(5)
        .stderr_has("DeviceManagementManagedDevices.Read.All");
    emu.fault(json!({"kind": "status", "status": 403, "path": "/activity/feed/",
        "body": json!({"error": {"code": "AF10001", "message": "The permission set () sent in the request does not include the expected permission."}}).to_string()}));
    let url = management_url(&emu, "subscriptions/content?contentType=Audit.General");
    env.run(&["api", "--scope", MANAGE_SCOPE, &url])
        .fails(5)
        .stderr_has("AF10001")
        .stderr_has("ActivityFeed.Read");

    // 404 and 400 with AF codes from the Management API itself
    let r = env.run(&["api", "--scope", MANAGE_SCOPE, &management_url(&emu, "nothing/here")]);
    r.fails(5).stderr_has("HTTP 404 Not Found").stderr_has("AF20000");
    let url = management_url(&emu, "subscriptions/content?contentType=Audit.Exchange");
    let r = env.run(&["api", "--scope", MANAGE_SCOPE, "--paginate", &url]);
    r.fails(5)
        .stderr_has("Office 365 Management Activity API answered HTTP 400")
        .stderr_has("AF20022: No subscription found for the specified content type.");

    // --include-error-body: the body on stdout too
    let r = api(&env, &emu, &["--include-error-body", "/v1.0/me"]);
    assert_eq!(r.code, 5);
    let body: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(body["error"]["code"], "BadRequest");
    assert!(r.stderr.contains("HTTP 400"), "{}", r.stderr);
}

#[test]
fn max_pages_stops_early_with_a_complete_document() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let r = api(&env, &emu, &["--paginate", "--max-pages", "2", "/v1.0/users?$top=100"]);
    r.ok().stderr_has("--max-pages");
    assert_eq!(r.json()["value"].as_array().unwrap().len(), 200);
    assert_eq!(graph_requests(&emu).len(), 2);
    api(&env, &emu, &["--max-pages", "2", "/v1.0/users"]).fails(2);
}

#[test]
fn a_next_link_back_to_a_page_already_fetched_ends_with_exit_4() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    // page 1's @odata.nextLink is page 1 itself: following it would never end
    let first = format!("{}/v1.0/users?$top=100", emu.base);
    emu.config(json!({ "foreign_next_link": first }));
    let r = timed(|| api(&env, &emu, &["--paginate", "--timeout", "10", "/v1.0/users?$top=100"]));
    r.fails(4)
        .stderr_has("the next link repeats a page already fetched")
        .stderr_has(&first);
    assert!(r.elapsed < std::time::Duration::from_secs(10), "took {:?}", r.elapsed);
    assert_eq!(graph_requests(&emu).len(), 1, "the page is fetched once");
}

#[test]
fn a_page_over_32_mib_ends_with_exit_4() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    // 40 MiB streamed without Content-Length: the cap is noticed while reading
    emu.fault(json!({"kind": "oversized", "bytes": 40u64 << 20, "content_length": false, "path": "/v1.0/users"}));
    let r = api(&env, &emu, &["--paginate", "--ndjson", "/v1.0/users?$top=100"]);
    r.fails(4)
        .stderr_has("page 1")
        .stderr_has("too large")
        .stderr_has("32 MiB");
    // announced by Content-Length: refused before the body is read
    emu.fault(json!({"kind": "oversized", "bytes": 40u64 << 20, "content_length": true, "path": "/v1.0/users"}));
    let r = api(&env, &emu, &["--paginate", "/v1.0/users?$top=100"]);
    r.fails(4)
        .stderr_has("too large")
        .stderr_has("announced 41943040 bytes");
}

#[test]
fn include_prints_the_head_on_stderr_and_pretty_reindents() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let r = api(&env, &emu, &["-i", "/v1.0/users?$top=3"]);
    r.ok().stderr_has("HTTP/1.1 200 OK\n").stderr_has("request-id: ");
    let plain = r.json();
    assert_eq!(plain["value"].as_array().unwrap().len(), 3);
    assert_eq!(r.stdout.lines().count(), 1, "the body as received");
    assert!(plain["@odata.nextLink"].is_string(), "no paging without --paginate");
    let r = api(&env, &emu, &["--pretty", "/v1.0/users?$top=3"]);
    r.ok();
    assert!(r.stdout.lines().count() > 20);
    assert!(r.stdout.find("\"businessPhones\"").unwrap() < r.stdout.find("\"displayName\"").unwrap());
    assert_eq!(r.json()["value"], plain["value"]);
    let r = api(&env, &emu, &["--paginate", "--pretty", "/v1.0/users?$top=100"]);
    r.ok();
    assert_eq!(r.json()["value"].as_array().unwrap().len(), 250);
}

#[test]
fn a_users_own_authorization_header_wins() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let token = env.run(&["get"]).ok().token();
    emu.control("DELETE", "/_emulator/requests", None);
    let mut bare = Env::new();
    bare.set("AZURE_TENANT_ID", fx::TENANT_ID);
    let auth = format!("Authorization: Bearer {token}");
    let r = api(&bare, &emu, &["-H", &auth, "/v1.0/users?$top=2"]);
    r.ok();
    assert_eq!(r.json()["value"].as_array().unwrap().len(), 2);
    assert!(emu.token_requests().is_empty(), "no token fetched");
    let sent = graph_requests(&emu);
    assert_eq!(bearer(&sent[0]), Some(format!("Bearer {}", unsigned(&token)).as_str()));
    // and a bad one is reported as the user's
    let r = api(&bare, &emu, &["-H", "authorization: Bearer nope", "/v1.0/users"]);
    r.fails(5)
        .stderr_has("HTTP 401")
        .stderr_has("Authorization header you passed");
}

#[test]
fn a_token_that_expires_mid_run_is_renewed_once() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    emu.config(json!({"token_lifetime": 2}));
    // page 1 arrives 3 s later by the emulator's clock, without the wait: the 2 s token has expired
    emu.fault(json!({"kind": "advance_clock", "seconds": 3, "path": "/v1.0/users"}));
    let r = api(&env, &emu, &["--paginate", "--ndjson", "/v1.0/users?$top=100"]);
    r.ok();
    assert_eq!(ndjson(&r.stdout).len(), 250);
    // On the wire, in order. The 401 gets exactly one fresh token and page 1 is sent exactly once
    // more. The 2 s tokens are always below `api`'s 60 s renewal margin, so pages 2 and 3 each
    // renew ahead of time too: 1 initial + 1 after the 401 + 2 ahead of pages 2 and 3 = 4 tokens.
    // With real lifetimes (an hour) that margin is crossed at most once per hour of paging.
    let wire: Vec<(String, u64)> = emu
        .requests()
        .iter()
        .map(|r| {
            let what = if r["path"].as_str().unwrap().contains("/oauth2/") {
                "token".to_string()
            } else {
                format!("GET {}?{}", r["path"].as_str().unwrap(), query(r))
            };
            (what, r["status"].as_u64().unwrap())
        })
        .collect();
    let page1 = "GET /v1.0/users?$top=100".to_string();
    assert_eq!(wire.len(), 8, "{wire:#?}");
    assert_eq!(
        wire[..4],
        [
            ("token".to_string(), 200),
            (page1.clone(), 401),
            ("token".to_string(), 200),
            (page1.clone(), 200),
        ],
        "one fresh token, then page 1 once more: {wire:#?}"
    );
    assert_eq!(
        wire.iter().filter(|(w, _)| *w == page1).count(),
        2,
        "page 1 retried once"
    );
    assert_eq!(wire.iter().filter(|(_, s)| *s == 401).count(), 1, "{wire:#?}");
    assert_eq!(emu.token_requests().len(), 4, "{wire:#?}");
    let pages = graph_requests(&emu);
    assert_eq!(pages.len(), 4);
    assert_ne!(bearer(&pages[0]), bearer(&pages[1]), "a new token");
    assert!(pages.iter().skip(1).all(|p| p["status"] == 200), "{pages:#?}");
}

#[test]
fn a_401_for_a_cached_token_gets_exactly_one_fresh_token() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    // cached a moment ago (the same second as the run: `api` knows it came from the cache)
    env.run(&["get"]).ok();
    emu.control("DELETE", "/_emulator/requests", None);
    // the cached token is refused (as after a revocation): one fresh token, page 1 once more
    emu.fault(json!({"kind": "status", "status": 401, "path": "/v1.0/users"}));
    let r = api(&env, &emu, &["--paginate", "--ndjson", "/v1.0/users?$top=100"]);
    r.ok();
    assert_eq!(ndjson(&r.stdout).len(), 250);
    assert_eq!(
        emu.token_requests().len(),
        1,
        "exactly one fresh token (an hour long: no renewal)"
    );
    let pages = graph_requests(&emu);
    let statuses: Vec<u64> = pages.iter().map(|p| p["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [401, 200, 200, 200]);
    assert_eq!(query(&pages[0]), query(&pages[1]), "page 1 again");
    assert_ne!(bearer(&pages[0]), bearer(&pages[1]));
    assert!(
        pages[2..].iter().all(|p| bearer(p) == bearer(&pages[1])),
        "the fresh token is kept"
    );

    // refused again with the fresh token: no second renewal, exit 5
    emu.control("DELETE", "/_emulator/requests", None);
    emu.fault(json!({"kind": "status", "status": 401, "path": "/v1.0/users", "count": 2}));
    let r = api(&env, &emu, &["/v1.0/users?$top=1"]);
    r.fails(5).stderr_has("HTTP 401");
    assert_eq!(graph_requests(&emu).len(), 2, "1 + one retry with a fresh token");
    assert_eq!(emu.token_requests().len(), 1);
}

#[test]
fn management_api_refuses_a_url_for_another_tenant_with_af20010() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let url = format!(
        "{}/api/v1.0/{}/activity/feed/subscriptions/list",
        emu.base,
        fx::OTHER_TENANT_ID
    );
    let r = env.run(&["api", "--scope", MANAGE_SCOPE, &url]);
    r.fails(5)
        .stderr_has("Office 365 Management Activity API answered HTTP 401")
        .stderr_has(&format!(
            "AF20010: The tenant ID passed in the URL ({}) does not match the tenant ID passed in the access token ({})",
            fx::OTHER_TENANT_ID,
            fx::TENANT_ID
        ))
        .stderr_has("the tenant in the URL is the token's tenant");
    let tokens = emu.token_requests();
    assert_eq!(tokens.len(), 1, "a token fetched just now is not renewed after a 401");
    assert_eq!(tokens[0]["path"], format!("/{}/oauth2/v2.0/token", fx::TENANT_ID));
    assert_eq!(tokens[0]["form"]["scope"], MANAGE_SCOPE);
    let reqs = management_requests(&emu);
    assert_eq!(reqs.len(), 1, "{reqs:#?}");
    assert_eq!(
        reqs[0]["path"],
        format!("/api/v1.0/{}/activity/feed/subscriptions/list", fx::OTHER_TENANT_ID)
    );
    assert_eq!(reqs[0]["status"], 401);
    let sent = bearer(&reqs[0]).unwrap().trim_start_matches("Bearer ");
    assert_eq!(claims(sent)["tid"], fx::TENANT_ID, "the token is the home tenant's");
}

#[test]
fn intune_large_pages_are_a_503_that_outlasts_the_retries() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    // Intune's Retry-After is 10 s; 1 s is still twice the longest first backoff (0.5 s)
    emu.config(json!({"intune_retry_after": "1"}));
    let r = timed(|| {
        api(
            &env,
            &emu,
            &["--max-retries", "1", "/beta/deviceManagement/managedDevices?$top=500"],
        )
    });
    r.fails(5)
        .stderr_has("Microsoft Graph answered HTTP 503 Service Unavailable")
        .stderr_has("ServiceUnavailable: The service is temporarily unavailable: page sizes above 50")
        .stderr_has("--max-retries");
    let sent: Vec<Value> = graph_requests(&emu)
        .into_iter()
        .filter(|p| p["path"] == "/beta/deviceManagement/managedDevices")
        .collect();
    assert_eq!(sent.len(), 2, "1 + 1 retry: {sent:#?}");
    for p in &sent {
        assert_eq!(query(p), "$top=500");
        assert_eq!(p["status"], 503);
    }
    // the emulator's 503 says Retry-After: 1, and the retry waited for it
    assert!(r.elapsed >= std::time::Duration::from_secs(1), "{:?}", r.elapsed);
    assert_eq!(graph_requests(&emu).len(), 2);
}

#[test]
fn the_scope_is_inferred_from_the_host_and_the_call_goes_to_that_host() {
    let emu = Emulator::start();
    let trap = ProxyTrap::start();
    let mut env = Env::for_emulator(&emu);
    // the API call goes to the trap (nothing leaves the machine); the token request to the emulator
    env.set("HTTPS_PROXY", &trap.url);
    env.set("NO_PROXY", "127.0.0.1");
    let cases = [
        (
            format!(
                "https://manage.office.com/api/v1.0/{}/activity/feed/subscriptions/list",
                fx::TENANT_ID
            ),
            "manage.office.com",
            MANAGE_SCOPE,
        ),
        (
            "https://graph.microsoft.com/v1.0/users?$top=1".to_string(),
            "graph.microsoft.com",
            "https://graph.microsoft.com/.default",
        ),
        (
            "https://management.azure.com/subscriptions?api-version=2022-12-01".to_string(),
            "management.azure.com",
            "https://management.azure.com/.default",
        ),
    ];
    for (i, (url, host, scope)) in cases.iter().enumerate() {
        let before = trap.seen().len();
        let r = env.run(&["api", url]);
        r.fails(4).stderr_has(&format!("could not connect to {host}"));
        let tokens = emu.token_requests();
        assert_eq!(tokens.len(), i + 1, "one token per scope: {tokens:#?}");
        assert_eq!(tokens[i]["method"], "POST");
        assert_eq!(tokens[i]["form"]["scope"], *scope, "{url}");
        let seen = trap.seen()[before..].to_vec();
        assert!(!seen.is_empty(), "{url}: the proxy saw nothing");
        let connect = format!("CONNECT {host}:443 HTTP/1.1");
        assert!(seen.iter().all(|l| *l == connect), "{url}: {seen:?}");
    }
    assert_eq!(emu.requests().len(), 3, "only the token requests reached the emulator");
}

#[test]
fn help_lists_every_api_option() {
    let r = Env::new().run(&["api", "--help"]);
    r.ok();
    for flag in [
        "--paginate",
        "--ndjson",
        "--max-pages",
        "--include-error-body",
        "--graph-url",
        "--max-retries",
        "--pretty",
        "--input",
    ] {
        assert!(r.stdout.contains(flag), "{flag}");
    }
}

#[test]
fn service_url_variables_take_relative_paths_and_the_real_hosts_urls_with_the_real_audience() {
    let emu = Emulator::start();
    let trap = ProxyTrap::start();
    let mut env = Env::for_emulator(&emu);
    // were anything sent to a real host, it would reach the trap instead of the network
    env.set("HTTPS_PROXY", &trap.url);
    env.set("NO_PROXY", "127.0.0.1");
    env.set("ENTRA_TOKEN_GRAPH_URL", &emu.base);
    env.set("ENTRA_TOKEN_MANAGEMENT_URL", &emu.base);
    let list = format!(
        "https://manage.office.com/api/v1.0/{}/activity/feed/subscriptions/list",
        fx::TENANT_ID
    );
    for target in [
        "/v1.0/users?$top=2",
        "https://graph.microsoft.com/v1.0/users?$top=2",
        list.as_str(),
    ] {
        let r = env.run(&["api", target]);
        r.ok();
        assert!(r.json().is_object() || r.json().is_array(), "{target}: {}", r.stdout);
    }
    assert!(trap.seen().is_empty(), "nothing went to a real host: {:?}", trap.seen());
    let graph = graph_requests(&emu);
    assert_eq!(graph.len(), 2, "{graph:#?}");
    for g in &graph {
        assert_eq!(g["path"], "/v1.0/users");
        assert_eq!(query(g), "$top=2");
        assert_eq!(g["status"], 200);
        let token = bearer(g).unwrap().trim_start_matches("Bearer ");
        assert_eq!(claims(token)["aud"], "https://graph.microsoft.com");
    }
    let manage = management_requests(&emu);
    assert_eq!(manage.len(), 1, "{manage:#?}");
    assert_eq!(manage[0]["status"], 200);
    let token = bearer(&manage[0]).unwrap().trim_start_matches("Bearer ");
    assert_eq!(claims(token)["aud"], "https://manage.office.com");
    let scopes: Vec<Value> = emu
        .token_requests()
        .iter()
        .map(|t| t["form"]["scope"].clone())
        .collect();
    assert_eq!(
        scopes,
        [json!("https://graph.microsoft.com/.default"), json!(MANAGE_SCOPE)],
        "one token per real audience, nothing for 127.0.0.1"
    );

    // the flag form, and a Management URL on the emulator itself needs no --scope
    let bare = Env::for_emulator(&emu);
    let url = management_url(&emu, "subscriptions/list");
    bare.run(&["api", "--management-url", &emu.base, &url]).ok();
    assert_eq!(emu.token_requests().last().unwrap()["form"]["scope"], MANAGE_SCOPE);
}

#[test]
fn a_loopback_url_without_a_service_override_is_refused_with_a_hint_that_names_the_overrides() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let url = management_url(&emu, "subscriptions/list");
    let r = env.run(&["api", &url]);
    r.fails(2)
        .stderr_has("no token scope is known for")
        .stderr_has("--management-url");
    assert!(!r.stderr.contains("127.0.0.1/.default"), "{}", r.stderr);
    assert!(emu.requests().is_empty(), "nothing was sent");
    // a bad override is exit 2 naming the variable
    let mut bad = Env::for_emulator(&emu);
    bad.set("ENTRA_TOKEN_GRAPH_URL", "http://example.com");
    bad.run(&["api", "/v1.0/users"])
        .fails(2)
        .stderr_has("ENTRA_TOKEN_GRAPH_URL");
    assert!(emu.requests().is_empty(), "nothing was sent");
}

#[test]
fn app_only_me_hints_at_user_and_a_management_path_is_not_called_graph() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let me = env.run(&["api", "--graph-url", &emu.base, "/v1.0/me"]);
    me.fails(5)
        .stderr_has("Microsoft Graph answered HTTP 400")
        .stderr_has("--user");
    // the Management Activity API's path on the --graph-url origin gets the Graph token (the
    // origin's scope), and the summary names the service that answered
    let feed = format!(
        "{}/api/v1.0/{}/activity/feed/subscriptions/list",
        emu.base,
        fx::TENANT_ID
    );
    let r = env.run(&["api", "--graph-url", &emu.base, &feed]);
    r.fails(5)
        .stderr_has("the Office 365 Management Activity API answered HTTP 401");
    assert!(!r.stderr.contains("Microsoft Graph answered"), "{}", r.stderr);
    assert!(!r.stderr.contains("/me is the signed-in user"), "{}", r.stderr);
    let sent: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|q| q["path"].as_str().unwrap().contains("/activity/feed/"))
        .collect();
    assert_eq!(
        sent.len(),
        2,
        "the cached token, then one fresh token after the 401: {sent:?}"
    );
}

#[test]
fn api_help_examples_are_one_command_per_line() {
    let env = Env::new();
    let help = env.run(&["api", "--help"]);
    help.ok();
    let examples: Vec<&str> = help
        .stdout
        .lines()
        .skip_while(|l| *l != "Examples:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(examples.len() >= 8, "{}", help.stdout);
    for line in &examples {
        assert!(
            line.starts_with("  entra-token api ") || line.starts_with("  FEED="),
            "an example wrapped onto a second line (not copy-pasteable): {line:?}\n{}",
            help.stdout
        );
    }
}

/// The first ```sh block after the heading `### {title}` in docs/api-recipes.md.
fn recipe(title: &str) -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api-recipes.md")).unwrap();
    let after = doc
        .split_once(&format!("### {title}\n"))
        .unwrap_or_else(|| panic!("no recipe {title:?}"))
        .1;
    let block = after.split_once("```sh\n").unwrap().1;
    block.split_once("```\n").unwrap().0.to_string()
}

/// The Windows 365 and Managed Desktop recipes, exactly as the docs give them, run under
/// `emulator exec` with a `BROWSER` that follows the sign-in redirects (as the docs show).
#[cfg(unix)]
#[test]
fn the_windows_365_and_managed_desktop_recipes_run_against_the_emulator() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let dir = env.dir.path();
    env.write("cloud-pcs.sh", recipe("Windows 365: Cloud PCs (Graph beta)").as_bytes());
    env.write(
        "mmd-devices.sh",
        recipe("Microsoft Managed Desktop API (delegated)").as_bytes(),
    );
    let browser = env.write("follow.sh", b"#!/bin/sh\nexec curl -sfL -o /dev/null \"$1\"\n");
    std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
    let script = format!(
        r#"set -e
cd '{dir}'
MMD_API=api://modern-workplace-customer-apis MMD_URL=$ENTRA_TOKEN_EMULATOR_URL sh -e ./mmd-devices.sh > mmd.out
sh -e ./cloud-pcs.sh > cloud-pcs.out
entra-token api --user /v1.0/devices > /dev/null 2> devices.err || echo "exit $?" > devices.code
curl -sSf "$ENTRA_TOKEN_EMULATOR_URL/_emulator/requests" > requests.json
"#,
        dir = dir.display()
    );
    let mut c = env.command(&["emulator", "exec", "--", "sh", "-c", &script]);
    c.env("BROWSER", &browser);
    let r = Run::from(c.output().unwrap());
    r.ok();
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();

    let mmd: Value = serde_json::from_str(&read("mmd.out")).unwrap();
    let devices = mmd["value"].as_array().unwrap();
    assert_eq!(devices.len(), 3, "{mmd}");
    assert!(
        devices
            .iter()
            .all(|d| d["serialNumber"].as_str().unwrap().starts_with("MMD-"))
    );

    let out = read("cloud-pcs.out");
    let mut lines = out.lines();
    let tsv: Vec<&str> = lines.by_ref().take_while(|l| !l.starts_with('{')).collect();
    assert!(tsv.len() >= 3, "{out}");
    for l in &tsv {
        let cols: Vec<&str> = l.split('\t').collect();
        assert_eq!(cols.len(), 3, "{l}");
        assert!(cols[0].starts_with("CPC-") && cols[1].contains('@'), "{l}");
    }
    let delegated: Value = serde_json::from_str(out.lines().find(|l| l.starts_with('{')).unwrap()).unwrap();
    let pcs = delegated["value"].as_array().unwrap();
    assert!(!pcs.is_empty());
    for pc in pcs {
        let mut keys: Vec<&str> = pc
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|k| !k.starts_with('@'))
            .collect();
        keys.sort();
        assert_eq!(keys, ["displayName", "status"], "$select was honoured: {pc}");
    }

    // on the wire: the sign-ins asked for the recipes' permissions, and each API call carried a
    // token of the matching kind
    let log: Vec<Value> = serde_json::from_str(&read("requests.json")).unwrap();
    let authorize: Vec<String> = log
        .iter()
        .filter(|q| q["path"].as_str().unwrap().ends_with("/oauth2/v2.0/authorize"))
        .map(|q| q["query"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(authorize.len(), 2, "{log:#?}");
    assert!(authorize[0].contains("MWaaSDevice.Read"), "{}", authorize[0]);
    assert!(authorize[1].contains("CloudPC.Read.All"), "{}", authorize[1]);
    let mmd_call = log
        .iter()
        .find(|q| q["path"].as_str().unwrap().starts_with("/support/odata/v1/tenants/"))
        .unwrap();
    assert_eq!(mmd_call["status"], 200);
    assert_eq!(
        mmd_call["path"],
        format!("/support/odata/v1/tenants/{}/devices", fx::TENANT_ID)
    );
    let cloud_pc_calls: Vec<&Value> = log
        .iter()
        .filter(|q| q["path"] == "/beta/deviceManagement/virtualEndpoint/cloudPCs")
        .collect();
    assert!(cloud_pc_calls.len() >= 2, "app-only and delegated");
    assert!(cloud_pc_calls.iter().all(|q| q["status"] == 200));

    // a delegated call the signed-in user's token has no permission for: the hint is about
    // delegated permissions and signing in again, not the app's application permissions
    assert_eq!(read("devices.code").trim(), "exit 5");
    let err = read("devices.err");
    assert!(err.contains("HTTP 403"), "{err}");
    assert!(
        err.contains("delegated permission") && err.contains("entra-token login --scope"),
        "{err}"
    );
    assert!(!err.contains("(Application)"), "{err}");
}
