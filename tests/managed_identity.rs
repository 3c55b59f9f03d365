//! End-to-end: managed identity (IMDS, App Service, Azure Arc with its challenge, Cloud Shell,
//! Service Fabric with a pinned certificate), Azure Pipelines and variable-held federated tokens,
//! the credential source decision (precedence, `AZURE_TOKEN_CREDENTIALS`, nothing configured
//! probes nothing) and `whoami` — the real binary against the emulator, checking the wire.

mod common;
use common::*;
use serde_json::{Value, json};
use std::time::Duration;

const IMDS_PATH: &str = "/metadata/identity/oauth2/token";

/// Query parameters of a logged request.
fn query(req: &Value) -> Vec<(String, String)> {
    url::form_urlencoded::parse(req["query"].as_str().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param(req: &Value, name: &str) -> Option<String> {
    query(req).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn header<'a>(req: &'a Value, name: &str) -> Option<&'a str> {
    req["headers"][name].as_str()
}

/// Requests to a path (substring).
fn to(emu: &Emulator, path: &str) -> Vec<Value> {
    emu.requests()
        .into_iter()
        .filter(|r| r["path"].as_str().unwrap_or("").contains(path))
        .collect()
}

/// Another environment with the same variables (and so the same home and cache).
fn copy(env: &Env) -> Env {
    let mut e = Env::new();
    for (k, v) in &env.vars {
        e.set(k, v);
    }
    e
}

/// No AZURE_* at all: the machine's managed identity is the only credential around.
fn vm_env(emu: &Emulator) -> Env {
    let mut e = Env::new();
    e.set("AZURE_POD_IDENTITY_AUTHORITY_HOST", &emu.base);
    e
}

#[test]
fn imds_system_and_user_assigned_identities_and_the_cache() {
    let emu = Emulator::start();
    let env = vm_env(&emu);
    let r = env.run(&["get", "--managed-identity", "-v"]);
    r.ok();
    let c = claims(&r.token());
    assert_eq!(c["oid"], fx::MI_SYSTEM_OBJECT_ID);
    assert_eq!(c["aud"], fx::GRAPH_RESOURCE);
    r.stderr_has("credential: managed-identity (selected by flag --managed-identity)")
        .stderr_has("IMDS");
    let reqs = emu.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(reqs[0]["method"], "GET");
    assert_eq!(reqs[0]["path"], IMDS_PATH);
    assert_eq!(
        query(&reqs[0]),
        [
            ("api-version".to_string(), "2018-02-01".to_string()),
            ("resource".to_string(), fx::GRAPH_RESOURCE.to_string())
        ]
    );
    assert_eq!(header(&reqs[0], "metadata"), Some("true"));
    assert!(
        emu.requests()
            .iter()
            .all(|r| !r["path"].as_str().unwrap().contains(fx::TENANT_ID)),
        "no Entra request for a managed identity"
    );

    // a cache hit: nothing sent
    let again = env.run(&["get", "--managed-identity"]);
    again.ok();
    assert_eq!(again.token(), r.token());
    assert_eq!(emu.requests().len(), 1);

    // user-assigned, by each selector; each is its own cache entry
    for (args, name, value) in [
        (
            vec!["--mi-object-id", fx::MI_USER_OBJECT_ID],
            "object_id",
            fx::MI_USER_OBJECT_ID,
        ),
        (
            vec!["--mi-resource-id", fx::MI_USER_RESOURCE_ID],
            "msi_res_id",
            fx::MI_USER_RESOURCE_ID,
        ),
        (
            vec!["--client-id", fx::MI_USER_CLIENT_ID],
            "client_id",
            fx::MI_USER_CLIENT_ID,
        ),
    ] {
        let before = emu.requests().len();
        let mut argv = vec!["get", "--managed-identity", "--resource", fx::ARM_RESOURCE];
        argv.extend(args);
        let r = env.run(&argv);
        r.ok();
        assert_eq!(claims(&r.token())["oid"], fx::MI_USER_OBJECT_ID, "{name}");
        let reqs = emu.requests();
        assert_eq!(reqs.len(), before + 1);
        let last = reqs.last().unwrap();
        assert_eq!(param(last, name).as_deref(), Some(value));
        assert_eq!(param(last, "resource").as_deref(), Some(fx::ARM_RESOURCE));
    }
    // AZURE_CLIENT_ID names a user-assigned identity, as in azure-identity
    let mut env2 = vm_env(&emu);
    env2.set("AZURE_CLIENT_ID", fx::MI_USER_CLIENT_ID);
    env2.run(&["get", "--managed-identity"]).ok();
    let last = emu.requests().pop().unwrap();
    assert_eq!(param(&last, "client_id").as_deref(), Some(fx::MI_USER_CLIENT_ID));
    // two selectors at one level
    env.run(&[
        "get",
        "--managed-identity",
        "--mi-object-id",
        fx::MI_USER_OBJECT_ID,
        "--client-id",
        fx::MI_USER_CLIENT_ID,
    ])
    .fails(2)
    .stderr_has("give only one");
}

#[test]
fn identity_not_found_is_exit_3_naming_the_selector() {
    let emu = Emulator::start();
    let mut env = vm_env(&emu);
    // the app's id where the identity's was meant
    env.set("AZURE_CLIENT_ID", fx::CLIENT_ID);
    env.run(&["get", "--managed-identity"])
        .fails(3)
        .stderr_has("Identity not found")
        .stderr_has("`client_id` from AZURE_CLIENT_ID")
        .stderr_has("app's id");
    assert_eq!(to(&emu, IMDS_PATH).len(), 1, "not retried");
}

#[test]
fn imds_retries_on_its_schedule_within_the_deadline() {
    let emu = Emulator::start();
    let env = vm_env(&emu);
    // 410 (IMDS updating) then 503: retried after 1 s and 2 s, then the token
    emu.fault(json!({"kind": "status", "status": 410, "count": 1, "path": IMDS_PATH}));
    emu.fault(json!({"kind": "status", "status": 503, "count": 1, "path": IMDS_PATH}));
    let r = timed(|| env.run(&["get", "--managed-identity", "-v"]));
    r.ok();
    assert_eq!(to(&emu, IMDS_PATH).len(), 3);
    r.stderr_has("HTTP 410: retrying in 1000 ms")
        .stderr_has("HTTP 503: retrying in 2000 ms");
    assert!(r.elapsed < Duration::from_secs(60), "hang guard");

    // failures beyond a short --timeout: one retry (1 s), then the next wait (2 s) would pass the
    // deadline: exit 4 with the reason
    let emu = Emulator::start();
    let env = vm_env(&emu);
    emu.fault(json!({"kind": "status", "status": 500, "count": 10, "path": IMDS_PATH,
                     "body": "{\"error\":\"server_error\",\"error_description\":\"busy\"}"}));
    let r = env.run(&["get", "--managed-identity", "--timeout", "2.5"]);
    r.fails(4).stderr_has("after the deadline");
    assert_eq!(to(&emu, IMDS_PATH).len(), 2);
    // 404 is retried for IMDS too
    let emu = Emulator::start();
    let env = vm_env(&emu);
    emu.fault(json!({"kind": "status", "status": 404, "count": 1, "path": IMDS_PATH}));
    env.run(&["get", "--managed-identity"]).ok();
    assert_eq!(to(&emu, IMDS_PATH).len(), 2);
}

#[test]
fn app_service_is_automatic_when_its_variables_announce_it() {
    let emu = Emulator::start();
    let mut env = Env::new();
    env.set("IDENTITY_ENDPOINT", &format!("{}/msi/token", emu.base));
    env.set("IDENTITY_HEADER", fx::MI_IDENTITY_HEADER);
    let r = env.run(&["get", "-vv", "--resource", fx::VAULT_RESOURCE]);
    r.ok();
    r.stderr_has("credential: managed-identity (selected by automatic)")
        .stderr_has("IDENTITY_ENDPOINT announces one")
        .stderr_has("App Service");
    assert!(
        !r.stderr.contains(fx::MI_IDENTITY_HEADER),
        "IDENTITY_HEADER logged: {}",
        r.stderr
    );
    assert!(!r.stderr.contains(&r.token()), "token logged");
    let reqs = emu.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0]["path"], "/msi/token");
    assert_eq!(
        header(&reqs[0], "x-identity-header"),
        Some(redacted(fx::MI_IDENTITY_HEADER).as_str())
    );
    assert_eq!(param(&reqs[0], "api-version").as_deref(), Some("2019-08-01"));
    assert_eq!(param(&reqs[0], "resource").as_deref(), Some(fx::VAULT_RESOURCE));
    // the cache file names neither the header nor the token in plain text... of the header
    assert_nowhere_under(&env.home(), fx::MI_IDENTITY_HEADER);

    // App Service names a resource id `mi_res_id`; an unknown one is its "Unable to load"
    let r = env.run(&["get", "--managed-identity", "--mi-resource-id", fx::MI_USER_RESOURCE_ID]);
    r.ok();
    assert_eq!(
        param(emu.requests().last().unwrap(), "mi_res_id").as_deref(),
        Some(fx::MI_USER_RESOURCE_ID)
    );
    env.run(&[
        "get",
        "--managed-identity",
        "--mi-object-id",
        "00000000-0000-0000-0000-000000000001",
    ])
    .fails(3)
    .stderr_has("Unable to load requested managed identity")
    .stderr_has("--mi-object-id");
}

