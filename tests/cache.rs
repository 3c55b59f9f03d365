//! End-to-end: the token cache — hits without network, keys that never mix, freshness,
//! single flight under concurrency, corruption recovery, private files, list/clear, keyring
//! detection and fallback, and a real Secret Service (gnome-keyring in a private D-Bus session).

mod common;
use common::*;
use serde_json::json;
use std::path::Path;
use std::time::Duration;

fn cache_root(env: &Env) -> std::path::PathBuf {
    env.home().join(".cache").join("entra-token")
}

fn entry_files(env: &Env) -> Vec<std::path::PathBuf> {
    files_under(&cache_root(env).join("tokens"))
}

#[test]
fn a_hit_makes_no_request_and_serves_the_same_token() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let t1 = env.run(&["get"]).ok().token();
    let r2 = env.run(&["get", "-v"]);
    let t2 = r2.ok().token();
    assert_eq!(t1, t2);
    r2.stderr_has("cache: hit (file store)");
    assert!(!r2.stderr.contains("POST"), "no network on a hit: {}", r2.stderr);
    let j = env.run(&["get", "-o", "json"]).ok().json();
    assert_eq!(j["accessToken"], t1.as_str());
    assert_eq!(j["tenant"], fx::TENANT_ID);
    assert_eq!(emu.token_requests().len(), 1);
}

#[test]
fn scope_tenant_client_and_credential_never_share_an_entry() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let graph = env.run(&["get"]).ok().token();
    let vault = env
        .run(&["get", "--scope", "https://vault.azure.net/.default"])
        .ok()
        .token();
    assert_ne!(graph, vault);
    assert_eq!(claims(&vault)["aud"], "https://vault.azure.net");
    let v1 = env
        .run(&["get", "--v1", "--resource", "https://graph.microsoft.com"])
        .ok()
        .token();
    assert_ne!(graph, v1, "v1 and v2 are separate entries");
    let by_domain = env.run(&["get", "--tenant", fx::TENANT_DOMAIN]).ok().token();
    assert_ne!(graph, by_domain, "the tenant as given is part of the key");
    assert_eq!(emu.token_requests().len(), 4);
    // another client or another secret must reach Entra (and fail there), never the cache
    env.run(&["get", "--client-id", "11111111-2222-3333-4444-555555555555"])
        .fails(3)
        .stderr_has("AADSTS700016");
    let mut wrong = Env {
        dir: tempfile::tempdir().unwrap(),
        vars: env.vars.clone(),
    };
    wrong.set("AZURE_CLIENT_SECRET", "another~secret");
    wrong.run(&["get"]).fails(3).stderr_has("AADSTS7000215");
    // another authority (cloud) too
    // (through a proxy trap: nothing leaves this machine, and the trap shows the host chosen)
    let trap = ProxyTrap::start();
    let mut via_trap = Env {
        dir: tempfile::tempdir().unwrap(),
        vars: env.vars.clone(),
    };
    via_trap.set("HTTPS_PROXY", &trap.url);
    via_trap.set("XDG_CACHE_HOME", &env.home().join(".cache").display().to_string());
    via_trap.run(&["get", "--cloud", "usgov", "--timeout", "3"]).fails(4);
    assert!(
        trap.seen()
            .iter()
            .any(|l| l.starts_with("CONNECT login.microsoftonline.us:443")),
        "{:?}",
        trap.seen()
    );
    assert_eq!(emu.token_requests().len(), 6);
    assert_eq!(env.run(&["get"]).ok().token(), graph, "the original entry is intact");
}

#[test]
fn min_validity_and_force_refresh() {
    let emu = Emulator::start_with(&["--token-lifetime", "600"]);
    let env = Env::for_emulator(&emu);
    let t1 = env.run(&["get"]).ok().token();
    assert_eq!(env.run(&["get"]).ok().token(), t1, "600 s left > default 300");
    let r = env.run(&["get", "--min-validity", "900", "-v"]);
    let t2 = r.ok().token();
    r.stderr_has("ExpiringSoon");
    assert_ne!(t1, t2);
    assert_eq!(emu.token_requests().len(), 2);
    let t3 = env.run(&["get", "--force-refresh"]).ok().token();
    assert_ne!(t2, t3);
    assert_eq!(emu.token_requests().len(), 3);
    assert_eq!(env.run(&["get"]).ok().token(), t3, "a forced token is stored");
    // an expired entry is never served (lifetime 0: it has expired by the time it is stored)
    emu.config(json!({"token_lifetime": 0}));
    let short = env
        .run(&["get", "--scope", "https://vault.azure.net/.default"])
        .ok()
        .token();
    let r = env.run(&[
        "get",
        "--scope",
        "https://vault.azure.net/.default",
        "--min-validity",
        "0",
        "-v",
    ]);
    let again = r.ok().token();
    r.stderr_has("cache: miss (Expired)");
    assert_ne!(short, again);
}

