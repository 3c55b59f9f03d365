//! End-to-end: `get -o exec-credential` as a kubectl credential plugin. A real `kubectl` (from
//! PATH) with a kubeconfig whose user runs `entra-token get -o exec-credential` (configured by the
//! exec section's `env`) calls a stub Kubernetes API server over TLS; the stub must see the token
//! the emulator issued. kubectl refuses an answer in another version than the kubeconfig's, so
//! a v1beta1 kubeconfig proves that `KUBERNETES_EXEC_INFO` is honoured. Also: a malformed
//! `KUBERNETES_EXEC_INFO` is exit 2 naming it, with nothing sent.

mod common;
use base64::Engine;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_rustls::rustls;

const PODS: &str = "/api/v1/namespaces/default/pods";
const POD_LIST: &str = r#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[{"metadata":{"name":"stub-pod"}}]}"#;

/// A request line and its Authorization header, as the stub saw them.
type Seen = Vec<(String, Option<String>)>;

/// A stand-in for a Kubernetes API server on loopback, over TLS (its own CA): answers
/// `GET /api/v1/namespaces/default/pods` with a PodList when a bearer token is sent, else 401,
/// and records each request line with its Authorization header.
struct KubeStub {
    url: String,
    ca_pem: String,
    seen: Arc<Mutex<Seen>>,
}

impl KubeStub {
    fn start() -> KubeStub {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "kube stub test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::from_params(&ca, &ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        leaf.distinguished_name.push(DnType::CommonName, "kube stub");
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
            leaf_key.serialize_der(),
        ));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![leaf_cert.der().clone()], key)
            .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
                let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                    continue;
                };
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut reader = BufReader::new(&mut tls);
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue; // a failed handshake (e.g. an untrusted CA)
                }
                let mut authorization = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("authorization")
                    {
                        authorization = Some(value.trim().to_string());
                    }
                }
                let path = request_line.split(' ').nth(1).unwrap_or("").to_string();
                let authorized = authorization.as_deref().is_some_and(|a| a.starts_with("Bearer ey"));
                log.lock()
                    .unwrap()
                    .push((request_line.trim().to_string(), authorization));
                let (status, body) = match (authorized, path.split('?').next() == Some(PODS)) {
                    (true, true) => ("200 OK", POD_LIST),
                    (true, false) => (
                        "404 Not Found",
                        r#"{"kind":"Status","apiVersion":"v1","status":"Failure","code":404}"#,
                    ),
                    (false, _) => (
                        "401 Unauthorized",
                        r#"{"kind":"Status","apiVersion":"v1","status":"Failure","code":401}"#,
                    ),
                };
                let reply = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(reply.as_bytes());
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        });
        KubeStub {
            url,
            ca_pem: ca_cert.pem(),
            seen,
        }
    }

    fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }
}

/// kubectl on PATH; in CI it must be there.
fn kubectl() -> Option<PathBuf> {
    let out = Command::new("sh").args(["-c", "command -v kubectl"]).output().ok()?;
    if out.status.success() {
        return Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    assert!(
        runner_var("CI").is_none(),
        "CI must install kubectl (Debian package kubernetes-client)"
    );
    eprintln!("skipped: kubectl is not installed");
    None
}

/// The client's minor version (`kubectl version --client -o json`), e.g. 20 or 32.
fn kubectl_minor(kubectl: &Path, home: &Path) -> u32 {
    let out = Command::new(kubectl)
        .args(["version", "--client", "-o", "json"])
        .env_clear()
        .env("PATH", runner_var("PATH").unwrap_or_default())
        .env("HOME", home)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("kubectl version: {e}: {}", String::from_utf8_lossy(&out.stdout)));
    let minor = v["clientVersion"]["minor"].as_str().unwrap_or("");
    minor.trim_end_matches('+').parse().unwrap_or(0)
}

/// A kubeconfig for the stub whose user gets its token from entra-token, configured for the
/// emulator through the exec section's `env` (kubectl passes them to the plugin).
fn kubeconfig(env: &Env, emu: &Emulator, stub: &KubeStub, api_version: &str) -> PathBuf {
    let ca = base64::engine::general_purpose::STANDARD.encode(&stub.ca_pem);
    let interactive = if api_version.ends_with("/v1") {
        "      interactiveMode: Never\n"
    } else {
        ""
    };
    let yaml = format!(
        r#"apiVersion: v1
kind: Config
clusters:
- name: stub
  cluster:
    server: {server}
    certificate-authority-data: {ca}
contexts:
- name: stub
  context:
    cluster: stub
    user: entra
current-context: stub
users:
- name: entra
  user:
    exec:
      apiVersion: {api_version}
      command: {bin}
      args: ["get", "-o", "exec-credential"]
{interactive}      env:
      - name: AZURE_AUTHORITY_HOST
        value: "{authority}"
      - name: AZURE_TENANT_ID
        value: "{tenant}"
      - name: AZURE_CLIENT_ID
        value: "{client}"
      - name: AZURE_CLIENT_SECRET
        value: "{secret}"
"#,
        server = stub.url,
        bin = BIN,
        authority = emu.base,
        tenant = fx::TENANT_ID,
        client = fx::CLIENT_ID,
        secret = fx::CLIENT_SECRET,
    );
    env.write(
        &format!("kubeconfig-{}", api_version.rsplit('/').next().unwrap()),
        yaml.as_bytes(),
    )
}

