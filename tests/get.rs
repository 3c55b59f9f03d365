//! End-to-end: `get` (client secret, v1/v2, outputs, settings precedence, errors, faults,
//! deadlines, TLS, logging), `decode`, `completions`, `emulator exec` — the real binary against
//! the real emulator, checking stdout, stderr, exit codes and what went over the wire.

mod common;
use common::*;
use serde_json::json;
use std::time::Duration;

fn form<'a>(req: &'a serde_json::Value, k: &str) -> Option<&'a str> {
    req["form"][k].as_str()
}

#[test]
fn quickstart_exec_gets_a_token_with_no_tenant() {
    let env = Env::new();
    let r = env.run(&["emulator", "exec", "--", BIN, "get", "-o", "json"]);
    r.ok();
    let v = r.json();
    assert_eq!(v["tenant"], fx::TENANT_ID);
    assert_eq!(v["tokenType"], "Bearer");
    assert!(v["expires_on"].as_i64().unwrap() > 1_700_000_000);
    assert!(v["expiresOn"].as_str().unwrap().ends_with("+00:00"));
    assert_eq!(claims(v["accessToken"].as_str().unwrap())["aud"], fx::GRAPH_RESOURCE);
}

#[test]
fn exec_passes_the_exit_status_and_path() {
    let env = Env::new();
    let r = env.run(&[
        "emulator",
        "exec",
        "--",
        "sh",
        "-c",
        "entra-token --version >/dev/null && exit 7",
    ]);
    assert_eq!(r.code, 7, "{}", r.stderr);
}

#[test]
fn v2_client_secret_request_on_the_wire() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let r = env.run(&["get"]);
    r.ok();
    assert!(
        r.stdout.ends_with('\n') && r.stdout.lines().count() == 1,
        "token and one newline: {:?}",
        r.stdout
    );
    let token = r.token();
    assert_eq!(claims(&token)["tid"], fx::TENANT_ID);
    let reqs = emu.requests();
    assert_eq!(reqs.len(), 1, "exactly one request, no discovery: {reqs:#?}");
    let q = &reqs[0];
    assert_eq!(q["method"], "POST");
    assert_eq!(q["path"], format!("/{}/oauth2/v2.0/token", fx::TENANT_ID));
    assert_eq!(form(q, "grant_type"), Some("client_credentials"));
    assert_eq!(form(q, "client_id"), Some(fx::CLIENT_ID));
    assert_eq!(form(q, "scope"), Some("https://graph.microsoft.com/.default"));
    assert_eq!(
        form(q, "client_secret"),
        Some(redacted(fx::CLIENT_SECRET).as_str()),
        "special characters arrive intact"
    );
    assert!(q["form"].get("resource").is_none());
    assert!(q["headers"]["user-agent"].as_str().unwrap().starts_with("entra-token/"));
    assert!(
        q["headers"]["content-type"]
            .as_str()
            .unwrap()
            .starts_with("application/x-www-form-urlencoded")
    );
}

#[test]
fn v1_resource_with_string_numbers() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let r = env.run(&["get", "--v1", "--resource", "https://manage.office.com", "-o", "json"]);
    r.ok();
    let v = r.json();
    assert!(
        v["expires_on"].is_i64(),
        "v1 string expires_on parsed to an integer: {v}"
    );
    assert_eq!(
        claims(v["accessToken"].as_str().unwrap())["aud"],
        "https://manage.office.com"
    );
    let q = &emu.token_requests()[0];
    assert_eq!(q["path"], format!("/{}/oauth2/token", fx::TENANT_ID));
    assert_eq!(form(q, "resource"), Some("https://manage.office.com"));
    assert!(q["form"].get("scope").is_none(), "v1 sends no scope");
}

#[test]
fn resource_on_v2_becomes_default_scope_verbatim() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    env.run(&["get", "--resource", "https://management.core.windows.net/"])
        .ok();
    assert_eq!(
        form(&emu.token_requests()[0], "scope"),
        Some("https://management.core.windows.net//.default")
    );
}

