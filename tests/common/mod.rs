//! Shared end-to-end harness: an emulator process on an ephemeral loopback port, an isolated
//! environment per test (HOME, XDG_* in a temp dir; AZURE_*/ENTRA_* and D-Bus cleared), the real
//! `entra-token` binary, and the emulator's request log to check what went over the wire.
#![allow(dead_code, unreachable_pub)]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use entra_token_emulator::fixtures as fx;

pub const BIN: &str = env!("CARGO_BIN_EXE_entra-token");

/// A variable of the test runner's own environment (`PATH` for the children, `CI`, `CHROMIUM`):
/// the one place the harness reads it. entra-token itself is never handed it (see [`Env`]).
#[allow(clippy::disallowed_methods)]
pub fn runner_var(name: &str) -> Option<std::ffi::OsString> {
    std::env::var_os(name)
}

pub struct Emulator {
    child: Child,
    pub base: String,
    pub ca_file: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

impl Emulator {
    pub fn start() -> Emulator {
        Self::start_with(&[])
    }
    pub fn start_tls() -> Emulator {
        Self::start_with(&["--tls"])
    }
    pub fn start_with(extra: &[&str]) -> Emulator {
        let dir = tempfile::tempdir().unwrap();
        let mut args: Vec<String> = vec!["emulator".into(), "--port".into(), "0".into()];
        let mut ca_file = None;
        for a in extra {
            args.push(a.to_string());
        }
        if extra.contains(&"--tls") {
            let ca = dir.path().join("ca.pem");
            args.push("--ca-file".into());
            args.push(ca.display().to_string());
            ca_file = Some(ca);
        }
        let mut child = Command::new(BIN)
            .args(&args)
            .env_clear()
            .env("PATH", runner_var("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start emulator");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("emulator prints its URL");
        let base = line.trim().to_string();
        assert!(base.starts_with("http"), "emulator printed {base:?}");
        Emulator {
            child,
            base,
            ca_file,
            _dir: dir,
        }
    }

    fn client(&self) -> reqwest::Client {
        let mut b = reqwest::Client::builder().no_proxy();
        if let Some(ca) = &self.ca_file {
            let pem = std::fs::read(ca).unwrap();
            b = b.tls_certs_only(reqwest::Certificate::from_pem_bundle(&pem).unwrap());
        }
        b.build().unwrap()
    }

    /// A control-API call; returns the JSON answer.
    pub fn control(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{}", self.base, path);
        let client = self.client();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let mut rb = client.request(m, &url);
            if let Some(b) = body {
                rb = rb.header("content-type", "application/json").body(b.to_string());
            }
            let resp = rb.send().await.expect("control call");
            let status = resp.status();
            let text = resp.text().await.unwrap();
            assert!(status.is_success(), "{path}: {status} {text}");
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        })
    }

    /// Every non-control request the emulator received.
    pub fn requests(&self) -> Vec<Value> {
        self.control("GET", "/_emulator/requests", None)
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Requests to token endpoints.
    pub fn token_requests(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r["path"].as_str().unwrap_or("").contains("/oauth2/"))
            .collect()
    }

    pub fn fault(&self, spec: Value) {
        self.control("POST", "/_emulator/faults", Some(spec));
    }

    pub fn config(&self, spec: Value) {
        self.control("POST", "/_emulator/config", Some(spec));
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An isolated user environment: its own HOME and XDG dirs, nothing inherited but PATH.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub vars: Vec<(String, String)>,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let vars = vec![
            ("HOME".into(), home.display().to_string()),
            ("XDG_CONFIG_HOME".into(), home.join(".config").display().to_string()),
            ("XDG_CACHE_HOME".into(), home.join(".cache").display().to_string()),
        ];
        Env { dir, vars }
    }

    /// An environment configured (AZURE_*) for the emulator's fixture app and tenant.
    pub fn for_emulator(emu: &Emulator) -> Env {
        let mut e = Env::new();
        e.set("AZURE_AUTHORITY_HOST", &emu.base);
        e.set("AZURE_TENANT_ID", fx::TENANT_ID);
        e.set("AZURE_CLIENT_ID", fx::CLIENT_ID);
        e.set("AZURE_CLIENT_SECRET", fx::CLIENT_SECRET);
        if let Some(ca) = &emu.ca_file {
            e.set("SSL_CERT_FILE", &ca.display().to_string());
        }
        e
    }

    /// The emulator's app with no configured credential, inside a GitHub Actions job with
    /// `id-token: write` (the emulator stands in for the Actions OIDC endpoint).
    pub fn for_github_actions(emu: &Emulator) -> Env {
        let mut e = Env::for_emulator(emu);
        e.unset("AZURE_CLIENT_SECRET");
        e.set(
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            &format!("{}/_actions/idtoken?api-version=2.0", emu.base),
        );
        e.set("ACTIONS_ID_TOKEN_REQUEST_TOKEN", fx::ACTIONS_REQUEST_TOKEN);
        e
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn set(&mut self, k: &str, v: &str) -> &mut Env {
        self.vars.retain(|(n, _)| n != k);
        self.vars.push((k.into(), v.into()));
        self
    }

    pub fn unset(&mut self, k: &str) -> &mut Env {
        self.vars.retain(|(n, _)| n != k);
        self
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env_clear()
            .env("PATH", runner_var("PATH").unwrap_or_default());
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c.stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().expect("run entra-token"))
    }

