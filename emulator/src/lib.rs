//! The `entra-token emulator` command: a local TEST DOUBLE of Microsoft Entra ID's token
//! endpoints (not the real service), served over HTTP or HTTPS, and `emulator exec`, which runs
//! a command against a fresh in-process emulator.

pub mod assertion;
pub mod credentials;
pub mod discovery;
pub mod error;
pub mod errors;
pub mod fixtures;
pub mod graph;
pub mod management;
pub mod server;
pub mod signin;
pub mod state;
pub mod token;

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

pub use crate::error::{Error, ErrorKind, Result};
use state::{Config, State};

const ABOUT: &str = "Run a local TEST DOUBLE of Microsoft Entra ID (not the real service) for offline testing";
const LONG_ABOUT: &str = "\
Run a local TEST DOUBLE of Microsoft Entra ID's OAuth 2.0 token endpoints. It is NOT the real
Microsoft Entra ID service: it knows a fixed tenant, app and secret, issues tokens signed by a
key generated at startup that nothing else trusts, and exists so scripts and CI jobs can be
tested offline.

The base URL is printed alone on the first line of stdout; a banner with the fixture tenant,
client id and secret goes to stderr. Endpoints: POST /{tenant}/oauth2/v2.0/token and
POST /{tenant}/oauth2/token (client credentials with a secret, a certificate-signed client
assertion or a federated token), GET /_actions/idtoken, a stand-in for the GitHub Actions
OIDC token endpoint, a few Microsoft Graph and Intune collections (/v1.0/users, /v1.0/me,
/beta/deviceManagement/managedDevices, POST /v1.0/groups) and the Office 365 Management
Activity API (/api/v1.0/{tenant}/activity/feed/...), which accept only tokens this emulator
issued. Test control: /_emulator/requests, /_emulator/faults, /_emulator/config,
/_emulator/reset, /_emulator/apps/{client_id}/certificates, /_emulator/apps/{client_id}/federated,
/_emulator/federated-token, /_emulator/device/approve.

Sign-in: GET /{tenant}/oauth2/v2.0/authorize and /{tenant}/oauth2/authorize, /{tenant}/adminconsent
and /{tenant}/v2.0/adminconsent redirect at once as if the configured user (signed_in_user,
default admin@contoso.onmicrosoft.com) had signed in and consented; nobody types a password.
POST /{tenant}/oauth2/v2.0/devicecode starts the device-code flow; approve it through the
control API. The token endpoints also redeem authorization codes (PKCE), refresh tokens and
device codes.

Federated tokens: the emulator cannot fetch an external issuer's signing keys offline, so a
federated client assertion from any issuer other than the emulator itself is accepted WITHOUT
checking its signature (only its issuer, subject, audience and lifetime are checked). Tokens
from the emulator's own issuers (/_actions, /_emulator/federated-token) are verified.

Examples:
  entra-token emulator --port 8400
  entra-token emulator --tls --ca-file ./emulator-ca.pem
  entra-token emulator exec -- ./my-script.sh";

#[derive(clap::Args, Debug)]
#[command(about = ABOUT, long_about = LONG_ABOUT, args_conflicts_with_subcommands = true)]
pub struct EmulatorArgs {
    #[command(subcommand)]
    pub command: Option<EmulatorCommand>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(clap::Subcommand, Debug)]
pub enum EmulatorCommand {
    /// run COMMAND with AZURE_* pointing at a fresh emulator
    Exec(ExecArgs),
}

/// Options for serving the emulator in the foreground.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// TCP port to listen on (0 picks a free port)
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub port: u16,
    /// Loopback address to listen on; other addresses are refused
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub bind: String,
    /// Serve HTTPS with a freshly generated test CA
    #[arg(long)]
    pub tls: bool,
    /// Where to write the test CA certificate (PEM) with --tls [default: a file in the temp dir]
    #[arg(long, value_name = "PATH", requires = "tls")]
    pub ca_file: Option<PathBuf>,
    /// Lifetime of issued access tokens, in seconds
    #[arg(long, value_name = "SECS", default_value_t = fixtures::DEFAULT_TOKEN_LIFETIME,
          value_parser = clap::value_parser!(u64).range(1..=state::MAX_TOKEN_LIFETIME))]
    pub token_lifetime: u64,
}