/// `kubectl get --raw /api/v1/namespaces/default/pods` with that kubeconfig; kubectl's own
/// environment is only PATH, HOME and the XDG dirs (the plugin's settings come from the
/// kubeconfig).
fn kubectl_get_pods(kubectl: &Path, env: &Env, config: &Path) -> Run {
    let mut c = Command::new(kubectl);
    c.args(["get", "--raw", PODS, "--request-timeout", "20s"])
        .env_clear()
        .env("PATH", runner_var("PATH").unwrap_or_default())
        .env("KUBECONFIG", config)
        .stdin(Stdio::null());
    for (k, v) in &env.vars {
        if k == "HOME" || k.starts_with("XDG_") {
            c.env(k, v);
        }
    }
    let mut child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("kubectl hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Run::from(child.wait_with_output().unwrap())
}

fn check_kubectl_used_the_emulator_token(run: &Run, stub: &KubeStub, emu: &Emulator, env: &Env) {
    assert_eq!(
        run.code, 0,
        "kubectl failed\nstdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert!(run.stdout.contains("stub-pod"), "{}", run.stdout);
    let seen = stub.seen();
    let (line, auth) = seen
        .iter()
        .find(|(l, _)| l.starts_with(&format!("GET {PODS}")))
        .unwrap_or_else(|| panic!("the stub saw no pod list request: {seen:?}"));
    // the token the emulator issued, now in entra-token's cache for the same user
    let cached = env.run(&["get"]).ok().token();
    assert_eq!(auth.as_deref(), Some(format!("Bearer {cached}").as_str()), "{line}");
    let claims = claims(&cached);
    assert_eq!(claims["tid"], fx::TENANT_ID);
    assert_eq!(claims["appid"].as_str().or(claims["azp"].as_str()), Some(fx::CLIENT_ID));
    assert!(!emu.token_requests().is_empty(), "the token came from the emulator");
}

#[test]
fn kubectl_with_a_v1beta1_kubeconfig_gets_its_token_from_entra_token() {
    let Some(kubectl) = kubectl() else {
        return;
    };
    let emu = Emulator::start();
    let stub = KubeStub::start();
    let env = Env::new();
    let config = kubeconfig(&env, &emu, &stub, "client.authentication.k8s.io/v1beta1");
    let run = kubectl_get_pods(&kubectl, &env, &config);
    check_kubectl_used_the_emulator_token(&run, &stub, &emu, &env_for_cache(&env, &emu));
    assert_eq!(emu.token_requests().len(), 1);

    // kubectl 1.22 and later also speak v1 (kubectl 1.20, Debian's, does not)
    if kubectl_minor(&kubectl, &env.home()) >= 22 {
        let stub = KubeStub::start();
        let config = kubeconfig(&env, &emu, &stub, "client.authentication.k8s.io/v1");
        let run = kubectl_get_pods(&kubectl, &env, &config);
        check_kubectl_used_the_emulator_token(&run, &stub, &emu, &env_for_cache(&env, &emu));
        assert_eq!(emu.token_requests().len(), 1, "the second run is served from the cache");
    }
}

/// The same home as `env`, configured as the kubeconfig configures the plugin (to read back the
/// cached token).
fn env_for_cache(env: &Env, emu: &Emulator) -> Env {
    let mut e = Env::for_emulator(emu);
    e.vars.retain(|(k, _)| k != "HOME" && !k.starts_with("XDG_"));
    for (k, v) in &env.vars {
        if k == "HOME" || k.starts_with("XDG_") {
            e.set(k, v);
        }
    }
    e
}

#[test]
fn exec_credential_answers_in_the_version_asked_for() {
    let emu = Emulator::start();
    let mut env = Env::for_emulator(&emu);
    let v1 = env.run(&["get", "-o", "exec-credential"]).ok().json();
    assert_eq!(v1["apiVersion"], "client.authentication.k8s.io/v1", "v1 when unset");
    env.set(
        "KUBERNETES_EXEC_INFO",
        r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":false}}"#,
    );
    let beta = env.run(&["get", "-o", "exec-credential"]).ok().json();
    assert_eq!(beta["kind"], "ExecCredential");
    assert_eq!(beta["apiVersion"], "client.authentication.k8s.io/v1beta1");
    assert_eq!(beta["status"]["token"], v1["status"]["token"]);
    assert_eq!(
        beta["status"]["expirationTimestamp"],
        v1["status"]["expirationTimestamp"]
    );
    env.set(
        "KUBERNETES_EXEC_INFO",
        r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":true}}"#,
    );
    let again = env.run(&["get", "-o", "exec-credential"]).ok().json();
    assert_eq!(again["apiVersion"], "client.authentication.k8s.io/v1");
}

#[test]
fn a_malformed_kubernetes_exec_info_is_exit_2_with_nothing_sent() {
    let emu = Emulator::start();
    let mut env = Env::for_emulator(&emu);
    for bad in [
        "client.authentication.k8s.io/v1beta1",
        r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1alpha1"}"#,
        r#"{"kind":"ExecCredential"}"#,
    ] {
        env.set("KUBERNETES_EXEC_INFO", bad);
        env.run(&["get", "-o", "exec-credential"])
            .fails(2)
            .stderr_has("KUBERNETES_EXEC_INFO");
    }
    let mut c = env.command(&["get", "-o", "exec-credential"]);
    c.env(
        "KUBERNETES_EXEC_INFO",
        <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"{\xff}"),
    );
    Run::from(c.output().unwrap())
        .fails(2)
        .stderr_has("KUBERNETES_EXEC_INFO is set to a value that is not valid UTF-8");
    assert!(emu.requests().is_empty(), "nothing sent: {:#?}", emu.requests());
    // only the exec-credential answer depends on it
    env.run(&["get"]).ok();
}
