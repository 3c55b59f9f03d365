//! End-to-end: hostile servers and hostile input. A token endpoint or API that echoes the secret
//! in any spelling (raw, Python's `quote`/`quote_plus`, JSON-escaped) or sends terminal escape
//! sequences; a reply whose `expires_on` is already past; a token echoed in a response header
//! under `api -i`; user names and passwords in URLs; the local input errors that must be exit 2
//! before anything is sent; expiry displays of absurd times; the secrets a browser child must
//! not inherit; and core dumps off in a running command. Every test asserts on the exit code,
//! stderr and what reached the emulator.

mod common;
use common::*;
use serde_json::{Value, json};

/// A client secret with characters every encoding spells differently.
const SECRET: &str = "Hostile~Secret/Value+1 é!";

/// Python's `urllib.parse.quote(s, safe=safe)` (with `plus`: `quote_plus`; with `lower`:
/// lower-case hex, as some servers write it).
fn quote(s: &str, safe: &str, plus: bool, lower: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        let c = b as char;
        if c.is_ascii_alphanumeric() || "_.-~".contains(c) || safe.contains(c) {
            out.push(c);
        } else if plus && c == ' ' {
            out.push('+');
        } else if lower {
            out.push_str(&format!("%{b:02x}"));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Every way a server may echo `SECRET`.
fn echoes() -> Vec<String> {
    let json = serde_json::to_string(SECRET).unwrap();
    vec![
        SECRET.to_string(),
        quote(SECRET, "/", false, false), // quote()
        quote(SECRET, "", true, false),   // quote_plus()
        quote(SECRET, "", true, true),    // quote_plus() with lower-case hex
        json[1..json.len() - 1].to_string(),
        r"Hostile~Secret\/Value+1 \u00e9!".to_string(), // json.dumps with ensure_ascii, escaped slash
    ]
}

/// No spelling of the secret, nor a 10-character beginning of one, is in `text`.
#[track_caller]
fn assert_no_secret(text: &str) {
    for echo in echoes() {
        let head: String = echo.chars().take(10).collect();
        assert!(!text.contains(&head), "{head:?} of {echo:?} leaked:\n{text}");
    }
}

fn env_with_secret(emu: &Emulator) -> Env {
    let mut env = Env::for_emulator(emu);
    env.set("AZURE_CLIENT_SECRET", SECRET);
    env
}

#[test]
fn a_secret_echoed_in_any_spelling_never_reaches_stderr() {
    let emu = Emulator::start();
    let env = env_with_secret(&emu);
    for echo in echoes() {
        // Entra's JSON error
        let desc = format!("AADSTS7000215: Invalid client secret provided: '{echo}'. Trace ID: x");
        emu.fault(json!({"kind": "status", "status": 401, "path": "/token",
            "body": json!({"error": "invalid_client", "error_description": desc, "error_codes": [7000215]}).to_string()}));
        let r = env.run(&["get", "-vv", "--cache", "none"]);
        r.fails(3).stderr_has("AADSTS7000215");
        assert_no_secret(&r.stderr);
        // a gateway's text within the reply's first bytes (the snippet is cut after redaction)
        emu.fault(
            json!({"kind": "status", "status": 400, "path": "/token", "content_type": "text/plain",
            "body": format!("bad gateway: client_secret {echo} rejected {}", "x".repeat(300))}),
        );
        let r = env.run(&["get", "--cache", "none"]);
        r.fails(4).stderr_has("bad gateway");
        assert_no_secret(&r.stderr);
    }
    // the secret was on the wire to the token endpoint only (the emulator saw it, in the form)
    assert!(
        emu.token_requests()
            .iter()
            .all(|r| r["form"]["client_secret"] == redacted(SECRET).as_str())
    );
}

#[test]
fn terminal_controls_from_servers_are_stripped() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let evil = "AADSTS7000215: \u{1b}]0;pwned title\u{7}bad\u{1b}[2J\u{1b}[H secret \u{1b}]8;;https://evil.example/\u{1b}\\link\u{1b}]8;;\u{1b}\\ \u{9b}5A\r\u{8}done";
    emu.fault(json!({"kind": "status", "status": 401, "path": "/token",
        "body": json!({"error": "invalid_client", "error_description": evil}).to_string()}));
    let r = env.run(&["get", "--cache", "none"]);
    r.fails(3).stderr_has("bad secret link");
    let controls = |s: &str| s.chars().any(|c| c.is_control() && c != '\n');
    assert!(!controls(&r.stderr), "{:?}", r.stderr);

    // api's exit-5 summary quotes the service's message
    emu.fault(json!({"kind": "status", "status": 400, "path": "/v1.0/users",
        "body": json!({"error": {"code": "Request_BadRequest", "message": evil}}).to_string()}));
    let r = env.run(&["api", "--graph-url", &emu.base, "/v1.0/users"]);
    r.fails(5)
        .stderr_has("Request_BadRequest")
        .stderr_has("bad secret link");
    assert!(!controls(&r.stderr), "{:?}", r.stderr);
    // and a non-JSON error body
    emu.fault(
        json!({"kind": "status", "status": 500, "path": "/v1.0/users", "content_type": "text/plain",
        "body": "\u{1b}]0;title\u{7}\u{1b}[31mgateway down\u{1b}[0m"}),
    );
    let r = env.run(&["api", "--graph-url", &emu.base, "/v1.0/users", "--max-retries", "0"]);
    r.fails(5).stderr_has("gateway down");
    assert!(!controls(&r.stderr), "{:?}", r.stderr);
}

#[test]
fn a_reply_whose_expires_on_is_past_is_exit_4_and_not_cached() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let body = json!({"token_type": "Bearer", "access_token": "opaque-dead-token-0123456789",
        "expires_in": 3599, "ext_expires_in": 3599, "expires_on": 1_000_000_001});
    emu.fault(json!({"kind": "status", "status": 200, "path": "/token", "body": body.to_string()}));
    let r = env.run(&["get", "--cache", "file"]);
    r.fails(4).stderr_has("expires_on").stderr_has("past");
    assert!(!r.stderr.contains("opaque-dead-token"), "{}", r.stderr);
    // nothing was stored: the next get asks again and gets a live token
    let list = env.run(&["cache", "list", "-o", "json", "--cache", "file"]);
    list.ok();
    assert_eq!(list.json(), json!([]));
    env.run(&["get", "--cache", "file"]).ok();
    assert_eq!(emu.token_requests().len(), 2);
}

