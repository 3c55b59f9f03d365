//! Entra-shaped OAuth error replies: the `AADSTSnnnn` catalogue used by the emulator and the
//! exact JSON body layout (`error`, `error_description` with trace/correlation/timestamp lines,
//! `error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri`).

use serde_json::{Value, json};

use crate::clock::{entra_timestamp, iso8601_fraction};

/// One OAuth error as Entra would report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AadError {
    /// HTTP status of the reply.
    pub(crate) status: u16,
    /// The OAuth `error` value (`invalid_client`, `invalid_scope`, ...).
    pub(crate) error: &'static str,
    /// The AADSTS number, e.g. 7000215.
    pub(crate) code: u32,
    /// The text after `AADSTSnnnn: `.
    pub(crate) message: String,
    /// Optional `suberror` (`consent_required`, `basic_action`, ...).
    pub(crate) suberror: Option<&'static str>,
    /// Optional `claims` challenge (a JSON string) for Conditional Access / MFA.
    pub(crate) claims: Option<String>,
}

impl AadError {
    pub(crate) fn new(status: u16, error: &'static str, code: u32, message: impl Into<String>) -> Self {
        AadError {
            status,
            error,
            code,
            message: message.into(),
            suberror: None,
            claims: None,
        }
    }

    /// Renders the JSON body. `correlation_id` is the request's `client-request-id` when it had
    /// one; `now` is seconds since the Unix epoch.
    pub(crate) fn body(&self, trace_id: &str, correlation_id: &str, now: u64) -> Value {
        let ts = entra_timestamp(now);
        let description = format!(
            "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {ts}",
            self.code, self.message
        );
        let mut body = json!({
            "error": self.error,
            "error_description": description,
            "error_codes": [self.code],
            "timestamp": ts,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        });
        if let (Some(sub), Some(obj)) = (self.suberror, body.as_object_mut()) {
            obj.insert("suberror".into(), Value::from(sub));
        }
        if let (Some(claims), Some(obj)) = (&self.claims, body.as_object_mut()) {
            obj.insert("claims".into(), Value::from(claims.as_str()));
        }
        body
    }
}

// ---- the catalogue -------------------------------------------------------------------------

/// AADSTS90002: the tenant segment names no known tenant.
pub(crate) fn tenant_not_found(tenant: &str) -> AadError {
    AadError::new(
        400,
        "invalid_tenant",
        90002,
        format!(
            "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
        ),
    )
}

/// AADSTS9001023: client credentials over `/common`, `/consumers` or `/organizations`.
pub(crate) fn grant_needs_tenant() -> AadError {
    AadError::new(
        400,
        "invalid_request",
        9001023,
        "The grant type isn't supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.",
    )
}

/// AADSTS70003: missing or unsupported `grant_type`.
pub(crate) fn unsupported_grant_type(grant: &str) -> AadError {
    AadError::new(
        400,
        "unsupported_grant_type",
        70003,
        format!("The app requested an unsupported grant type '{grant}'."),
    )
}

/// AADSTS900144: a required body parameter is missing.
pub(crate) fn missing_parameter(name: &str) -> AadError {
    AadError::new(
        400,
        "invalid_request",
        900144,
        format!("The request body must contain the following parameter: '{name}'."),
    )
}

/// AADSTS900561: the token endpoint was called with something other than POST.
pub(crate) fn post_only(method: &str) -> AadError {
    AadError::new(
        400,
        "invalid_request",
        900561,
        format!("The endpoint only accepts POST, OPTIONS requests. Received a {method} request."),
    )
}

/// AADSTS901002: `resource` sent to the v2 endpoint.
pub(crate) fn resource_on_v2() -> AadError {
    AadError::new(
        400,
        "invalid_request",
        901002,
        "The 'resource' request parameter is not supported.",
    )
}

