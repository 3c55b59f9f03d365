//! `api` without I/O: which token scope a host takes (Graph, Office 365 Management Activity API,
//! Azure Resource Manager, in every cloud), what a service's error reply says (Graph's
//! `error.code`/`message`/`innerError`, the Management API's `AFnnnnn` codes, ASP.NET's
//! `Message`), and a hint for a 401 or 403
//! (<https://learn.microsoft.com/en-us/graph/errors>,
//! <https://learn.microsoft.com/en-us/office/office-365-management-api/troubleshooting-the-office-365-management-activity-api>).

use serde_json::Value;
use url::Url;

/// The kind of API a host belongs to (for scopes and hints).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ApiKind {
    Graph,
    Management,
    ResourceManager,
}

impl ApiKind {
    pub(crate) fn label(self) -> &'static str {
        match self {
            ApiKind::Graph => "Microsoft Graph",
            ApiKind::Management => "the Office 365 Management Activity API",
            ApiKind::ResourceManager => "Azure Resource Manager",
        }
    }
}

/// Known resource hosts and the resource (v2 scope without `/.default`) their tokens are for.
const KNOWN_HOSTS: &[(&str, ApiKind, &str)] = &[
    ("graph.microsoft.com", ApiKind::Graph, "https://graph.microsoft.com"),
    ("graph.microsoft.us", ApiKind::Graph, "https://graph.microsoft.us"),
    (
        "dod-graph.microsoft.us",
        ApiKind::Graph,
        "https://dod-graph.microsoft.us",
    ),
    (
        "microsoftgraph.chinacloudapi.cn",
        ApiKind::Graph,
        "https://microsoftgraph.chinacloudapi.cn",
    ),
    ("manage.office.com", ApiKind::Management, "https://manage.office.com"),
    (
        "manage-gcc.office.com",
        ApiKind::Management,
        "https://manage-gcc.office.com",
    ),
    (
        "manage.office365.us",
        ApiKind::Management,
        "https://manage.office365.us",
    ),
    ("manage.office.cn", ApiKind::Management, "https://manage.office.cn"),
    (
        "manage.protection.apps.mil",
        ApiKind::Management,
        "https://manage.protection.apps.mil",
    ),
    (
        "management.azure.com",
        ApiKind::ResourceManager,
        "https://management.azure.com",
    ),
    (
        "management.usgovcloudapi.net",
        ApiKind::ResourceManager,
        "https://management.usgovcloudapi.net",
    ),
    (
        "management.chinacloudapi.cn",
        ApiKind::ResourceManager,
        "https://management.chinacloudapi.cn",
    ),
];

/// The API kind and app-only scope for `url`: a known host (https, default port), or the origin
/// of `--graph-url`, which counts as Graph with `graph_scope` (the cloud's Graph `/.default`).
/// `None`: an unknown host, which needs an explicit `--scope`.
pub(crate) fn infer_scope(url: &Url, graph_base: &Url, graph_scope: &str) -> Option<(ApiKind, String)> {
    if url.scheme() == "https" && url.port().is_none() {
        let host = url.host_str()?.trim_end_matches('.').to_ascii_lowercase();
        if let Some((_, kind, resource)) = KNOWN_HOSTS.iter().find(|(h, _, _)| *h == host) {
            return Some((*kind, format!("{resource}/.default")));
        }
    }
    (url.origin() == graph_base.origin()).then(|| (ApiKind::Graph, graph_scope.to_string()))
}

/// The API kind of a URL by its host alone (for messages), `--graph-url` counting as Graph.
pub(crate) fn kind_of(url: &Url, graph_base: &Url) -> Option<ApiKind> {
    infer_scope(url, graph_base, "").map(|(k, _)| k)
}

/// The API kind a scope is for (`https://manage.office.com/.default` → Management), so a URL on
/// an unknown host (a proxy, the emulator) called with `--scope` is still named well.
pub(crate) fn kind_of_scope(scope: &str) -> Option<ApiKind> {
    let resource = scope.split_whitespace().next()?.trim_end_matches("/.default");
    let url = Url::parse(resource).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    KNOWN_HOSTS.iter().find(|(h, _, _)| *h == host).map(|(_, k, _)| *k)
}