#[test]
fn output_formats() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let token = env.run(&["get"]).ok().token();
    let h = env.run(&["get", "-o", "header"]);
    assert_eq!(h.ok().stdout, format!("Authorization: Bearer {token}\n"));
    let e = env.run(&["get", "-o", "env"]);
    assert!(
        e.ok()
            .stdout
            .starts_with(&format!("export ENTRA_ACCESS_TOKEN='{token}'\n"))
    );
    let k = env.run(&["get", "-o", "exec-credential"]);
    let v = k.ok().json();
    assert_eq!(v["kind"], "ExecCredential");
    assert_eq!(v["apiVersion"], "client.authentication.k8s.io/v1");
    assert_eq!(v["status"]["token"], token.as_str());
    assert!(v["status"]["expirationTimestamp"].as_str().unwrap().ends_with('Z'));
    let j = env.run(&["get", "-o", "json"]).ok().json();
    for f in ["accessToken", "expiresOn", "expires_on", "tenant", "tokenType"] {
        assert!(j.get(f).is_some(), "json output lacks {f}: {j}");
    }
    // eval'd env output really sets the variable
    let script = format!("eval \"$({BIN} get -o env)\"; printf %s \"$ENTRA_ACCESS_TOKEN\"");
    let s = env.run_stdin(&["emulator", "exec", "--", "sh", "-c", &script], b"");
    assert!(s.ok().stdout.starts_with("eyJ"));
}

#[test]
fn tenant_by_domain_reports_the_guid() {
    let emu = Emulator::start();
    let mut env = Env::for_emulator(&emu);
    env.set("AZURE_TENANT_ID", fx::TENANT_DOMAIN);
    let v = env.run(&["get", "-o", "json"]).ok().json();
    assert_eq!(v["tenant"], fx::TENANT_ID);
    assert_eq!(
        emu.token_requests()[0]["path"],
        format!("/{}/oauth2/v2.0/token", fx::TENANT_DOMAIN)
    );
}

#[test]
fn flags_beat_environment() {
    let emu = Emulator::start();
    let mut env = Env::for_emulator(&emu);
    env.set("AZURE_TENANT_ID", "unknown-tenant.example.com")
        .set("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001");
    env.run(&["get", "--tenant", fx::TENANT_DOMAIN, "--client-id", fx::CLIENT_ID])
        .ok();
    let q = &emu.token_requests()[0];
    assert_eq!(q["path"], format!("/{}/oauth2/v2.0/token", fx::TENANT_DOMAIN));
    assert_eq!(form(q, "client_id"), Some(fx::CLIENT_ID));
    // a secret file flag beats AZURE_CLIENT_SECRET
    let mut env2 = Env::for_emulator(&emu);
    env2.set("AZURE_CLIENT_SECRET", "wrong-secret-from-env");
    let f = env2.write("secret.txt", format!("{}\n", fx::CLIENT_SECRET).as_bytes());
    env2.run(&["get", "--client-secret-file", f.to_str().unwrap(), "--force-refresh"])
        .ok();
    assert_eq!(
        form(emu.token_requests().last().unwrap(), "client_secret"),
        Some(redacted(fx::CLIENT_SECRET).as_str())
    );
}

#[test]
fn profile_works_with_no_environment() {
    let emu = Emulator::start();
    let env = Env::new();
    let secret = env.write("app.secret", fx::CLIENT_SECRET.as_bytes());
    let config = format!(
        "[profiles.contoso]\ntenant = \"{}\"\nclient_id = \"{}\"\nclient_secret_file = \"{}\"\nauthority_host = \"{}\"\nscope = \"https://vault.azure.net/.default\"\n",
        fx::TENANT_DOMAIN,
        fx::CLIENT_ID,
        secret.display(),
        emu.base
    );
    env.write("home/.config/entra-token/config.toml", config.as_bytes());
    let t = env.run(&["get", "--profile", "contoso"]).ok().token();
    assert_eq!(claims(&t)["aud"], "https://vault.azure.net");
    let q = &emu.token_requests()[0];
    assert_eq!(form(q, "client_secret"), Some(redacted(fx::CLIENT_SECRET).as_str()));
    assert_eq!(form(q, "scope"), Some("https://vault.azure.net/.default"));
    // ENTRA_TOKEN_PROFILE selects it too, and an env variable beats the profile
    let mut env2 = Env {
        dir: tempfile::tempdir().unwrap(),
        vars: env.vars.clone(),
    };
    env2.set("ENTRA_TOKEN_PROFILE", "contoso")
        .set("AZURE_TENANT_ID", fx::TENANT_ID);
    env2.run(&["get", "--cache", "none"]).ok();
    assert_eq!(
        emu.token_requests().last().unwrap()["path"],
        format!("/{}/oauth2/v2.0/token", fx::TENANT_ID)
    );
    // unknown profile and bad keys are exit 2 naming the file
    env.run(&["get", "--profile", "nope"])
        .fails(2)
        .stderr_has("profile 'nope'")
        .stderr_has("contoso");
    env.write(
        "home/.config/entra-token/config.toml",
        b"[profiles.x]\ntenantt = \"a\"\n",
    );
    env.run(&["get", "--profile", "x"]).fails(2).stderr_has("config.toml");
}