/// Options for `emulator exec`.
#[derive(clap::Args, Debug, Clone)]
pub struct ExecArgs {
    /// Serve HTTPS with a generated test CA and set SSL_CERT_FILE to it
    #[arg(long)]
    pub tls: bool,
    /// Lifetime of issued access tokens, in seconds
    #[arg(long, value_name = "SECS", default_value_t = fixtures::DEFAULT_TOKEN_LIFETIME,
          value_parser = clap::value_parser!(u64).range(1..=state::MAX_TOKEN_LIFETIME))]
    pub token_lifetime: u64,
    /// Also set ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN (GitHub Actions
    /// OIDC stand-in)
    #[arg(long)]
    pub github_actions: bool,
    /// The command to run, and its arguments (after `--`)
    #[arg(value_name = "COMMAND", trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Runs the `emulator` command; returns the process exit code.
pub fn run(args: EmulatorArgs) -> Result<i32> {
    match args.command {
        Some(EmulatorCommand::Exec(exec_args)) => exec(exec_args),
        None => serve_foreground(args.serve),
    }
}

fn loopback(bind: &str) -> Result<IpAddr> {
    let ip = if bind.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        bind.trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .map_err(|_| Error::usage(format!("--bind {bind:?} is not an IP address")))?
    };
    if !ip.is_loopback() {
        return Err(
            Error::usage(format!("refusing to bind the emulator to non-loopback address {ip}"))
                .hint("the emulator is a local test double; use 127.0.0.1 or ::1"),
        );
    }
    Ok(ip)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::internal("emulator: cannot start the async runtime").cause(e))
}

/// A bound, not yet serving emulator.
struct Prepared {
    listener: tokio::net::TcpListener,
    state: Arc<State>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    base_url: String,
    /// The CA file written, and whether we chose its path (and so should remove it).
    ca_file: Option<(PathBuf, bool)>,
}

async fn prepare(ip: IpAddr, port: u16, tls: bool, ca_file: Option<PathBuf>, token_lifetime: u64) -> Result<Prepared> {
    let listener = server::bind(SocketAddr::new(ip, port)).await?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::network("emulator: cannot read the listening address").cause(e))?;
    let (acceptor, ca) = if tls {
        let t = server::make_tls()?;
        let written = match ca_file {
            Some(p) => replace_ca_file(&p, t.ca_pem.as_bytes()).map(|()| (p, false)),
            None => new_ca_file(&std::env::temp_dir(), t.ca_pem.as_bytes()).map(|p| (p, true)),
        };
        (Some(t.acceptor), Some(written?))
    } else {
        (None, None)
    };
    let scheme = if tls { "https" } else { "http" };
    let base_url = match local {
        SocketAddr::V4(a) => format!("{scheme}://{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("{scheme}://[{}]:{}", a.ip(), a.port()),
    };
    let state = Arc::new(State::new(
        Config {
            token_lifetime,
            ..Config::default()
        },
        &base_url,
    )?);
    Ok(Prepared {
        listener,
        state,
        tls: acceptor,
        base_url,
        ca_file: ca,
    })
}

/// Writes the test CA to a new file with an unguessable name in `dir` (the temp dir), removed
/// when the emulator stops. `create_new` never follows a symlink or reuses a file that someone
/// else (another local user, in a shared temp dir) put there first.
fn new_ca_file(dir: &Path, pem: &[u8]) -> Result<PathBuf> {
    let path = dir.join(format!("entra-token-emulator-ca-{}.pem", random_hex()?));
    create_ca_file(&path, pem)
        .map_err(|e| Error::usage(format!("cannot create the emulator CA file {}", path.display())).cause(e))?;
    Ok(path)
}

/// Writes the test CA to `--ca-file PATH`, replacing what is there (the user chose the path):
/// through a new file beside it, renamed into place, so a symlink at PATH is replaced, never
/// followed.
fn replace_ca_file(path: &Path, pem: &[u8]) -> Result<()> {
    let fail =
        |e: std::io::Error| Error::usage(format!("cannot write the emulator CA file {}", path.display())).cause(e);
    let name = path
        .file_name()
        .ok_or_else(|| Error::usage(format!("--ca-file {} names no file", path.display())))?;
    let tmp = path.with_file_name(format!(".{}.{}.tmp", name.to_string_lossy(), random_hex()?));
    create_ca_file(&tmp, pem).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(e)
    })
}

/// Creates `path` (0644: a certificate is public) and writes `pem`; fails if anything, a
/// symlink included, is already there.
fn create_ca_file(path: &Path, pem: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o644);
    let mut file = options.open(path)?;
    file.write_all(pem).and_then(|()| file.sync_all()).inspect_err(|_| {
        let _ = std::fs::remove_file(path);
    })
}