    pub fn run_stdin(&self, args: &[&str], stdin: &[u8]) -> Run {
        use std::io::Write;
        let mut c = self.command(args);
        c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        Run::from(child.wait_with_output().unwrap())
    }

    pub fn write(&self, name: &str, content: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, content).unwrap();
        p
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            elapsed: Duration::ZERO,
        }
    }
}

impl Run {
    #[track_caller]
    pub fn ok(&self) -> &Run {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
    #[track_caller]
    pub fn fails(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        assert!(
            self.stdout.is_empty(),
            "stdout must be empty on failure, got: {}",
            self.stdout
        );
        assert!(!self.stderr.contains("panicked"), "panic: {}", self.stderr);
        self
    }
    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Run {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }
    pub fn token(&self) -> String {
        self.stdout.trim().to_string()
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

/// Times a run (for deadline checks with generous bounds, not benchmarks).
pub fn timed(f: impl FnOnce() -> Run) -> Run {
    let start = Instant::now();
    let mut r = f();
    r.elapsed = start.elapsed();
    r
}

/// A JWT's header and claims (no verification): its first two parts, base64url-decoded JSON.
fn jwt_parts(token: &str) -> (Value, Value) {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.trim().split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {token}");
    let json = |part: &str| -> Value {
        let bytes = URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .unwrap_or_else(|e| panic!("a JWT part is base64url ({e}): {part}"));
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("a JWT part is JSON ({e}): {part}"))
    };
    (json(parts[0]), json(parts[1]))
}

/// Decodes a JWT's claims (no verification).
pub fn claims(token: &str) -> Value {
    jwt_parts(token).1
}

pub fn header(token: &str) -> Value {
    jwt_parts(token).0
}

/// Every regular file under `root`, recursively.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
    }
    out
}

/// Fails if any file under `root` contains `needle`.
#[track_caller]
pub fn assert_nowhere_under(root: &Path, needle: &str) {
    for f in files_under(root) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(needle),
            "{} contains a secret/token in plain text",
            f.display()
        );
    }
}

/// Runs the command under GNU time and returns it with its peak RSS in KiB. (`wait4` from the
/// test process would count the test's own pages: the child shares them until it execs.)
pub fn run_with_peak_rss(env: &Env, args: &[&str]) -> (Run, i64) {
    let mut full = vec!["-f", "peak-rss-kib=%M", BIN];
    full.extend_from_slice(args);
    let mut cmd = env.command(&[]);
    let mut c = Command::new("/usr/bin/time");
    c.args(&full).env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    let _ = &mut cmd;
    let mut run = Run::from(c.output().expect("/usr/bin/time (Debian package `time`) runs"));
    let line = run
        .stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("peak-rss-kib="))
        .expect("time's report")
        .to_string();
    let kib = line.trim_start_matches("peak-rss-kib=").trim().parse().unwrap();
    run.stderr = run.stderr.replace(&format!("{line}\n"), "");
    if run.code != 0 {
        run.stderr = run
            .stderr
            .lines()
            .filter(|l| !l.starts_with("Command exited with non-zero status"))
            .collect::<Vec<_>>()
            .join("\n");
    }
    (run, kib)
}

/// A stand-in for an HTTPS proxy on loopback: records the first request line of every
/// connection (`CONNECT host:443 HTTP/1.1`) and closes it. Set `HTTPS_PROXY` to [`ProxyTrap::url`]
/// to see which host a command would reach, without reaching it.
pub struct ProxyTrap {
    pub url: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ProxyTrap {
    pub fn start() -> ProxyTrap {
        use std::io::BufRead;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut line = String::new();
                if BufReader::new(&stream).read_line(&mut line).is_ok() {
                    log.lock().unwrap().push(line.trim().to_string());
                }
            }
        });
        ProxyTrap { url, seen }
    }

    /// The request lines received so far.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// How the emulator's request log shows a secret that is not a JWT (a client secret, a code, a
/// refresh token): its length and the first 16 hex digits of its SHA-256.
pub fn redacted(secret: &str) -> String {
    use sha2::Digest as _;
    let hex: String = sha2::Sha256::digest(secret.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("[redacted {} chars sha256:{hex}]", secret.chars().count())
}

/// How the emulator's request log shows a JWT (an assertion, a bearer token): header and
/// claims, the signature replaced.
pub fn unsigned(jwt: &str) -> String {
    let (signed, _signature) = jwt.rsplit_once('.').expect("a JWT");
    format!("{signed}.[redacted]")
}
