//! Managed-identity requests per source, and the Azure Arc challenge.

use super::*;

fn header<'a>(r: &'a request::Request, name: &str) -> Option<&'a str> {
    r.header(name).map(HeaderValue::expose)
}

#[test]
fn imds_request() {
    let e = detect(&Variables::default()).unwrap();
    let r = request::build(&e, "https://graph.microsoft.com", None, None).unwrap();
    assert_eq!(r.method, Method::Get);
    assert_eq!(
        r.url.as_str(),
        "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fgraph.microsoft.com"
    );
    assert_eq!(header(&r, "metadata"), Some("true"));
    assert_eq!(r.headers.len(), 1);
    assert!(r.form.is_empty());
    for (kind, param, value) in [
        (SelectorKind::ClientId, "client_id", GUID),
        (SelectorKind::ObjectId, "object_id", GUID),
        (SelectorKind::ResourceId, "msi_res_id", ARM_ID),
    ] {
        let s = sel(kind, value, Origin::Flag(kind.flag()));
        let r = request::build(&e, "https://graph.microsoft.com", Some(&s), None).unwrap();
        let pairs: Vec<(String, String)> = r.url.query_pairs().into_owned().collect();
        assert_eq!(pairs.last().unwrap(), &(param.to_string(), value.to_string()));
        assert_eq!(pairs.len(), 3);
    }
}

#[test]
fn app_service_request() {
    let e = detect(&app_service()).unwrap();
    let s = sel(SelectorKind::ResourceId, ARM_ID, Origin::Flag("--mi-resource-id"));
    let r = request::build(&e, "https://vault.azure.net", Some(&s), None).unwrap();
    assert_eq!(r.method, Method::Get);
    let pairs: Vec<(String, String)> = r.url.query_pairs().into_owned().collect();
    assert_eq!(
        pairs,
        [
            ("api-version".to_string(), "2019-08-01".to_string()),
            ("resource".to_string(), "https://vault.azure.net".to_string()),
            ("mi_res_id".to_string(), ARM_ID.to_string()),
        ]
    );
    assert!(r.url.as_str().starts_with("http://127.0.0.1:41741/MSI/token/?"));
    assert_eq!(header(&r, "X-IDENTITY-HEADER"), Some("hdr-secret-value-123"));
    assert_eq!(header(&r, "Metadata"), Some("true"));
    let shown = format!("{r:?}");
    assert!(!shown.contains("hdr-secret"), "{shown}");
}

#[test]
fn service_fabric_request() {
    let mut v = app_service();
    v.identity_endpoint = some("https://10.0.0.4:2377/metadata/identity/oauth2/token");
    v.identity_server_thumbprint = some(&"AB".repeat(20));
    let e = detect(&v).unwrap();
    let r = request::build(&e, "https://management.azure.com/", None, None).unwrap();
    assert_eq!(
        r.url.as_str(),
        "https://10.0.0.4:2377/metadata/identity/oauth2/token?api-version=2019-07-01-preview&resource=https%3A%2F%2Fmanagement.azure.com%2F"
    );
    assert_eq!(header(&r, "secret"), Some("hdr-secret-value-123"));
    assert_eq!(header(&r, "Metadata"), None);
    let s = sel(SelectorKind::ClientId, GUID, Origin::Env("AZURE_CLIENT_ID"));
    assert_eq!(request::build(&e, "r", Some(&s), None).unwrap_err().kind, Kind::Usage);
}

#[test]
fn arc_requests_with_and_without_the_key() {
    let v = Variables {
        identity_endpoint: some("http://localhost:40342/metadata/identity/oauth2/token"),
        imds_endpoint: some("http://localhost:40342"),
        ..Variables::default()
    };
    let e = detect(&v).unwrap();
    let first = request::build(&e, "https://graph.microsoft.com", None, None).unwrap();
    assert_eq!(
        first.url.as_str(),
        "http://localhost:40342/metadata/identity/oauth2/token?api-version=2019-11-01&resource=https%3A%2F%2Fgraph.microsoft.com"
    );
    assert_eq!(header(&first, "Metadata"), Some("true"));
    assert_eq!(header(&first, "Authorization"), None);
    let key = Secret::new("0123456789abcdef".to_string());
    let second = request::build(&e, "https://graph.microsoft.com", None, Some(&key)).unwrap();
    assert_eq!(second.url, first.url);
    assert_eq!(header(&second, "authorization"), Some("Basic 0123456789abcdef"));
    assert!(!format!("{second:?}").contains("0123456789abcdef"));
    let s = sel(SelectorKind::ClientId, GUID, Origin::Flag("--client-id"));
    assert_eq!(request::build(&e, "r", Some(&s), None).unwrap_err().kind, Kind::Usage);
}