fn random_hex() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| Error::internal("the OS random source failed").cause(e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn banner(p: &Prepared) -> String {
    let mut s = format!(
        "entra-token emulator: a TEST DOUBLE of Microsoft Entra ID, not the real service.\n\
         \x20 base URL       {}\n\
         \x20 tenant         {} ({}, {})\n\
         \x20 other tenant   {} ({}; the app is not consented there)\n\
         \x20 client id      {}\n\
         \x20 client secret  {}\n",
        p.base_url,
        fixtures::TENANT_ID,
        fixtures::TENANT_DOMAIN,
        fixtures::TENANT_CUSTOM_DOMAIN,
        fixtures::OTHER_TENANT_ID,
        fixtures::OTHER_TENANT_DOMAIN,
        fixtures::CLIENT_ID,
        fixtures::CLIENT_SECRET,
    );
    if let Some((path, _)) = &p.ca_file {
        s.push_str(&format!("  CA file        {}\n", path.display()));
    }
    s.push_str("  token URL      {base}/{tenant}/oauth2/v2.0/token (v2), {base}/{tenant}/oauth2/token (v1)\n");
    s.push_str(&format!(
        "  actions OIDC   {}/_actions/idtoken?api-version=2.0 (bearer {})\n",
        p.base_url,
        fixtures::ACTIONS_REQUEST_TOKEN
    ));
    s.push_str("  stop with Ctrl-C\n");
    s
}

fn serve_foreground(args: ServeArgs) -> Result<i32> {
    let ip = loopback(&args.bind)?;
    let rt = runtime()?;
    rt.block_on(async move {
        let p = prepare(ip, args.port, args.tls, args.ca_file, args.token_lifetime).await?;
        {
            let mut out = std::io::stdout().lock();
            // The URL line is the interface: if stdout is gone there is nobody to serve.
            writeln!(out, "{}", p.base_url)
                .and_then(|()| out.flush())
                .map_err(|e| Error::internal("emulator: cannot write the base URL").cause(e))?;
        }
        eprint!("{}", banner(&p));
        let ca_file = p.ca_file.clone();
        server::serve(p.listener, p.state, p.tls, stop_signal()).await;
        remove_own_ca(&ca_file);
        Ok(0)
    })
}

fn remove_own_ca(ca_file: &Option<(PathBuf, bool)>) {
    if let Some((path, true)) = ca_file {
        let _ = std::fs::remove_file(path);
    }
}

/// Completes on Ctrl-C or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Handle to an emulator serving on a background thread with its own runtime.
struct Background {
    base_url: String,
    ca_file: Option<(PathBuf, bool)>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    fn start(tls: bool, token_lifetime: u64) -> Result<Self> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(String, Option<(PathBuf, bool)>)>>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("entra-token-emulator".into())
            .spawn(move || {
                let rt = match runtime() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
                    match prepare(ip, 0, tls, None, token_lifetime).await {
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                        Ok(p) => {
                            // Ctrl-C reaches the child too (same process group); keep running so
                            // the child's own exit status (130) is what `exec` reports.
                            tokio::spawn(async { while tokio::signal::ctrl_c().await.is_ok() {} });
                            let _ = ready_tx.send(Ok((p.base_url.clone(), p.ca_file.clone())));
                            let stop = async {
                                let _ = stop_rx.await;
                            };
                            server::serve(p.listener, p.state, p.tls, stop).await;
                        }
                    }
                });
            })
            .map_err(|e| Error::internal("emulator: cannot start its thread").cause(e))?;
        let (base_url, ca_file) = ready_rx
            .recv()
            .map_err(|_| Error::internal("emulator: its thread ended before it was ready"))??;
        Ok(Background {
            base_url,
            ca_file,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        remove_own_ca(&self.ca_file);
    }
}