/// AADSTS1002012: client-credentials scope without the `/.default` suffix.
pub(crate) fn scope_needs_default(scope: &str) -> AadError {
    AadError::new(
        400,
        "invalid_scope",
        1002012,
        format!(
            "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
        ),
    )
}

/// AADSTS700022: scope spans more than one resource.
pub(crate) fn scope_multiple_resources(scope: &str) -> AadError {
    AadError::new(
        400,
        "invalid_scope",
        700022,
        format!(
            "The provided value for the input parameter scope is not valid because it contains more than one resource. Scope {scope} is not valid."
        ),
    )
}

/// AADSTS700016: the app is unknown in (or not consented to by) the tenant.
pub(crate) fn app_not_found(client_id: &str, directory: &str) -> AadError {
    AadError::new(
        400,
        "unauthorized_client",
        700016,
        format!(
            "Application with identifier '{client_id}' was not found in the directory '{directory}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
        ),
    )
}

/// AADSTS7000218: no client credential at all.
pub(crate) fn missing_client_credential() -> AadError {
    AadError::new(
        401,
        "invalid_client",
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    )
}

/// AADSTS7000215: wrong secret (also what the secret's ID gets).
pub(crate) fn invalid_client_secret(client_id: &str) -> AadError {
    AadError::new(
        401,
        "invalid_client",
        7000215,
        format!(
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
        ),
    )
}

/// AADSTS7000222: the secret matched but has expired.
pub(crate) fn expired_client_secret(client_id: &str) -> AadError {
    AadError::new(
        401,
        "invalid_client",
        7000222,
        format!(
            "The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."
        ),
    )
}

/// AADSTS500011: the resource has no service principal in the tenant.
pub(crate) fn resource_not_found(resource: &str, directory: &str) -> AadError {
    AadError::new(
        400,
        "invalid_resource",
        500011,
        format!(
            "The resource principal named {resource} was not found in the tenant named {directory}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
        ),
    )
}

/// AADSTS9002313: the request could not be parsed.
pub(crate) fn malformed_request(detail: &str) -> AadError {
    AadError::new(
        400,
        "invalid_request",
        9002313,
        format!("Invalid request. Request is malformed or invalid. {detail}"),
    )
}

/// AADSTS50027: the assertion is not a well-formed JWT, or its header lacks what is needed.
pub(crate) fn invalid_jwt(detail: &str) -> AadError {
    AadError::new(401, "invalid_client", 50027, format!("Invalid JWT token. {detail}"))
}

/// AADSTS700027: the assertion's key is not registered on the app.
pub(crate) fn assertion_key_not_found(client_id: &str, thumbprint_hex: &str, sni_hint: bool) -> AadError {
    let mut msg = format!(
        "Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '{thumbprint_hex}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{client_id}'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments to determine the corresponding service endpoint and https://docs.microsoft.com/en-us/graph/api/application-get?view=graph-rest-1.0&tabs=http to build a query request URL, such as 'https://graph.microsoft.com/beta/applications/{client_id}']."
    );
    if sni_hint {
        msg.push_str(" Alternatively, SNI may be configured on the app. Please ensure that client assertion is being sent with the x5c claim in the JWT header using MSAL's WithSendX5C() method so that Azure Active Directory can validate the certificate being used.");
    }
    AadError::new(401, "invalid_client", 700027, msg)
}

/// AADSTS700027: the key was found but the signature does not verify (or the key expired).
pub(crate) fn assertion_bad_signature(reason: &str, thumbprint_hex: &str, found: &str) -> AadError {
    AadError::new(
        401,
        "invalid_client",
        700027,
        format!(
            "Client assertion failed signature validation. [Reason - {reason}, Thumbprint of key used by client: '{thumbprint_hex}', Found key '{found}']"
        ),
    )
}

/// AADSTS50032: the certificate's RSA key is shorter than 2048 bits.
pub(crate) fn weak_rsa_key(bits: usize) -> AadError {
    AadError::new(
        401,
        "invalid_client",
        50032,
        format!("RSA key size {bits} is less than the minimum required 2048 bits"),
    )
}

