//! Entra-shaped OAuth error replies: the `AADSTSnnnn` catalogue used by the emulator and the
//! exact JSON body layout (`error`, `error_description` with trace/correlation/timestamp lines,
//! `error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri`).

use serde_json::{Value, json};

/// One OAuth error as Entra would report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AadError {
    /// HTTP status of the reply.
    pub status: u16,
    /// The OAuth `error` value (`invalid_client`, `invalid_scope`, ...).
    pub error: &'static str,
    /// The AADSTS number, e.g. 7000215.
    pub code: u32,
    /// The text after `AADSTSnnnn: `.
    pub message: String,
    /// Optional `suberror` (`consent_required`, `basic_action`, ...).
    pub suberror: Option<&'static str>,
    /// Optional `claims` challenge (a JSON string) for Conditional Access / MFA.
    pub claims: Option<String>,
}

impl AadError {
    pub fn new(status: u16, error: &'static str, code: u32, message: impl Into<String>) -> Self {
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
    pub fn body(&self, trace_id: &str, correlation_id: &str, now: u64) -> Value {
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
pub fn tenant_not_found(tenant: &str) -> AadError {
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
pub fn grant_needs_tenant() -> AadError {
    AadError::new(
        400,
        "invalid_request",
        9001023,
        "The grant type isn't supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.",
    )
}

/// AADSTS70003: missing or unsupported `grant_type`.
pub fn unsupported_grant_type(grant: &str) -> AadError {
    AadError::new(
        400,
        "unsupported_grant_type",
        70003,
        format!("The app requested an unsupported grant type '{grant}'."),
    )
}

/// AADSTS900144: a required body parameter is missing.
pub fn missing_parameter(name: &str) -> AadError {
    AadError::new(
        400,
        "invalid_request",
        900144,
        format!("The request body must contain the following parameter: '{name}'."),
    )
}

/// AADSTS900561: the token endpoint was called with something other than POST.
pub fn post_only(method: &str) -> AadError {
    AadError::new(
        400,
        "invalid_request",
        900561,
        format!("The endpoint only accepts POST, OPTIONS requests. Received a {method} request."),
    )
}

/// AADSTS901002: `resource` sent to the v2 endpoint.
pub fn resource_on_v2() -> AadError {
    AadError::new(
        400,
        "invalid_request",
        901002,
        "The 'resource' request parameter is not supported.",
    )
}

/// AADSTS1002012: client-credentials scope without the `/.default` suffix.
pub fn scope_needs_default(scope: &str) -> AadError {
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
pub fn scope_multiple_resources(scope: &str) -> AadError {
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
pub fn app_not_found(client_id: &str, directory: &str) -> AadError {
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
pub fn missing_client_credential() -> AadError {
    AadError::new(
        401,
        "invalid_client",
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    )
}

/// AADSTS7000215: wrong secret (also what the secret's ID gets).
pub fn invalid_client_secret(client_id: &str) -> AadError {
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
pub fn expired_client_secret(client_id: &str) -> AadError {
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
pub fn resource_not_found(resource: &str, directory: &str) -> AadError {
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
pub fn malformed_request(detail: &str) -> AadError {
    AadError::new(
        400,
        "invalid_request",
        9002313,
        format!("Invalid request. Request is malformed or invalid. {detail}"),
    )
}

/// AADSTS50027: the assertion is not a well-formed JWT, or its header lacks what is needed.
pub fn invalid_jwt(detail: &str) -> AadError {
    AadError::new(401, "invalid_client", 50027, format!("Invalid JWT token. {detail}"))
}

/// AADSTS700027: the assertion's key is not registered on the app.
pub fn assertion_key_not_found(client_id: &str, thumbprint_hex: &str, sni_hint: bool) -> AadError {
    let mut msg = format!(
        "Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '{thumbprint_hex}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{client_id}'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments to determine the corresponding service endpoint and https://docs.microsoft.com/en-us/graph/api/application-get?view=graph-rest-1.0&tabs=http to build a query request URL, such as 'https://graph.microsoft.com/beta/applications/{client_id}']."
    );
    if sni_hint {
        msg.push_str(" Alternatively, SNI may be configured on the app. Please ensure that client assertion is being sent with the x5c claim in the JWT header using MSAL's WithSendX5C() method so that Azure Active Directory can validate the certificate being used.");
    }
    AadError::new(401, "invalid_client", 700027, msg)
}

/// AADSTS700027: the key was found but the signature does not verify (or the key expired).
pub fn assertion_bad_signature(reason: &str, thumbprint_hex: &str, found: &str) -> AadError {
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
pub fn weak_rsa_key(bits: usize) -> AadError {
    AadError::new(
        401,
        "invalid_client",
        50032,
        format!("RSA key size {bits} is less than the minimum required 2048 bits"),
    )
}

/// AADSTS50048: `iss` and `sub` of the assertion differ.
pub fn assertion_subject_mismatch() -> AadError {
    AadError::new(
        401,
        "invalid_client",
        50048,
        "Subject mismatches Issuer claim in the client assertion.",
    )
}

/// AADSTS700021: `iss`/`sub` are not the client id.
pub fn assertion_wrong_client() -> AadError {
    AadError::new(
        401,
        "invalid_client",
        700021,
        "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
    )
}

/// AADSTS700023: `aud` is not this token endpoint.
pub fn assertion_wrong_audience() -> AadError {
    AadError::new(
        401,
        "invalid_client",
        700023,
        "Client assertion audience claim does not match Realm issuer. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
    )
}

/// AADSTS700024: the assertion is expired or not yet valid (or has no `exp`).
pub fn assertion_time_range(now: u64, nbf: u64, exp: u64) -> AadError {
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
pub fn assertion_replayed(jti: &str) -> AadError {
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
pub fn federated_no_match(iss: &str, sub: &str, aud: &str) -> AadError {
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
pub fn federated_subject_mismatch(sub: &str, case_only: bool) -> AadError {
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
pub fn federated_audience_mismatch(aud: &str) -> AadError {
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
pub fn federated_bad_signature(iss: &str) -> AadError {
    invalid_jwt(&format!(
        "External ID token from issuer '{iss}' failed signature verification."
    ))
}

/// AADSTS700025: a public client sent a credential.
pub fn public_client_with_credential() -> AadError {
    AadError::new(
        401,
        "invalid_client",
        700025,
        "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
    )
}

/// AADSTS50011: reply address mismatch (on /token for a code: the URI differs from /authorize's).
pub fn redirect_uri_mismatch(redirect_uri: &str, client_id: &str) -> AadError {
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
pub fn invalid_grant(detail: &str) -> AadError {
    AadError::new(
        400,
        "invalid_grant",
        70000,
        format!("Provided grant is invalid or malformed. {detail}"),
    )
}

/// AADSTS54005: the authorization code was already redeemed.
pub fn code_redeemed() -> AadError {
    AadError::new(
        400,
        "invalid_grant",
        54005,
        "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
    )
}

/// AADSTS70008: the code (or refresh token) expired.
pub fn grant_expired() -> AadError {
    AadError::new(
        400,
        "invalid_grant",
        70008,
        "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
    )
}

/// AADSTS700005: the code belongs to another tenant.
pub fn code_wrong_tenant() -> AadError {
    AadError::new(
        400,
        "invalid_grant",
        700005,
        "Provided Authorization Code is intended to use against other tenant, thus rejected.",
    )
}

/// AADSTS501481: PKCE verifier missing or wrong.
pub fn pkce_mismatch() -> AadError {
    AadError::new(
        400,
        "invalid_grant",
        501481,
        "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
    )
}

/// AADSTS50173: refresh tokens revoked (`revoke_refresh_tokens`).
pub fn refresh_token_revoked() -> AadError {
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
pub fn mfa_required(resource: &str) -> AadError {
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
pub fn device_pending() -> AadError {
    AadError::new(
        400,
        "authorization_pending",
        70016,
        "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
    )
}

pub fn device_slow_down() -> AadError {
    AadError::new(
        400,
        "slow_down",
        70016,
        "OAuth 2.0 device flow error. Polling too fast: slow down.",
    )
}

pub fn device_declined() -> AadError {
    AadError::new(
        400,
        "authorization_declined",
        70000,
        "The end user denied the authorization request.",
    )
}

pub fn device_expired() -> AadError {
    AadError::new(400, "expired_token", 70019, "Verification code expired.")
}

pub fn device_bad_code() -> AadError {
    AadError::new(
        400,
        "bad_verification_code",
        70018,
        "Invalid verification code: the device_code is not recognized.",
    )
}

/// Formats epoch seconds as `2023-05-06T06:03:00Z` (negative values clamp to the epoch).
pub fn iso8601(epoch: i64) -> String {
    let (y, m, d, hh, mm, ss) = civil(epoch.max(0) as u64);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}

/// `2023-05-06T06:03:00.0000000Z`, the .NET round-trip form Entra prints in 700024.
pub fn iso8601_fraction(epoch: i64) -> String {
    let (y, m, d, hh, mm, ss) = civil(epoch.max(0) as u64);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.0000000Z")
}

/// `02/07/2021 17:00:39`, how Entra prints key validity in 700027 texts.
pub fn us_datetime(epoch: i64) -> String {
    let (y, m, d, hh, mm, ss) = civil(epoch.max(0) as u64);
    format!("{m:02}/{d:02}/{y:04} {hh:02}:{mm:02}:{ss:02}")
}

fn civil(epoch: u64) -> (i64, u32, u32, u64, u64, u64) {
    let days = (epoch / 86_400) as i64;
    let secs = epoch % 86_400;
    let (y, m, d) = civil_from_days(days);
    (y, m, d, secs / 3600, secs % 3600 / 60, secs % 60)
}

/// Formats epoch seconds the way Entra does in error bodies: `2023-05-06 06:03:00Z`.
pub fn entra_timestamp(epoch: u64) -> String {
    let days = (epoch / 86_400) as i64;
    let secs = epoch % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// (year, month, day) to days since 1970-01-01 (proleptic Gregorian).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM` or `YYYY-MM-DDTHH:MM:SS[.fff]`, optionally ending in
/// `Z`, as UTC epoch seconds. `None` for anything else.
pub fn parse_iso_time(s: &str) -> Option<u64> {
    let s = s.trim();
    let s = s.strip_suffix('Z').or_else(|| s.strip_suffix('z')).unwrap_or(s);
    let (date, time) = match s.split_once(['T', 't', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let num = |p: &str, len: usize| -> Option<u32> {
        (p.len() == len && p.bytes().all(|b| b.is_ascii_digit())).then(|| p.parse().ok())?
    };
    let mut dp = date.split('-');
    let (y, m, d) = (num(dp.next()?, 4)?, num(dp.next()?, 2)?, num(dp.next()?, 2)?);
    if dp.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let (mut hh, mut mm, mut ss) = (0, 0, 0);
    if let Some(t) = time {
        let t = t.split_once('.').map_or(t, |(whole, frac)| {
            if frac.bytes().all(|b| b.is_ascii_digit()) {
                whole
            } else {
                "x"
            }
        });
        let mut tp = t.split(':');
        hh = num(tp.next()?, 2)?;
        mm = num(tp.next()?, 2)?;
        if let Some(sec) = tp.next() {
            ss = num(sec, 2)?;
        }
        if tp.next().is_some() || hh > 23 || mm > 59 || ss > 59 {
            return None;
        }
    }
    let days = days_from_civil(i64::from(y), m, d);
    let t = days * 86_400 + i64::from(hh * 3600 + mm * 60 + ss);
    u64::try_from(t).ok()
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_format() {
        assert_eq!(entra_timestamp(0), "1970-01-01 00:00:00Z");
        assert_eq!(entra_timestamp(1_683_352_980), "2023-05-06 06:03:00Z");
        assert_eq!(entra_timestamp(951_782_400), "2000-02-29 00:00:00Z");
    }

    #[test]
    fn iso_times() {
        assert_eq!(parse_iso_time("2023-05-06T06:03:00Z"), Some(1_683_352_980));
        assert_eq!(parse_iso_time("2023-05-06T06:03"), Some(1_683_352_980));
        assert_eq!(parse_iso_time("2023-05-06T06:03:00.123Z"), Some(1_683_352_980));
        assert_eq!(parse_iso_time("2000-02-29"), Some(951_782_400));
        assert_eq!(iso8601(1_683_352_980), "2023-05-06T06:03:00Z");
        for bad in [
            "",
            "2023-5-6",
            "2023-05-06T25:00",
            "2023-13-01",
            "yesterday",
            "2023-05-06T06:03:00.x",
        ] {
            assert_eq!(parse_iso_time(bad), None, "{bad}");
        }
    }

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
