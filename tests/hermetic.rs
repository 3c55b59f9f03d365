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

/// A user's Python script, unchanged: MSAL's confidential client on the real authority, Graph
/// with `requests`, azure-identity's `ClientSecretCredential`. Prints one JSON line per step.
const PYTHON_SCRIPT: &str = r#"
import json, os, sys
try:
    import msal, requests
    from azure.identity import ClientSecretCredential
except ImportError as e:
    sys.exit(f"missing Python package ({e}): pip install msal azure-identity requests")
tenant = os.environ["AZURE_TENANT_ID"]
client_id = os.environ["AZURE_CLIENT_ID"]
secret = os.environ["AZURE_CLIENT_SECRET"]
graph = "https://graph.microsoft.com/v1.0"

app = msal.ConfidentialClientApplication(
    client_id, authority=f"https://login.microsoftonline.com/{tenant}", client_credential=secret)
r = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
if "access_token" not in r:
    sys.exit(f"msal: {r}")
users = requests.get(f"{graph}/users?$top=3", headers={"Authorization": "Bearer " + r["access_token"]})
print(json.dumps({"step": "msal+requests", "status": users.status_code, "count": len(users.json()["value"])}))

credential = ClientSecretCredential(tenant, client_id, secret)
token = credential.get_token("https://graph.microsoft.com/.default").token
groups = requests.get(f"{graph}/groups?$top=2", headers={"Authorization": "Bearer " + token})
print(json.dumps({"step": "azure-identity+requests", "status": groups.status_code, "count": len(groups.json()["value"])}))

header = os.environ["GRAPH_HEADER"].split(": ", 1)
me = requests.get(f"{graph}/devices?$top=1", headers={header[0]: header[1]})
print(json.dumps({"step": "entra-token+requests", "status": me.status_code, "count": len(me.json()["value"])}))
"#;