#[test]
fn cache_none_persists_nothing() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let t = env.run(&["get", "--cache", "none"]).ok().token();
    let mut e2 = Env {
        dir: tempfile::tempdir().unwrap(),
        vars: env.vars.clone(),
    };
    e2.set("ENTRA_TOKEN_CACHE", "none");
    let t2 = e2.run(&["get"]).ok().token();
    assert_ne!(t, t2, "each run fetches");
    assert_eq!(emu.token_requests().len(), 2);
    assert!(!cache_root(&env).exists(), "no cache directory is created");
    assert_nowhere_under(env.dir.path(), &t);
    assert_nowhere_under(env.dir.path(), t.rsplit('.').next().unwrap());
}

#[cfg(unix)]
#[test]
fn files_and_directories_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    env.run(&["get"]).ok();
    let root = cache_root(&env);
    let mut dirs = vec![root.clone()];
    while let Some(d) = dirs.pop() {
        let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{} is {mode:o}", d.display());
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{} is {mode:o}", p.display());
            }
        }
    }
    assert_eq!(entry_files(&env).len(), 1);
    // the credential is in the key only as a digest: the secret is nowhere on disk
    assert_nowhere_under(&env.home(), fx::CLIENT_SECRET);
}

#[test]
fn corrupt_truncated_and_foreign_entries_are_misses_and_get_rewritten() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    env.run(&["get"]).ok();
    let file = entry_files(&env).pop().unwrap();
    let good = std::fs::read(&file).unwrap();
    let foreign = String::from_utf8(good.clone())
        .unwrap()
        .replacen("{\"v\":1", "{\"v\":99", 1);
    let encrypted_looking =
        br#"{"v":1,"meta":null,"secret":{"aes256_gcm":{"nonce":"AAAA","ciphertext":"AAAA"}}}"#.to_vec();
    let variants: Vec<Vec<u8>> = vec![
        b"garbage \x00\xff".to_vec(),
        good[..good.len() / 2].to_vec(),
        foreign.into_bytes(),
        encrypted_looking,
        Vec::new(),
    ];
    let mut expected = 1;
    for bad in variants {
        std::fs::write(&file, &bad).unwrap();
        let t = env.run(&["get"]).ok().token();
        expected += 1;
        assert_eq!(emu.token_requests().len(), expected, "a bad entry is a miss");
        assert_eq!(claims(&t)["tid"], fx::TENANT_ID);
        // rewritten: the next get is a hit with the same token
        assert_eq!(env.run(&["get"]).ok().token(), t);
        assert_eq!(emu.token_requests().len(), expected);
    }
}

#[test]
fn a_failed_request_leaves_no_entry() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    emu.fault(json!({"kind": "status", "status": 503, "count": 10, "headers": {"Retry-After": "0"}}));
    env.run(&["get"]).fails(4);
    emu.control("DELETE", "/_emulator/faults", None);
    emu.fault(json!({"kind": "truncated"}));
    env.run(&["get"]).fails(4);
    assert!(entry_files(&env).is_empty(), "{:?}", entry_files(&env));
    env.run(&["get"]).ok();
    assert_eq!(entry_files(&env).len(), 1);
}

#[test]
fn large_tokens_round_trip_intact() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    emu.config(json!({"token_padding": 13000}));
    let t = env.run(&["get"]).ok().token();
    assert!(t.len() > 12 * 1024, "token is {} bytes", t.len());
    assert_eq!(env.run(&["get"]).ok().token(), t);
    assert_eq!(
        env.run(&["get", "-o", "header"]).ok().stdout,
        format!("Authorization: Bearer {t}\n")
    );
    assert_eq!(emu.token_requests().len(), 1);
}