#[test]
fn client_secret_from_file_and_stdin() {
    let emu = Emulator::start();
    let mut env = Env::for_emulator(&emu);
    env.unset("AZURE_CLIENT_SECRET");
    let r = env.run_stdin(
        &["get", "--client-secret-file", "-", "--cache", "none"],
        format!("{}\n", fx::CLIENT_SECRET).as_bytes(),
    );
    r.ok();
    assert_eq!(
        form(&emu.token_requests()[0], "client_secret"),
        Some(redacted(fx::CLIENT_SECRET).as_str())
    );
    let empty = env.write("empty.txt", b"");
    env.run(&["get", "--client-secret-file", empty.to_str().unwrap()])
        .fails(2)
        .stderr_has("empty");
    env.run(&["get", "--client-secret-file", "/nonexistent/secret"])
        .fails(2)
        .stderr_has("/nonexistent/secret");
    assert_eq!(emu.token_requests().len(), 1, "no request for local errors");
}

#[test]
fn local_input_errors_send_nothing() {
    let emu = Emulator::start();
    let base = Env::for_emulator(&emu);
    let mut e = Env {
        dir: tempfile::tempdir().unwrap(),
        vars: base.vars.clone(),
    };
    e.unset("AZURE_TENANT_ID");
    e.run(&["get"]).fails(2).stderr_has("AZURE_TENANT_ID");
    let mut e = Env {
        dir: tempfile::tempdir().unwrap(),
        vars: base.vars.clone(),
    };
    e.unset("AZURE_CLIENT_SECRET");
    e.run(&["get"]).fails(2).stderr_has("AZURE_CLIENT_SECRET");
    let mut e = Env {
        dir: tempfile::tempdir().unwrap(),
        vars: base.vars.clone(),
    };
    e.unset("AZURE_CLIENT_ID");
    e.run(&["get"]).fails(2).stderr_has("AZURE_CLIENT_ID");
    // a secret on argv is refused, never echoed
    let r = base.run(&["get", "--client-secret", "s3cr3t-on-argv"]);
    r.fails(2)
        .stderr_has("AZURE_CLIENT_SECRET")
        .stderr_has("--client-secret-file");
    assert!(!r.stderr.contains("s3cr3t-on-argv"));
    base.run(&["--client-secret=x", "get"]).fails(2);
    // app-only rules explained locally
    base.run(&["get", "--tenant", "common"])
        .fails(2)
        .stderr_has("AADSTS9001023");
    base.run(&["get", "--tenant", "organizations"]).fails(2);
    base.run(&["get", "--scope", "User.Read"])
        .fails(2)
        .stderr_has("/.default");
    base.run(&["get", "--tenant", "not a tenant"])
        .fails(2)
        .stderr_has("--tenant");
    base.run(&["get", "--timeout", "0"]).fails(2).stderr_has("--timeout");
    base.run(&["get", "--cache", "bogus"]).fails(2);
    base.run(&["get", "--authority-host", "http://login.example.com"])
        .fails(2)
        .stderr_has("http");
    let mut e = Env {
        dir: tempfile::tempdir().unwrap(),
        vars: base.vars.clone(),
    };
    e.set("ENTRA_TOKEN_CACHE", "sometimes");
    e.run(&["get"]).fails(2).stderr_has("ENTRA_TOKEN_CACHE");
    let mut e = Env {
        dir: tempfile::tempdir().unwrap(),
        vars: base.vars.clone(),
    };
    e.set("SSL_CERT_FILE", "/nonexistent/ca.pem");
    e.run(&["get"]).fails(2).stderr_has("SSL_CERT_FILE");
    assert!(emu.requests().is_empty(), "nothing sent: {:#?}", emu.requests());
}