#[test]
fn api_include_redacts_a_token_echoed_in_a_response_header() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let token = env.run(&["get"]).token();
    assert!(token.len() > 40);
    emu.fault(json!({"kind": "status", "status": 200, "path": "/v1.0/me",
        "headers": {"X-Echo-Authorization": format!("Bearer {token}"), "X-Echo-Token": token.clone(), "X-Plain": "kept"},
        "body": "{\"id\":\"1\"}"}));
    let r = env.run(&["api", "--graph-url", &emu.base, "-i", "/v1.0/me"]);
    r.ok();
    assert!(r.stderr.contains("x-plain: kept"), "{}", r.stderr);
    assert!(r.stderr.contains("x-echo-token: [REDACTED"), "{}", r.stderr);
    let sig = token.rsplit('.').next().unwrap();
    assert!(!r.stderr.contains(sig) && !r.stdout.contains(sig), "{}", r.stderr);
    // the call did go out with the token (to the API's origin)
    let me: Vec<Value> = emu.requests().into_iter().filter(|r| r["path"] == "/v1.0/me").collect();
    assert_eq!(me.len(), 1);
}

#[test]
fn user_names_and_passwords_in_urls_are_refused_before_anything_is_sent() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let with_pw = emu.base.replace("://", "://admin:hunter2pw@");
    let r = env.run(&["get", "--authority-host", &with_pw]);
    r.fails(2)
        .stderr_has("--authority-host")
        .stderr_has("user name or password");
    assert!(!r.stderr.contains("hunter2pw"), "{}", r.stderr);
    let mut via_env = Env::for_emulator(&emu);
    via_env.set("AZURE_AUTHORITY_HOST", &with_pw);
    let r = via_env.run(&["get"]);
    r.fails(2).stderr_has("AZURE_AUTHORITY_HOST");
    assert!(!r.stderr.contains("hunter2pw"), "{}", r.stderr);
    let r = env.run(&["api", "--graph-url", &with_pw, "/v1.0/me"]);
    r.fails(2).stderr_has("--graph-url");
    assert!(!r.stderr.contains("hunter2pw"), "{}", r.stderr);
    let r = env.run(&["api", "--graph-url", &emu.base, &format!("{with_pw}/v1.0/me")]);
    r.fails(2).stderr_has("user name or password");
    assert!(!r.stderr.contains("hunter2pw"), "{}", r.stderr);
    assert!(emu.requests().is_empty(), "nothing was sent: {:?}", emu.requests());
    // and nothing was stored under such an authority
    env.run(&["cache", "list"]).ok();
    assert_nowhere_under(&env.home(), "hunter2pw");
}

