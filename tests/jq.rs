//! End-to-end: `--jq EXPR` on `api` (a single reply, every page of `--paginate` as `gh api
//! --paginate --jq` does, every item with `--ndjson`) and on `get -o json`: one result per line
//! with strings raw, a filter that does not parse refused (exit 2) before anything is sent, a
//! filter that fails at run time or a body that is not JSON exit 5 for `api` and 2 for `get`,
//! with nothing on stdout and no token in the error text.

mod common;
use common::*;
use serde_json::{Value, json};

fn api(env: &Env, emu: &Emulator, args: &[&str]) -> Run {
    let mut full = vec!["api", "--graph-url", emu.base.as_str()];
    full.extend_from_slice(args);
    env.run(&full)
}

fn graph_requests(emu: &Emulator) -> Vec<Value> {
    emu.requests()
        .into_iter()
        .filter(|r| r["path"].as_str().unwrap_or("").starts_with("/v1.0/"))
        .collect()
}

#[test]
fn api_jq_prints_one_result_per_line_with_strings_raw() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let r = api(
        &env,
        &emu,
        &["--jq", ".value[].userPrincipalName", "/v1.0/users?$top=3"],
    );
    let lines: Vec<&str> = r.ok().stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", r.stdout);
    assert_eq!(lines[0], fx::ADMIN_UPN, "a string is printed without quotes");
    assert!(lines.iter().all(|l| l.ends_with("@contoso.onmicrosoft.com")));

    // non-strings are compact JSON, one per line
    let r = api(
        &env,
        &emu,
        &["--jq", ".value[0] | {id, n: 1}, [.id]", "/v1.0/users?$top=3"],
    );
    assert_eq!(
        r.ok().stdout,
        format!("{{\"id\":\"{0}\",\"n\":1}}\n[\"{0}\"]\n", fx::ADMIN_USER_ID)
    );
    let r = api(&env, &emu, &["--jq", ".value | length", "/v1.0/users?$top=3"]);
    assert_eq!(r.ok().stdout, "3\n");
    assert_eq!(graph_requests(&emu).len(), 3, "one request per run");
}

#[test]
fn api_paginate_jq_runs_on_each_page_and_ndjson_on_each_item() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    // per page, as received (gh api --paginate --jq): Graph's pages keep their `value`
    let r = api(
        &env,
        &emu,
        &["--paginate", "--jq", ".value | length", "/v1.0/users?$top=100"],
    );
    assert_eq!(r.ok().stdout, "100\n100\n50\n");
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    let r = api(
        &env,
        &emu,
        &["--paginate", "--jq", ".value[].id", "/v1.0/users?$top=100"],
    );
    let ids: Vec<&str> = r.ok().stdout.lines().collect();
    assert_eq!(ids.len(), 250);
    assert_eq!(ids[0], fx::ADMIN_USER_ID);
    let unique: std::collections::BTreeSet<&&str> = ids.iter().collect();
    assert_eq!(unique.len(), 250, "no page twice");

    // --ndjson: the filter runs on each item
    let r = api(
        &env,
        &emu,
        &["--paginate", "--ndjson", "--jq", ".displayName", "/v1.0/users?$top=100"],
    );
    let names: Vec<&str> = r.ok().stdout.lines().collect();
    assert_eq!(names.len(), 250);
    assert_eq!(names[0], "Contoso Admin");
    assert!(names[1..].iter().all(|n| n.starts_with("User ")), "{:?}", &names[..3]);

    // a filter that selects nothing prints nothing and succeeds
    let r = api(
        &env,
        &emu,
        &[
            "--paginate",
            "--jq",
            ".value[] | select(.id == \"none\")",
            "/v1.0/users?$top=100",
        ],
    );
    assert_eq!(r.ok().stdout, "");

    // the Management API's pages are bare arrays (NextPageUri header)
    let url = format!(
        "{}/api/v1.0/{}/activity/feed/subscriptions/content?contentType=Audit.General",
        emu.base,
        fx::TENANT_ID
    );
    let r = env.run(&[
        "api",
        "--scope",
        "https://manage.office.com/.default",
        "--paginate",
        "--jq",
        ".[].contentUri",
        &url,
    ]);
    let uris: Vec<&str> = r.ok().stdout.lines().collect();
    assert_eq!(uris.len(), 30);
    assert!(
        uris.iter().all(|u| u.starts_with("http") && !u.contains('"')),
        "{uris:?}"
    );
}