fn concurrent_cold_gets(n: usize) {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    // widen the race: the one request that gets through is slow to answer
    emu.fault(json!({"kind": "delay", "delay_ms": 400}));
    let children: Vec<_> = (0..n)
        .map(|_| {
            let mut c = env.command(&["get"]);
            c.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    let mut tokens = Vec::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        tokens.push(String::from_utf8(out.stdout).unwrap());
    }
    assert_eq!(
        emu.token_requests().len(),
        1,
        "{n} concurrent cold gets make one token request"
    );
    assert!(
        tokens.iter().all(|t| t == &tokens[0] && t.starts_with("eyJ")),
        "all print the same token"
    );
}

#[test]
fn sixteen_concurrent_cold_gets_make_one_request() {
    concurrent_cold_gets(16);
}

#[test]
fn sixty_four_concurrent_cold_gets_make_one_request() {
    concurrent_cold_gets(64);
}

#[test]
fn list_and_clear() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let t = env.run(&["get"]).ok().token();
    env.run(&["get", "--scope", "https://vault.azure.net/.default"]).ok();
    env.run(&["get", "--v1", "--resource", "https://manage.office.com"])
        .ok();
    let text = env.run(&["cache", "list"]);
    text.ok();
    assert_eq!(text.stdout.lines().count(), 3, "{}", text.stdout);
    assert!(text.stdout.contains("https://vault.azure.net/.default"));
    let list = env.run(&["cache", "list", "-o", "json"]).ok().json();
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter()
            .any(|r| r["resource"] == "https://manage.office.com" && r["endpoint"] == "v1")
    );
    assert!(
        rows.iter()
            .all(|r| r["client_id"] == fx::CLIENT_ID && r["kind"] == "app" && r["expires_on"].is_i64())
    );
    for out in [&text.stdout, &list.to_string()] {
        assert!(!out.contains(&t) && !out.contains("eyJ"), "list never prints a token");
    }
    env.run(&["cache", "clear", "--scope", "https://vault.azure.net/.default"])
        .ok()
        .stderr_has("removed 1 cache entry");
    assert_eq!(
        env.run(&["cache", "list", "-o", "json"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    env.run(&["cache", "clear", "--tenant", fx::OTHER_TENANT_ID])
        .ok()
        .stderr_has("removed 0");
    env.run(&[
        "cache",
        "clear",
        "--tenant",
        fx::TENANT_ID,
        "--client-id",
        fx::CLIENT_ID,
    ])
    .ok()
    .stderr_has("removed 2");
    env.run(&["get"]).ok();
    env.run(&["cache", "clear"]).ok().stderr_has("removed 1");
    assert!(entry_files(&env).is_empty());
    let s = env.run(&["cache", "status", "-o", "json"]).ok().json();
    assert_eq!(s["backend"], "file");
    assert_eq!(s["entries"], 0);
}

#[test]
fn no_dbus_falls_back_to_files_fast_and_persists() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let r = timed(|| env.run(&["cache", "status"]));
    r.ok();
    assert!(
        r.stdout.contains("backend: file") && r.stdout.contains("no D-Bus session"),
        "{}",
        r.stdout
    );
    assert!(r.elapsed < Duration::from_secs(1), "{:?}", r.elapsed);
    // a bus address whose socket does not exist: still quick, still files
    let mut e = Env {
        dir: tempfile::tempdir().unwrap(),
        vars: env.vars.clone(),
    };
    let missing = e.dir.path().join("no-bus");
    e.set("DBUS_SESSION_BUS_ADDRESS", &format!("unix:path={}", missing.display()));
    let r = timed(|| e.run(&["get"]));
    let t = r.ok().token();
    assert!(r.elapsed < Duration::from_secs(1), "{:?}", r.elapsed);
    let r = timed(|| e.run(&["get", "-v"]));
    assert_eq!(r.ok().token(), t, "persists across runs");
    r.stderr_has("keyring unavailable");
    // an explicit keyring request without one is exit 2 naming the keyring
    env.run(&["get", "--cache", "keyring"]).fails(2).stderr_has("keyring");
}

#[cfg(unix)]
#[test]
fn a_hung_bus_never_hangs_a_get() {
    use std::os::unix::net::UnixListener;
    let emu = Emulator::start();
    let mut env = Env::for_emulator(&emu);
    let sock = env.dir.path().join("hung-bus");
    let listener = UnixListener::bind(&sock).unwrap();
    // accept connections and never answer
    let keep = std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().take(4).flatten() {
            held.push(s);
        }
        std::thread::sleep(Duration::from_secs(8));
    });
    env.set("DBUS_SESSION_BUS_ADDRESS", &format!("unix:path={}", sock.display()));
    let r = timed(|| env.run(&["get", "-v"]));
    r.ok().stderr_has("keyring unavailable");
    assert!(r.elapsed < Duration::from_secs(4), "auto mode waited {:?}", r.elapsed);
    let r = timed(|| env.run(&["get", "--cache", "keyring"]));
    r.fails(2).stderr_has("keyring");
    assert!(
        r.elapsed < Duration::from_secs(6),
        "explicit keyring waited {:?}",
        r.elapsed
    );
    drop(keep);
}