#[test]
fn under_tls_unchanged_scripts_reach_the_real_hosts_offline() {
    let trap = ProxyTrap::start();
    let mut env = Env::new();
    // the caller has real-looking credentials, a profile and a proxy of its own
    let cert = env.write("real-cert.pem", b"-----BEGIN CERTIFICATE-----\nnot the emulator's\n");
    let federated = env.write("federated-token", b"eyJhbGciOiJSUzI1NiJ9.e30.c2ln");
    env.set("AZURE_CLIENT_CERTIFICATE_PATH", cert.to_str().unwrap());
    env.set("AZURE_FEDERATED_TOKEN_FILE", federated.to_str().unwrap());
    env.set("ENTRA_TOKEN_PROFILE", "prod");
    env.set("HTTPS_PROXY", &trap.url);
    env.set("https_proxy", &trap.url);
    let cache_dir = env.home().join(".cache");
    std::fs::create_dir_all(&cache_dir).unwrap();
    let before = snapshot(&cache_dir);
    let py = env.write("script.py", PYTHON_SCRIPT.as_bytes());
    let dir = env.dir.path();
    let tenant = fx::TENANT_ID;
    let script = format!(
        r#"set -e
cd '{dir}'
curl -sSf -H "$(entra-token get -o header)" 'https://graph.microsoft.com/v1.0/users?$top=2&$select=id,displayName' > curl.json
entra-token api '/v1.0/users?$top=2' > relative.json
entra-token api 'https://graph.microsoft.com/v1.0/groups?$top=2' > absolute.json
entra-token api "https://manage.office.com/api/v1.0/{tenant}/activity/feed/subscriptions/list" > subscriptions.json
curl -sSf "https://login.microsoftonline.com/common/discovery/instance?api-version=1.1&authorization_endpoint=https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize" > instance.json
GRAPH_HEADER="$(entra-token get -o header)" python3 '{py}' > python.jsonl
curl -sSf "$ENTRA_TOKEN_EMULATOR_URL/_emulator/requests" > requests.json
"#,
        dir = dir.display(),
        py = py.display(),
    );
    let r = env.run(&["emulator", "exec", "--tls", "--", "sh", "-c", &script]);
    r.ok();
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let json = |name: &str| -> serde_json::Value { serde_json::from_str(&read(name)).unwrap() };

    // curl, with the header from `get`, at graph.microsoft.com itself
    let page = json("curl.json");
    assert_eq!(
        page["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#users(id,displayName)"
    );
    assert_eq!(page["value"].as_array().unwrap().len(), 2);
    assert!(
        page["@odata.nextLink"]
            .as_str()
            .unwrap()
            .starts_with("https://graph.microsoft.com/v1.0/users?")
    );
    for name in ["relative.json", "absolute.json"] {
        assert_eq!(json(name)["value"].as_array().unwrap().len(), 2, "{name}");
    }
    assert!(json("subscriptions.json").is_array());
    assert_eq!(
        json("instance.json")["tenant_discovery_endpoint"],
        format!("https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration")
    );
    let steps: Vec<serde_json::Value> = read("python.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let want = [
        ("msal+requests", 3),
        ("azure-identity+requests", 2),
        ("entra-token+requests", 1),
    ];
    assert_eq!(steps.len(), want.len(), "{steps:?}");
    for (step, (name, count)) in steps.iter().zip(want) {
        assert_eq!(step["step"], name);
        assert_eq!(step["status"], 200, "{step}");
        assert_eq!(step["count"], count, "{step}");
    }

    // on the wire: every request came through the proxy to one of the three hosts, over TLS
    let log: Vec<serde_json::Value> = serde_json::from_str(&read("requests.json")).unwrap();
    let connects: Vec<&str> = log
        .iter()
        .filter(|q| q["method"] == "CONNECT")
        .map(|q| q["path"].as_str().unwrap())
        .collect();
    assert!(!connects.is_empty());
    for c in &connects {
        assert!(
            [
                "login.microsoftonline.com:443",
                "graph.microsoft.com:443",
                "manage.office.com:443"
            ]
            .contains(c),
            "{c}"
        );
    }
    assert!(
        log.iter()
            .filter(|q| q["method"] == "CONNECT")
            .all(|q| q["status"] == 200)
    );
    let host_of = |q: &serde_json::Value| q["headers"]["host"].as_str().unwrap_or("").to_string();
    for q in log.iter().filter(|q| q["method"] != "CONNECT") {
        let path = q["path"].as_str().unwrap();
        let want = if path.starts_with("/v1.0/") {
            "graph.microsoft.com"
        } else if path.starts_with("/api/") {
            "manage.office.com"
        } else {
            "login.microsoftonline.com"
        };
        assert_eq!(host_of(q), want, "{q}");
    }
    // MSAL and azure-identity discovered the tenant's endpoints on the real authority
    assert!(
        log.iter()
            .any(|q| q["path"] == format!("/{tenant}/v2.0/.well-known/openid-configuration"))
    );
    // tokens: the fixture app's secret (never the caller's certificate), the real audiences
    let tokens: Vec<&serde_json::Value> = log
        .iter()
        .filter(|q| q["path"].as_str().unwrap().ends_with("/oauth2/v2.0/token"))
        .collect();
    assert!(tokens.len() >= 3, "entra-token, MSAL, azure-identity: {tokens:#?}");
    let mut scopes: Vec<&str> = tokens.iter().map(|t| t["form"]["scope"].as_str().unwrap()).collect();
    scopes.sort();
    scopes.dedup();
    assert_eq!(
        scopes,
        [
            "https://graph.microsoft.com/.default",
            "https://manage.office.com/.default"
        ]
    );
    for t in &tokens {
        assert_eq!(t["form"]["client_secret"], redacted(fx::CLIENT_SECRET).as_str());
        assert!(t["form"].get("client_assertion").is_none());
    }
    assert!(trap.seen().is_empty(), "the caller's proxy saw {:?}", trap.seen());
    assert_eq!(snapshot(&cache_dir), before, "the caller's cache is unchanged");
}

#[test]
fn under_tls_the_proxy_refuses_every_other_host_and_connects_nowhere() {
    // a listener on another loopback address: the proxy must never reach it
    let trap = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let target = trap.local_addr().unwrap().to_string();
    let env = Env::new();
    let dir = env.dir.path();
    let script = format!(
        r#"cd '{dir}'
curl -sS "https://{target}/" 2> curl.err; echo "curl $?" > codes
curl -sS -o /dev/null -w '%{{http_connect}}' -p -x "$HTTPS_PROXY" "http://{target}/" > tunnel.code 2>/dev/null
curl -sS -o /dev/null -w '%{{http_code}}' -x "$HTTPS_PROXY" "http://{target}/" > forward.code 2>/dev/null
curl -sS -o /dev/null -w '%{{http_code}}' "https://login.microsoftonline.com/_emulator/requests" > control.code
entra-token get --authority-host "https://{target}" --cache none --timeout 5 2> get.err; echo "get $?" >> codes
curl -sS "$HTTPS_PROXY/_emulator/requests" > plain.txt 2>&1
curl -sSf "$ENTRA_TOKEN_EMULATOR_URL/_emulator/requests" > requests.json
"#,
        dir = dir.display()
    );
    env.run(&["emulator", "exec", "--tls", "--", "sh", "-c", &script]).ok();
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let codes = read("codes");
    assert!(codes.contains("curl 56"), "curl: CONNECT refused: {codes}");
    assert!(read("curl.err").contains("403"), "{}", read("curl.err"));
    assert_eq!(read("tunnel.code"), "403", "a plain-HTTP tunnel is refused too");
    assert_eq!(read("forward.code"), "403", "so is plain-HTTP proxying");
    assert_eq!(
        read("control.code"),
        "404",
        "the control API is not reachable through a tunnel"
    );
    assert!(codes.contains("get 4"), "entra-token: a network failure: {codes}");
    // the proxy's own port speaks plain HTTP only for CONNECT
    assert!(read("plain.txt").contains("only for CONNECT"), "{}", read("plain.txt"));
    let log: Vec<serde_json::Value> = serde_json::from_str(&read("requests.json")).unwrap();
    let refused: Vec<&serde_json::Value> = log
        .iter()
        .filter(|q| q["method"] == "CONNECT" && q["path"] == target.as_str())
        .collect();
    assert!(refused.len() >= 3, "{log:#?}");
    assert!(
        !log.iter()
            .any(|q| q["method"] == "GET" && q["path"] == "/" && q["status"] == 200),
        "nothing was served for the other host: {log:#?}"
    );
    assert!(refused.iter().all(|q| q["status"] == 403), "{refused:#?}");
    match trap.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("something connected to {target}: {other:?}"),
    }
}

#[test]
fn without_tls_the_emulator_intercepts_nothing() {
    let env = Env::new();
    let dir = env.dir.path();
    let script = format!(
        r#"cd '{dir}'
curl -sS -o /dev/null -w '%{{http_connect}}' -x "$ENTRA_TOKEN_EMULATOR_URL" https://graph.microsoft.com/v1.0/users > code 2>/dev/null
curl -sSf "$ENTRA_TOKEN_EMULATOR_URL/_emulator/requests" > requests.json
"#,
        dir = dir.display()
    );
    env.run(&["emulator", "exec", "--", "sh", "-c", &script]).ok();
    assert_eq!(std::fs::read_to_string(dir.join("code")).unwrap(), "403");
    let log: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("requests.json")).unwrap()).unwrap();
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0]["method"], "CONNECT");
    assert_eq!(log[0]["path"], "graph.microsoft.com:443");
    assert_eq!(log[0]["status"], 403);
}