#[test]
fn local_input_errors_are_exit_2_before_anything_is_sent() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let newline_host = format!("{}/a\nb", emu.base);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["get", "--authority-host", ".."], "--authority-host"),
        (vec!["get", "--authority-host", &newline_host], "--authority-host"),
        (vec!["api", "--graph-url", &emu.base, ""], "empty"),
        (vec!["api", "--graph-url", &emu.base, "  "], "empty"),
        (
            vec!["api", "--graph-url", &emu.base, "/v1.0/me\nx"],
            "control character",
        ),
        (vec!["api", "--graph-url", "..", "/v1.0/me"], "--graph-url"),
        (vec!["get", "--resource", ""], "--resource"),
        (
            vec!["redeem", "--code", "", "--redirect-uri", "http://localhost/"],
            "--code",
        ),
        (vec!["redeem", "--code", "c", "--redirect-uri", ""], "--redirect-uri"),
        (vec!["consent-url", "--redirect-uri", ""], "--redirect-uri"),
    ];
    for (args, needle) in &cases {
        let r = env.run(args);
        r.fails(2).stderr_has(needle);
    }
    assert!(emu.requests().is_empty(), "nothing was sent: {:?}", emu.requests());
}

#[test]
fn redeem_refuses_a_code_verifier_on_the_command_line() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU2p1r-wW1gFWFOEjXk";
    for args in [
        vec![
            "redeem",
            "--code",
            "c",
            "--redirect-uri",
            "http://localhost/",
            "--code-verifier",
            verifier,
        ],
        vec![
            "redeem",
            "--code",
            "c",
            "--redirect-uri",
            "http://localhost/",
            "--code-verifier",
        ],
    ] {
        let r = env.run(&args);
        r.fails(2).stderr_has("--code-verifier-file");
        assert!(!r.stderr.contains(verifier), "{}", r.stderr);
    }
    let empty = env.write("empty-verifier", b"\n");
    env.run(&[
        "redeem",
        "--code",
        "c",
        "--redirect-uri",
        "http://localhost/",
        "--code-verifier-file",
    ])
    .fails(2);
    env.run(&[
        "redeem",
        "--code",
        "c",
        "--redirect-uri",
        "http://localhost/",
        "--code-verifier-file",
        empty.to_str().unwrap(),
    ])
    .fails(2)
    .stderr_has("empty");
    assert!(emu.requests().is_empty());
}

/// Rewrites `meta.expires_on` of every cache entry under the environment's cache directory.
fn set_cached_expiry(env: &Env, value: i64) {
    let dir = env.home().join(".cache");
    let mut n = 0;
    for path in files_under(&dir) {
        if path.extension().is_some_and(|e| e == "json") {
            let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            if v["meta"]["expires_on"].is_i64() {
                v["meta"]["expires_on"] = json!(value);
                std::fs::write(&path, v.to_string()).unwrap();
                n += 1;
            }
        }
    }
    assert!(n > 0, "no cache entry under {}", dir.display());
}

#[test]
fn absurd_expiry_times_print_sane_text() {
    use base64::Engine;
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    env.run(&["get", "--cache", "file"]).ok();
    for value in [i64::MIN, i64::MAX, 0, -1] {
        set_cached_expiry(&env, value);
        let text = env.run(&["cache", "list", "--cache", "file"]);
        text.ok();
        assert!(!text.stdout.contains("expires in -"), "{}", text.stdout);
        let state = if value > 0 { "more than 100 years" } else { "expired" };
        assert!(text.stdout.contains(state), "{value}: {}", text.stdout);
        let json = env.run(&["cache", "list", "-o", "json", "--cache", "file"]);
        json.ok();
        let row = &json.json()[0];
        assert_eq!(row["expires_on"], json!(value));
        let shown = row["expiresOn"].as_str().unwrap();
        assert_eq!(shown.len(), "2026-01-01T00:00:00+00:00".len(), "{shown}");
        assert_eq!(row["expired"], json!(value <= 0));
        // an entry like that is never served: a fresh token is fetched instead
        let before = emu.token_requests().len();
        env.run(&["get", "--cache", "file"]).ok();
        assert_eq!(emu.token_requests().len(), before + usize::from(value <= 0));
    }
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    for exp in [i64::MIN, i64::MAX] {
        let jwt = format!(
            "{}.{}.c2ln",
            b64(&json!({"alg": "none"})),
            b64(&json!({"exp": exp, "sub": "x"}))
        );
        let r = env.run(&["decode", &jwt]);
        r.ok();
        assert!(r.stderr.contains("more than 100 years"), "{}", r.stderr);
        assert!(
            r.stderr.contains("9999-12-31") || r.stderr.contains("0000-01-01"),
            "{}",
            r.stderr
        );
    }
}

