//! The `entra-token emulator` command line: its clap types (flattened into entra-token's CLI),
//! serving in the foreground, and `emulator exec`, which runs a command against a fresh
//! in-process emulator with `AZURE_*` pointing at it.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::Command;

use crate::error::{Error, Result};
use crate::fixtures;
use crate::server::tls::CaFile;
use crate::server::{self, Background, Bound};
use crate::state::{Config, MAX_TOKEN_LIFETIME};

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
OIDC token endpoint, POST /_pipelines/{org}/oidctoken, one for Azure Pipelines', managed
identity endpoints (IMDS GET /metadata/identity/oauth2/token, App Service GET /msi/token,
Azure Arc GET /arc/metadata/identity/oauth2/token, Cloud Shell POST /cloudshell/token, Service
Fabric GET /servicefabric/token), a few Microsoft Graph and Intune collections (/v1.0/users, /v1.0/me,
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
          value_parser = clap::value_parser!(u64).range(1..=MAX_TOKEN_LIFETIME))]
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
          value_parser = clap::value_parser!(u64).range(1..=MAX_TOKEN_LIFETIME))]
    pub token_lifetime: u64,
    /// Also set ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN (GitHub Actions
    /// OIDC stand-in)
    #[arg(long)]
    pub github_actions: bool,
    /// Set IDENTITY_ENDPOINT and IDENTITY_HEADER (an App Service managed identity stand-in)
    /// instead of AZURE_CLIENT_ID and AZURE_CLIENT_SECRET: `entra-token get` uses the managed identity
    #[arg(long)]
    pub managed_identity: bool,
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

/// The `--bind` address, which must be a loopback one.
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

/// The banner on stderr: what the emulator is (a test double) and its fixture values.
fn banner(base_url: &str, ca_file: Option<&CaFile>) -> String {
    let mut s = format!(
        "entra-token emulator: a TEST DOUBLE of Microsoft Entra ID, not the real service.\n\
         \x20 base URL       {}\n\
         \x20 tenant         {} ({}, {})\n\
         \x20 other tenant   {} ({}; the app is not consented there)\n\
         \x20 client id      {}\n\
         \x20 client secret  {}\n",
        base_url,
        fixtures::TENANT_ID,
        fixtures::TENANT_DOMAIN,
        fixtures::TENANT_CUSTOM_DOMAIN,
        fixtures::OTHER_TENANT_ID,
        fixtures::OTHER_TENANT_DOMAIN,
        fixtures::CLIENT_ID,
        fixtures::CLIENT_SECRET,
    );
    if let Some(ca) = ca_file {
        s.push_str(&format!("  CA file        {}\n", ca.path.display()));
    }
    s.push_str("  token URL      {base}/{tenant}/oauth2/v2.0/token (v2), {base}/{tenant}/oauth2/token (v1)\n");
    s.push_str(&format!(
        "  actions OIDC   {}/_actions/idtoken?api-version=2.0 (bearer {})\n",
        base_url,
        fixtures::ACTIONS_REQUEST_TOKEN
    ));
    s.push_str("  stop with Ctrl-C\n");
    s
}

/// `entra-token emulator`: serves in the foreground until Ctrl-C or SIGTERM.
fn serve_foreground(args: ServeArgs) -> Result<i32> {
    let ip = loopback(&args.bind)?;
    let config = Config {
        token_lifetime: args.token_lifetime,
        ..Config::default()
    };
    server::runtime()?.block_on(async move {
        let bound = Bound::new(ip, args.port, args.tls, args.ca_file, config).await?;
        {
            let mut out = std::io::stdout().lock();
            // The URL line is the interface: if stdout is gone there is nobody to serve.
            writeln!(out, "{}", bound.base_url)
                .and_then(|()| out.flush())
                .map_err(|e| Error::internal("emulator: cannot write the base URL").cause(e))?;
        }
        eprint!("{}", banner(&bound.base_url, bound.ca_file.as_ref()));
        let ca_file = bound.ca_file.clone();
        bound.serve(stop_signal()).await;
        if let Some(ca) = ca_file {
            ca.remove_if_ours();
        }
        Ok(0)
    })
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

/// `entra-token emulator exec -- COMMAND`: runs COMMAND against a fresh emulator on a background
/// thread; returns COMMAND's exit status.
fn exec(args: ExecArgs) -> Result<i32> {
    let Some((program, rest)) = args.command.split_first() else {
        return Err(
            Error::usage("emulator exec needs a command to run").hint("entra-token emulator exec -- COMMAND [ARGS...]")
        );
    };
    let config = Config {
        token_lifetime: args.token_lifetime,
        ..Config::default()
    };
    let emu = Background::start(args.tls, config)?;
    let mut cmd = Command::new(program);
    cmd.args(rest)
        .env("AZURE_AUTHORITY_HOST", &emu.base_url)
        .env("AZURE_TENANT_ID", fixtures::TENANT_ID)
        .env("AZURE_CLIENT_ID", fixtures::CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", fixtures::CLIENT_SECRET)
        .env("ENTRA_TOKEN_EMULATOR_URL", &emu.base_url);
    if let Some(ca) = &emu.ca_file {
        cmd.env("SSL_CERT_FILE", &ca.path);
    }
    if args.github_actions {
        cmd.env(
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            format!("{}/_actions/idtoken?api-version=2.0", emu.base_url),
        )
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", fixtures::ACTIONS_REQUEST_TOKEN);
    }
    if args.managed_identity {
        managed_identity_variables(&mut cmd, &emu.base_url);
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

/// `exec --managed-identity`: the variables App Service sets for its managed identity endpoint,
/// instead of the app's client id and secret (a client id would name a user-assigned identity,
/// and a secret would come first).
fn managed_identity_variables(cmd: &mut Command, base_url: &str) {
    cmd.env("IDENTITY_ENDPOINT", format!("{base_url}/msi/token"))
        .env("IDENTITY_HEADER", fixtures::MI_IDENTITY_HEADER)
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_CLIENT_SECRET");
}

/// A child's exit status as a shell reports it (128 + N for signal N).
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
}