/// An Arc-enabled server: the agent's variables, and its key folder (a temporary one here).
fn arc_env(emu: &Emulator, key_dir: &std::path::Path) -> Env {
    let mut env = Env::new();
    env.set(
        "IDENTITY_ENDPOINT",
        &format!("{}/arc/metadata/identity/oauth2/token", emu.base),
    );
    env.set("IMDS_ENDPOINT", "http://127.0.0.1:40342");
    env.set("ENTRA_TOKEN_ARC_KEY_DIR", &key_dir.display().to_string());
    env
}

#[test]
fn arc_answers_the_challenge_with_the_agents_key() {
    let emu = Emulator::start();
    let keys = tempfile::tempdir().unwrap();
    emu.config(json!({"arc_key_dir": keys.path().display().to_string()}));
    let env = arc_env(&emu, keys.path());
    let r = env.run(&["get", "--managed-identity", "-vv"]);
    r.ok();
    assert_eq!(claims(&r.token())["oid"], fx::MI_SYSTEM_OBJECT_ID);
    let reqs = emu.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[0]["status"], 401);
    assert!(header(&reqs[0], "authorization").is_none());
    assert_eq!(param(&reqs[0], "api-version").as_deref(), Some("2019-11-01"));
    let key_file = std::fs::read_dir(keys.path()).unwrap().next().unwrap().unwrap().path();
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(
        header(&reqs[1], "authorization"),
        Some(format!("Basic {}", redacted(key.trim())).as_str())
    );
    assert!(!r.stderr.contains(key.trim()), "the Arc key was logged: {}", r.stderr);
    // a user-assigned identity is not something Arc serves
    env.run(&["get", "--managed-identity", "--mi-object-id", fx::MI_USER_OBJECT_ID])
        .fails(2)
        .stderr_has("Azure Arc managed identity takes no user-assigned identity");
    assert_eq!(emu.requests().len(), 2);
}