#[test]
fn entra_errors_are_exit_3_with_code_and_hint() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<&'a str>, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("AZURE_CLIENT_SECRET", "definitely-wrong~secret")],
            vec![],
            "AADSTS7000215",
        ),
        (
            vec![("AZURE_CLIENT_SECRET", fx::CLIENT_SECRET_ID)],
            vec![],
            "AADSTS7000215",
        ),
        (
            vec![("AZURE_CLIENT_SECRET", fx::EXPIRED_CLIENT_SECRET)],
            vec![],
            "AADSTS7000222",
        ),
        (
            vec![("AZURE_CLIENT_ID", "11111111-2222-3333-4444-555555555555")],
            vec![],
            "AADSTS700016",
        ),
        (
            vec![("AZURE_TENANT_ID", fx::OTHER_TENANT_DOMAIN)],
            vec![],
            "AADSTS700016",
        ),
        (
            vec![("AZURE_TENANT_ID", "nosuchtenant.onmicrosoft.com")],
            vec![],
            "AADSTS90002",
        ),
        (
            vec![],
            vec!["--scope", "https://unknown.example.com/.default"],
            "AADSTS500011",
        ),
    ];
    for (vars, flags, code) in cases {
        let mut e = Env {
            dir: tempfile::tempdir().unwrap(),
            vars: env.vars.clone(),
        };
        for (k, v) in &vars {
            e.set(k, v);
        }
        let mut args = vec!["get"];
        args.extend(flags.iter());
        let r = e.run(&args);
        r.fails(3).stderr_has(code).stderr_has("hint:").stderr_has("trace id");
        for (_, v) in &vars {
            if v.contains("secret") || v.contains("Secret") {
                assert!(!r.stderr.contains(v), "secret shown in error: {}", r.stderr);
            }
        }
        assert!(!r.stderr.contains(fx::CLIENT_SECRET));
    }
}

#[test]
fn replies_that_are_not_tokens_are_exit_4() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    emu.fault(json!({"kind": "html"}));
    env.run(&["get"]).fails(4).stderr_has("text/html").stderr_has("proxy");
    emu.fault(json!({"kind": "truncated"}));
    let r = env.run(&["get"]);
    r.fails(4).stderr_has("does not parse");
    emu.fault(json!({"kind": "not_token"}));
    env.run(&["get"]).fails(4).stderr_has("not a token reply");
    emu.fault(json!({"kind": "status", "status": 404, "body": "no such page", "content_type": "text/plain"}));
    env.run(&["get"]).fails(4).stderr_has("HTTP 404");
    assert_eq!(emu.token_requests().len(), 4, "none of these is retried");
    // and nothing was cached: the next get fetches
    env.run(&["get"]).ok();
    assert_eq!(emu.token_requests().len(), 5);
}

#[test]
fn transient_failures_are_retried_honouring_retry_after() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    emu.fault(json!({"kind": "status", "status": 500, "body": "{\"error\":\"server_error\",\"error_codes\":[50000]}"}));
    env.run(&["get", "--cache", "none"]).ok();
    assert_eq!(emu.token_requests().len(), 2);
    emu.fault(json!({"kind": "throttle", "retry_after": "1"}));
    emu.fault(json!({"kind": "status", "status": 503, "headers": {"Retry-After": "0.2"}}));
    let r = timed(|| env.run(&["get", "--cache", "none", "-v"]));
    r.ok().stderr_has("Retry-After");
    assert!(
        r.elapsed >= Duration::from_millis(1150),
        "waited for Retry-After: {:?}",
        r.elapsed
    );
    assert_eq!(emu.token_requests().len(), 5);
}

