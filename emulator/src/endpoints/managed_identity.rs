//! The Azure Instance Metadata Service's managed identity token endpoint
//! (`GET /metadata/identity/oauth2/token`), as a pure function of the query, the headers and the
//! clock: the VM's system-assigned identity and one user-assigned identity, named by `client_id`,
//! `object_id` or `msi_res_id`. Reply shapes as documented at
//! <https://learn.microsoft.com/entra/identity/managed-identities-azure-resources/how-to-use-vm-token>.

use serde_json::{Value, json};
use std::collections::BTreeMap;

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

/// What the endpoint answers: a status and a JSON body, or claims to sign and the reply around them.
pub(crate) enum ImdsReply {
    Error(u16, Value),
    /// Sign `claims`, then put the token in `reply`'s `access_token`.
    Token {
        claims: Value,
        reply: Value,
    },
}

/// IMDS: `Metadata: true` is required; `api-version` and `resource` too; at most one selector.
pub(crate) fn imds(
    query: &BTreeMap<String, String>,
    headers: &BTreeMap<String, String>,
    now: u64,
    lifetime: u64,
) -> ImdsReply {
    let bad = |code: &str, msg: &str| ImdsReply::Error(400, json!({"error": code, "error_description": msg}));
    if !headers.get("metadata").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return bad("bad_request_102", "Required metadata header not specified");
    }
    if query.get("api-version").is_none_or(|v| v.is_empty()) {
        return bad("invalid_request", "Required query variable 'api-version' is missing");
    }
    let Some(resource) = query.get("resource").filter(|r| !r.is_empty()) else {
        return bad("invalid_request", "Required query variable 'resource' is missing");
    };
    let selectors: Vec<(&str, &String)> = ["client_id", "object_id", "msi_res_id"]
        .into_iter()
        .filter_map(|k| query.get(k).map(|v| (k, v)))
        .collect();
    let identity = match selectors.as_slice() {
        [] => &SYSTEM_ASSIGNED,
        [(kind, value)] => {
            let found = [&SYSTEM_ASSIGNED, &USER_ASSIGNED].into_iter().find(|i| match *kind {
                "client_id" => i.client_id.eq_ignore_ascii_case(value),
                "object_id" => i.object_id.eq_ignore_ascii_case(value),
                _ => i.resource_id.eq_ignore_ascii_case(value),
            });
            match found {
                Some(i) => i,
                None => return bad("invalid_request", "Identity not found"),
            }
        }
        _ => {
            return bad(
                "invalid_request",
                "Only one of client_id, object_id or msi_res_id may be given",
            );
        }
    };
    let exp = now + lifetime;
    let claims = json!({
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
    });
    // IMDS sends every member as a string.
    let reply = json!({
        "client_id": identity.client_id,
        "expires_in": lifetime.to_string(),
        "expires_on": exp.to_string(),
        "ext_expires_in": lifetime.to_string(),
        "not_before": now.to_string(),
        "resource": resource,
        "token_type": "Bearer",
    });
    ImdsReply::Token { claims, reply }
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
            ImdsReply::Token { .. } => panic!("expected an error"),
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
}
