//! Managed identity token endpoints as functions of the query, the headers and the clock: the
//! Azure Instance Metadata Service (`GET /metadata/identity/oauth2/token`), App Service
//! (`GET /msi/token`, `X-IDENTITY-HEADER`), Azure Arc (`GET /arc/metadata/identity/oauth2/token`,
//! with its `WWW-Authenticate: Basic realm=KEYFILE` challenge), Cloud Shell
//! (`POST /cloudshell/token`) and Service Fabric (`GET /servicefabric/token`, header `secret`).
//! The emulated machine has a system-assigned identity and one user-assigned identity, named by
//! `client_id`, `object_id` or `msi_res_id` (`mi_res_id` for App Service). Reply shapes as
//! documented at
//! <https://learn.microsoft.com/entra/identity/managed-identities-azure-resources/how-to-use-vm-token>,
//! <https://learn.microsoft.com/azure/app-service/overview-managed-identity#rest-endpoint-reference>
//! and <https://learn.microsoft.com/azure/azure-arc/servers/managed-identity-authentication>.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

use crate::fixtures;

/// One managed identity the emulated VM has.
struct Identity {
    client_id: &'static str,
    object_id: &'static str,
    resource_id: &'static str,
}

const SYSTEM_ASSIGNED: Identity = Identity {
    client_id: fixtures::MI_SYSTEM_CLIENT_ID,
    object_id: fixtures::MI_SYSTEM_OBJECT_ID,
    resource_id: fixtures::MI_VM_RESOURCE_ID,
};

const USER_ASSIGNED: Identity = Identity {
    client_id: fixtures::MI_USER_CLIENT_ID,
    object_id: fixtures::MI_USER_OBJECT_ID,
    resource_id: fixtures::MI_USER_RESOURCE_ID,
};