/// AADSTS50048: `iss` and `sub` of the assertion differ.
pub(crate) fn assertion_subject_mismatch() -> AadError {
    AadError::new(
        401,
        "invalid_client",
        50048,
        "Subject mismatches Issuer claim in the client assertion.",
    )
}

/// AADSTS700021: `iss`/`sub` are not the client id.
pub(crate) fn assertion_wrong_client() -> AadError {
    AadError::new(
        401,
        "invalid_client",
        700021,
        "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
    )
}

/// AADSTS700023: `aud` is not this token endpoint.
pub(crate) fn assertion_wrong_audience() -> AadError {
    AadError::new(
        401,
        "invalid_client",
        700023,
        "Client assertion audience claim does not match Realm issuer. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
    )
}

/// AADSTS700024: the assertion is expired or not yet valid (or has no `exp`).
pub(crate) fn assertion_time_range(now: u64, nbf: u64, exp: u64) -> AadError {
    let t = |e: u64| iso8601_fraction(e as i64);
    AadError::new(
        401,
        "invalid_client",
        700024,
        format!(
            "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
            t(now),
            t(nbf),
            t(exp)
        ),
    )
}

/// A replayed assertion (`jti` already redeemed for the app within its lifetime). Entra's error
/// reference has no dedicated code for this; AADSTS50013 (InvalidAssertion, "Assertion is
/// invalid because of various reasons") is the documented catch-all for unusable assertions.
pub(crate) fn assertion_replayed(jti: &str) -> AadError {
    AadError::new(
        401,
        "invalid_client",
        50013,
        format!(
            "Assertion is invalid because of various reasons. The client assertion with jti '{jti}' was already used; build a new assertion with a fresh jti for every request."
        ),
    )
}

/// AADSTS70021: no federated credential has the assertion's issuer.
pub(crate) fn federated_no_match(iss: &str, sub: &str, aud: &str) -> AadError {
    AadError::new(
        401,
        "invalid_client",
        70021,
        format!(
            "No matching federated identity record found for presented assertion. Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{aud}'. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
        ),
    )
}

/// AADSTS700213 (or 7002138 when only the case differs): the issuer matches, the subject does not.
pub(crate) fn federated_subject_mismatch(sub: &str, case_only: bool) -> AadError {
    if case_only {
        AadError::new(
            401,
            "invalid_client",
            7002138,
            format!(
                "No matching federated identity record found for presented assertion subject '{sub}'. The subject matches with case-insensitive comparison, but not with case-sensitive comparison. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. See documentation at: https://learn.microsoft.com/entra/workload-id/workload-identity-federation."
            ),
        )
    } else {
        AadError::new(
            401,
            "invalid_client",
            700213,
            format!(
                "No matching federated identity record found for presented assertion subject '{sub}'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
            ),
        )
    }
}

/// AADSTS700212: issuer and subject match, the audience does not.
pub(crate) fn federated_audience_mismatch(aud: &str) -> AadError {
    AadError::new(
        401,
        "invalid_client",
        700212,
        format!(
            "No matching federated identity record found for presented assertion audience '{aud}'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
        ),
    )
}

/// AADSTS50027 for a federated token from the emulator's own issuers whose signature fails.
pub(crate) fn federated_bad_signature(iss: &str) -> AadError {
    invalid_jwt(&format!(
        "External ID token from issuer '{iss}' failed signature verification."
    ))
}

/// AADSTS700025: a public client sent a credential.
pub(crate) fn public_client_with_credential() -> AadError {
    AadError::new(
        401,
        "invalid_client",
        700025,
        "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
    )
}

/// AADSTS50011: reply address mismatch (on /token for a code: the URI differs from /authorize's).
pub(crate) fn redirect_uri_mismatch(redirect_uri: &str, client_id: &str) -> AadError {
    AadError::new(
        400,
        "invalid_client",
        50011,
        format!(
            "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this."
        ),
    )
}