#[test]
fn retries_are_bounded_and_exhaustion_is_exit_4() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    emu.fault(json!({"kind": "status", "status": 503, "count": 20, "headers": {"Retry-After": "0"}}));
    env.run(&["get"]).fails(4).stderr_has("503").stderr_has("attempts");
    assert_eq!(emu.token_requests().len(), 4, "bounded attempts");
    // a Retry-After beyond the deadline gives up at once
    emu.control("DELETE", "/_emulator/faults", None);
    emu.fault(json!({"kind": "throttle", "retry_after": "60", "count": 5}));
    let r = timed(|| env.run(&["get", "--timeout", "5"]));
    r.fails(4).stderr_has("429");
    assert!(r.elapsed < Duration::from_secs(5), "{:?}", r.elapsed);
}

#[test]
fn refused_and_hung_servers_end_within_the_deadline() {
    let emu = Emulator::start();
    let mut env = Env::for_emulator(&emu);
    emu.fault(json!({"kind": "delay", "delay_ms": 60000}));
    let r = timed(|| env.run(&["get", "--timeout", "2"]));
    r.fails(4).stderr_has("timeout");
    assert!(r.elapsed < Duration::from_secs(5), "hung server: {:?}", r.elapsed);
    // a port nobody listens on
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    env.set("AZURE_AUTHORITY_HOST", &format!("http://127.0.0.1:{port}"));
    let r = timed(|| env.run(&["get", "--timeout", "4"]));
    r.fails(4).stderr_has("could not connect");
    assert!(r.elapsed < Duration::from_secs(6), "refused: {:?}", r.elapsed);
}

#[cfg(target_os = "linux")]
#[test]
fn oversized_replies_are_refused_with_bounded_memory() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    emu.fault(json!({"kind": "oversized", "bytes": 64 * 1024 * 1024}));
    let (r, rss_kib) = run_with_peak_rss(&env, &["get"]);
    r.fails(4).stderr_has("too large");
    assert!(rss_kib < 50 * 1024, "peak RSS {rss_kib} KiB for a 64 MiB reply");
    emu.fault(json!({"kind": "oversized", "bytes": 64 * 1024 * 1024, "content_length": true}));
    env.run(&["get"]).fails(4).stderr_has("announced");
}

#[test]
fn tls_verification_and_ssl_cert_file() {
    let emu = Emulator::start_tls();
    assert!(emu.base.starts_with("https://"));
    let mut env = Env::for_emulator(&emu);
    env.run(&["get", "--cache", "none"]).ok();
    env.unset("SSL_CERT_FILE");
    let r = env.run(&["get", "--cache", "none"]);
    r.fails(4)
        .stderr_has("could not be verified")
        .stderr_has("SSL_CERT_FILE");
    assert_eq!(
        emu.token_requests().len(),
        1,
        "the untrusted server never got the request"
    );
}

#[test]
fn verbose_logs_never_contain_secrets_or_tokens() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let r = env.run(&["get", "-vv", "--cache", "none"]);
    r.ok();
    let token = r.token();
    let sig = token.rsplit('.').next().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    assert!(
        r.stderr.contains("POST") && r.stderr.contains("200"),
        "logs the exchange: {}",
        r.stderr
    );
    assert!(r.stderr.contains("client_secret=[REDACTED]"), "{}", r.stderr);
    for needle in [fx::CLIENT_SECRET, "Emu%7Elat", "Emu~lat", sig, payload, token.as_str()] {
        assert!(!r.stderr.contains(needle), "log leaks {needle:?}:\n{}", r.stderr);
    }
    // errors at -vv too
    let mut e = Env {
        dir: tempfile::tempdir().unwrap(),
        vars: env.vars.clone(),
    };
    e.set("AZURE_CLIENT_SECRET", "wrong~but~secret");
    let r = e.run(&["get", "-vv"]);
    r.fails(3);
    assert!(!r.stderr.contains("wrong~but~secret") && !r.stderr.contains("wrong%7Ebut"));
}

#[test]
fn decode_shows_claims_and_does_not_verify() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let token = env.run(&["get"]).ok().token();
    let d = env.run(&["decode", &token]);
    let v = d.ok().json();
    assert_eq!(v["claims"]["tid"], fx::TENANT_ID);
    assert_eq!(v["header"]["alg"], "RS256");
    d.stderr_has("NOT verified").stderr_has("expires");
    let s = env.run_stdin(&["decode"], format!("Authorization: Bearer {token}\n").as_bytes());
    assert_eq!(s.ok().json()["claims"]["aud"], fx::GRAPH_RESOURCE);
    env.run(&["decode", "not.a-token"]).fails(2).stderr_has("not a JWT");
}