#[test]
fn a_hostile_arc_challenge_is_refused_and_nothing_is_read_or_sent() {
    let keys = tempfile::tempdir().unwrap();
    // a file outside the agent's folder, and one that climbs out of it
    let outside = keys.path().join("..").join("x.key");
    for realm in ["/etc/shadow".to_string(), outside.display().to_string()] {
        let emu = Emulator::start();
        emu.config(json!({"arc_key_dir": keys.path().display().to_string(), "arc_challenge_realm": realm}));
        let env = arc_env(&emu, keys.path());
        let r = env.run(&["get", "--managed-identity"]);
        r.fails(4).stderr_has("refusing the Azure Arc challenge");
        let reqs = emu.requests();
        assert_eq!(reqs.len(), 1, "no second request: {reqs:?}");
        assert!(header(&reqs[0], "authorization").is_none());
    }
}

#[test]
fn cloud_shell_posts_a_form() {
    let emu = Emulator::start();
    let mut env = Env::new();
    env.set("MSI_ENDPOINT", &format!("{}/cloudshell/token", emu.base));
    let r = env.run(&["get", "--scope", "https://management.core.windows.net//.default"]);
    r.ok();
    assert_eq!(claims(&r.token())["aud"], fx::ASM_RESOURCE);
    let reqs = emu.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0]["method"], "POST");
    assert_eq!(reqs[0]["form"]["resource"], fx::ASM_RESOURCE);
    assert_eq!(header(&reqs[0], "metadata"), Some("true"));
    // Azure Machine Learning's variables are refused, not guessed at
    env.set("MSI_SECRET", "s");
    env.run(&["get"]).fails(2).stderr_has("Azure Machine Learning");
}