fn exec(args: ExecArgs) -> Result<i32> {
    let Some((program, rest)) = args.command.split_first() else {
        return Err(
            Error::usage("emulator exec needs a command to run").hint("entra-token emulator exec -- COMMAND [ARGS...]")
        );
    };
    let emu = Background::start(args.tls, args.token_lifetime)?;
    let mut cmd = Command::new(program);
    cmd.args(rest)
        .env("AZURE_AUTHORITY_HOST", &emu.base_url)
        .env("AZURE_TENANT_ID", fixtures::TENANT_ID)
        .env("AZURE_CLIENT_ID", fixtures::CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", fixtures::CLIENT_SECRET)
        .env("ENTRA_TOKEN_EMULATOR_URL", &emu.base_url);
    if let Some((ca, _)) = &emu.ca_file {
        cmd.env("SSL_CERT_FILE", ca);
    }
    if args.github_actions {
        cmd.env(
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            format!("{}/_actions/idtoken?api-version=2.0", emu.base_url),
        )
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", fixtures::ACTIONS_REQUEST_TOKEN);
    }
    if let Some(dir) = std::env::current_exe().ok().and_then(|p| p.parent().map(PathBuf::from)) {
        let old = std::env::var_os("PATH").unwrap_or_default();
        let paths = std::iter::once(dir).chain(std::env::split_paths(&old));
        if let Ok(joined) = std::env::join_paths(paths) {
            cmd.env("PATH", joined);
        }
    }
    let status = match cmd.status() {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("error: emulator exec: command not found: {program}");
            return Ok(127);
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            eprintln!("error: emulator exec: cannot run {program}: permission denied");
            return Ok(126);
        }
        Err(e) => {
            return Err(Error::usage(format!("emulator exec: cannot run {program}")).cause(e));
        }
    };
    drop(emu);
    Ok(exit_code(status))
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    if let Some(code) = status.code() {
        return code;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(sig) = status.signal() {
            return 128 + sig;
        }
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn bind_must_be_loopback() {
        assert!(loopback("127.0.0.1").is_ok());
        assert!(loopback("::1").is_ok());
        assert!(loopback("[::1]").is_ok());
        assert!(loopback("localhost").is_ok());
        assert_eq!(loopback("0.0.0.0").unwrap_err().kind, ErrorKind::Usage);
        assert_eq!(loopback("192.168.1.2").unwrap_err().kind, ErrorKind::Usage);
        assert_eq!(loopback("example.com").unwrap_err().kind, ErrorKind::Usage);
    }

    #[test]
    fn the_default_ca_file_is_new_and_unguessable() {
        let dir = tempfile::tempdir().unwrap();
        let a = new_ca_file(dir.path(), b"PEM A").unwrap();
        let b = new_ca_file(dir.path(), b"PEM B").unwrap();
        assert_ne!(a, b, "a random name each time, not the pid");
        assert_eq!(a.parent(), Some(dir.path()));
        let name = a.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with("entra-token-emulator-ca-") && name.len() > 50,
            "{name}"
        );
        assert_eq!(std::fs::read(&a).unwrap(), b"PEM A");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&a).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode & 0o022, 0, "writable by others: {mode:o}");
        }
    }

    #[test]
    fn creating_a_ca_file_refuses_an_existing_file_or_symlink() {
        let dir = tempfile::tempdir().unwrap();
        // a file someone created first is neither reused nor overwritten
        let planted = dir.path().join("planted.pem");
        std::fs::write(&planted, b"theirs").unwrap();
        let e = create_ca_file(&planted, b"ours").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&planted).unwrap(), b"theirs");
        // nor is a symlink followed, dangling or not
        #[cfg(unix)]
        {
            let target = dir.path().join("target");
            let link = dir.path().join("link.pem");
            std::os::unix::fs::symlink(&target, &link).unwrap();
            assert!(create_ca_file(&link, b"ours").is_err());
            assert!(!target.exists(), "the dangling link's target was not created");
            std::fs::write(&target, b"victim").unwrap();
            assert!(create_ca_file(&link, b"ours").is_err());
            assert_eq!(std::fs::read(&target).unwrap(), b"victim");
        }
    }

    #[test]
    fn an_explicit_ca_file_is_replaced_not_written_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        replace_ca_file(&path, b"one").unwrap();
        replace_ca_file(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two", "the user's path is overwritten");
        #[cfg(unix)]
        {
            let victim = dir.path().join("victim");
            std::fs::write(&victim, b"keep").unwrap();
            let link = dir.path().join("link.pem");
            std::os::unix::fs::symlink(&victim, &link).unwrap();
            replace_ca_file(&link, b"pem").unwrap();
            assert_eq!(std::fs::read(&victim).unwrap(), b"keep", "the symlink was not followed");
            assert!(!std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
            assert_eq!(std::fs::read(&link).unwrap(), b"pem");
        }
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 3, "no temporary file left behind: {names:?}");
    }
}
