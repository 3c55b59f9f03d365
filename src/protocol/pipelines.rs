//! Azure Pipelines workload identity federation as pure functions: the OIDC token request
//! (`POST {SYSTEM_OIDCREQUESTURI}?api-version=7.1&serviceConnectionId=ID` with
//! `Authorization: Bearer {SYSTEM_ACCESSTOKEN}`), its reply `{"oidcToken": …}` (the
//! `client_assertion` of one Entra token request, fetched fresh each time, never stored), and its
//! errors: a missing variable is exit 2 naming it, 401/404 from Azure DevOps exit 3.
//!
//! References: azure-identity's `AzurePipelinesCredential`, and Azure DevOps' "Oidctoken - Create"
//! REST API (<https://learn.microsoft.com/rest/api/azure/devops/distributedtask/oidctoken/create>).

use crate::env::EnvVars;
use crate::error::{Error, Result};
use crate::protocol::authority;
use crate::protocol::token::{is_safe_token, unexpected_reply};
use crate::secret::Secret;
use serde_json::Value;
use url::Url;

/// The Azure DevOps REST API version of the OIDC token endpoint.
pub(crate) const API_VERSION: &str = "7.1";

/// One OIDC token request. `Debug` shows no secret.
#[derive(Debug)]
pub(crate) struct OidcRequest {
    /// `POST` this URL.
    pub(crate) url: Url,
    /// The `Authorization` header value: `Bearer {SYSTEM_ACCESSTOKEN}`.
    pub(crate) authorization: Secret<String>,
}

impl OidcRequest {
    /// Azure DevOps expects a JSON content type (the body is empty).
    pub(crate) const CONTENT_TYPE: &'static str = "application/json";
}

/// Builds the request from the variables' values (`None` or empty = unset) and the service
/// connection id with where it came from (`--service-connection-id`,
/// AZURESUBSCRIPTION_SERVICE_CONNECTION_ID, a profile). Checks in the order a user can fix them:
/// not a pipeline job, token not mapped, no service connection.
pub(crate) fn build_request(
    oidc_request_uri: Option<&str>,
    system_access_token: Option<&Secret<String>>,
    service_connection_id: Option<(&str, &str)>,
) -> Result<OidcRequest> {
    let uri = oidc_request_uri
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            Error::usage(format!(
                "{} is not set: this is not an Azure Pipelines job",
                EnvVars::SYSTEM_OIDCREQUESTURI
            ))
            .hint("--federated-azure-pipelines works inside an Azure Pipelines job; elsewhere use another credential")
        })?;
    let token = system_access_token
        .map(|t| t.expose().trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Error::usage(format!(
                "{} is not set: it must be mapped into the step's env:",
                EnvVars::SYSTEM_ACCESSTOKEN
            ))
            .hint("add to the step:  env:  SYSTEM_ACCESSTOKEN: $(System.AccessToken)")
        })?;
    if !is_safe_token(token) {
        return Err(Error::usage(format!(
            "{} has characters no access token has",
            EnvVars::SYSTEM_ACCESSTOKEN
        )));
    }
    let (id, origin) = service_connection_id
        .map(|(id, origin)| (id.trim(), origin))
        .filter(|(id, _)| !id.is_empty())
        .ok_or_else(|| {
            Error::usage("no Azure service connection id for --federated-azure-pipelines").hint(format!(
                "pass --service-connection-id ID or set {} (the AzureCLI task sets it); the id is the resourceId in the service connection's URL",
                EnvVars::AZURESUBSCRIPTION_SERVICE_CONNECTION_ID
            ))
        })?;
    if id.len() != 36 || uuid::Uuid::parse_str(id).is_err() {
        return Err(Error::usage(format!(
            "{origin}: '{id}' is not a service connection id (a GUID)"
        )));
    }
    let mut url = Url::parse(uri)
        .map_err(|e| Error::usage(format!("{} is not a valid URL", EnvVars::SYSTEM_OIDCREQUESTURI)).cause(e))?;
    authority::check_transport(&url, EnvVars::SYSTEM_OIDCREQUESTURI)?;
    if url.fragment().is_some() || !url.username().is_empty() {
        return Err(Error::usage(format!(
            "{} must not have a fragment or user name",
            EnvVars::SYSTEM_OIDCREQUESTURI
        )));
    }
    // azure-identity strips a trailing '/' before adding the query.
    let path = url.path().trim_end_matches('/').to_string();
    if !path.is_empty() {
        url.set_path(&path);
    }
    url.query_pairs_mut()
        .append_pair("api-version", API_VERSION)
        .append_pair("serviceConnectionId", id);
    crate::log::register_secret(token);
    Ok(OidcRequest {
        url,
        authorization: Secret::new(format!("Bearer {token}")),
    })
}

