//! The Azure Pipelines OIDC token endpoint (`POST {SYSTEM_OIDCREQUESTURI}?api-version=7.1&
//! serviceConnectionId=ID` with the job's `SYSTEM_ACCESSTOKEN` as bearer token), answering
//! `{"oidcToken": JWT}` for the one service connection it knows: issuer
//! `{base}/_pipelines/{org}`, subject `sc://{org}/{project}/{connection}`, audience
//! `api://AzureADTokenExchange`, ten minutes, a fresh `jti` each time. Shape as documented at
//! <https://learn.microsoft.com/rest/api/azure/devops/distributedtask/oidctoken/create>.

use serde_json::{Value, json};
use std::collections::BTreeMap;

use crate::credentials::TOKEN_EXCHANGE_AUDIENCE;
use crate::fixtures;

/// Lifetime of the OIDC tokens, in seconds.
const LIFETIME: u64 = 600;

/// An error (status and Azure DevOps' JSON), or the claims of the token to sign.
pub(crate) enum OidcReply {
    Error(u16, Value),
    Token(Value),
}

fn error(status: u16, message: &str) -> OidcReply {
    OidcReply::Error(
        status,
        json!({"$id": "1", "message": message, "typeName": "Microsoft.TeamFoundation", "typeKey": "Error", "errorCode": 0}),
    )
}

/// One OIDC token request to `/_pipelines/{org}/oidctoken`.
pub(crate) fn oidc_token(
    post: bool,
    org: &str,
    query: &BTreeMap<String, String>,
    headers: &BTreeMap<String, String>,
    base_url: &str,
    now: u64,
) -> OidcReply {
    if !post {
        return error(405, "The requested resource does not support this method; use POST.");
    }
    let bearer = headers
        .get("authorization")
        .and_then(|h| h.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    if org != fixtures::PIPELINES_ORG_ID || bearer != Some(fixtures::PIPELINES_ACCESS_TOKEN) {
        return error(401, "TF400813: The user is not authorized to access this resource.");
    }
    if query.get("api-version").is_none_or(|v| v.is_empty()) {
        return error(400, "No api-version was supplied for the POST request.");
    }
    let connection = query.get("serviceConnectionId").map(String::as_str).unwrap_or("");
    if !connection.eq_ignore_ascii_case(fixtures::PIPELINES_SERVICE_CONNECTION_ID) {
        return error(
            404,
            &format!("Service connection '{connection}' was not found or the pipeline is not authorized to use it."),
        );
    }
    OidcReply::Token(json!({
        "iss": format!("{base_url}/_pipelines/{org}"),
        "sub": fixtures::PIPELINES_SUBJECT,
        "aud": TOKEN_EXCHANGE_AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + LIFETIME,
        "jti": uuid::Uuid::new_v4().to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn token_for_the_known_connection_only() {
        let q = map(&[
            ("api-version", "7.1"),
            ("serviceConnectionId", fixtures::PIPELINES_SERVICE_CONNECTION_ID),
        ]);
        let auth = format!("Bearer {}", fixtures::PIPELINES_ACCESS_TOKEN);
        let h = map(&[("authorization", &auth)]);
        let org = fixtures::PIPELINES_ORG_ID;
        let OidcReply::Token(c) = oidc_token(true, org, &q, &h, "http://127.0.0.1:1", 100) else {
            panic!("token")
        };
        assert_eq!(c["iss"], format!("http://127.0.0.1:1/_pipelines/{org}"));
        assert_eq!(c["sub"], fixtures::PIPELINES_SUBJECT);
        assert_eq!(c["exp"], 700);
        let status = |r: OidcReply| match r {
            OidcReply::Error(s, _) => s,
            OidcReply::Token(_) => 200,
        };
        assert_eq!(status(oidc_token(false, org, &q, &h, "b", 1)), 405);
        assert_eq!(status(oidc_token(true, org, &q, &map(&[]), "b", 1)), 401);
        let other = map(&[("api-version", "7.1"), ("serviceConnectionId", "x")]);
        assert_eq!(status(oidc_token(true, org, &other, &h, "b", 1)), 404);
    }
}