/// The real Secret Service: gnome-keyring-daemon, unlocked, in a private `dbus-run-session`.
#[test]
fn real_secret_service_keyring_round_trip() {
    let have = |tool: &str| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !(have("dbus-run-session") && have("gnome-keyring-daemon") && have("secret-tool")) {
        assert!(
            runner_var("CI").is_none(),
            "CI must install dbus, gnome-keyring and libsecret-tools"
        );
        eprintln!("skipped: needs dbus-run-session, gnome-keyring-daemon and secret-tool");
        return;
    }
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let home = env.home();
    let script = format!(
        r#"set -e
export XDG_DATA_HOME="$HOME/.local/share" XDG_RUNTIME_DIR="$HOME/run"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
printf 'keyring-test-password' | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1
B="{bin}"
"$B" get --cache keyring > "$HOME/t1"
"$B" get --cache keyring -v > "$HOME/t2" 2> "$HOME/log2"
"$B" get -v > "$HOME/t3" 2> "$HOME/log3"
"$B" cache status > "$HOME/status"
secret-tool lookup service entra-token username token-cache-key > "$HOME/key-before" || true
"$B" emulator exec -- "$B" get > "$HOME/t-exec"
"$B" emulator exec --tls -- "$B" get > "$HOME/t-exec-tls"
secret-tool lookup service entra-token username token-cache-key > "$HOME/key-after-exec" || true
"$B" cache clear 2> "$HOME/clear"
secret-tool lookup service entra-token username token-cache-key > "$HOME/key-after" || true
echo done
"#,
        bin = BIN
    );
    let template = env.command(&[]);
    let mut c = std::process::Command::new("dbus-run-session");
    c.args(["--", "sh", "-c", &script]).env_clear();
    for (k, v) in template.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    let o = c.output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && stdout.contains("done"),
        "script failed:\n{stdout}\n{stderr}"
    );
    let read = |n: &str| std::fs::read_to_string(home.join(n)).unwrap_or_default();
    let t1 = read("t1").trim().to_string();
    assert!(t1.starts_with("eyJ"));
    assert_eq!(read("t2").trim(), t1, "keyring store hit");
    assert!(read("log2").contains("cache: hit (keyring store)"), "{}", read("log2"));
    assert_eq!(read("t3").trim(), t1, "auto mode finds the keyring");
    assert!(read("status").contains("backend: keyring"), "{}", read("status"));
    assert!(read("key-before").trim().len() >= 40, "the cache key is a keyring item");
    // a hermetic `emulator exec` run uses its own file cache: the keyring item is untouched
    assert!(read("t-exec").trim().starts_with("eyJ"));
    assert_ne!(read("t-exec").trim(), t1, "the exec run's own emulator issued it");
    assert_eq!(
        claims(read("t-exec-tls").trim())["aud"],
        "https://graph.microsoft.com",
        "an exec --tls run's token, through its proxy"
    );
    assert_eq!(
        read("key-after-exec"),
        read("key-before"),
        "keyring item unchanged by exec"
    );
    assert!(
        read("key-after").trim().is_empty(),
        "cache clear removed the keyring item"
    );
    assert!(read("clear").contains("removed the cache key from the keyring"));
    assert_eq!(emu.token_requests().len(), 1);
    // no token readable in plain files under $HOME (entries are encrypted); remove the
    // outputs this test itself wrote first
    let t_exec = read("t-exec").trim().to_string();
    for f in ["t1", "t2", "t3", "t-exec", "t-exec-tls"] {
        std::fs::remove_file(home.join(f)).unwrap();
    }
    assert_nowhere_under(Path::new(&home), &t1);
    assert_nowhere_under(Path::new(&home), t1.rsplit('.').next().unwrap());
    // nor the exec run's token: it was cached in the run's private directory, not the caller's
    assert_nowhere_under(Path::new(&home), t_exec.rsplit('.').next().unwrap());
}