#[test]
fn a_filter_that_does_not_parse_is_exit_2_before_anything_is_sent() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    for bad in [".value[", ".a | nosuchfunction", "$undefined"] {
        api(&env, &emu, &["--jq", bad, "/v1.0/users"])
            .fails(2)
            .stderr_has("--jq")
            .stderr_has("not valid jq");
        env.run(&["get", "-o", "json", "--jq", bad]).fails(2).stderr_has("--jq");
    }
    api(&env, &emu, &["--paginate", "--jq", ".value[", "/v1.0/users"])
        .fails(2)
        .stderr_has("column");
    assert!(emu.requests().is_empty(), "nothing sent: {:#?}", emu.requests());
    // --jq and --pretty do not go together; --jq on get needs -o json
    api(&env, &emu, &["--pretty", "--jq", ".", "/v1.0/users"]).fails(2);
    env.run(&["get", "--jq", ".accessToken"]).fails(2).stderr_has("-o json");
    env.run(&["get", "-o", "header", "--jq", "."]).fails(2);
    assert!(emu.requests().is_empty(), "nothing sent: {:#?}", emu.requests());
}

#[test]
fn api_runtime_errors_and_bodies_that_are_not_json_are_exit_5() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let r = api(&env, &emu, &["--jq", ".value[].id | tonumber", "/v1.0/users?$top=3"]);
    r.fails(5).stderr_has("--jq");
    let r = api(
        &env,
        &emu,
        &["--jq", r#".value[0].id, error("stop here")"#, "/v1.0/users?$top=3"],
    );
    r.fails(5).stderr_has("stop here");
    // per page: the page is named
    let r = api(
        &env,
        &emu,
        &["--paginate", "--jq", ".value[0].id | tonumber", "/v1.0/users?$top=100"],
    );
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("page 1") && r.stderr.contains("--jq"), "{}", r.stderr);

    emu.fault(
        json!({"kind": "status", "status": 200, "path": "/v1.0/users", "content_type": "text/html",
        "body": "<html><body>Sign in to the proxy</body></html>"}),
    );
    api(&env, &emu, &["--jq", ".", "/v1.0/users"])
        .fails(5)
        .stderr_has("not JSON");

    // an empty body (204) is no input: nothing printed, success
    emu.fault(json!({"kind": "status", "status": 204, "path": "/v1.0/groups/x"}));
    let r = api(&env, &emu, &["-X", "DELETE", "--jq", ".", "/v1.0/groups/x"]);
    assert_eq!(r.ok().stdout, "");
    // a non-2xx answer is still the API's failure (exit 5 with the summary), not the filter's
    api(&env, &emu, &["--jq", ".", "/v1.0/nosuchcollection"])
        .fails(5)
        .stderr_has("HTTP 4");
}

#[test]
fn get_json_jq_filters_the_token_document() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let token = env.run(&["get"]).ok().token();
    let r = env.run(&["get", "-o", "json", "--jq", ".accessToken"]);
    assert_eq!(
        r.ok().stdout,
        format!("{token}\n"),
        "the token raw, as -o token prints it"
    );
    let r = env.run(&["get", "-o", "json", "--jq", ".tokenType, .tenant, .expires_on"]);
    let lines: Vec<&str> = r.ok().stdout.lines().collect();
    assert_eq!(lines[0], "Bearer");
    assert_eq!(lines[1], fx::TENANT_ID);
    assert!(lines[2].parse::<i64>().is_ok(), "{lines:?}");
    let r = env.run(&["get", "-o", "json", "--jq", "{tokenType, tenant}"]);
    assert_eq!(
        r.ok().stdout,
        format!("{{\"tokenType\":\"Bearer\",\"tenant\":\"{}\"}}\n", fx::TENANT_ID)
    );
    assert_eq!(emu.token_requests().len(), 1, "all served from the cache");

    // a run-time error on entra-token's own document is a usage error (exit 2), and the
    // token it might quote never reaches the error text
    let r = env.run(&["get", "-o", "json", "--jq", ".accessToken | tonumber"]);
    r.fails(2).stderr_has("--jq");
    let payload = token.split('.').nth(1).unwrap();
    assert!(!r.stderr.contains(payload), "the token leaked: {}", r.stderr);
}