/// SHA-1 (hex) of the certificate the emulator's TLS listener presents.
fn leaf_thumbprint(emu: &Emulator) -> String {
    use sha1::Digest;
    use std::io::Write;
    let pem = std::fs::read(emu.ca_file.as_ref().unwrap()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let addr = emu.base.trim_start_matches("https://").to_string();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let mut sock = std::net::TcpStream::connect(addr).unwrap();
    {
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        tls.write_all(b"GET /_emulator/requests HTTP/1.0\r\n\r\n").unwrap();
    }
    let leaf = conn.peer_certificates().unwrap()[0].clone();
    sha1::Sha1::digest(leaf.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

#[test]
fn service_fabric_pins_the_endpoints_certificate() {
    let emu = Emulator::start_tls();
    let thumbprint = leaf_thumbprint(&emu);
    let mut env = Env::new();
    env.set("IDENTITY_ENDPOINT", &format!("{}/servicefabric/token", emu.base));
    env.set("IDENTITY_HEADER", fx::MI_IDENTITY_HEADER);
    env.set("IDENTITY_SERVER_THUMBPRINT", &thumbprint.to_ascii_lowercase());
    // no SSL_CERT_FILE: the test CA is not trusted; only the pin makes the leaf acceptable
    let r = env.run(&["get", "--managed-identity", "-vv"]);
    r.ok();
    assert!(!r.stderr.contains(fx::MI_IDENTITY_HEADER));
    let reqs = to(&emu, "/servicefabric/token");
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        header(&reqs[0], "secret"),
        Some(redacted(fx::MI_IDENTITY_HEADER).as_str())
    );
    assert_eq!(param(&reqs[0], "api-version").as_deref(), Some("2019-07-01-preview"));
    // another thumbprint: the handshake fails, nothing is sent
    let mut wrong = thumbprint.into_bytes();
    wrong[0] = if wrong[0] == b'0' { b'1' } else { b'0' };
    env.set("IDENTITY_SERVER_THUMBPRINT", &String::from_utf8(wrong).unwrap());
    env.run(&["get", "--managed-identity", "--force-refresh"])
        .fails(4)
        .stderr_has("could not be verified");
    assert_eq!(to(&emu, "/servicefabric/token").len(), 1);
}

/// An Azure Pipelines job with the AzureCLI task's variables, for the emulator's app.
fn pipelines_env(emu: &Emulator) -> Env {
    let mut env = Env::for_emulator(emu);
    env.unset("AZURE_CLIENT_SECRET");
    env.set(
        "SYSTEM_OIDCREQUESTURI",
        &format!("{}/_pipelines/{}/oidctoken", emu.base, fx::PIPELINES_ORG_ID),
    );
    env.set("SYSTEM_ACCESSTOKEN", fx::PIPELINES_ACCESS_TOKEN);
    env.set(
        "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID",
        fx::PIPELINES_SERVICE_CONNECTION_ID,
    );
    env
}

#[test]
fn azure_pipelines_fetches_a_fresh_oidc_token_per_token_request() {
    let emu = Emulator::start();
    let env = pipelines_env(&emu);
    let r = env.run(&["get", "--federated-azure-pipelines", "-vv"]);
    r.ok();
    assert_eq!(claims(&r.token())["appid"], fx::CLIENT_ID);
    assert!(
        !r.stderr.contains(fx::PIPELINES_ACCESS_TOKEN),
        "SYSTEM_ACCESSTOKEN logged"
    );
    env.run(&["get", "--federated-azure-pipelines", "--force-refresh"]).ok();
    let reqs = emu.requests();
    let paths: Vec<&str> = reqs.iter().map(|r| r["path"].as_str().unwrap()).collect();
    let oidc = format!("/_pipelines/{}/oidctoken", fx::PIPELINES_ORG_ID);
    let token = format!("/{}/oauth2/v2.0/token", fx::TENANT_ID);
    assert_eq!(paths, [&oidc, &token, &oidc, &token]);
    assert_eq!(reqs[0]["method"], "POST");
    assert_eq!(param(&reqs[0], "api-version").as_deref(), Some("7.1"));
    assert_eq!(
        param(&reqs[0], "serviceConnectionId").as_deref(),
        Some(fx::PIPELINES_SERVICE_CONNECTION_ID)
    );
    assert_eq!(
        header(&reqs[0], "authorization"),
        Some(format!("Bearer {}", redacted(fx::PIPELINES_ACCESS_TOKEN)).as_str())
    );
    let a1 = reqs[1]["form"]["client_assertion"].as_str().unwrap();
    let a2 = reqs[3]["form"]["client_assertion"].as_str().unwrap();
    assert_ne!(claims(a1)["jti"], claims(a2)["jti"], "a fresh OIDC token each time");
    assert_eq!(claims(a1)["sub"], fx::PIPELINES_SUBJECT);

    // SYSTEM_ACCESSTOKEN not mapped into the step: exit 2 naming it, nothing sent
    let mut unmapped = pipelines_env(&emu);
    unmapped.unset("SYSTEM_ACCESSTOKEN");
    unmapped
        .run(&["get", "--federated-azure-pipelines"])
        .fails(2)
        .stderr_has("SYSTEM_ACCESSTOKEN");
    // a refused access token, an unknown service connection: exit 3
    let mut wrong = pipelines_env(&emu);
    wrong.set("SYSTEM_ACCESSTOKEN", "not-the-jobs-token");
    wrong
        .run(&["get", "--federated-azure-pipelines"])
        .fails(3)
        .stderr_has("401");
    pipelines_env(&emu)
        .run(&[
            "get",
            "--federated-azure-pipelines",
            "--service-connection-id",
            "00000000-0000-4000-8000-000000000000",
        ])
        .fails(3)
        .stderr_has("404");
    assert_eq!(emu.requests().len(), 6, "two refused OIDC requests, nothing else");
    // never automatic: in a pipeline job with nothing else configured, exit 2
    pipelines_env(&emu)
        .run(&["get"])
        .fails(2)
        .stderr_has("no credential configured");
}

#[test]
fn a_federated_token_from_a_named_variable() {
    let emu = Emulator::start();
    let issuer = "https://gitlab.example.com";
    let subject = "project_path:contoso/app:ref_type:branch:ref:main";
    emu.control(
        "POST",
        &format!("/_emulator/apps/{}/federated", fx::CLIENT_ID),
        Some(json!({"name": "gitlab-main", "issuer": issuer, "subject": subject})),
    );
    let jwt = emu.control(
        "POST",
        "/_emulator/federated-token",
        Some(json!({"issuer": issuer, "subject": subject})),
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut env = Env::for_emulator(&emu);
    env.unset("AZURE_CLIENT_SECRET");
    env.set("GITLAB_OIDC_TOKEN", &jwt);
    env.run(&["get", "--federated-token-env", "GITLAB_OIDC_TOKEN"]).ok();
    let reqs = emu.token_requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0]["form"]["client_assertion"], unsigned(&jwt).as_str());
    // unset: exit 2 naming the variable, nothing sent
    env.unset("GITLAB_OIDC_TOKEN");
    env.run(&["get", "--federated-token-env", "GITLAB_OIDC_TOKEN", "--force-refresh"])
        .fails(2)
        .stderr_has("GITLAB_OIDC_TOKEN");
    assert_eq!(emu.token_requests().len(), 1);
}

#[test]
fn precedence_of_sources() {
    let emu = Emulator::start();
    let mut env = Env::for_emulator(&emu);
    env.set("AZURE_POD_IDENTITY_AUTHORITY_HOST", &emu.base);
    env.set("IDENTITY_ENDPOINT", &format!("{}/msi/token", emu.base));
    env.set("IDENTITY_HEADER", fx::MI_IDENTITY_HEADER);
    // the environment's client secret comes before an announced managed identity
    let r = env.run(&["get", "-v"]);
    r.ok();
    r.stderr_has("credential: client-secret (selected by env AZURE_CLIENT_SECRET)");
    assert_eq!(emu.token_requests().len(), 1);
    assert!(to(&emu, "/msi/token").is_empty());
    // an explicit flag beats the environment (AZURE_CLIENT_ID is the app's: send no selector)
    let mut mi = copy(&env);
    mi.unset("AZURE_CLIENT_ID");
    mi.run(&["get", "--managed-identity"]).ok();
    assert_eq!(to(&emu, "/msi/token").len(), 1);
    // two source flags
    env.run(&["get", "--managed-identity", "--federated-github"])
        .fails(2)
        .stderr_has("--federated-github");
    // AZURE_TOKEN_CREDENTIALS restricts the chain: managed identity only
    let mut restricted = copy(&env);
    restricted.unset("AZURE_CLIENT_ID");
    restricted.set("AZURE_TOKEN_CREDENTIALS", "managedidentitycredential");
    restricted
        .run(&["get", "-v", "--force-refresh"])
        .ok()
        .stderr_has("excludes it");
    assert_eq!(to(&emu, "/msi/token").len(), 2);
    restricted.set("AZURE_TOKEN_CREDENTIALS", "dev");
    restricted.run(&["get"]).fails(2).stderr_has("AZURE_TOKEN_CREDENTIALS");
    restricted.set("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential");
    restricted
        .run(&["get", "--managed-identity"])
        .fails(2)
        .stderr_has("excludes it");
    // the profile: managed_identity = true, with a user-assigned identity by object id
    let mut prof = Env::new();
    prof.set("AZURE_POD_IDENTITY_AUTHORITY_HOST", &emu.base);
    prof.write(
        "home/.config/entra-token/config.toml",
        format!(
            "[profiles.vm]\nmanaged_identity = true\nmi_object_id = \"{}\"\n",
            fx::MI_USER_OBJECT_ID
        )
        .as_bytes(),
    );
    let r = prof.run(&["get", "--profile", "vm", "-v"]);
    r.ok().stderr_has("selected by profile vm");
    assert_eq!(
        param(&to(&emu, IMDS_PATH)[0], "object_id").as_deref(),
        Some(fx::MI_USER_OBJECT_ID)
    );
}

#[test]
fn nothing_configured_lists_every_way_and_probes_nothing() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let mut env = Env::new();
    env.set(
        "AZURE_POD_IDENTITY_AUTHORITY_HOST",
        &format!("http://{}", listener.local_addr().unwrap()),
    );
    let r = env.run(&["get"]);
    r.fails(2).stderr_has("no credential configured");
    for way in [
        "--certificate",
        "AZURE_CLIENT_SECRET",
        "AZURE_FEDERATED_TOKEN_FILE",
        "--federated-token-env",
        "--federated-github",
        "--federated-azure-pipelines",
        "--managed-identity",
        "--profile",
    ] {
        r.stderr_has(way);
    }
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "something connected to the IMDS address"
    );
}