#[test]
fn refresh_in_is_honoured() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    // refresh_in 0: the advised refresh time has passed by the next run
    emu.config(json!({"refresh_in": 0}));
    let t1 = env.run(&["get"]).ok().token();
    let r = env.run(&["get", "-v"]);
    let t2 = r.ok().token();
    r.stderr_has("RefreshDue");
    assert_ne!(
        t1, t2,
        "refreshed once refresh_in passed, although the token had an hour left"
    );
    emu.config(json!({"refresh_in": 1800}));
    let t3 = env.run(&["get", "--force-refresh"]).ok().token();
    assert_eq!(env.run(&["get"]).ok().token(), t3, "within refresh_in it is a hit");
    assert_eq!(emu.token_requests().len(), 3);
}

#[test]
fn a_hit_builds_no_http_client() {
    let emu = Emulator::start();
    let mut env = Env::for_emulator(&emu);
    let t = env.run(&["get"]).ok().token();
    // building the client reads and parses SSL_CERT_FILE (exit 2 if it holds no certificate): a
    // hit never gets there
    let garbage = env.write("not-a-bundle.pem", b"no certificate in here\n");
    env.set("SSL_CERT_FILE", garbage.to_str().unwrap());
    assert_eq!(env.run(&["get"]).ok().token(), t);
    env.run(&["get", "--force-refresh"])
        .fails(2)
        .stderr_has("holds no PEM certificate");
    // but a variable naming no file at all is exit 2 on a hit too: it would fail the next request
    env.set("SSL_CERT_FILE", "/nonexistent/ca.pem");
    let r = env.run(&["get"]);
    r.fails(2).stderr_has("SSL_CERT_FILE points to '/nonexistent/ca.pem'");
    assert!(r.stdout.is_empty());
    env.unset("SSL_CERT_FILE");
    env.set("SSL_CERT_DIR", "/nonexistent/certs");
    env.run(&["get"]).fails(2).stderr_has("SSL_CERT_DIR");
    assert_eq!(emu.token_requests().len(), 1);
}

#[test]
fn cache_clear_help_says_its_filters_are_flags_only() {
    let env = Env::new();
    let help = env.run(&["cache", "clear", "--help"]);
    help.ok();
    assert!(!help.stdout.contains("[env: AZURE_TENANT_ID]"), "{}", help.stdout);
    assert!(!help.stdout.contains("[env: AZURE_CLIENT_ID]"), "{}", help.stdout);
    assert!(
        help.stdout.contains("the flag only: AZURE_TENANT_ID"),
        "{}",
        help.stdout
    );
    // elsewhere the global flags keep their variables
    let get = env.run(&["get", "--help"]);
    assert!(get.stdout.contains("[env: AZURE_TENANT_ID]"), "{}", get.stdout);
}

#[cfg(unix)]
#[test]
fn a_lock_held_by_a_killed_or_stuck_process_never_blocks_forever() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    // a process that holds the key's lock while its token request hangs, then is killed
    emu.fault(json!({"kind": "delay", "delay_ms": 60000}));
    let mut holder = env
        .command(&["get"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let locks = cache_root(&env).join("locks");
    let start = std::time::Instant::now();
    while files_under(&locks).is_empty() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    holder.kill().unwrap(); // SIGKILL: no cleanup runs
    holder.wait().unwrap();
    // the OS released the dead holder's lock: taken at once, not waited out until --timeout
    let r = env.run(&["get", "--timeout", "30", "-v"]);
    r.ok();
    assert!(
        !r.stderr.contains("going on without it"),
        "the dead holder's lock was waited out:\n{}",
        r.stderr
    );
    // a live process that holds the lock and never lets go: the wait is bounded by --timeout
    let lock_file = files_under(&locks).pop().expect("a lock file");
    let held = std::fs::OpenOptions::new().write(true).open(&lock_file).unwrap();
    held.lock().unwrap();
    let r = timed(|| env.run(&["get", "--timeout", "2", "--force-refresh", "-v"]));
    r.ok().stderr_has("going on without it");
    assert!(
        r.elapsed >= Duration::from_millis(1900),
        "it did wait for the lock: {:?}",
        r.elapsed
    );
    assert!(r.elapsed < Duration::from_secs(15), "bounded wait: {:?}", r.elapsed);
    held.unlock().unwrap();
}