/// What an endpoint answers: a status, a JSON body and extra headers, or claims to sign and the
/// reply around them.
pub(crate) enum ImdsReply {
    Error(u16, Value),
    /// An error with headers (Arc's challenge).
    Challenge {
        status: u16,
        body: Value,
        headers: Vec<(&'static str, String)>,
    },
    /// Sign `claims`, then put the token in `reply`'s `access_token`.
    Token {
        claims: Value,
        reply: Value,
    },
}

/// The identity the selector parameters name (`resource_param`: `msi_res_id` or `mi_res_id`);
/// `Err` with the endpoint's own words otherwise.
fn identity(query: &BTreeMap<String, String>, resource_param: &str) -> Result<&'static Identity, &'static str> {
    let selectors: Vec<(&str, &String)> = ["client_id", "object_id", resource_param]
        .into_iter()
        .filter_map(|k| query.get(k).map(|v| (k, v)))
        .collect();
    match selectors.as_slice() {
        [] => Ok(&SYSTEM_ASSIGNED),
        [(kind, value)] => [&SYSTEM_ASSIGNED, &USER_ASSIGNED]
            .into_iter()
            .find(|i| match *kind {
                "client_id" => i.client_id.eq_ignore_ascii_case(value),
                "object_id" => i.object_id.eq_ignore_ascii_case(value),
                _ => i.resource_id.eq_ignore_ascii_case(value),
            })
            .ok_or("not found"),
        _ => Err("several"),
    }
}

fn claims(identity: &Identity, resource: &str, now: u64, exp: u64) -> Value {
    // The identities have Graph's application roles (as an admin would assign them).
    let roles: &[&str] = if resource.trim_end_matches('/') == fixtures::GRAPH_RESOURCE {
        fixtures::GRAPH_ROLES
    } else {
        &[]
    };
    json!({
        "roles": roles,
        "aud": resource,
        "iss": format!("https://sts.windows.net/{}/", fixtures::TENANT_ID),
        "tid": fixtures::TENANT_ID,
        "oid": identity.object_id,
        "sub": identity.object_id,
        "appid": identity.client_id,
        "xms_mirid": identity.resource_id,
        "idtyp": "app",
        "iat": now,
        "nbf": now,
        "exp": exp,
        "uti": crate::endpoints::random_token(16),
    })
}

/// IMDS's all-string reply (Arc answers the same way).
fn imds_shaped(identity: &Identity, resource: &str, now: u64, lifetime: u64) -> ImdsReply {
    let exp = now + lifetime;
    ImdsReply::Token {
        claims: claims(identity, resource, now, exp),
        reply: json!({
            "client_id": identity.client_id,
            "expires_in": lifetime.to_string(),
            "expires_on": exp.to_string(),
            "ext_expires_in": lifetime.to_string(),
            "not_before": now.to_string(),
            "resource": resource,
            "token_type": "Bearer",
        }),
    }
}

fn has_metadata(headers: &BTreeMap<String, String>) -> bool {
    headers.get("metadata").is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// IMDS: `Metadata: true` is required; `api-version` and `resource` too; at most one selector.
pub(crate) fn imds(
    query: &BTreeMap<String, String>,
    headers: &BTreeMap<String, String>,
    now: u64,
    lifetime: u64,
) -> ImdsReply {
    let bad = |code: &str, msg: &str| ImdsReply::Error(400, json!({"error": code, "error_description": msg}));
    if !has_metadata(headers) {
        return bad("bad_request_102", "Required metadata header not specified");
    }
    if query.get("api-version").is_none_or(|v| v.is_empty()) {
        return bad("invalid_request", "Required query variable 'api-version' is missing");
    }
    let Some(resource) = query.get("resource").filter(|r| !r.is_empty()) else {
        return bad("invalid_request", "Required query variable 'resource' is missing");
    };
    match identity(query, "msi_res_id") {
        Ok(i) => imds_shaped(i, resource, now, lifetime),
        Err("several") => bad(
            "invalid_request",
            "Only one of client_id, object_id or msi_res_id may be given",
        ),
        Err(_) => bad("invalid_request", "Identity not found"),
    }
}

/// App Service (and Functions, Container Apps): `X-IDENTITY-HEADER` must be the platform's
/// `IDENTITY_HEADER`; `api-version=2019-08-01`; selectors `client_id`, `object_id`, `mi_res_id`.
pub(crate) fn app_service(
    query: &BTreeMap<String, String>,
    headers: &BTreeMap<String, String>,
    now: u64,
    lifetime: u64,
) -> ImdsReply {
    let error = |status: u16, msg: &str| {
        ImdsReply::Error(
            status,
            json!({"statusCode": status, "message": msg, "correlationId": uuid::Uuid::new_v4().to_string()}),
        )
    };
    if headers.get("x-identity-header").map(String::as_str) != Some(fixtures::MI_IDENTITY_HEADER) {
        return error(401, "The X-IDENTITY-HEADER header is missing or wrong.");
    }
    if query.get("api-version").map(String::as_str) != Some("2019-08-01") {
        return error(400, "api-version must be 2019-08-01.");
    }
    let Some(resource) = query.get("resource").filter(|r| !r.is_empty()) else {
        return error(400, "The resource parameter is required.");
    };
    match identity(query, "mi_res_id") {
        Ok(i) => {
            let exp = now + lifetime;
            ImdsReply::Token {
                claims: claims(i, resource, now, exp),
                reply: json!({
                    "expires_on": exp.to_string(),
                    "resource": resource,
                    "token_type": "Bearer",
                    "client_id": i.client_id,
                }),
            }
        }
        Err(_) => error(400, "Unable to load requested managed identity."),
    }
}

/// Azure Arc: `Metadata: true`; without `Authorization` a key file is written into `key_dir` and
/// named in a `401` challenge (`hostile_realm` replaces that name, to test clients that must
/// refuse it); `Authorization: Basic <content of a key file in key_dir>` gets an IMDS-shaped
/// token for the machine's identity. Arc takes no user-assigned identity.
pub(crate) fn arc(
    query: &BTreeMap<String, String>,
    headers: &BTreeMap<String, String>,
    key_dir: Option<&Path>,
    hostile_realm: Option<&str>,
    now: u64,
    lifetime: u64,
) -> ImdsReply {
    let bad =
        |status: u16, code: &str, msg: &str| ImdsReply::Error(status, json!({"error": code, "error_description": msg}));
    if !has_metadata(headers) {
        return bad(400, "bad_request_102", "Required metadata header not specified");
    }
    if !matches!(
        query.get("api-version").map(String::as_str),
        Some("2019-11-01" | "2020-06-01")
    ) {
        return bad(400, "invalid_request", "api-version must be 2019-11-01 or 2020-06-01");
    }
    let Some(resource) = query.get("resource").filter(|r| !r.is_empty()) else {
        return bad(400, "invalid_request", "Required query variable 'resource' is missing");
    };
    let Some(dir) = key_dir else {
        return bad(
            500,
            "server_error",
            "the emulator's Arc endpoint needs arc_key_dir (POST /_emulator/config)",
        );
    };
    match headers.get("authorization").and_then(|h| h.strip_prefix("Basic ")) {
        None => {
            let realm = match hostile_realm {
                Some(r) => r.to_string(),
                None => {
                    let path = dir.join(format!("{}.key", uuid::Uuid::new_v4()));
                    if std::fs::write(&path, crate::endpoints::random_token(32)).is_err() {
                        return bad(500, "server_error", "cannot write the key file");
                    }
                    path.display().to_string()
                }
            };
            ImdsReply::Challenge {
                status: 401,
                body: json!({"error": "unauthorized", "error_description": "Authorization header required"}),
                headers: vec![("www-authenticate", format!("Basic realm={realm}"))],
            }
        }
        Some(key) if key_matches(dir, key.trim()) => {
            if ["client_id", "object_id", "msi_res_id"]
                .iter()
                .any(|k| query.contains_key(*k))
            {
                return bad(
                    400,
                    "invalid_request",
                    "Azure Arc supports only the system-assigned identity",
                );
            }
            imds_shaped(&SYSTEM_ASSIGNED, resource, now, lifetime)
        }
        Some(_) => bad(401, "unauthorized", "the key does not match"),
    }
}

/// Whether a `*.key` file in `dir` holds exactly `key`.
fn key_matches(dir: &Path, key: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    !key.is_empty()
        && entries.flatten().any(|e| {
            e.path().extension().is_some_and(|x| x == "key")
                && std::fs::read_to_string(e.path()).is_ok_and(|c| c.trim() == key)
        })
}

/// Cloud Shell: a form POST with `resource`, and `Metadata: true`; the signed-in user's
/// identity stands in as the machine's.
pub(crate) fn cloud_shell(
    form: &BTreeMap<String, String>,
    headers: &BTreeMap<String, String>,
    now: u64,
    lifetime: u64,
) -> ImdsReply {
    let bad = |msg: &str| ImdsReply::Error(400, json!({"error": {"code": "BadRequest", "message": msg}}));
    if !has_metadata(headers) {
        return bad("Required metadata header not specified");
    }
    let Some(resource) = form.get("resource").filter(|r| !r.is_empty()) else {
        return bad("resource is required");
    };
    let exp = now + lifetime;
    ImdsReply::Token {
        claims: claims(&SYSTEM_ASSIGNED, resource, now, exp),
        reply: json!({
            "expires_in": lifetime.to_string(),
            "expires_on": exp.to_string(),
            "not_before": now.to_string(),
            "resource": resource,
            "token_type": "Bearer",
        }),
    }
}

/// Service Fabric: header `secret` (the platform's `IDENTITY_HEADER`),
/// `api-version=2019-07-01-preview`, `resource`; no user-assigned identity.
pub(crate) fn service_fabric(
    query: &BTreeMap<String, String>,
    headers: &BTreeMap<String, String>,
    now: u64,
    lifetime: u64,
) -> ImdsReply {
    let error =
        |status: u16, code: &str, msg: &str| ImdsReply::Error(status, json!({"error": {"code": code, "message": msg}}));
    if headers.get("secret").map(String::as_str) != Some(fixtures::MI_IDENTITY_HEADER) {
        return error(
            401,
            "SecretHeaderNotFound",
            "Secret is not found in the request headers.",
        );
    }
    if query.get("api-version").map(String::as_str) != Some("2019-07-01-preview") {
        return error(400, "InvalidApiVersion", "api-version must be 2019-07-01-preview");
    }
    let Some(resource) = query.get("resource").filter(|r| !r.is_empty()) else {
        return error(400, "InvalidParameter", "resource is required");
    };
    let exp = now + lifetime;
    ImdsReply::Token {
        claims: claims(&SYSTEM_ASSIGNED, resource, now, exp),
        reply: json!({
            "token_type": "Bearer",
            "expires_on": exp,
            "resource": resource,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn error(r: ImdsReply) -> (u16, Value) {
        match r {
            ImdsReply::Error(s, v) => (s, v),
            _ => panic!("expected an error"),
        }
    }

    #[test]
    fn metadata_header_and_parameters_are_required() {
        let q = map(&[("api-version", "2018-02-01"), ("resource", fixtures::GRAPH_RESOURCE)]);
        let (status, body) = error(imds(&q, &map(&[]), 100, 3600));
        assert_eq!((status, body["error"].as_str()), (400, Some("bad_request_102")));
        let meta = map(&[("metadata", "true")]);
        let (status, body) = error(imds(&map(&[("api-version", "2018-02-01")]), &meta, 100, 3600));
        assert_eq!(status, 400);
        assert!(body["error_description"].as_str().unwrap().contains("resource"));
        let (_, body) = error(imds(&map(&[("resource", "r")]), &meta, 100, 3600));
        assert!(body["error_description"].as_str().unwrap().contains("api-version"));
    }

    #[test]
    fn system_and_user_assigned_identities() {
        let meta = map(&[("metadata", "true")]);
        let base = [("api-version", "2018-02-01"), ("resource", fixtures::ARM_RESOURCE)];
        let ImdsReply::Token { claims, reply } = imds(&map(&base), &meta, 1000, 86_399) else {
            panic!("system-assigned")
        };
        assert_eq!(claims["oid"], fixtures::MI_SYSTEM_OBJECT_ID);
        assert_eq!(claims["aud"], fixtures::ARM_RESOURCE);
        assert_eq!(claims["idtyp"], "app");
        assert_eq!(reply["expires_on"], "87399");
        assert_eq!(reply["expires_in"], "86399");
        assert!(reply.get("access_token").is_none());
        for selector in [
            ("client_id", fixtures::MI_USER_CLIENT_ID),
            ("object_id", fixtures::MI_USER_OBJECT_ID),
            ("msi_res_id", fixtures::MI_USER_RESOURCE_ID),
        ] {
            let mut q = base.to_vec();
            q.push(selector);
            let ImdsReply::Token { claims, .. } = imds(&map(&q), &meta, 1000, 60) else {
                panic!("{selector:?}")
            };
            assert_eq!(claims["oid"], fixtures::MI_USER_OBJECT_ID, "{selector:?}");
            assert_eq!(claims["xms_mirid"], fixtures::MI_USER_RESOURCE_ID);
        }
        let mut q = base.to_vec();
        q.push(("client_id", "00000000-0000-0000-0000-000000000000"));
        let (status, body) = error(imds(&map(&q), &meta, 1000, 60));
        assert_eq!(
            (status, body["error_description"].as_str()),
            (400, Some("Identity not found"))
        );
        q.push(("object_id", fixtures::MI_USER_OBJECT_ID));
        assert_eq!(error(imds(&map(&q), &meta, 1000, 60)).0, 400);
    }

    #[test]
    fn app_service_needs_its_header() {
        let q = map(&[("api-version", "2019-08-01"), ("resource", fixtures::GRAPH_RESOURCE)]);
        assert_eq!(error(app_service(&q, &map(&[]), 1, 60)).0, 401);
        let h = map(&[("x-identity-header", fixtures::MI_IDENTITY_HEADER)]);
        let ImdsReply::Token { claims, reply } = app_service(&q, &h, 1000, 60) else {
            panic!("token")
        };
        assert_eq!(claims["oid"], fixtures::MI_SYSTEM_OBJECT_ID);
        assert_eq!(reply["expires_on"], "1060");
        let mut q2 = q.clone();
        q2.insert("mi_res_id".into(), fixtures::MI_USER_RESOURCE_ID.into());
        let ImdsReply::Token { claims, .. } = app_service(&q2, &h, 1000, 60) else {
            panic!("token")
        };
        assert_eq!(claims["oid"], fixtures::MI_USER_OBJECT_ID);
        q2.insert("mi_res_id".into(), "/subscriptions/x".into());
        let (status, body) = error(app_service(&q2, &h, 1000, 60));
        assert_eq!(status, 400);
        assert_eq!(body["message"], "Unable to load requested managed identity.");
    }

    #[test]
    fn arc_challenges_then_accepts_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let q = map(&[("api-version", "2019-11-01"), ("resource", fixtures::ARM_RESOURCE)]);
        let meta = map(&[("metadata", "true")]);
        let ImdsReply::Challenge { status, headers, .. } = arc(&q, &meta, Some(dir.path()), None, 1, 60) else {
            panic!("challenge")
        };
        assert_eq!(status, 401);
        let realm = headers[0].1.strip_prefix("Basic realm=").unwrap().to_string();
        assert!(realm.starts_with(&dir.path().display().to_string()) && realm.ends_with(".key"));
        let key = std::fs::read_to_string(&realm).unwrap();
        let with = map(&[("metadata", "true"), ("authorization", &format!("Basic {key}"))]);
        assert!(matches!(
            arc(&q, &with, Some(dir.path()), None, 1, 60),
            ImdsReply::Token { .. }
        ));
        let wrong = map(&[("metadata", "true"), ("authorization", "Basic nope")]);
        assert_eq!(error(arc(&q, &wrong, Some(dir.path()), None, 1, 60)).0, 401);
        let ImdsReply::Challenge { headers, .. } = arc(&q, &meta, Some(dir.path()), Some("/etc/shadow"), 1, 60) else {
            panic!("challenge")
        };
        assert_eq!(headers[0].1, "Basic realm=/etc/shadow");
    }

    #[test]
    fn cloud_shell_and_service_fabric() {
        let form = map(&[("resource", fixtures::GRAPH_RESOURCE)]);
        let meta = map(&[("metadata", "true")]);
        let ImdsReply::Token { reply, .. } = cloud_shell(&form, &meta, 10, 60) else {
            panic!("token")
        };
        assert_eq!(reply["expires_in"], "60");
        assert_eq!(error(cloud_shell(&form, &map(&[]), 10, 60)).0, 400);
        let q = map(&[
            ("api-version", "2019-07-01-preview"),
            ("resource", fixtures::GRAPH_RESOURCE),
        ]);
        let secret = map(&[("secret", fixtures::MI_IDENTITY_HEADER)]);
        let ImdsReply::Token { reply, .. } = service_fabric(&q, &secret, 10, 60) else {
            panic!("token")
        };
        assert_eq!(reply["expires_on"], 70);
        assert_eq!(error(service_fabric(&q, &meta, 10, 60)).0, 401);
    }
}
