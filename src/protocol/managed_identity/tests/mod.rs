//! Unit tests of managed-identity detection, selectors, resources and cache identities; requests
//! and the Arc challenge in `requests`, replies in `replies`.

use super::reply::{self, EndpointError};
use super::request::{self, HeaderValue, Method};
use super::*;
use crate::error::Kind;
use serde_json::json;
use std::path::Path;

fn secret(s: &str) -> Option<Secret<String>> {
    Some(Secret::new(s.to_string()))
}
fn some(s: &str) -> Option<String> {
    Some(s.to_string())
}

fn app_service() -> Variables {
    Variables {
        identity_endpoint: some("http://127.0.0.1:41741/MSI/token/"),
        identity_header: secret("hdr-secret-value-123"),
        ..Variables::default()
    }
}

#[test]
fn detection_follows_msal_order() {
    // nothing set: IMDS (only chosen when asked for explicitly; see `announced_by`)
    let e = detect(&Variables::default()).unwrap();
    assert_eq!(e.source, Source::Imds);
    assert_eq!(e.url.as_str(), "http://169.254.169.254/metadata/identity/oauth2/token");
    assert!(e.identity_header.is_none());

    let e = detect(&app_service()).unwrap();
    assert_eq!(e.source, Source::AppService);
    assert_eq!(e.url.as_str(), "http://127.0.0.1:41741/MSI/token/");
    assert_eq!(e.identity_header.as_ref().unwrap().expose(), "hdr-secret-value-123");

    let mut sf = app_service();
    sf.identity_endpoint = some("https://10.0.0.4:2377/metadata/identity/oauth2/token");
    sf.identity_server_thumbprint = some("5A:5E:89:E9:60:9C:68:EB:12:8C:35:F9:A1:57:6C:2F:B5:E1:11:FE");
    let e = detect(&sf).unwrap();
    assert_eq!(e.source, Source::ServiceFabric);
    assert_eq!(
        e.server_thumbprint.as_ref().unwrap().to_hex(),
        "5A5E89E9609C68EB128C35F9A1576C2FB5E111FE"
    );

    let arc = Variables {
        identity_endpoint: some("http://localhost:40342/metadata/identity/oauth2/token"),
        imds_endpoint: some("http://localhost:40342"),
        ..Variables::default()
    };
    assert_eq!(detect(&arc).unwrap().source, Source::Arc);
    // App Service wins over Arc when both header and IMDS_ENDPOINT are there
    let mut both = arc.clone();
    both.identity_header = secret("h");
    assert_eq!(detect(&both).unwrap().source, Source::AppService);

    // the Arc agent installed without its variables in this environment: its default endpoint
    let installed = Variables {
        arc_agent_installed: true,
        ..Variables::default()
    };
    let e = detect(&installed).unwrap();
    assert_eq!((e.source, e.url.as_str()), (Source::Arc, ARC_DEFAULT_ENDPOINT));

    let shell = Variables {
        msi_endpoint: some("http://localhost:50342/oauth2/token"),
        ..Variables::default()
    };
    assert_eq!(detect(&shell).unwrap().source, Source::CloudShell);

    // IDENTITY_ENDPOINT alone is neither App Service nor Arc: IMDS, as MSAL falls through
    let alone = Variables {
        identity_endpoint: some("http://localhost:1/x"),
        ..Variables::default()
    };
    assert_eq!(detect(&alone).unwrap().source, Source::Imds);
}

#[test]
fn empty_values_count_as_unset() {
    let vars = Variables {
        identity_endpoint: some("  "),
        identity_header: secret(""),
        msi_endpoint: some(""),
        pod_identity_authority_host: some(" "),
        ..Variables::default()
    };
    assert_eq!(vars.announced_by(), None);
    assert_eq!(detect(&vars).unwrap().source, Source::Imds);
    let mut header_empty = app_service();
    header_empty.identity_header = secret("   ");
    assert_eq!(detect(&header_empty).unwrap().source, Source::Imds);
}

