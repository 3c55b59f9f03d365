//! A small Microsoft Graph stand-in on the emulator's base URL: `/v1.0/users` (generated page by
//! page, so 100 000 users cost nothing), `groups`, `devices`, `/v1.0/me`, Intune `managedDevices`
//! (v1.0 and beta), Windows 365 Cloud PCs and `POST /v1.0/groups`, with Graph's bearer-token
//! checks, OData query options (`graph_query`), error bodies, `request-id` headers, paging through
//! `@odata.nextLink`/`$skiptoken`, and optional throttling.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::apis::graph_collections as gc;
use crate::apis::graph_query::{self, Query, Rules, Source};
use crate::apis::{ApiReply, ApiRequest, TokenProblem, check_bearer, has_permission, is_delegated};
use crate::clock::iso8601;
use crate::fixtures as fx;
use crate::signer::Signer;
use crate::state::Config;

/// Graph's error body.
pub(crate) fn graph_error(
    status: u16,
    code: &str,
    message: &str,
    request_id: &str,
    client_request_id: &str,
    now: u64,
) -> ApiReply {
    let date = iso8601(now as i64);
    ApiReply::json(
        status,
        json!({"error": {"code": code, "message": message, "innerError": {
            "date": date.trim_end_matches('Z'),
            "request-id": request_id,
            "client-request-id": client_request_id,
        }}}),
    )
}

/// Mutable Graph state the caller keeps (in the runtime lock).
pub(crate) struct GraphCounters<'a> {
    /// Graph requests seen so far (for `graph_throttle_every`).
    pub(crate) requests: &'a mut u64,
}

