//! The `entra-token emulator` command line: its clap types (flattened into entra-token's CLI),
//! serving in the foreground, and dispatching `emulator exec` (in `exec`).

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::exec::{self, Hermetic};
use crate::fixtures;
use crate::server::tls::CaFile;
use crate::server::{self, Bound};
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
    /// run COMMAND against a fresh emulator, hermetically: the caller's credentials, profile,
    /// cache, proxy and CI variables are removed, AZURE_* and ENTRA_TOKEN_*_URL point at the
    /// emulator, and the token cache lives in a private directory removed afterwards
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
    /// Serve HTTPS with a generated test CA (SSL_CERT_FILE, CURL_CA_BUNDLE, REQUESTS_CA_BUNDLE,
    /// NODE_EXTRA_CA_CERTS) and act as an HTTPS proxy (HTTPS_PROXY) intercepting
    /// login.microsoftonline.com, graph.microsoft.com and manage.office.com; every other host is
    /// refused
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

/// Runs the `emulator` command; returns the process exit code. `hermetic` names the caller's
/// variables that `exec` removes.
pub fn run(args: EmulatorArgs, hermetic: &Hermetic) -> Result<i32> {
    match args.command {
        Some(EmulatorCommand::Exec(exec_args)) => exec::exec(exec_args, hermetic),
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
        s.push_str(&format!(
            "  HTTPS proxy    {} (CONNECT to {} on port 443 only)\n",
            crate::server::proxy::proxy_url(base_url),
            crate::server::proxy::INTERCEPTED_HOSTS.join(", ")
        ));
    }
    s.push_str("  token URL      {base}/{tenant}/oauth2/v2.0/token (v2), {base}/{tenant}/oauth2/token (v1)\n");
    s.push_str(&format!(
        "  actions OIDC   {}/_actions/idtoken?api-version=2.0 (bearer {})\n",
        base_url,
        fixtures::ACTIONS_REQUEST_TOKEN
    ));
    s.push_str("  stop with Ctrl-C\n");
    s.push_str("for a shell (eval the lines that start with `export`):\n");
    for (name, value) in shell_exports(base_url, ca_file) {
        s.push_str(&format!("export {name}={}\n", shell_quote(&value)));
    }
    s
}

/// The variables a script needs to use this emulator (what `emulator exec` sets, but the
/// private cache directory).
fn shell_exports(base_url: &str, ca_file: Option<&CaFile>) -> Vec<(&'static str, String)> {
    let mut v = vec![
        ("AZURE_AUTHORITY_HOST", base_url.to_string()),
        ("AZURE_TENANT_ID", fixtures::TENANT_ID.to_string()),
        ("AZURE_CLIENT_ID", fixtures::CLIENT_ID.to_string()),
        ("AZURE_CLIENT_SECRET", fixtures::CLIENT_SECRET.to_string()),
        ("ENTRA_TOKEN_EMULATOR_URL", base_url.to_string()),
        ("ENTRA_TOKEN_GRAPH_URL", base_url.to_string()),
        ("ENTRA_TOKEN_MANAGEMENT_URL", base_url.to_string()),
        ("ENTRA_TOKEN_ARM_URL", base_url.to_string()),
    ];
    if let Some(ca) = ca_file {
        v.push(("SSL_CERT_FILE", ca.path.display().to_string()));
    }
    v
}

/// `value` in single quotes for a POSIX shell (`'` written as `'\''`).
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn shell_quoting_survives_any_value() {
        assert_eq!(shell_quote("plain"), "'plain'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", shell_quote("a'b $HOME `x` \\ \"q\"")))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "a'b $HOME `x` \\ \"q\"");
        let banner = banner("http://127.0.0.1:1", None);
        assert!(
            banner.contains("export ENTRA_TOKEN_GRAPH_URL='http://127.0.0.1:1'\n"),
            "{banner}"
        );
        assert!(banner.contains(&format!(
            "export AZURE_CLIENT_SECRET={}\n",
            shell_quote(fixtures::CLIENT_SECRET)
        )));
    }

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
