//! End-to-end: the progress line of `api --paginate` (pages, items, throttling waits) and of
//! `activity pull` (windows, blobs, events, throttling waits) appears on
//! stderr only when stderr is a terminal — here a pseudo-terminal opened by python3's `pty`
//! module, with stdout going to a file — and is cleared at the end; in a pipe, stderr stays empty.
//! stdout is the same either way.

mod common;
use common::*;
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `argv[2:]` with stderr on a new pseudo-terminal and stdout into the file `argv[1]`;
/// copies what reached the terminal to its own stdout and exits with the command's status.
const PTY_DRIVER: &str = r#"
import os, pty, subprocess, sys
master, slave = pty.openpty()
with open(sys.argv[1], "wb") as out:
    child = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=out, stderr=slave)
os.close(slave)
seen = bytearray()
while True:
    try:
        chunk = os.read(master, 65536)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
sys.stdout.buffer.write(bytes(seen))
sys.exit(child.wait())
"#;

/// `entra-token ARGS` with stderr on a terminal: (what the terminal showed, stdout, exit code).
fn on_a_terminal(env: &Env, args: &[&str]) -> (String, String, i32) {
    let out_file = env.dir.path().join("stdout.txt");
    let mut c = Command::new("python3");
    c.args(["-c", PTY_DRIVER, out_file.to_str().unwrap(), BIN])
        .args(args)
        .env_clear()
        .env("PATH", runner_var("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in &env.vars {
        c.env(k, v);
    }
    let mut child = c.spawn().expect("python3 runs");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("hung under a pty");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let screen = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.stderr.is_empty(),
        "driver: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = std::fs::read_to_string(&out_file).unwrap();
    (screen, stdout, out.status.code().unwrap_or(-1))
}

#[test]
fn paginate_shows_pages_items_and_waits_on_a_terminal_then_clears_the_line() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    emu.config(json!({"graph_throttle_every": 2, "graph_retry_after": "0.2"}));
    let args = ["api", "--graph-url", &emu.base, "--paginate", "/v1.0/users?$top=100"];
    let (screen, stdout, code) = on_a_terminal(&env, &args);
    assert_eq!(code, 0, "terminal: {screen:?}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is the merged document");
    assert_eq!(doc["value"].as_array().unwrap().len(), 250);

    assert!(screen.contains("pages 1 · items 100"), "{screen:?}");
    assert!(screen.contains("pages 3 · items 250"), "{screen:?}");
    assert!(screen.contains("waiting 0.2 s (throttled, HTTP 429)"), "{screen:?}");
    assert!(!screen.contains('\n'), "one line rewritten in place: {screen:?}");
    assert!(
        screen.ends_with("\r\x1b[K"),
        "the line is cleared at the end: {screen:?}"
    );
    let statuses: Vec<u64> = emu
        .requests()
        .iter()
        .filter(|r| r["path"] == "/v1.0/users")
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert!(statuses.contains(&429), "the emulator throttled: {statuses:?}");

    // -v logs to stderr: no progress line among them
    let (screen, _, code) = on_a_terminal(&env, &[&["-v"], &args[..]].concat());
    assert_eq!(code, 0);
    assert!(screen.contains("[entra-token]"), "{screen:?}");
    assert!(!screen.contains("pages 1"), "{screen:?}");
}

#[test]
fn no_progress_when_stderr_is_not_a_terminal() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    emu.config(json!({"graph_throttle_every": 2, "graph_retry_after": "0.2"}));
    let r = env.run(&["api", "--graph-url", &emu.base, "--paginate", "/v1.0/users?$top=100"]);
    r.ok();
    assert_eq!(r.json()["value"].as_array().unwrap().len(), 250);
    assert!(
        r.stderr.is_empty(),
        "stderr is a pipe: nothing on it, got {:?}",
        r.stderr
    );
    let throttled = emu.requests().iter().any(|r| r["status"] == 429);
    assert!(throttled, "there were waits to announce");
}

#[test]
fn a_warning_after_progress_starts_on_a_clean_line() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let (screen, stdout, code) = on_a_terminal(
        &env,
        &[
            "api",
            "--graph-url",
            &emu.base,
            "--paginate",
            "--max-pages",
            "1",
            "/v1.0/users?$top=100",
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stdout).unwrap()["value"]
            .as_array()
            .unwrap()
            .len(),
        100
    );
    let warning = screen.find("warning:").unwrap_or_else(|| panic!("{screen:?}"));
    assert!(
        screen[..warning].ends_with("\r\x1b[K"),
        "the progress line is cleared before the warning: {screen:?}"
    );
}

#[test]
fn activity_pull_shows_windows_blobs_events_and_waits_on_a_terminal_then_clears_the_line() {
    let emu = Emulator::start();
    emu.config(json!({"content_blobs": 0}));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    emu.control(
        "POST",
        "/_emulator/activity/seed",
        Some(json!({"blobs": 4, "start": now - 20 * 3600, "end": now - 2 * 3600})),
    );
    emu.fault(json!({"kind": "throttle", "retry_after": "0.2", "path": "/activity/feed/audit/", "count": 1}));
    let mut env = Env::for_emulator(&emu);
    env.set("ENTRA_TOKEN_MANAGEMENT_URL", &emu.base);
    let args = [
        "activity",
        "pull",
        "--content-type",
        "Audit.General",
        "--since",
        "24h",
        "--concurrency",
        "1",
    ];
    let (screen, stdout, code) = on_a_terminal(&env, &args);
    assert_eq!(code, 0, "terminal: {screen:?}");
    assert_eq!(stdout.lines().count(), 12, "three events per blob on stdout");
    assert!(screen.contains("windows 1 · "), "{screen:?}");
    assert!(screen.contains("blobs 4 · events 12"), "{screen:?}");
    assert!(screen.contains("waiting 0.2 s (throttled, HTTP 429)"), "{screen:?}");
    assert!(!screen.contains('\n'), "one line rewritten in place: {screen:?}");
    assert!(
        screen.ends_with("\r\x1b[K"),
        "the line is cleared at the end: {screen:?}"
    );
}