#[test]
fn only_endpoint_variables_announce_a_managed_identity() {
    assert_eq!(Variables::default().announced_by(), None);
    let pod_only = Variables {
        pod_identity_authority_host: some("http://127.0.0.1:9"),
        arc_agent_installed: true,
        ..Variables::default()
    };
    assert_eq!(pod_only.announced_by(), None, "no blind probe");
    assert_eq!(app_service().announced_by(), Some("IDENTITY_ENDPOINT"));
    let shell = Variables {
        msi_endpoint: some("http://localhost:50342/oauth2/token"),
        ..Variables::default()
    };
    assert_eq!(shell.announced_by(), Some("MSI_ENDPOINT"));
}

#[test]
fn azure_machine_learning_is_refused() {
    let ml = Variables {
        msi_endpoint: some("http://127.0.0.1:46808/"),
        msi_secret_set: true,
        ..Variables::default()
    };
    let e = detect(&ml).unwrap_err();
    assert_eq!(e.kind, Kind::Usage);
    assert!(
        e.message.contains("MSI_SECRET") && e.message.contains("Machine Learning"),
        "{}",
        e.message
    );
}

#[test]
fn bad_values_name_their_variable() {
    let mut v = app_service();
    v.identity_endpoint = some("not a url");
    let e = detect(&v).unwrap_err();
    assert_eq!(e.kind, Kind::Usage);
    assert!(e.message.contains("IDENTITY_ENDPOINT"));

    v.identity_endpoint = some("ftp://127.0.0.1/x");
    assert!(detect(&v).unwrap_err().message.contains("scheme"));

    let mut sf = app_service();
    sf.identity_server_thumbprint = some("abc");
    let e = detect(&sf).unwrap_err();
    assert!(e.message.contains("IDENTITY_SERVER_THUMBPRINT"), "{}", e.message);
    sf.identity_server_thumbprint = some(&"zz".repeat(20));
    assert!(detect(&sf).is_err());
}

#[test]
fn plain_http_only_where_the_platform_puts_it() {
    let with_endpoint = |url: &str| {
        let mut v = app_service();
        v.identity_endpoint = some(url);
        detect(&v)
    };
    for ok in [
        "http://127.0.0.1:41741/MSI/token/",
        "http://localhost:42356/msi/token",
        "http://[::1]:8081/msi/token",
        "http://172.16.5.3:8081/msi/token/",
        "http://169.254.129.2:8081/msi/token",
        "http://10.0.0.4:8081/x",
        "http://192.168.1.2/x",
        "https://example.com/msi/token",
    ] {
        assert!(with_endpoint(ok).is_ok(), "{ok}");
    }
    for bad in [
        "http://example.com/msi/token",
        "http://8.8.8.8/x",
        "http://172.32.0.1/x",
    ] {
        let e = with_endpoint(bad).unwrap_err();
        assert_eq!(e.kind, Kind::Usage, "{bad}");
        assert!(
            e.message.contains("IDENTITY_ENDPOINT") && e.message.contains("plain http"),
            "{}",
            e.message
        );
    }
    // Service Fabric: https (pinned) or loopback only
    let mut sf = app_service();
    sf.identity_server_thumbprint = some(&"ab".repeat(20));
    sf.identity_endpoint = some("http://10.0.0.4:2377/metadata/identity/oauth2/token");
    assert!(detect(&sf).is_err());
    sf.identity_endpoint = some("http://127.0.0.1:2377/metadata/identity/oauth2/token");
    assert!(detect(&sf).is_ok());
    // no user info, no fragment
    assert!(with_endpoint("http://user:pw@127.0.0.1/x").is_err());
    assert!(with_endpoint("http://127.0.0.1/x#frag").is_err());
}

