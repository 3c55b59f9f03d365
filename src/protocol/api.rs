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

/// [`route`] with Graph's base only: the API kind and app-only scope for `url`, a known host
/// (https, default port) or the origin of `graph_base`, which counts as Graph with `graph_scope`.
#[cfg(test)]
pub(crate) fn infer_scope(url: &Url, graph_base: &Url, graph_scope: &str) -> Option<(ApiKind, String)> {
    let graph = ServiceBase {
        kind: ApiKind::Graph,
        base: graph_base.clone(),
        resource: graph_scope.trim_end_matches("/.default").to_string(),
        overridden: false,
    };
    route(url, &[graph]).1
}

/// Whether `url` is a Management Activity API path (`/api/v1.0/{tenant}/activity/feed/...`),
/// wherever it is served (for messages: such a path is named as that API).
pub(crate) fn is_management_path(url: &Url) -> bool {
    let Some(mut segments) = url.path_segments() else {
        return false;
    };
    segments.next() == Some("api")
        && matches!(segments.next(), Some("v1.0" | "v1"))
        && segments.next().is_some()
        && segments.next() == Some("activity")
        && segments.next() == Some("feed")
}

/// The API kind of a URL by its host alone, `graph_base` counting as Graph.
#[cfg(test)]
fn kind_of(url: &Url, graph_base: &Url) -> Option<ApiKind> {
    if is_management_path(url) {
        return Some(ApiKind::Management);
    }
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

/// One service's base URL: the cloud's own, or an override (`--graph-url`, `--management-url`,
/// `--arm-url` or their variables, e.g. the emulator) that takes the service's relative paths and
/// its URLs on the real hosts, while the token keeps the real audience (`resource`).
#[derive(Debug, Clone)]
pub(crate) struct ServiceBase {
    pub(crate) kind: ApiKind,
    pub(crate) base: Url,
    /// The resource its tokens are for, e.g. `https://graph.microsoft.com` (the cloud's).
    pub(crate) resource: String,
    pub(crate) overridden: bool,
}

/// Where `url` goes and, when its service is known, the service and the token scope. A URL on a
/// known host whose service is overridden is rebased onto the override (same path and query);
/// a URL on an override's origin is that service's (when several overrides share an origin,
/// as the emulator's do, the path decides: `/api/` is the Management API, `/subscriptions`,
/// `/providers`, `/tenants` are ARM, the rest Graph). `None`: an unknown host, which needs an
/// explicit `--scope`.
pub(crate) fn route(url: &Url, bases: &[ServiceBase]) -> (Url, Option<(ApiKind, String)>) {
    let scope = |resource: &str| format!("{}/.default", resource.trim_end_matches('/'));
    if url.scheme() == "https" && url.port().is_none() {
        let host = url.host_str().unwrap_or("").trim_end_matches('.').to_ascii_lowercase();
        if let Some((_, kind, resource)) = KNOWN_HOSTS.iter().find(|(h, _, _)| *h == host) {
            let target = Some((*kind, scope(resource)));
            return match bases.iter().find(|b| b.kind == *kind && b.overridden) {
                Some(b) => (rebase(url, &b.base), target),
                None => (url.clone(), target),
            };
        }
    }
    let at_origin: Vec<&ServiceBase> = bases.iter().filter(|b| b.base.origin() == url.origin()).collect();
    let by_path = || {
        let path = url.path().to_ascii_lowercase();
        let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
        let kind = match first {
            "api" => ApiKind::Management,
            "subscriptions" | "providers" | "tenants" => ApiKind::ResourceManager,
            _ => ApiKind::Graph,
        };
        at_origin.iter().find(|b| b.kind == kind).copied()
    };
    let chosen = match at_origin.as_slice() {
        [] => None,
        [one] => Some(*one),
        [first, ..] => Some(by_path().unwrap_or(*first)),
    };
    let target = chosen.map(|b| (b.kind, scope(&b.resource)));
    (url.clone(), target)
}

/// `url`'s path and query under `base` (its scheme, host, port and path prefix).
fn rebase(url: &Url, base: &Url) -> Url {
    let mut out = base.clone();
    let prefix = base.path().trim_end_matches('/');
    out.set_path(&format!("{prefix}{}", url.path()));
    out.set_query(url.query());
    out
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
                // sanitized and redacted before the cut: no beginning of a secret survives it
                let mut end = first.len().min(4096);
                while !first.is_char_boundary(end) {
                    end -= 1;
                }
                let clean = crate::sanitize::line(&first[..end]);
                let clean = if end < first.len() {
                    crate::log::redact_cut_text(&clean)
                } else {
                    crate::log::redact_text(&clean)
                };
                out.message = Some(clean.chars().take(200).collect());
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
    fn overrides_take_the_real_hosts_urls_and_keep_the_real_audience() {
        let emu = u("http://127.0.0.1:8080");
        let base = |kind, resource: &str, overridden| ServiceBase {
            kind,
            base: if overridden { emu.clone() } else { u(resource) },
            resource: resource.to_string(),
            overridden,
        };
        let all = [
            base(ApiKind::Graph, "https://graph.microsoft.com", true),
            base(ApiKind::Management, "https://manage.office.com", true),
            base(ApiKind::ResourceManager, "https://management.azure.com", true),
        ];
        let cases = [
            (
                "https://graph.microsoft.com/v1.0/users?$top=2",
                "http://127.0.0.1:8080/v1.0/users?$top=2",
                ApiKind::Graph,
                "https://graph.microsoft.com/.default",
            ),
            (
                "https://manage.office.com/api/v1.0/t/activity/feed/subscriptions/list",
                "http://127.0.0.1:8080/api/v1.0/t/activity/feed/subscriptions/list",
                ApiKind::Management,
                "https://manage.office.com/.default",
            ),
            (
                "http://127.0.0.1:8080/api/v1.0/t/activity/feed/subscriptions/list",
                "http://127.0.0.1:8080/api/v1.0/t/activity/feed/subscriptions/list",
                ApiKind::Management,
                "https://manage.office.com/.default",
            ),
            (
                "http://127.0.0.1:8080/subscriptions?api-version=2022-12-01",
                "http://127.0.0.1:8080/subscriptions?api-version=2022-12-01",
                ApiKind::ResourceManager,
                "https://management.azure.com/.default",
            ),
            (
                "http://127.0.0.1:8080/beta/deviceManagement/managedDevices",
                "http://127.0.0.1:8080/beta/deviceManagement/managedDevices",
                ApiKind::Graph,
                "https://graph.microsoft.com/.default",
            ),
        ];
        for (asked, sent, kind, scope) in cases {
            let (url, target) = route(&u(asked), &all);
            assert_eq!(url.as_str(), sent, "{asked}");
            assert_eq!(target, Some((kind, scope.to_string())), "{asked}");
        }
        // only Management overridden: Graph's real host stays where it is
        let some = [
            base(ApiKind::Graph, "https://graph.microsoft.com", false),
            base(ApiKind::Management, "https://manage.office.com", true),
        ];
        let (url, _) = route(&u("https://graph.microsoft.com/v1.0/users"), &some);
        assert_eq!(url.as_str(), "https://graph.microsoft.com/v1.0/users");
        let (url, target) = route(&u("http://127.0.0.1:8080/v1.0/users"), &some);
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/v1.0/users");
        assert_eq!(target.map(|t| t.0), Some(ApiKind::Management), "the only service there");
        // a base with a path prefix keeps it
        let prefixed = [ServiceBase {
            kind: ApiKind::Graph,
            base: u("http://localhost:9/graph/"),
            resource: "https://graph.microsoft.com".into(),
            overridden: true,
        }];
        let (url, _) = route(&u("https://graph.microsoft.com/v1.0/me"), &prefixed);
        assert_eq!(url.as_str(), "http://localhost:9/graph/v1.0/me");
        // another port on the same host is not the override
        assert_eq!(route(&u("http://127.0.0.1:8081/v1.0/users"), &all).1, None);
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

    #[test]
    fn non_json_error_text_is_redacted_before_it_is_cut() {
        crate::log::register_secret("Api-Echo-Secret-abcdef");
        let body = format!("{}Api-Echo-Secret-abcdef and more", "y".repeat(190));
        let found = ServiceError::parse(body.as_bytes(), |_| None);
        let m = found.message.unwrap();
        assert!(!m.contains("Api-Echo") && m.starts_with(&"y".repeat(190)), "{m}");
        let found = ServiceError::parse(b"\x1b]0;t\x07gateway \x1b[31mdown", |_| None);
        assert_eq!(found.message.as_deref(), Some("gateway down"));
    }
}
