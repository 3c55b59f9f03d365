//! OpenID Connect discovery documents and the signing keys (`/.well-known/openid-configuration`,
//! `/discovery/v2.0/keys`), shaped like Entra's, so OIDC clients that discover endpoints (MSAL, the
//! benchmark peer) work against the emulator. entra-token itself never needs discovery.

use crate::directory::TenantRef;
use crate::state::State;
use serde_json::{Value, json};

/// The discovery document for `{tenant}`: `None` for an unknown tenant (Entra answers 400).
pub(crate) fn openid_configuration(state: &State, origin: &str, tenant: &str, v2: bool) -> Option<Value> {
    let mutable = state.lock();
    let (segment, tid) = match mutable.directory.resolve_tenant(tenant) {
        TenantRef::Tenant(t) => (tenant.to_string(), t.id.clone()),
        TenantRef::MultiTenant(name) => (name.to_string(), "{tenantid}".to_string()),
        TenantRef::Unknown => return None,
    };
    let base = format!("{origin}/{segment}");
    let doc = if v2 {
        json!({
            "token_endpoint": format!("{base}/oauth2/v2.0/token"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": format!("{base}/discovery/v2.0/keys"),
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": format!("{origin}/{tid}/v2.0"),
            "request_uri_parameter_supported": false,
            "userinfo_endpoint": format!("{origin}/oidc/userinfo"),
            "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
            "device_authorization_endpoint": format!("{base}/oauth2/v2.0/devicecode"),
            "http_logout_supported": true,
            "frontchannel_logout_supported": true,
            "end_session_endpoint": format!("{base}/oauth2/v2.0/logout"),
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "preferred_username", "name", "tid", "ver", "oid"],
            "tenant_region_scope": "WW",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
        })
    } else {
        json!({
            "token_endpoint": format!("{base}/oauth2/token"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": format!("{base}/discovery/keys"),
            "response_modes_supported": ["query", "fragment", "form_post"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "issuer": format!("https://sts.windows.net/{tid}/"),
            "authorization_endpoint": format!("{base}/oauth2/authorize"),
            "device_authorization_endpoint": format!("{base}/oauth2/devicecode"),
            "end_session_endpoint": format!("{base}/oauth2/logout"),
            "cloud_instance_name": "microsoftonline.com",
            "msgraph_host": "graph.microsoft.com",
        })
    };
    Some(doc)
}

/// Instance discovery (`/common/discovery/instance`, what MSAL asks before it trusts an
/// authority): where the tenant named by `authorization_endpoint` publishes its discovery
/// document, and the emulator's host as the one network and cache alias.
pub(crate) fn instance_discovery(origin: &str, authorization_endpoint: Option<&str>) -> Value {
    let parsed = authorization_endpoint.and_then(|a| url::Url::parse(a).ok());
    let tenant = parsed
        .as_ref()
        .and_then(|u| u.path_segments()?.next().map(str::to_string))
        .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)))
        .unwrap_or_else(|| "common".to_string());
    let v2 = parsed.as_ref().is_some_and(|u| u.path().contains("/v2.0/"));
    let well_known = if v2 {
        "v2.0/.well-known/openid-configuration"
    } else {
        ".well-known/openid-configuration"
    };
    let host = origin.split_once("://").map_or(origin, |(_, h)| h);
    json!({
        "tenant_discovery_endpoint": format!("{origin}/{tenant}/{well_known}"),
        "api-version": "1.1",
        "metadata": [{
            "preferred_network": host,
            "preferred_cache": host,
            "aliases": [host],
        }],
    })
}

/// The JWKS with the emulator's token-signing key.
pub(crate) fn keys(state: &State) -> Value {
    json!({ "keys": [state.signer.jwk()] })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures as fx;
    use crate::state::Config;

    #[test]
    fn instance_discovery_names_the_tenants_document() {
        let d = instance_discovery(
            "https://login.microsoftonline.com",
            Some("https://login.microsoftonline.com/contoso.example/oauth2/v2.0/authorize"),
        );
        assert_eq!(
            d["tenant_discovery_endpoint"],
            "https://login.microsoftonline.com/contoso.example/v2.0/.well-known/openid-configuration"
        );
        assert_eq!(d["metadata"][0]["aliases"][0], "login.microsoftonline.com");
        let d = instance_discovery("http://127.0.0.1:9", Some("http://127.0.0.1:9/t1/oauth2/authorize"));
        assert_eq!(
            d["tenant_discovery_endpoint"],
            "http://127.0.0.1:9/t1/.well-known/openid-configuration"
        );
        assert_eq!(d["metadata"][0]["preferred_network"], "127.0.0.1:9");
        for odd in [None, Some("not a url"), Some("https://h/%2e%2e%2f/oauth2/authorize")] {
            let d = instance_discovery("https://h", odd);
            assert_eq!(
                d["tenant_discovery_endpoint"], "https://h/common/.well-known/openid-configuration",
                "{odd:?}"
            );
        }
    }

    #[test]
    fn documents_for_known_and_unknown_tenants() {
        let state = State::new(Config::default(), "http://127.0.0.1:1").unwrap();
        let d = openid_configuration(&state, "http://127.0.0.1:1", fx::TENANT_DOMAIN, true).unwrap();
        assert_eq!(
            d["token_endpoint"],
            format!("http://127.0.0.1:1/{}/oauth2/v2.0/token", fx::TENANT_DOMAIN)
        );
        assert_eq!(d["issuer"], format!("http://127.0.0.1:1/{}/v2.0", fx::TENANT_ID));
        let c = openid_configuration(&state, "http://127.0.0.1:1", "common", true).unwrap();
        assert!(c["issuer"].as_str().unwrap().contains("{tenantid}"));
        assert!(openid_configuration(&state, "http://127.0.0.1:1", "nosuch.example.com", true).is_none());
        assert_eq!(keys(&state)["keys"][0]["kty"], "RSA");
    }
}