#[test]
fn whoami_reports_the_source_and_claims_never_the_token() {
    let emu = Emulator::start();
    let env = vm_env(&emu);
    let r = env.run(&["whoami", "--managed-identity", "-o", "json"]);
    r.ok();
    let v = r.json();
    assert_eq!(v["source"]["kind"], "managed-identity");
    assert_eq!(v["source"]["detail"], "imds");
    assert_eq!(v["source"]["selected_by"], "flag --managed-identity");
    assert_eq!(v["claims"]["oid"], fx::MI_SYSTEM_OBJECT_ID);
    assert_eq!(v["claims"]["idtyp"], "app");
    assert_eq!(v["claims"]["aud"], fx::GRAPH_RESOURCE);
    assert_eq!(v["cache"], "miss");
    assert!(v["profile"].is_null());
    // the same token `get` now serves from the cache is nowhere in whoami's output
    let token = env.run(&["get", "--managed-identity"]).ok().token();
    assert!(!r.stdout.contains(&token) && !r.stderr.contains(&token));
    let hit = env.run(&["whoami", "--managed-identity", "-o", "json"]);
    assert_eq!(hit.ok().json()["cache"], "hit");
    assert!(!hit.stdout.contains(&token));
    assert_eq!(emu.requests().len(), 1);
    // a client secret, in text form
    let app = Env::for_emulator(&emu);
    let t = app.run(&["whoami"]);
    t.ok();
    assert!(
        t.stdout
            .contains("source:      client-secret, selected by env AZURE_CLIENT_SECRET"),
        "{}",
        t.stdout
    );
    assert!(!t.stdout.contains(fx::CLIENT_SECRET));
    // failure: the decision trace on stderr, stdout empty
    let mut lost = vm_env(&emu);
    lost.set("AZURE_CLIENT_ID", fx::CLIENT_ID);
    lost.run(&["whoami", "--managed-identity", "-o", "json"])
        .fails(3)
        .stderr_has("credential: managed-identity (selected by flag --managed-identity)");
}