#[test]
fn help_version_and_completions() {
    let env = Env::new();
    let h = env.run(&["--help"]);
    assert!(h.ok().stdout.contains("Examples:") && h.stdout.contains("Exit codes"));
    assert!(env.run(&["get", "--help"]).ok().stdout.contains("--min-validity"));
    assert!(env.run(&["--version"]).ok().stdout.starts_with("entra-token "));
    let c = env.run(&["completions", "bash"]);
    assert!(c.ok().stdout.contains("entra-token"));
    assert!(env.run(&["emulator", "--help"]).ok().stdout.contains("TEST DOUBLE"));
    env.run(&["get", "--no-such-flag"]).fails(2);
}

#[test]
fn hostile_token_replies_are_exit_4_never_a_panic_or_an_injection() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let bodies = [
        r#"{"access_token":"abc.def.ghi","token_type":"Bearer","expires_in":99999999999999999999}"#.to_string(),
        r#"{"access_token":"abc.def.ghi","token_type":"Bearer","expires_in":1e300}"#.to_string(),
        r#"{"access_token":"abc.def.ghi","expires_in":3599,"refresh_in":9223372036854775807}"#.to_string(),
        "{\"access_token\":\"a\\nb' ; touch pwned\",\"token_type\":\"Bearer\",\"expires_in\":3599}".to_string(),
        "{\"access_token\":\"a\\r\\nX-Injected: 1\",\"expires_in\":3599}".to_string(),
    ];
    for body in &bodies {
        emu.fault(json!({"kind": "status", "status": 200, "content_type": "application/json", "body": body}));
        for out in ["env", "header"] {
            let r = env.run(&["get", "--cache", "none", "-o", out]);
            r.fails(4).stderr_has("not a token reply");
            emu.fault(json!({"kind": "status", "status": 200, "content_type": "application/json", "body": body}));
        }
        emu.control("DELETE", "/_emulator/faults", None);
    }
}

#[test]
fn secrets_echoed_by_a_server_are_redacted_in_errors() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let body = json!({
        "error": "invalid_request",
        "error_description": format!("AADSTS900144: bad client_secret {} and assertion eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln", fx::CLIENT_SECRET),
        "error_codes": [900144]
    });
    emu.fault(json!({"kind": "status", "status": 400, "body": body.to_string()}));
    let r = env.run(&["get", "--cache", "none"]);
    r.fails(3).stderr_has("AADSTS900144");
    assert!(
        !r.stderr.contains(fx::CLIENT_SECRET) && !r.stderr.contains("eyJzdWIi"),
        "{}",
        r.stderr
    );
    // a password in the authority URL never reaches a log line
    let r = env.run(&[
        "get",
        "--cache",
        "none",
        "-vv",
        "--authority-host",
        &emu.base.replace("http://", "http://user:pa55w0rd-x@"),
    ]);
    assert!(!r.stderr.contains("pa55w0rd-x"), "{}", r.stderr);
}