/// The browser `consent-url --listen` opens gets none of the secret variables.
#[cfg(unix)]
#[test]
fn the_browser_inherits_no_secret_variables() {
    use std::os::unix::fs::PermissionsExt;
    let emu = Emulator::start();
    let mut env = Env::for_emulator(&emu);
    env.set("AZURE_CLIENT_CERTIFICATE_PASSWORD", "Cert-Password-Value-1");
    env.set("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "Actions-Request-Token-1");
    let seen = env.home().join("browser-env");
    let script = env.write(
        "browser.sh",
        format!("#!/bin/sh\nenv > '{}.tmp' && mv '{0}.tmp' '{0}'\n", seen.display()).as_bytes(),
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.set("BROWSER", script.to_str().unwrap());
    let r = env.run(&["consent-url", "--listen", "--wait", "3"]);
    r.fails(4).stderr_has("within 3 s");
    let got = std::fs::read_to_string(&seen).expect("the browser was started");
    assert!(
        got.contains("AZURE_CLIENT_ID="),
        "the browser gets the ordinary variables: {got}"
    );
    for name in [
        "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_CERTIFICATE_PASSWORD",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    ] {
        assert!(!got.contains(&format!("{name}=")), "{name} reached the browser");
    }
    assert!(!got.contains(fx::CLIENT_SECRET));
}

/// A running entra-token has core dumps off: its memory holds the client secret and tokens.
#[cfg(target_os = "linux")]
#[test]
fn a_running_command_has_core_dumps_off() {
    use std::io::{BufRead, BufReader};
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let mut child = env
        .command(&["consent-url", "--listen", "--no-browser", "--wait", "30"])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // the URL line on stderr: the command is running past its start
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    assert!(lines.any(|l| l.is_ok_and(|l| l.starts_with("http"))));
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let core = limits.lines().find(|l| l.starts_with("Max core file size")).unwrap();
    assert_eq!(
        core.split_whitespace().filter(|w| *w == "0").count(),
        2,
        "soft and hard limit 0: {core}"
    );
}

/// A local user who opens connections to the redirect listener until it runs out of file
/// descriptors (`EMFILE`): the listener backs off instead of spinning, and once the descriptors
/// come back it still takes the real redirect.
#[cfg(target_os = "linux")]
#[test]
fn a_listener_out_of_file_descriptors_backs_off_and_recovers() {
    use std::io::{BufRead, BufReader, Read, Write};
    let emu = Emulator::start();
    let mut env = Env::for_emulator(&emu);
    env.unset("AZURE_TENANT_ID");
    env.set("ENTRA_TOKEN_CACHE", "none");
    // a low descriptor limit, so that a few dozen idle connections exhaust it
    let template = env.command(&[]);
    let mut c = std::process::Command::new("sh");
    c.args([
        "-c",
        r#"ulimit -n 40 && exec "$0" consent-url --listen --no-browser --wait 60 -v"#,
        BIN,
    ])
    .env_clear()
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    for (k, v) in template.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    let mut child = c.spawn().unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let mut seen = Vec::new();
    let url = loop {
        let l = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the consent URL");
        seen.push(l.clone());
        if l.starts_with("http") {
            break l;
        }
    };
    let param = |name: &str| {
        url::Url::parse(&url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    let redirect = url::Url::parse(&param("redirect_uri")).unwrap();
    let port = redirect.port().unwrap();
    let state = param("state");

    // idle connections: each accepted one holds a descriptor until the peer closes it
    let idle: Vec<std::net::TcpStream> = (0..64)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    assert!(idle.len() >= 40, "{} connections", idle.len());
    std::thread::sleep(std::time::Duration::from_millis(500));
    // CPU time over two seconds out of descriptors: a spinning accept loop would use it all
    let cpu_ticks = || -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    let before = cpu_ticks();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let used = cpu_ticks() - before;
    // (ticks are 1/100 s on Linux: 200 would be a full core)
    assert!(used < 60, "{used} ticks of CPU in 2 s: the accept loop spins");
    drop(idle);

    // the real redirect, once descriptors are free again
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {}?admin_consent=True&tenant={}&state={} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n",
        redirect.path(),
        fx::OTHER_TENANT_ID,
        state
    )
    .unwrap();
    let mut page = String::new();
    let _ = s.read_to_string(&mut page);
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let out = child.wait_with_output().unwrap();
    while let Ok(l) = rx.recv_timeout(std::time::Duration::from_secs(5)) {
        seen.push(l);
    }
    let stderr = seen.join("\n");
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", fx::OTHER_TENANT_ID)
    );
    assert!(
        stderr.contains("accept failed") && stderr.contains("open files"),
        "the listener did run out of descriptors: {stderr}"
    );
}