/// Handles one Graph request (path starts with `/v1.0/` or `/beta/`).
pub(crate) fn handle(req: &ApiRequest<'_>, signer: &Signer, config: &Config, counters: GraphCounters<'_>) -> ApiReply {
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = (req.header)("client-request-id")
        .filter(|v| !v.is_empty() && v.len() <= 200 && v.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or_else(|| request_id.clone());
    let err = |status: u16, code: &str, message: &str| {
        graph_error(status, code, message, &request_id, &client_request_id, req.now)
    };
    let reply = route(req, signer, config, counters, &err);
    reply
        .header("request-id", request_id.clone())
        .header("client-request-id", client_request_id.clone())
        .header("x-ms-ags-diagnostic", r#"{"ServerInfo":{"DataCenter":"entra-token emulator","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"local"}}"#)
}

fn route(
    req: &ApiRequest<'_>,
    signer: &Signer,
    config: &Config,
    counters: GraphCounters<'_>,
    err: &dyn Fn(u16, &str, &str) -> ApiReply,
) -> ApiReply {
    *counters.requests += 1;
    if config.graph_throttle_every > 0 && (*counters.requests).is_multiple_of(config.graph_throttle_every) {
        return err(
            429,
            "TooManyRequests",
            "Too many requests are being made to this resource. Please retry after the time in the Retry-After header.",
        )
        .header("retry-after", config.graph_retry_after.clone());
    }
    let claims = match check_bearer(
        (req.header)("authorization").as_deref(),
        signer,
        &[fx::GRAPH_RESOURCE, fx::GRAPH_APP_ID],
        req.now,
    ) {
        Ok(c) => c,
        Err(problem) => {
            let message = match problem {
                TokenProblem::Missing => "Access token is empty.",
                TokenProblem::Invalid => "Access token validation failure. Invalid signature or malformed token.",
                TokenProblem::Expired => "Access token has expired or is not yet valid.",
                TokenProblem::WrongAudience => "Invalid audience.",
            };
            return err(401, "InvalidAuthenticationToken", message).header(
                "www-authenticate",
                format!(
                    r#"Bearer realm="", authorization_uri="{}/common/oauth2/authorize", client_id="{}""#,
                    req.origin,
                    fx::GRAPH_APP_ID
                ),
            );
        }
    };
    let segments: Vec<&str> = req
        .path
        .trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .collect();
    let version = segments.first().copied().unwrap_or("v1.0");
    let denied = || {
        err(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    };
    match (req.method, &segments[1..]) {
        ("GET", ["users"]) if version == "v1.0" || version == "beta" => {
            if !has_permission(&claims, &["User.Read.All", "Directory.Read.All"]) {
                return denied();
            }
            let foreign = config.foreign_next_link.as_deref();
            let users = gc::Users(config.user_count);
            list(req, &gc::USERS, &users, "users", "users", version, foreign, err)
        }
        ("GET", [set @ ("users" | "groups" | "devices"), "$count"]) => {
            let readers: &[&str] = match *set {
                "users" => &["User.Read.All", "Directory.Read.All"],
                "groups" => &["Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All"],
                _ => &["Device.Read.All", "Directory.Read.All"],
            };
            if !has_permission(&claims, readers) {
                return denied();
            }
            count_segment(req, config, set, err)
        }
        ("GET", ["groups"]) => {
            if !has_permission(
                &claims,
                &["Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All"],
            ) {
                return denied();
            }
            let groups = gc::groups();
            list(req, &gc::GROUPS, &groups, "groups", "groups", version, None, err)
        }
        ("GET", ["devices"]) => {
            if !has_permission(&claims, &["Device.Read.All", "Directory.Read.All"]) {
                return denied();
            }
            let devices = gc::EntraDevices {
                count: config.device_count,
                now: req.now,
            };
            list(
                req,
                &gc::DEVICES,
                &devices,
                "entra-devices",
                "devices",
                version,
                None,
                err,
            )
        }
        ("GET", ["deviceManagement", "virtualEndpoint", "cloudPCs"]) => {
            if !has_permission(&claims, &["CloudPC.Read.All", "CloudPC.ReadWrite.All"]) {
                return err(
                    403,
                    "Forbidden",
                    "Application is not authorized to perform this operation. Application must have one of the following scopes: CloudPC.Read.All, CloudPC.ReadWrite.All",
                );
            }
            let pcs = gc::cloud_pcs(req.now);
            list(
                req,
                &gc::CLOUD_PCS,
                &pcs,
                "cloudpcs",
                "deviceManagement/virtualEndpoint/cloudPCs",
                version,
                None,
                err,
            )
        }
        ("GET", ["me"]) => {
            if !is_delegated(&claims) {
                return err(
                    400,
                    "BadRequest",
                    "/me request is only valid with delegated authentication flow.",
                );
            }
            let oid = claims.get("oid").and_then(Value::as_str).unwrap_or("");
            match user_by_id(oid) {
                Some(mut u) => {
                    u["@odata.context"] = json!(format!("{}/{version}/$metadata#users/$entity", req.origin));
                    ApiReply::json(200, u)
                }
                None => err(
                    404,
                    "Request_ResourceNotFound",
                    &format!(
                        "Resource '{oid}' does not exist or one of its queried reference-property objects are not present."
                    ),
                ),
            }
        }
        ("GET", ["deviceManagement", "managedDevices"]) => {
            if !has_permission(
                &claims,
                &[
                    "DeviceManagementManagedDevices.Read.All",
                    "DeviceManagementManagedDevices.ReadWrite.All",
                ],
            ) {
                return err(
                    403,
                    "Forbidden",
                    "Application is not authorized to perform this operation. Application must have one of the following scopes: DeviceManagementManagedDevices.Read.All, DeviceManagementManagedDevices.ReadWrite.All",
                );
            }
            intune_devices(req, config, version, err)
        }
        ("POST", ["groups"]) => {
            if !has_permission(
                &claims,
                &["Group.ReadWrite.All", "Directory.ReadWrite.All", "Group.Create"],
            ) {
                return denied();
            }
            let tid = claims.get("tid").and_then(Value::as_str).unwrap_or(fx::TENANT_ID);
            create_group(req, tid, version, err)
        }
        (
            _,
            ["users" | "me" | "groups" | "devices"]
            | ["deviceManagement", "managedDevices"]
            | ["deviceManagement", "virtualEndpoint", "cloudPCs"],
        ) => err(
            405,
            "Request_BadRequest",
            &format!(
                "The HTTP method '{}' is not supported on this resource in the emulator.",
                req.method
            ),
        ),
        (_, [first, ..]) => err(
            400,
            "BadRequest",
            &format!("Resource not found for the segment '{first}'."),
        ),
        (_, []) => err(400, "BadRequest", "Invalid request."),
    }
}

// ---- paging --------------------------------------------------------------------------------

fn encode_skiptoken(kind: &str, offset: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{offset}"))
}

fn decode_skiptoken(kind: &str, token: &str) -> Option<u64> {
    let raw = URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).ok()?;
    let text = String::from_utf8(raw).ok()?;
    text.strip_prefix(kind)?.strip_prefix(':')?.parse().ok()
}

/// The next-page link: the request's own query options with `$skiptoken` replaced.
fn next_link(req: &ApiRequest<'_>, token: &str) -> String {
    let mut out = format!("{}{}?", req.origin, req.path);
    let mut first = true;
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    for (k, v) in req.params() {
        if k.eq_ignore_ascii_case("$skiptoken") {
            continue;
        }
        if !first {
            out.push('&');
        }
        first = false;
        out.push_str(&enc(&k).replace("%24", "$"));
        out.push('=');
        out.push_str(&enc(&v));
    }
    if !first {
        out.push('&');
    }
    out.push_str("$skiptoken=");
    out.push_str(token);
    out
}

/// The offset from `$skiptoken`, or a Graph error.
fn offset(req: &ApiRequest<'_>, kind: &str, err: &dyn Fn(u16, &str, &str) -> ApiReply) -> Result<u64, ApiReply> {
    match req.param("$skiptoken") {
        None => Ok(0),
        Some(t) => decode_skiptoken(kind, &t).ok_or_else(|| {
            err(
                400,
                "Directory_ExpiredPageToken",
                "The specified page token value has expired and can no longer be included in your request.",
            )
        }),
    }
}

// ---- users ---------------------------------------------------------------------------------

/// User `i` of the home tenant (0 is the admin who signs in).
pub(crate) fn user(i: u64) -> Value {
    if i == 0 {
        return json!({
            "businessPhones": [], "displayName": "Contoso Admin", "givenName": "Contoso", "surname": "Admin",
            "jobTitle": "Global Administrator", "mail": fx::ADMIN_UPN, "mobilePhone": null,
            "officeLocation": null, "preferredLanguage": "en-US",
            "userPrincipalName": fx::ADMIN_UPN, "id": fx::ADMIN_USER_ID,
        });
    }
    let upn = format!("user{i:06}@{}", fx::TENANT_DOMAIN);
    json!({
        "businessPhones": [], "displayName": format!("User {i:06}"), "givenName": "User", "surname": format!("{i:06}"),
        "jobTitle": if i.is_multiple_of(3) { Value::from("Engineer") } else { Value::Null }, "mail": upn, "mobilePhone": null,
        "officeLocation": null, "preferredLanguage": "en-US",
        "userPrincipalName": upn, "id": format!("5e3a0000-0000-4000-8000-{i:012}"),
    })
}

/// Finds a fixture user by object id (the admins, or a generated user's id).
pub(crate) fn user_by_id(oid: &str) -> Option<Value> {
    if oid.eq_ignore_ascii_case(fx::ADMIN_USER_ID) {
        return Some(user(0));
    }
    if oid.eq_ignore_ascii_case(fx::OTHER_ADMIN_USER_ID) {
        return Some(json!({
            "businessPhones": [], "displayName": "Fabrikam Admin", "givenName": "Fabrikam", "surname": "Admin",
            "jobTitle": "Global Administrator", "mail": fx::OTHER_ADMIN_UPN, "mobilePhone": null,
            "officeLocation": null, "preferredLanguage": "en-US",
            "userPrincipalName": fx::OTHER_ADMIN_UPN, "id": fx::OTHER_ADMIN_USER_ID,
        }));
    }
    let n: u64 = oid.strip_prefix("5e3a0000-0000-4000-8000-")?.parse().ok()?;
    (n > 0).then(|| user(n))
}

/// `ConsistencyLevel: eventual` (Graph's advanced queries).
fn eventual(req: &ApiRequest<'_>) -> bool {
    (req.header)("consistencylevel").is_some_and(|c| c.trim().eq_ignore_ascii_case("eventual"))
}

/// One page of a collection with the request's OData query options (`$filter`, `$select`,
/// `$orderby`, `$top`, `$count`) applied; `kind` names the collection in its `$skiptoken`s,
/// `entity_set` is the `@odata.context` path. `foreign` (users only): a next link to put on the
/// first page instead of the emulator's own.
#[allow(clippy::too_many_arguments)]
fn list(
    req: &ApiRequest<'_>,
    rules: &Rules,
    src: &dyn Source,
    kind: &str,
    entity_set: &str,
    version: &str,
    foreign: Option<&str>,
    err: &dyn Fn(u16, &str, &str) -> ApiReply,
) -> ApiReply {
    let q = match graph_query::parse(&req.params(), eventual(req), rules) {
        Ok(q) => q,
        Err(e) => return err(e.status, e.code, &e.message),
    };
    page_reply(req, rules, src, &q, kind, entity_set, version, foreign, err)
}

#[allow(clippy::too_many_arguments)]
fn page_reply(
    req: &ApiRequest<'_>,
    rules: &Rules,
    src: &dyn Source,
    q: &Query,
    kind: &str,
    entity_set: &str,
    version: &str,
    foreign: Option<&str>,
    err: &dyn Fn(u16, &str, &str) -> ApiReply,
) -> ApiReply {
    let start = match offset(req, kind, err) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let page = graph_query::run(src, q, rules, start, q.page_size(rules));
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(format!("{}/{version}/$metadata#{}", req.origin, q.context(entity_set))),
    );
    if let Some(n) = page.count {
        body.insert("@odata.count".into(), json!(n));
    }
    let next = match (start, foreign) {
        (0, Some(link)) => Some(link.to_string()),
        _ => page.next.map(|n| next_link(req, &encode_skiptoken(kind, n))),
    };
    if let Some(n) = next {
        body.insert("@odata.nextLink".into(), json!(n));
    }
    body.insert("value".into(), Value::Array(page.items));
    ApiReply::json(200, Value::Object(body))
}

/// `GET /users/$count` (and groups, devices): the number as plain text; an advanced query, so
/// without `ConsistencyLevel: eventual` Graph's `Request_BadRequest`.
fn count_segment(
    req: &ApiRequest<'_>,
    config: &Config,
    set: &str,
    err: &dyn Fn(u16, &str, &str) -> ApiReply,
) -> ApiReply {
    if !eventual(req) {
        return err(400, "Request_BadRequest", "$count is not currently supported.");
    }
    let groups;
    let users = gc::Users(config.user_count);
    let devices = gc::EntraDevices {
        count: config.device_count,
        now: req.now,
    };
    let (rules, src): (&Rules, &dyn Source) = match set {
        "users" => (&gc::USERS, &users),
        "groups" => {
            groups = gc::groups();
            (&gc::GROUPS, &groups)
        }
        _ => (&gc::DEVICES, &devices),
    };
    // `$count` is implied by the segment; `$filter` narrows what is counted
    let mut params = req.params();
    params.retain(|(k, _)| !k.eq_ignore_ascii_case("$count"));
    params.push(("$count".into(), "true".into()));
    let q = match graph_query::parse(&params, true, rules) {
        Ok(q) => q,
        Err(e) => return err(e.status, e.code, &e.message),
    };
    let n = graph_query::run(src, &q, rules, 0, 1).count.unwrap_or(0);
    ApiReply::json(200, json!(n)).header("content-type", "text/plain")
}

// ---- Intune --------------------------------------------------------------------------------

const OS: &[(&str, &str)] = &[
    ("Windows", "10.0.22631.3447"),
    ("iOS", "17.4.1"),
    ("Android", "14"),
    ("macOS", "14.4.1"),
];

/// Managed device `i`.
pub(crate) fn device(i: u64, now: u64) -> Value {
    let (os, ver) = OS[(i % OS.len() as u64) as usize];
    let prefix = match os {
        "Windows" => "DESKTOP",
        "macOS" => "MAC",
        _ => "PHONE",
    };
    json!({
        "@odata.type": "#microsoft.graph.managedDevice",
        "id": format!("d3b1ce00-0000-4000-8000-{i:012}"),
        "userId": if i % 5 == 4 { Value::Null } else { json!(fx::ADMIN_USER_ID) },
        "deviceName": format!("{prefix}-{i:05}"),
        "managedDeviceOwnerType": if i.is_multiple_of(7) { "personal" } else { "company" },
        "enrolledDateTime": iso8601(now.saturating_sub(86_400 * (30 + i % 300)) as i64),
        "lastSyncDateTime": iso8601(now.saturating_sub(3_600 * (i % 48)) as i64),
        "operatingSystem": os,
        "osVersion": ver,
        "complianceState": if i % 10 == 9 { "noncompliant" } else { "compliant" },
        "managementAgent": "mdm",
        "userPrincipalName": if i % 5 == 4 { "" } else { fx::ADMIN_UPN },
        "serialNumber": format!("SN{i:08}"),
        "azureADDeviceId": format!("ad000000-0000-4000-8000-{i:012}"),
    })
}

/// Intune managed devices: pages of 50 by default; a larger `$top` is a retryable 503 rather
/// than a 400, as Microsoft's Intune documentation warns for large pages.
fn intune_devices(
    req: &ApiRequest<'_>,
    config: &Config,
    version: &str,
    err: &dyn Fn(u16, &str, &str) -> ApiReply,
) -> ApiReply {
    let q = match graph_query::parse(&req.params(), eventual(req), &gc::MANAGED_DEVICES) {
        Ok(q) => q,
        Err(e) => return err(e.status, e.code, &e.message),
    };
    if q.top.is_some_and(|t| t > gc::INTUNE_MAX_PAGE) {
        return err(
            503,
            "ServiceUnavailable",
            &format!(
                "The service is temporarily unavailable: page sizes above {} are not served. Retry with a smaller $top.",
                gc::INTUNE_MAX_PAGE
            ),
        )
        .header("retry-after", config.intune_retry_after.clone());
    }
    let devices = gc::ManagedDevices {
        count: config.device_count,
        now: req.now,
    };
    page_reply(
        req,
        &gc::MANAGED_DEVICES,
        &devices,
        &q,
        "devices",
        "deviceManagement/managedDevices",
        version,
        None,
        err,
    )
}

// ---- groups --------------------------------------------------------------------------------

fn create_group(req: &ApiRequest<'_>, tid: &str, version: &str, err: &dyn Fn(u16, &str, &str) -> ApiReply) -> ApiReply {
    let Ok(Value::Object(input)) = serde_json::from_slice::<Value>(req.body) else {
        return err(
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        );
    };
    for (field, want_bool) in [
        ("displayName", false),
        ("mailNickname", false),
        ("mailEnabled", true),
        ("securityEnabled", true),
    ] {
        let ok = match input.get(field) {
            Some(Value::String(s)) if !want_bool => !s.trim().is_empty(),
            Some(Value::Bool(_)) => want_bool,
            _ => false,
        };
        if !ok {
            return err(
                400,
                "Request_BadRequest",
                &format!("Invalid value specified for property '{field}' of resource 'Group'."),
            );
        }
    }
    let id = uuid::Uuid::new_v4().to_string();
    let now = iso8601(req.now as i64);
    let mut group = json!({
        "@odata.context": format!("{}/{version}/$metadata#groups/$entity", req.origin),
        "id": id,
        "createdDateTime": now,
        "renewedDateTime": now,
        "deletedDateTime": null,
        "description": null,
        "groupTypes": [],
        "mail": null,
        "proxyAddresses": [],
        "securityIdentifier": format!("S-1-12-1-{}", req.now),
        "visibility": null,
    });
    for (k, v) in input {
        if !k.starts_with('@') && k != "id" {
            group[k.as_str()] = v;
        }
    }
    let location = format!(
        "{}/v2/{tid}/directoryObjects/{id}/Microsoft.DirectoryServices.Group",
        req.origin
    );
    ApiReply::json(201, group).header("location", location)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skiptokens_round_trip_and_reject_garbage() {
        let t = encode_skiptoken("users", 300);
        assert_eq!(decode_skiptoken("users", &t), Some(300));
        assert_eq!(decode_skiptoken("devices", &t), None);
        assert_eq!(decode_skiptoken("users", "!!"), None);
        assert_eq!(decode_skiptoken("users", ""), None);
    }

    #[test]
    fn users_are_generated_consistently() {
        assert_eq!(user(0)["id"], fx::ADMIN_USER_ID);
        let u = user(99_999);
        assert_eq!(u["userPrincipalName"], "user099999@contoso.onmicrosoft.com");
        assert_eq!(user_by_id(u["id"].as_str().unwrap()), Some(u));
        assert!(user_by_id("nope").is_none());
        assert!(user_by_id(fx::OTHER_ADMIN_USER_ID).is_some());
    }
}