#[test]
fn api_and_exec_work_with_a_managed_identity() {
    let r = Env::new().run(&[
        "emulator",
        "exec",
        "--managed-identity",
        "--",
        "sh",
        "-c",
        "entra-token api --managed-identity --graph-url \"$ENTRA_TOKEN_EMULATOR_URL\" '/v1.0/users?$top=1'",
    ]);
    r.ok();
    assert!(r.json()["value"].is_array(), "{}", r.stdout);
    let r = Env::new().run(&[
        "emulator",
        "exec",
        "--managed-identity",
        "--",
        BIN,
        "whoami",
        "-o",
        "json",
    ]);
    let v = r.ok().json();
    assert_eq!(v["source"]["kind"], "managed-identity");
    assert_eq!(v["source"]["detail"], "app-service");
    assert_eq!(v["source"]["selected_by"], "automatic");
}

#[test]
fn long_lived_tokens_are_refreshed_at_half_life() {
    let emu = Emulator::start();
    emu.config(json!({"token_lifetime": 86_399}));
    let env = vm_env(&emu);
    env.run(&["get", "--managed-identity", "--cache", "file"]).ok();
    let entries: Vec<Value> = files_under(&env.home())
        .into_iter()
        .filter_map(|f| serde_json::from_slice::<Value>(&std::fs::read(f).ok()?).ok())
        .filter(|v| v.to_string().contains("refresh_on"))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let text = entries[0].to_string();
    let meta = find(&entries[0], "refresh_on").expect(&text);
    let refresh_on = meta["refresh_on"].as_i64().expect(&text);
    let expires_on = meta["expires_on"].as_i64().unwrap();
    let half = (expires_on - refresh_on) as f64 / 86_399.0;
    assert!((0.49..=0.51).contains(&half), "{text}");
    assert!(!text.contains(fx::MI_IDENTITY_HEADER));
}

/// The JSON object (at any depth) that has the member `name`.
fn find<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    match v {
        Value::Object(o) if o.contains_key(name) => Some(v),
        Value::Object(o) => o.values().find_map(|x| find(x, name)),
        Value::Array(a) => a.iter().find_map(|x| find(x, name)),
        _ => None,
    }
}
