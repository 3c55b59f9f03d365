//! `emulator exec`: runs a command against a fresh in-process emulator, hermetically. The
//! caller's environment loses every variable entra-token's table names (credentials, tenant and
//! app selection, profile, cache, proxy, CA and CI variables; the names come from entra-token as
//! [`Hermetic`], this crate knowing nothing of entra-token) except the few that table keeps, and
//! [`exports`] — the one place that decides what the child is given — sets the emulator's: the
//! fixture app, the authority and service URLs, a file cache and config under a private
//! directory removed afterwards. The caller's cache files, profiles and keyring item are neither
//! read nor written.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cli::ExecArgs;
use crate::error::{Error, Result};
use crate::fixtures;
use crate::server::Background;
use crate::server::tls::random_hex;
use crate::state::Config;

/// The caller's variables a hermetic run removes before the emulator's are set: given by
/// entra-token from its table of variables.
#[derive(Debug, Clone, Default)]
pub struct Hermetic {
    pub remove: Vec<&'static str>,
}

/// Variables the Azure SDKs and tools a script may run read for credentials, managed identity and
/// CI federation (azure-identity's `EnvironmentCredential`, `ManagedIdentityCredential`,
/// `WorkloadIdentityCredential`, Azure Pipelines, kubectl): removed as well, so that a script's
/// own SDK never reaches a real identity.
const SDK_VARIABLES: &[&str] = &[
    "AZURE_USERNAME",
    "AZURE_PASSWORD",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_TOKEN_CREDENTIALS",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    "AZURE_REGIONAL_AUTHORITY_NAME",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "SYSTEM_OIDCREQUESTURI",
    "SYSTEM_ACCESSTOKEN",
    "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID",
    "AZURESUBSCRIPTION_CLIENT_ID",
    "AZURESUBSCRIPTION_TENANT_ID",
    "KUBERNETES_EXEC_INFO",
];

/// The emulator's own names, never sent through its proxy.
const LOOPBACK_NAMES: &str = "127.0.0.1,localhost,::1";

/// What `exports` needs to know about the running emulator.
pub(crate) struct Target<'a> {
    /// `http://127.0.0.1:PORT` (or `https://` with `--tls`).
    pub(crate) base_url: &'a str,
    /// The test CA with `--tls`.
    pub(crate) ca_file: Option<&'a Path>,
    /// The private directory holding the child's cache and config.
    pub(crate) private: &'a Path,
}

/// Every variable `exec` sets in the child, in one place.
pub(crate) fn exports(target: &Target<'_>, args: &ExecArgs) -> Vec<(&'static str, OsString)> {
    let base = target.base_url;
    let mut v: Vec<(&'static str, OsString)> = vec![
        ("AZURE_AUTHORITY_HOST", base.into()),
        ("AZURE_TENANT_ID", fixtures::TENANT_ID.into()),
        ("AZURE_CLIENT_ID", fixtures::CLIENT_ID.into()),
        ("AZURE_CLIENT_SECRET", fixtures::CLIENT_SECRET.into()),
        ("ENTRA_TOKEN_EMULATOR_URL", base.into()),
        // `api` (and `activity`) send Graph, Management and ARM URLs here, real hosts included
        ("ENTRA_TOKEN_GRAPH_URL", base.into()),
        ("ENTRA_TOKEN_MANAGEMENT_URL", base.into()),
        ("ENTRA_TOKEN_ARM_URL", base.into()),
        // files in the private directory: the user's keyring item is never touched
        ("ENTRA_TOKEN_CACHE", "file".into()),
        ("ENTRA_TOKEN_NO_KEYRING", "1".into()),
        ("XDG_CACHE_HOME", target.private.join("cache").into()),
        ("XDG_CONFIG_HOME", target.private.join("config").into()),
    ];
    if let Some(ca) = target.ca_file {
        for name in [
            "SSL_CERT_FILE",
            "CURL_CA_BUNDLE",
            "REQUESTS_CA_BUNDLE",
            "NODE_EXTRA_CA_CERTS",
        ] {
            v.push((name, ca.into()));
        }
        // The intercepting proxy: the real sign-in, Graph and Management hosts are reached
        // through the emulator's own port (plain-HTTP CONNECT there), so the service URLs keep
        // their real hosts; the emulator's own address (control API, managed identity) is not
        // proxied. ARM is not intercepted: it keeps its override.
        let proxy = crate::server::proxy::proxy_url(base);
        v.retain(|(name, _)| !matches!(*name, "ENTRA_TOKEN_GRAPH_URL" | "ENTRA_TOKEN_MANAGEMENT_URL"));
        for (name, value) in [
            ("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com"),
            ("HTTPS_PROXY", proxy.as_str()),
            ("https_proxy", proxy.as_str()),
            ("NO_PROXY", LOOPBACK_NAMES),
            ("no_proxy", LOOPBACK_NAMES),
        ] {
            v.retain(|(n, _)| *n != name);
            v.push((name, value.into()));
        }
    }
    if args.github_actions {
        v.push((
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            format!("{base}/_actions/idtoken?api-version=2.0").into(),
        ));
        v.push(("ACTIONS_ID_TOKEN_REQUEST_TOKEN", fixtures::ACTIONS_REQUEST_TOKEN.into()));
    }
    if args.managed_identity {
        // App Service's managed identity endpoint instead of the app's client id and secret (a
        // client id would name a user-assigned identity, and a secret would come first)
        v.retain(|(name, _)| !matches!(*name, "AZURE_CLIENT_ID" | "AZURE_CLIENT_SECRET"));
        v.push(("IDENTITY_ENDPOINT", format!("{base}/msi/token").into()));
        v.push(("IDENTITY_HEADER", fixtures::MI_IDENTITY_HEADER.into()));
    }
    v
}