/// What a service said in an error reply.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ServiceError {
    pub(crate) code: Option<String>,
    pub(crate) message: Option<String>,
    pub(crate) request_id: Option<String>,
}

impl ServiceError {
    /// Parses `{"error":{"code","message","innerError":{"request-id"}}}` (Graph, ARM, the
    /// Management API's `AF…` codes), ASP.NET's `{"Message":...}`, or OData's
    /// `{"error":{"message":{"value":...}}}`. `header` looks up a response header; its
    /// `request-id` (or `x-ms-request-id`) wins over the body's.
    pub(crate) fn parse(body: &[u8], header: impl Fn(&str) -> Option<String>) -> ServiceError {
        let mut out = ServiceError::default();
        if let Ok(v) = serde_json::from_slice::<Value>(body) {
            let err = v.get("error").filter(|e| e.is_object());
            let text = |x: Option<&Value>| -> Option<String> {
                match x? {
                    Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
                    Value::Object(o) => o.get("value").and_then(Value::as_str).map(|s| s.trim().to_string()),
                    _ => None,
                }
            };
            if let Some(e) = err {
                out.code = text(e.get("code"));
                out.message = text(e.get("message"));
                let inner = e.get("innerError").or_else(|| e.get("innererror"));
                out.request_id = inner.and_then(|i| text(i.get("request-id")));
            } else {
                out.code = text(v.get("code"));
                out.message = text(v.get("Message")).or_else(|| text(v.get("message")));
            }
        } else {
            let text = String::from_utf8_lossy(body);
            let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
            if first.starts_with('<') {
                out.message = Some("(an HTML page, not a JSON error: a proxy or gateway may have answered)".into());
            } else if !first.is_empty() {
                let cut: String = first.chars().take(200).collect();
                out.message = Some(cut);
            }
        }
        if let Some(id) = header("request-id").or_else(|| header("x-ms-request-id")) {
            out.request_id = Some(id);
        }
        out
    }
}