#[test]
fn cloud_shell_is_a_form_post() {
    let v = Variables {
        msi_endpoint: some("http://localhost:50342/oauth2/token"),
        ..Variables::default()
    };
    let e = detect(&v).unwrap();
    let r = request::build(&e, "https://graph.microsoft.com", None, None).unwrap();
    assert_eq!(r.method, Method::Post);
    assert_eq!(r.url.as_str(), "http://localhost:50342/oauth2/token");
    assert_eq!(r.form, [("resource", "https://graph.microsoft.com".to_string())]);
    assert_eq!(header(&r, "Metadata"), Some("true"));
}

#[test]
fn api_versions() {
    assert_eq!(request::api_version(Source::Imds), Some("2018-02-01"));
    assert_eq!(request::api_version(Source::AppService), Some("2019-08-01"));
    assert_eq!(request::api_version(Source::Arc), Some("2019-11-01"));
    assert_eq!(request::api_version(Source::ServiceFabric), Some("2019-07-01-preview"));
    assert_eq!(request::api_version(Source::CloudShell), None);
}

const FOLDER: &str = "/var/opt/azcmagent/tokens";

#[test]
fn arc_challenge_accepts_a_key_in_the_agents_folder() {
    let folder = Path::new(FOLDER);
    for header in [
        "Basic realm=/var/opt/azcmagent/tokens/5f0c0d3e.key",
        "basic REALM=/var/opt/azcmagent/tokens/5f0c0d3e.key",
        "Basic realm=\"/var/opt/azcmagent/tokens/5f0c0d3e.key\"",
        "  Basic   realm = /var/opt/azcmagent/tokens/5f0c0d3e.key ",
    ] {
        assert_eq!(
            request::arc_challenge_key_path(Some(header), folder).unwrap(),
            Path::new("/var/opt/azcmagent/tokens/5f0c0d3e.key"),
            "{header}"
        );
    }
    // a folder given with a trailing slash is the same folder
    assert!(
        request::arc_challenge_key_path(
            Some("Basic realm=/var/opt/azcmagent/tokens/a.key"),
            Path::new("/var/opt/azcmagent/tokens/")
        )
        .is_ok()
    );
}

#[test]
fn hostile_arc_challenges_are_refused() {
    let folder = Path::new(FOLDER);
    for header in [
        None,
        Some(""),
        Some("Bearer realm=/var/opt/azcmagent/tokens/a.key"),
        Some("Basic"),
        Some("Basic realm="),
        Some("Basic charset=/var/opt/azcmagent/tokens/a.key"),
        Some("Basic realm=/etc/shadow"),
        Some("Basic realm=/etc/shadow.key"),
        Some("Basic realm=/var/opt/azcmagent/tokens/../../../../etc/shadow"),
        Some("Basic realm=/var/opt/azcmagent/tokens/../tokens/a.key"),
        Some("Basic realm=/var/opt/azcmagent/tokens/./a.key"),
        Some("Basic realm=/var/opt/azcmagent/tokens/sub/a.key"),
        Some("Basic realm=var/opt/azcmagent/tokens/a.key"),
        Some("Basic realm=../a.key"),
        Some("Basic realm=/var/opt/azcmagent/tokens/.key"),
        Some("Basic realm=/var/opt/azcmagent/tokens/a.key.txt"),
        Some("Basic realm=/var/opt/azcmagent/tokens"),
        Some("Basic realm=/var/opt/azcmagent/tokens/a.key, charset=UTF-8"),
        Some("Basic realm=/var/opt/azcmagent/tokens/a\0.key"),
    ] {
        let e = request::arc_challenge_key_path(header, folder).unwrap_err();
        assert_eq!(e.kind, Kind::Network, "{header:?}");
        assert!(
            e.message.starts_with("refusing the Azure Arc challenge"),
            "{header:?}: {}",
            e.message
        );
        assert!(e.hint.as_deref().unwrap().contains("nothing was read or sent"));
    }
}

#[test]
fn arc_key_folder_per_platform() {
    let f = request::arc_key_folder(Some(r"C:\ProgramData"));
    if cfg!(target_os = "linux") {
        assert_eq!(f.unwrap(), Path::new(FOLDER));
    } else if cfg!(windows) {
        assert_eq!(
            f.unwrap(),
            Path::new(r"C:\ProgramData\AzureConnectedMachineAgent\Tokens")
        );
        assert_eq!(request::arc_key_folder(None), None);
    } else {
        assert_eq!(f, None);
    }
}