/// The child's environment: `parent` without the `remove`d names, then `exports`.
pub(crate) fn child_environment(
    parent: impl IntoIterator<Item = (OsString, OsString)>,
    remove: &[&str],
    exports: &[(&'static str, OsString)],
) -> Vec<(OsString, OsString)> {
    let mut out: Vec<(OsString, OsString)> = parent
        .into_iter()
        .filter(|(k, _)| !remove.iter().any(|r| k.as_os_str() == *r))
        .filter(|(k, _)| !exports.iter().any(|(e, _)| k.as_os_str() == *e))
        .collect();
    out.extend(exports.iter().map(|(k, v)| (OsString::from(k), v.clone())));
    out
}

/// A directory only this user can enter, removed with everything in it when dropped.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn create() -> Result<PrivateDir> {
        let path = std::env::temp_dir().join(format!("entra-token-emulator-exec-{}", random_hex()?));
        #[cfg_attr(not(unix), allow(unused_mut))]
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt as _;
            builder.mode(0o700);
        }
        builder
            .create(&path)
            .map_err(|e| Error::usage(format!("emulator exec: cannot create {}", path.display())).cause(e))?;
        Ok(PrivateDir(path))
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `entra-token emulator exec -- COMMAND`: runs COMMAND against a fresh emulator on a background
/// thread; returns COMMAND's exit status.
pub(crate) fn exec(args: ExecArgs, hermetic: &Hermetic) -> Result<i32> {
    let Some((program, rest)) = args.command.split_first() else {
        return Err(
            Error::usage("emulator exec needs a command to run").hint("entra-token emulator exec -- COMMAND [ARGS...]")
        );
    };
    let config = Config {
        token_lifetime: args.token_lifetime,
        ..Config::default()
    };
    let private = PrivateDir::create()?;
    let emu = Background::start(args.tls, config)?;
    let target = Target {
        base_url: &emu.base_url,
        ca_file: emu.ca_file.as_ref().map(|c| c.path.as_path()),
        private: &private.0,
    };
    let mut exported = exports(&target, &args);
    if let Some(dir) = std::env::current_exe().ok().and_then(|p| p.parent().map(PathBuf::from)) {
        // this entra-token first on PATH, so `entra-token` in the script is the one running it
        let old = std::env::var_os("PATH").unwrap_or_default();
        let paths = std::iter::once(dir).chain(std::env::split_paths(&old));
        if let Ok(joined) = std::env::join_paths(paths) {
            exported.push(("PATH", joined));
        }
    }
    let mut remove = hermetic.remove.clone();
    remove.extend_from_slice(SDK_VARIABLES);
    let mut cmd = Command::new(program);
    cmd.args(rest)
        .env_clear()
        .envs(child_environment(std::env::vars_os(), &remove, &exported));
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
    drop(private);
    Ok(exit_code(status))
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

    /// The value `name` is given in `vars`, asserting it is given at most once.
    fn value_of<K: AsRef<std::ffi::OsStr>>(vars: &[(K, OsString)], name: &str) -> Option<String> {
        let found: Vec<String> = vars
            .iter()
            .filter(|(n, _)| n.as_ref() == name)
            .map(|(_, v)| v.to_string_lossy().into_owned())
            .collect();
        assert!(found.len() <= 1, "{name} set twice: {found:?}");
        found.into_iter().next()
    }

    fn args() -> ExecArgs {
        ExecArgs {
            tls: false,
            token_lifetime: 3600,
            github_actions: false,
            managed_identity: false,
            command: vec!["true".into()],
        }
    }

    #[test]
    fn removed_names_go_and_exports_win() {
        let parent = [
            ("AZURE_CLIENT_CERTIFICATE_PATH", "/real/cert.pem"),
            ("AZURE_CLIENT_SECRET", "real-secret"),
            ("ENTRA_TOKEN_PROFILE", "prod"),
            ("NO_PROXY", "*"),
            ("HOME", "/home/me"),
            ("LANG", "C.UTF-8"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let remove = [
            "AZURE_CLIENT_CERTIFICATE_PATH",
            "AZURE_CLIENT_SECRET",
            "ENTRA_TOKEN_PROFILE",
            "NO_PROXY",
            "XDG_CACHE_HOME",
        ];
        let private = Path::new("/tmp/private");
        let target = Target {
            base_url: "http://127.0.0.1:1",
            ca_file: None,
            private,
        };
        let out = child_environment(parent, &remove, &exports(&target, &args()));
        let get = |k: &str| value_of(&out, k);
        assert_eq!(get("AZURE_CLIENT_CERTIFICATE_PATH"), None);
        assert_eq!(get("ENTRA_TOKEN_PROFILE"), None);
        assert_eq!(get("NO_PROXY"), None);
        assert_eq!(get("AZURE_CLIENT_SECRET").as_deref(), Some(fixtures::CLIENT_SECRET));
        assert_eq!(get("HOME").as_deref(), Some("/home/me"));
        assert_eq!(get("LANG").as_deref(), Some("C.UTF-8"));
        assert_eq!(get("ENTRA_TOKEN_CACHE").as_deref(), Some("file"));
        assert_eq!(get("ENTRA_TOKEN_GRAPH_URL").as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(get("XDG_CACHE_HOME").map(PathBuf::from), Some(private.join("cache")));
        assert_eq!(get("SSL_CERT_FILE"), None, "no CA without --tls");
    }

    #[test]
    fn with_tls_the_real_hosts_are_reached_through_the_proxy() {
        let target = Target {
            base_url: "https://127.0.0.1:7",
            ca_file: Some(Path::new("/tmp/ca.pem")),
            private: Path::new("/tmp/private"),
        };
        let mut tls = args();
        tls.tls = true;
        let v = exports(&target, &tls);
        let get = |k: &str| value_of(&v, k);
        assert_eq!(get("HTTPS_PROXY").as_deref(), Some("http://127.0.0.1:7"));
        assert_eq!(get("https_proxy").as_deref(), Some("http://127.0.0.1:7"));
        assert_eq!(get("NO_PROXY").as_deref(), Some("127.0.0.1,localhost,::1"));
        assert_eq!(
            get("AZURE_AUTHORITY_HOST").as_deref(),
            Some("https://login.microsoftonline.com")
        );
        assert_eq!(get("ENTRA_TOKEN_GRAPH_URL"), None, "Graph keeps its real host");
        assert_eq!(get("ENTRA_TOKEN_MANAGEMENT_URL"), None);
        assert_eq!(get("ENTRA_TOKEN_ARM_URL").as_deref(), Some("https://127.0.0.1:7"));
        assert_eq!(get("ENTRA_TOKEN_EMULATOR_URL").as_deref(), Some("https://127.0.0.1:7"));
        for ca in [
            "SSL_CERT_FILE",
            "CURL_CA_BUNDLE",
            "REQUESTS_CA_BUNDLE",
            "NODE_EXTRA_CA_CERTS",
        ] {
            assert_eq!(get(ca).as_deref(), Some("/tmp/ca.pem"), "{ca}");
        }
    }

    #[test]
    fn the_private_directory_is_the_users_alone_and_goes_away() {
        let dir = PrivateDir::create().unwrap();
        let path = dir.0.clone();
        std::fs::create_dir_all(path.join("cache/entra-token")).unwrap();
        std::fs::write(path.join("cache/entra-token/x"), b"token").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        drop(dir);
        assert!(!path.exists());
    }
}