/// The application permission a 403 most likely lacks, from the method and path.
pub(crate) fn missing_permission(method: &str, url: &Url) -> Option<&'static str> {
    let path = url.path().to_ascii_lowercase();
    let read = matches!(method, "GET" | "HEAD");
    let has = |seg: &str| path.split('/').any(|s| s == seg);
    if path.contains("/activity/feed/") {
        return Some("ActivityFeed.Read (Office 365 Management APIs)");
    }
    if path.contains("/devicemanagement/manageddevices") {
        return Some(if read {
            "DeviceManagementManagedDevices.Read.All"
        } else {
            "DeviceManagementManagedDevices.ReadWrite.All"
        });
    }
    if has("groups") {
        return Some(if read { "Group.Read.All" } else { "Group.ReadWrite.All" });
    }
    if has("users") || has("me") {
        return Some(if read { "User.Read.All" } else { "User.ReadWrite.All" });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn scopes_by_host() {
        let graph = u("https://graph.microsoft.com");
        let g = "https://graph.microsoft.com/.default";
        let cases = [
            ("https://graph.microsoft.com/v1.0/users", Some(g)),
            ("https://GRAPH.microsoft.com/v1.0/users", Some(g)),
            (
                "https://graph.microsoft.us/v1.0/users",
                Some("https://graph.microsoft.us/.default"),
            ),
            (
                "https://dod-graph.microsoft.us/v1.0/x",
                Some("https://dod-graph.microsoft.us/.default"),
            ),
            (
                "https://microsoftgraph.chinacloudapi.cn/v1.0/x",
                Some("https://microsoftgraph.chinacloudapi.cn/.default"),
            ),
            (
                "https://manage.office.com/api/v1.0/t/activity/feed/x",
                Some("https://manage.office.com/.default"),
            ),
            (
                "https://manage-gcc.office.com/api",
                Some("https://manage-gcc.office.com/.default"),
            ),
            (
                "https://manage.office365.us/api",
                Some("https://manage.office365.us/.default"),
            ),
            (
                "https://manage.protection.apps.mil/api",
                Some("https://manage.protection.apps.mil/.default"),
            ),
            (
                "https://management.azure.com/subscriptions",
                Some("https://management.azure.com/.default"),
            ),
            (
                "https://management.usgovcloudapi.net/x",
                Some("https://management.usgovcloudapi.net/.default"),
            ),
            (
                "https://management.chinacloudapi.cn/x",
                Some("https://management.chinacloudapi.cn/.default"),
            ),
            ("https://graph.microsoft.com:8443/v1.0/users", None),
            ("https://graph.microsoft.com.evil.example/v1.0", None),
            ("https://vault.azure.net/secrets", None),
            ("http://127.0.0.1:9/v1.0/users", None),
        ];
        for (url, want) in cases {
            let got = infer_scope(&u(url), &graph, g).map(|(_, s)| s);
            assert_eq!(got.as_deref(), want, "{url}");
        }
        let emu = u("http://127.0.0.1:8080/");
        let got = infer_scope(&u("http://127.0.0.1:8080/v1.0/users"), &emu, g).unwrap();
        assert_eq!(got, (ApiKind::Graph, g.to_string()));
        assert!(infer_scope(&u("http://127.0.0.1:8081/v1.0/users"), &emu, g).is_none());
        assert_eq!(
            kind_of(&u("https://manage.office.com/x"), &graph),
            Some(ApiKind::Management)
        );
    }

    #[test]
    fn service_errors() {
        let graph = br#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation.","innerError":{"date":"2026-01-01T00:00:00","request-id":"body-id","client-request-id":"c"}}}"#;
        let e = ServiceError::parse(graph, |_| None);
        assert_eq!(e.code.as_deref(), Some("Authorization_RequestDenied"));
        assert_eq!(e.request_id.as_deref(), Some("body-id"));
        let e = ServiceError::parse(graph, |h| (h == "request-id").then(|| "hdr-id".to_string()));
        assert_eq!(e.request_id.as_deref(), Some("hdr-id"));
        let af = br#"{"error":{"code":"AF20022","message":"No subscription found for the specified content type."}}"#;
        assert_eq!(ServiceError::parse(af, |_| None).code.as_deref(), Some("AF20022"));
        let asp = br#"{"Message":"Authorization has been denied for this request."}"#;
        let e = ServiceError::parse(asp, |_| None);
        assert_eq!(
            (e.code, e.message.as_deref()),
            (None, Some("Authorization has been denied for this request."))
        );
        let odata = br#"{"error":{"code":"-1","message":{"lang":"en-US","value":"Bad thing"}}}"#;
        assert_eq!(
            ServiceError::parse(odata, |_| None).message.as_deref(),
            Some("Bad thing")
        );
        let html = ServiceError::parse(b"\n<!DOCTYPE html><html>", |_| None);
        assert!(html.message.unwrap().contains("HTML"));
        assert_eq!(ServiceError::parse(b"", |_| None), ServiceError::default());
    }

    #[test]
    fn permission_hints() {
        let p = |m: &str, s: &str| missing_permission(m, &u(s));
        assert_eq!(
            p("GET", "https://graph.microsoft.com/v1.0/users?$top=5"),
            Some("User.Read.All")
        );
        assert_eq!(
            p("POST", "https://graph.microsoft.com/v1.0/groups"),
            Some("Group.ReadWrite.All")
        );
        assert_eq!(
            p(
                "GET",
                "https://graph.microsoft.com/beta/deviceManagement/managedDevices"
            ),
            Some("DeviceManagementManagedDevices.Read.All")
        );
        assert!(
            p(
                "GET",
                "https://manage.office.com/api/v1.0/t/activity/feed/subscriptions/content"
            )
            .unwrap()
            .starts_with("ActivityFeed.Read")
        );
        assert_eq!(p("GET", "https://graph.microsoft.com/v1.0/sites"), None);
    }
}