#[test]
fn imds_host_override() {
    assert_eq!(
        imds_url(Some("http://127.0.0.1:8080")).unwrap().as_str(),
        "http://127.0.0.1:8080/metadata/identity/oauth2/token"
    );
    assert_eq!(
        imds_url(Some("http://169.254.169.254/")).unwrap().as_str(),
        "http://169.254.169.254/metadata/identity/oauth2/token"
    );
    assert_eq!(
        imds_url(Some("https://pod-identity.example/prefix/")).unwrap().as_str(),
        "https://pod-identity.example/prefix/metadata/identity/oauth2/token"
    );
    assert_eq!(
        imds_url(Some("http://localhost:1234")).unwrap().as_str(),
        "http://localhost:1234/metadata/identity/oauth2/token"
    );
    for bad in [
        "http://10.0.0.1",
        "http://169.254.169.253",
        "http://example.com",
        "nonsense",
        "http://127.0.0.1/?x=1",
    ] {
        let e = imds_url(Some(bad)).unwrap_err();
        assert_eq!(e.kind, Kind::Usage, "{bad}");
        assert!(
            e.message.contains("AZURE_POD_IDENTITY_AUTHORITY_HOST"),
            "{bad}: {}",
            e.message
        );
    }
    let v = Variables {
        pod_identity_authority_host: some("http://127.0.0.1:9/"),
        ..Variables::default()
    };
    let e = detect(&v).unwrap();
    assert_eq!(e.url.as_str(), "http://127.0.0.1:9/metadata/identity/oauth2/token");
    assert!(e.detected_by.contains("AZURE_POD_IDENTITY_AUTHORITY_HOST"));
}

#[test]
fn thumbprints() {
    let der = b"not really a certificate";
    let hex: String = Sha1::digest(der).iter().map(|b| format!("{b:02x}")).collect();
    let t = Thumbprint::parse(&hex).unwrap();
    assert!(t.matches(der));
    assert!(!t.matches(b"another"));
    assert_eq!(Thumbprint::parse(&hex.to_uppercase()), Some(t.clone()));
    assert!(format!("{t:?}").contains(&hex.to_uppercase()));
    assert_eq!(Thumbprint::parse(&hex[..38]), None);
    assert_eq!(Thumbprint::parse(&format!("{hex}00")), None);
    assert_eq!(Thumbprint::parse("é".repeat(20).as_str()), None);
}

fn sel(kind: SelectorKind, value: &str, origin: Origin) -> Selector {
    Selector {
        kind,
        value: value.to_string(),
        origin,
    }
}
const GUID: &str = "6ef6a8a3-1c0c-4d4a-9d2c-1f1f2b3c4d5e";
const ARM_ID: &str =
    "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ci-id";

#[test]
fn selector_precedence_and_conflicts() {
    let flag_client = sel(SelectorKind::ClientId, GUID, Origin::Flag("--client-id"));
    let flag_object = sel(SelectorKind::ObjectId, GUID, Origin::Flag("--mi-object-id"));
    let env_client = sel(SelectorKind::ClientId, GUID, Origin::Env("AZURE_CLIENT_ID"));
    let profile_res = sel(SelectorKind::ResourceId, ARM_ID, Origin::Profile("ci".into()));

    assert_eq!(resolve_selector(&[vec![], vec![], vec![]]).unwrap(), None);
    assert_eq!(resolve_selector(&[]).unwrap(), None);
    // flag > env > profile
    let s = resolve_selector(&[vec![flag_object.clone()], vec![env_client.clone()], vec![]])
        .unwrap()
        .unwrap();
    assert_eq!(
        (s.kind, s.origin.clone()),
        (SelectorKind::ObjectId, Origin::Flag("--mi-object-id"))
    );
    let s = resolve_selector(&[vec![], vec![env_client.clone()], vec![profile_res.clone()]])
        .unwrap()
        .unwrap();
    assert_eq!(s.origin, Origin::Env("AZURE_CLIENT_ID"));
    let s = resolve_selector(&[vec![], vec![], vec![profile_res.clone()]])
        .unwrap()
        .unwrap();
    assert_eq!(s.label(), format!("resource_id={ARM_ID}"));
    // two at one level
    let e = resolve_selector(&[vec![flag_client, flag_object], vec![env_client]]).unwrap_err();
    assert_eq!(e.kind, Kind::Usage);
    assert!(
        e.message.contains("--client-id") && e.message.contains("--mi-object-id"),
        "{}",
        e.message
    );
}