#[cfg(unix)]
#[test]
fn bad_local_environment_is_exit_2_naming_it() {
    use std::os::unix::ffi::OsStrExt;
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let mut c = env.command(&["get"]);
    c.env("AZURE_AUTHORITY_HOST", std::ffi::OsStr::from_bytes(b"a\xffb"));
    Run::from(c.output().unwrap())
        .fails(2)
        .stderr_has("AZURE_AUTHORITY_HOST");
    let garbage = env.write("garbage-ca.pem", b"not a certificate\n");
    let mut e = Env {
        dir: tempfile::tempdir().unwrap(),
        vars: env.vars.clone(),
    };
    e.set("SSL_CERT_FILE", garbage.to_str().unwrap());
    e.run(&["get", "--cache", "none"]).fails(2).stderr_has("SSL_CERT_FILE");
    env.run(&["get", "--min-validity", "18446744073709551615"])
        .fails(2)
        .stderr_has("--min-validity");
    // a huge bad value gives a short error, not the value back
    let r = env.run(&["get", "--tenant", &"x".repeat(100_000)]);
    r.fails(2);
    assert!(r.stderr.len() < 2000, "{} bytes of error", r.stderr.len());
    // stdout that cannot take the token is a local failure, never exit 1
    if std::path::Path::new("/dev/full").exists() {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let out = env.command(&["get"]).stdout(full).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(
        emu.token_requests().len() <= 1,
        "only the /dev/full run may reach Entra"
    );
}

#[test]
fn entra_refusals_of_app_only_rules_are_shown_with_their_codes() {
    // entra-token explains these locally; when a server still answers them, the code is shown
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    for (code, error) in [
        (1002012, "invalid_scope"),
        (9001023, "invalid_request"),
        (700022, "invalid_scope"),
    ] {
        let body = json!({"error": error, "error_description": format!("AADSTS{code}: refused. Trace ID: t"), "error_codes": [code], "trace_id": "t-1", "correlation_id": "c-1"});
        emu.fault(json!({"kind": "status", "status": 400, "body": body.to_string()}));
        env.run(&["get", "--cache", "none"])
            .fails(3)
            .stderr_has(&format!("AADSTS{code}"))
            .stderr_has("hint:")
            .stderr_has("c-1");
    }
}

#[test]
fn cloud_and_proxy_choose_the_host() {
    let trap = ProxyTrap::start();
    let mut env = Env::new();
    env.set("AZURE_TENANT_ID", fx::TENANT_ID)
        .set("AZURE_CLIENT_ID", fx::CLIENT_ID)
        .set("AZURE_CLIENT_SECRET", fx::CLIENT_SECRET);
    env.set("HTTPS_PROXY", &trap.url);
    for (cloud, host) in [
        (None, "login.microsoftonline.com"),
        (Some("usgov"), "login.microsoftonline.us"),
        (Some("china"), "login.chinacloudapi.cn"),
    ] {
        let mut args = vec!["get", "--cache", "none", "--timeout", "1"];
        if let Some(c) = cloud {
            args.extend(["--cloud", c]);
        }
        env.run(&args).fails(4);
        let seen = trap.seen();
        assert_eq!(
            seen.last().map(String::as_str),
            Some(format!("CONNECT {host}:443 HTTP/1.1").as_str()),
            "{cloud:?}: {seen:?}"
        );
    }
    // --cloud beats AZURE_AUTHORITY_HOST; --authority-host beats both
    env.set("AZURE_AUTHORITY_HOST", "https://login.example.test");
    env.run(&["get", "--cache", "none", "--timeout", "1", "--cloud", "usgov"])
        .fails(4);
    assert!(
        trap.seen()
            .last()
            .unwrap()
            .starts_with("CONNECT login.microsoftonline.us:443")
    );
    env.run(&[
        "get",
        "--cache",
        "none",
        "--timeout",
        "1",
        "--authority-host",
        "https://authority.example.test",
    ])
    .fails(4);
    assert!(
        trap.seen()
            .last()
            .unwrap()
            .starts_with("CONNECT authority.example.test:443")
    );
}

#[test]
fn exec_with_tls_points_everything_at_the_emulator() {
    let env = Env::new();
    let script = r#"case "$AZURE_AUTHORITY_HOST" in https://*) ;; *) exit 9 ;; esac
test -f "$SSL_CERT_FILE" || exit 8
printf '%s\n' "$SSL_CERT_FILE" > ca-path
entra-token get -o json"#;
    let mut c = env.command(&["emulator", "exec", "--tls", "--", "sh", "-c", script]);
    c.current_dir(env.dir.path());
    let r = Run::from(c.output().unwrap());
    assert_eq!(r.json()["tenant"], fx::TENANT_ID);
    r.ok();
    let ca = std::fs::read_to_string(env.dir.path().join("ca-path")).unwrap();
    assert!(
        !std::path::Path::new(ca.trim()).exists(),
        "the generated CA file is removed when exec ends"
    );
}

#[test]
fn user_agent_and_proxy_page_details() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    env.run(&["get", "--cache", "none"]).ok();
    assert_eq!(
        emu.token_requests()[0]["headers"]["user-agent"],
        concat!("entra-token/", env!("CARGO_PKG_VERSION"))
    );
    emu.fault(json!({"kind": "html"}));
    env.run(&["get", "--cache", "none"])
        .fails(4)
        .stderr_has("reply begins: <!DOCTYPE html>");
}

