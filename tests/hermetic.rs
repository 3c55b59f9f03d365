//! End-to-end: `emulator exec` is hermetic — an unchanged script runs against a fresh emulator
//! whatever the caller's environment holds: the caller's credentials, profile, cache, proxy and
//! CI variables do not reach the child, `api` sends Graph and Management URLs (relative, or on
//! the real hosts) to the emulator with the real audience, and the caller's cache directory is
//! byte-for-byte unchanged. Each test is one `exec` run of a small shell script.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::Path;

/// Every variable entra-token's table names (and a few its dependencies read), as a caller with
/// real credentials might have them.
const CALLER_VARIABLES: &[&str] = &[
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
    "AZURE_TOKEN_CREDENTIALS",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "ENTRA_TOKEN_CACHE",
    "ENTRA_TOKEN_PROFILE",
    "ENTRA_TOKEN_NO_KEYRING",
    "ENTRA_TOKEN_GRAPH_URL",
    "ENTRA_TOKEN_MANAGEMENT_URL",
    "ENTRA_TOKEN_ARM_URL",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "SYSTEM_OIDCREQUESTURI",
    "SYSTEM_ACCESSTOKEN",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// `NAME=value` lines of `env -0` output.
fn parse_env(out: &str) -> BTreeMap<String, String> {
    out.split('\0')
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Every file under `root` with its bytes.
fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    files_under(root)
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

#[test]
fn no_caller_variable_reaches_the_child_unless_exec_sets_it() {
    let mut env = Env::new();
    for name in CALLER_VARIABLES {
        env.set(name, "caller-value");
    }
    env.set("LANG", "C.UTF-8");
    let r = env.run(&["emulator", "exec", "--", "env", "-0"]);
    r.ok();
    let child = parse_env(&r.stdout);
    for name in CALLER_VARIABLES {
        assert_ne!(
            child.get(*name).map(String::as_str),
            Some("caller-value"),
            "{name} passed through"
        );
    }
    let base = child["ENTRA_TOKEN_EMULATOR_URL"].clone();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    for name in [
        "AZURE_AUTHORITY_HOST",
        "ENTRA_TOKEN_GRAPH_URL",
        "ENTRA_TOKEN_MANAGEMENT_URL",
        "ENTRA_TOKEN_ARM_URL",
    ] {
        assert_eq!(child[name], base, "{name}");
    }
    assert_eq!(child["AZURE_TENANT_ID"], fx::TENANT_ID);
    assert_eq!(child["AZURE_CLIENT_SECRET"], fx::CLIENT_SECRET);
    assert_eq!(child["ENTRA_TOKEN_CACHE"], "file");
    for gone in [
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "AZURE_FEDERATED_TOKEN_FILE",
        "ENTRA_TOKEN_PROFILE",
        "NO_PROXY",
        "HTTPS_PROXY",
        "SSL_CERT_DIR",
    ] {
        assert!(!child.contains_key(gone), "{gone} is removed");
    }
    // kept: the home directory and what has nothing to do with entra-token
    assert_eq!(child["HOME"], env.home().display().to_string());
    assert_eq!(child["LANG"], "C.UTF-8");
    // the child's cache and config are private, and removed afterwards
    let cache = Path::new(&child["XDG_CACHE_HOME"]).to_path_buf();
    let config = Path::new(&child["XDG_CONFIG_HOME"]);
    assert_eq!(cache.parent(), config.parent());
    assert!(!cache.starts_with(env.home()), "{}", cache.display());
    assert!(!cache.parent().unwrap().exists(), "removed after the run");
}

#[test]
fn an_unchanged_script_runs_with_the_callers_real_credentials_set_and_leaves_their_cache_alone() {
    let emu = Emulator::start();
    let trap = ProxyTrap::start();
    // the caller: real-looking credentials, a profile, a proxy, and a cache with a token in it
    let mut env = Env::for_emulator(&emu);
    env.run(&["get"]).ok();
    let cache_dir = env.home().join(".cache");
    let before = snapshot(&cache_dir);
    assert!(!before.is_empty(), "the caller has a cached token");
    let cert = env.write("real-cert.pem", b"-----BEGIN CERTIFICATE-----\nnot the emulator's\n");
    let federated = env.write("federated-token", b"eyJhbGciOiJSUzI1NiJ9.e30.c2ln");
    env.write(
        "home/.config/entra-token/config.toml",
        b"[profiles.prod]\ntenant = \"11111111-2222-3333-4444-555555555555\"\nclient_id = \"real-app\"\n",
    );
    env.set("AZURE_CLIENT_CERTIFICATE_PATH", cert.to_str().unwrap());
    env.set("AZURE_FEDERATED_TOKEN_FILE", federated.to_str().unwrap());
    env.set("ENTRA_TOKEN_PROFILE", "prod");
    env.set("HTTPS_PROXY", &trap.url);
    let tenant = fx::TENANT_ID;
    let dir = env.dir.path();
    let script = format!(
        r#"set -e
cd '{dir}'
entra-token get > token.txt
entra-token api '/v1.0/users?$top=2' > relative.json
entra-token api 'https://graph.microsoft.com/v1.0/users?$top=2' > absolute.json
entra-token api "https://manage.office.com/api/v1.0/{tenant}/activity/feed/subscriptions/list" > subscriptions.json
curl -sf "$ENTRA_TOKEN_EMULATOR_URL/_emulator/requests" > requests.json
"#,
        dir = dir.display()
    );
    let r = env.run(&["emulator", "exec", "--", "sh", "-c", &script]);
    r.ok();
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let token = read("token.txt");
    assert_eq!(claims(token.trim())["tid"], fx::TENANT_ID);
    for name in ["relative.json", "absolute.json"] {
        let page: serde_json::Value = serde_json::from_str(&read(name)).unwrap();
        assert_eq!(page["value"].as_array().unwrap().len(), 2, "{name}");
    }
    let subs: serde_json::Value = serde_json::from_str(&read("subscriptions.json")).unwrap();
    assert!(subs.is_array(), "{subs}");
    // on the emulator's wire: the fixture app's secret, the real audiences, nothing else
    let log: Vec<serde_json::Value> = serde_json::from_str(&read("requests.json")).unwrap();
    let tokens: Vec<&serde_json::Value> = log
        .iter()
        .filter(|q| q["path"].as_str().unwrap().ends_with("/token"))
        .collect();
    let mut scopes: Vec<&str> = tokens.iter().map(|t| t["form"]["scope"].as_str().unwrap()).collect();
    scopes.dedup();
    assert_eq!(
        scopes,
        [
            "https://graph.microsoft.com/.default",
            "https://manage.office.com/.default"
        ],
        "the real audiences, never 127.0.0.1: {log:#?}"
    );
    for t in &tokens {
        assert_eq!(t["form"]["client_id"], fx::CLIENT_ID);
        assert_eq!(t["form"]["client_secret"], redacted(fx::CLIENT_SECRET).as_str());
        assert!(
            t["form"].get("client_assertion").is_none(),
            "the caller's certificate is not used"
        );
    }
    let graph: Vec<&serde_json::Value> = log.iter().filter(|q| q["path"] == "/v1.0/users").collect();
    assert_eq!(graph.len(), 2);
    assert!(
        trap.seen().is_empty(),
        "nothing went to the caller's proxy: {:?}",
        trap.seen()
    );
    assert_eq!(
        emu.requests().len(),
        1,
        "the caller's emulator saw only the caller's own get"
    );
    // the caller's cache: byte for byte what it was
    assert_eq!(snapshot(&cache_dir), before);
}