/// AADSTS70000: a grant (code, refresh token, device code) that is unknown or not this client's.
pub(crate) fn invalid_grant(detail: &str) -> AadError {
    AadError::new(
        400,
        "invalid_grant",
        70000,
        format!("Provided grant is invalid or malformed. {detail}"),
    )
}

/// AADSTS54005: the authorization code was already redeemed.
pub(crate) fn code_redeemed() -> AadError {
    AadError::new(
        400,
        "invalid_grant",
        54005,
        "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
    )
}

/// AADSTS70008: the code (or refresh token) expired.
pub(crate) fn grant_expired() -> AadError {
    AadError::new(
        400,
        "invalid_grant",
        70008,
        "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
    )
}

/// AADSTS700005: the code belongs to another tenant.
pub(crate) fn code_wrong_tenant() -> AadError {
    AadError::new(
        400,
        "invalid_grant",
        700005,
        "Provided Authorization Code is intended to use against other tenant, thus rejected.",
    )
}

/// AADSTS501481: PKCE verifier missing or wrong.
pub(crate) fn pkce_mismatch() -> AadError {
    AadError::new(
        400,
        "invalid_grant",
        501481,
        "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
    )
}

/// AADSTS50173: refresh tokens revoked (`revoke_refresh_tokens`).
pub(crate) fn refresh_token_revoked() -> AadError {
    let mut e = AadError::new(
        400,
        "invalid_grant",
        50173,
        "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.",
    );
    e.suberror = Some("bad_token");
    e
}

/// AADSTS50076: MFA required; carries a `claims` challenge.
pub(crate) fn mfa_required(resource: &str) -> AadError {
    let mut e = AadError::new(
        400,
        "interaction_required",
        50076,
        format!(
            "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '{resource}'."
        ),
    );
    e.suberror = Some("basic_action");
    e.claims = Some(
        r#"{"access_token":{"capolids":{"essential":true,"values":["8c4d3a2b-1e0f-4a9b-8c7d-6e5f4a3b2c1d"]}}}"#.into(),
    );
    e
}

/// Device-code polling replies (RFC 8628 errors with Entra's codes).
pub(crate) fn device_pending() -> AadError {
    AadError::new(
        400,
        "authorization_pending",
        70016,
        "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
    )
}

pub(crate) fn device_slow_down() -> AadError {
    AadError::new(
        400,
        "slow_down",
        70016,
        "OAuth 2.0 device flow error. Polling too fast: slow down.",
    )
}

pub(crate) fn device_declined() -> AadError {
    AadError::new(
        400,
        "authorization_declined",
        70000,
        "The end user denied the authorization request.",
    )
}

pub(crate) fn device_expired() -> AadError {
    AadError::new(400, "expired_token", 70019, "Verification code expired.")
}

pub(crate) fn device_bad_code() -> AadError {
    AadError::new(
        400,
        "bad_verification_code",
        70018,
        "Invalid verification code: the device_code is not recognized.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_shape() {
        let e = invalid_client_secret("abc");
        let b = e.body("trace-1", "corr-1", 1_683_352_980);
        assert_eq!(b["error"], "invalid_client");
        assert_eq!(b["error_codes"], json!([7000215]));
        assert_eq!(b["timestamp"], "2023-05-06 06:03:00Z");
        assert_eq!(b["trace_id"], "trace-1");
        assert_eq!(b["correlation_id"], "corr-1");
        assert_eq!(b["error_uri"], "https://login.microsoftonline.com/error?code=7000215");
        let d = b["error_description"].as_str().unwrap();
        assert!(d.starts_with("AADSTS7000215: Invalid client secret provided."));
        assert!(d.ends_with("\r\nTrace ID: trace-1\r\nCorrelation ID: corr-1\r\nTimestamp: 2023-05-06 06:03:00Z"));
        assert!(b.get("suberror").is_none());
        assert_eq!(e.status, 401);
    }
}