/// Classifies Azure DevOps' answer: the OIDC token, exit 3 for 401 (the access token was
/// refused) and 404 (no such service connection for this pipeline) and other refusals carrying
/// Azure DevOps' JSON error, exit 4 for anything else (5xx or 429 left after retries, a reply
/// that is not the expected JSON).
pub(crate) fn parse_reply(status: u16, content_type: Option<&str>, body: &[u8]) -> Result<Secret<String>> {
    let who = "Azure Pipelines OIDC endpoint";
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    if (200..300).contains(&status) {
        let token = parsed
            .as_ref()
            .and_then(|v| v.get("oidcToken"))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty());
        return match token {
            Some(t) if is_safe_token(t) => {
                crate::log::register_secret(t);
                Ok(Secret::new(t.to_string()))
            }
            Some(_) => Err(Error::network(format!(
                "the {who} answered HTTP {status} with an oidcToken that has characters no token has"
            ))),
            None if parsed.is_some() => Err(Error::network(format!(
                "the {who} answered HTTP {status} without an oidcToken"
            ))),
            None => Err(unexpected_reply(status, content_type, body, who)),
        };
    }
    // Azure DevOps errors: {"$id":"1","message":"…","typeName":"…","typeKey":"…","errorCode":0}
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("message"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|m| !m.is_empty());
    let says = message.map(|m| format!(": {m}")).unwrap_or_default();
    match status {
        401 => Err(Error::rejected(format!("the {who} refused SYSTEM_ACCESSTOKEN (HTTP 401){says}"))
            .hint("map the job's token into the step (env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)); a token from another job or an expired one is refused")),
        404 => Err(Error::rejected(format!(
            "the {who} does not know that service connection (HTTP 404){says}"
        ))
        .hint(format!(
            "check --service-connection-id / {} and that this pipeline is authorized to use the service connection",
            EnvVars::AZURESUBSCRIPTION_SERVICE_CONNECTION_ID
        ))),
        400..=499 if status != 408 && status != 429 && message.is_some() => Err(Error::rejected(format!(
            "the {who} answered HTTP {status}{says}"
        ))),
        _ => Err(unexpected_reply(status, content_type, body, who)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind;

    const URI: &str = "https://dev.azure.com/org/6f1c/_apis/distributedtask/hubs/build/plans/9a/jobs/4b/oidctoken";
    const ID: &str = "1b8f7a2e-52c4-4a8e-9b8e-3d2c1a0f9e8d";

    fn token() -> Secret<String> {
        Secret::new("eyJhbGciOi.system-access.token".to_string())
    }

    #[test]
    fn builds_the_oidc_request() {
        let r = build_request(Some(URI), Some(&token()), Some((ID, "--service-connection-id"))).unwrap();
        assert_eq!(
            r.url.as_str(),
            format!("{URI}?api-version=7.1&serviceConnectionId={ID}")
        );
        assert_eq!(r.authorization.expose(), "Bearer eyJhbGciOi.system-access.token");
        assert!(!format!("{r:?}").contains("system-access"));
        assert_eq!(OidcRequest::CONTENT_TYPE, "application/json");
        // a trailing slash is dropped; surrounding blanks are ignored
        let r = build_request(
            Some(&format!(" {URI}/ ")),
            Some(&token()),
            Some((&format!(" {ID} "), "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID")),
        )
        .unwrap();
        assert_eq!(
            r.url.as_str(),
            format!("{URI}?api-version=7.1&serviceConnectionId={ID}")
        );
        // loopback http (the emulator) is accepted
        let r = build_request(Some("http://127.0.0.1:8080/oidc"), Some(&token()), Some((ID, "x"))).unwrap();
        assert_eq!(
            r.url.as_str(),
            format!("http://127.0.0.1:8080/oidc?api-version=7.1&serviceConnectionId={ID}")
        );
    }

    #[test]
    fn missing_variables_are_usage_errors_naming_them() {
        for uri in [None, Some(""), Some("  ")] {
            let e = build_request(uri, Some(&token()), Some((ID, "x"))).unwrap_err();
            assert_eq!(e.kind, Kind::Usage);
            assert!(e.message.contains("SYSTEM_OIDCREQUESTURI") && e.message.contains("not an Azure Pipelines job"));
        }
        let empty = Secret::new(String::new());
        for t in [None, Some(&empty)] {
            let e = build_request(Some(URI), t, Some((ID, "x"))).unwrap_err();
            assert_eq!(e.kind, Kind::Usage);
            assert!(
                e.message.contains("SYSTEM_ACCESSTOKEN") && e.message.contains("must be mapped into the step's env:")
            );
            assert!(e.hint.unwrap().contains("$(System.AccessToken)"));
        }
        // the job check comes first: outside a job, the missing token is not the story
        let e = build_request(None, None, None).unwrap_err();
        assert!(e.message.contains("SYSTEM_OIDCREQUESTURI"));
        for id in [None, Some(("", "x"))] {
            let e = build_request(Some(URI), Some(&token()), id).unwrap_err();
            assert_eq!(e.kind, Kind::Usage);
            assert!(e.hint.unwrap().contains("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID"));
        }
    }

    #[test]
    fn bad_values_are_refused_before_anything_is_sent() {
        let e = build_request(
            Some(URI),
            Some(&token()),
            Some(("my-connection", "--service-connection-id")),
        )
        .unwrap_err();
        assert_eq!(e.kind, Kind::Usage);
        assert!(e.message.contains("--service-connection-id") && e.message.contains("GUID"));
        for uri in [
            "http://dev.azure.com/org/oidctoken",
            "not a url",
            "https://u:p@dev.azure.com/x",
            "https://dev.azure.com/x#f",
        ] {
            let e = build_request(Some(uri), Some(&token()), Some((ID, "x"))).unwrap_err();
            assert_eq!(e.kind, Kind::Usage, "{uri}");
            assert!(e.message.contains("SYSTEM_OIDCREQUESTURI"), "{uri}: {}", e.message);
        }
        let bad = Secret::new("tok en\n".to_string());
        assert_eq!(
            build_request(Some(URI), Some(&bad), Some((ID, "x"))).unwrap_err().kind,
            Kind::Usage
        );
    }

    #[test]
    fn parses_the_oidc_token() {
        let t = parse_reply(200, Some("application/json"), br#"{"oidcToken":"eyJ0.eyJ1.sig"}"#).unwrap();
        assert_eq!(t.expose(), "eyJ0.eyJ1.sig");
        for body in [
            &br#"{"oidcToken":""}"#[..],
            br#"{"other":1}"#,
            br#"{"oidcToken":"a b"}"#,
            b"<html/>",
            b"",
        ] {
            let e = parse_reply(200, None, body).unwrap_err();
            assert_eq!(e.kind, Kind::Network, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn classifies_refusals() {
        let e = parse_reply(401, Some("text/html"), b"<html>Unauthorized</html>").unwrap_err();
        assert_eq!(e.kind, Kind::Rejected);
        assert!(e.message.contains("401") && e.message.contains("SYSTEM_ACCESSTOKEN"));
        let e = parse_reply(
            404,
            Some("application/json"),
            br#"{"$id":"1","message":"Service connection 1b8f not found.","typeKey":"x","errorCode":0}"#,
        )
        .unwrap_err();
        assert_eq!(e.kind, Kind::Rejected);
        assert!(
            e.message.contains("Service connection 1b8f not found."),
            "{}",
            e.message
        );
        assert!(e.hint.unwrap().contains("--service-connection-id"));
        let e = parse_reply(
            400,
            None,
            br#"{"message":"The service connection does not use workload identity federation."}"#,
        )
        .unwrap_err();
        assert_eq!(e.kind, Kind::Rejected);
        for (status, body) in [
            (500, &b"oops"[..]),
            (503, br#"{"message":"busy"}"#),
            (429, br#"{"message":"slow"}"#),
            (400, b"<html/>"),
        ] {
            assert_eq!(
                parse_reply(status, None, body).unwrap_err().kind,
                Kind::Network,
                "{status}"
            );
        }
    }
}