#[test]
fn in_github_actions_with_no_credential_the_oidc_token_is_used() {
    let emu = Emulator::start();
    let mut env = Env::for_github_actions(&emu);
    let t = env.run(&["get", "-v"]);
    t.ok().stderr_has("GitHub Actions");
    let reqs = emu.requests();
    assert!(reqs.iter().any(|r| r["path"] == "/_actions/idtoken"));
    let tok = reqs
        .iter()
        .find(|r| r["path"].as_str().unwrap().ends_with("/token"))
        .unwrap();
    assert_eq!(
        claims(tok["form"]["client_assertion"].as_str().unwrap())["sub"],
        fx::ACTIONS_SUBJECT
    );
    // a configured secret still wins over the ambient Actions token
    env.set("AZURE_CLIENT_SECRET", fx::CLIENT_SECRET);
    env.run(&["get", "--force-refresh"]).ok();
    let last = emu.token_requests().pop().unwrap();
    assert_eq!(last["form"]["client_secret"], redacted(fx::CLIENT_SECRET).as_str());
}

#[test]
fn profile_paths_are_relative_to_the_config_file_and_toml_errors_name_line_and_profile() {
    let emu = Emulator::start();
    let env = Env::new();
    env.write(
        "home/.config/entra-token/secrets/app.secret",
        fx::CLIENT_SECRET.as_bytes(),
    );
    let config = format!(
        "[profiles.contoso]\ntenant = \"{}\"\nclient_id = \"{}\"\nclient_secret_file = \"secrets/app.secret\"\nauthority_host = \"{}\"\n",
        fx::TENANT_ID,
        fx::CLIENT_ID,
        emu.base
    );
    env.write("home/.config/entra-token/config.toml", config.as_bytes());
    // run from a directory that has no secrets/app.secret: the path is the config file's
    let mut c = env.command(&["get", "--profile", "contoso", "--cache", "none"]);
    c.current_dir(env.dir.path());
    Run::from(c.output().unwrap()).ok();
    assert_eq!(
        form(emu.token_requests().last().unwrap(), "client_secret"),
        Some(redacted(fx::CLIENT_SECRET).as_str())
    );

    // a type error: its line, column and profile
    env.write(
        "home/.config/entra-token/config.toml",
        b"[profiles.a]\ntenant = \"x\"\n\n[profiles.ci]\ntenant = \"y\"\nclient_id = 5\n",
    );
    let r = env.run(&["get", "--profile", "ci"]);
    r.fails(2)
        .stderr_has("config.toml: line 6, column 13, in profile 'ci': ")
        .stderr_has("expected a string");
    // a syntax error, on its own line of the message
    env.write(
        "home/.config/entra-token/config.toml",
        b"[profiles.ci]\ntenant = \"y\"\n\n[profiles.b]\ntenant =\n",
    );
    let r = env.run(&["get", "--profile", "ci"]);
    r.fails(2).stderr_has("config.toml: line 5, column 9, in profile 'b': ");
    assert_eq!(emu.token_requests().len(), 1, "nothing sent for a broken config");
}

#[test]
fn a_min_validity_longer_than_the_token_lifetime_warns_once() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    emu.config(json!({"token_lifetime": 600}));
    for _ in 0..2 {
        let r = env.run(&["get", "--min-validity", "900"]);
        r.ok();
        assert_eq!(
            r.stderr
                .matches("warning: --min-validity 900 is not shorter than the token's lifetime (600 s)")
                .count(),
            1,
            "{}",
            r.stderr
        );
    }
    assert_eq!(emu.token_requests().len(), 2, "the cache could not serve it");
    let quiet = env.run(&["get", "--min-validity", "60"]);
    quiet.ok();
    assert!(quiet.stderr.is_empty(), "{}", quiet.stderr);
    assert_eq!(emu.token_requests().len(), 2, "served from the cache");
}