#[test]
fn selector_values_are_checked() {
    let bad = [
        sel(SelectorKind::ClientId, "my-identity", Origin::Env("AZURE_CLIENT_ID")),
        sel(SelectorKind::ObjectId, "123", Origin::Flag("--mi-object-id")),
        sel(SelectorKind::ResourceId, "ci-id", Origin::Flag("--mi-resource-id")),
        sel(
            SelectorKind::ResourceId,
            "/subscriptions/0/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm",
            Origin::Profile("p".into()),
        ),
        sel(
            SelectorKind::ResourceId,
            &format!("{ARM_ID}&x=1"),
            Origin::Flag("--mi-resource-id"),
        ),
    ];
    for s in bad {
        let e = resolve_selector(&[vec![s.clone()]]).unwrap_err();
        assert_eq!(e.kind, Kind::Usage);
        assert!(e.message.contains(&s.origin.describe()), "{}", e.message);
    }
    let padded = sel(
        SelectorKind::ClientId,
        &format!(" {GUID} "),
        Origin::Flag("--client-id"),
    );
    assert_eq!(resolve_selector(&[vec![padded]]).unwrap().unwrap().value, GUID);
    let lower = sel(
        SelectorKind::ResourceId,
        &ARM_ID.to_lowercase(),
        Origin::Flag("--mi-resource-id"),
    );
    assert!(resolve_selector(&[vec![lower]]).is_ok());
}

#[test]
fn selector_parameter_names_per_source() {
    use SelectorKind::*;
    let names = |s: Source| [ClientId, ObjectId, ResourceId].map(|k| s.selector_parameter(k));
    assert_eq!(
        names(Source::Imds),
        [Some("client_id"), Some("object_id"), Some("msi_res_id")]
    );
    assert_eq!(
        names(Source::AppService),
        [Some("client_id"), Some("object_id"), Some("mi_res_id")]
    );
    for s in [Source::Arc, Source::CloudShell, Source::ServiceFabric] {
        assert_eq!(names(s), [None, None, None]);
        let e = check_selector(s, Some(&sel(ClientId, GUID, Origin::Env("AZURE_CLIENT_ID")))).unwrap_err();
        assert_eq!(e.kind, Kind::Usage);
        assert!(e.message.contains("takes no user-assigned identity") && e.message.contains("AZURE_CLIENT_ID"));
        assert!(e.hint.unwrap().contains("unset AZURE_CLIENT_ID"));
        assert!(check_selector(s, None).is_ok());
    }
    let e = check_selector(Source::Arc, Some(&sel(ObjectId, GUID, Origin::Flag("--mi-object-id")))).unwrap_err();
    assert!(e.hint.unwrap().contains("drop --mi-object-id"));
}

#[test]
fn resource_from_scope() {
    let scope = |s: &str| resource_for(&Audience::Scope(s.into()));
    assert_eq!(
        scope("https://graph.microsoft.com/.default").unwrap(),
        "https://graph.microsoft.com"
    );
    assert_eq!(
        scope("https://management.core.windows.net//.default").unwrap(),
        "https://management.core.windows.net/"
    );
    assert_eq!(
        scope(" https://vault.azure.net/.default ").unwrap(),
        "https://vault.azure.net"
    );
    assert_eq!(
        resource_for(&Audience::Resource("https://manage.office.com".into())).unwrap(),
        "https://manage.office.com"
    );
    for bad in [
        "",
        "https://graph.microsoft.com/User.Read",
        "/.default",
        "a/.default b/.default",
    ] {
        assert_eq!(scope(bad).unwrap_err().kind, Kind::Usage, "{bad}");
    }
    assert!(resource_for(&Audience::Resource(" ".into())).is_err());
}

#[test]
fn source_names() {
    let all = [
        Source::Imds,
        Source::AppService,
        Source::Arc,
        Source::CloudShell,
        Source::ServiceFabric,
    ];
    assert_eq!(
        all.map(Source::as_str),
        ["imds", "app-service", "arc", "cloud-shell", "service-fabric"]
    );
    for s in all {
        assert!(!s.label().is_empty());
    }
}

#[test]
fn cache_identity_names_source_and_selector_never_the_header() {
    let e = detect(&app_service()).unwrap();
    let system = cache_identity(&e, None);
    assert_eq!(
        system,
        "managed-identity:app-service:http://127.0.0.1:41741:system-assigned"
    );
    assert!(!system.contains("hdr-secret"));
    let user = cache_identity(
        &e,
        Some(&sel(SelectorKind::ClientId, GUID, Origin::Flag("--client-id"))),
    );
    assert!(user.ends_with(&format!("client_id={GUID}")));
    assert_ne!(system, user);
    let imds = detect(&Variables::default()).unwrap();
    assert_ne!(cache_identity(&imds, None), system);
}

mod replies;
mod requests;
