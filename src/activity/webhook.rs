//! `activity listen`'s decisions, without the HTTP server: the shared secret the service sends
//! as `Webhook-AuthId` (compared in constant time; a request without the right one gets 401 and
//! nothing is fetched), the body size limit, the validation handshake (`Webhook-ValidationCode`,
//! answered 200), the notification body (an array of `{tenantId, clientId, contentType,
//! contentId, contentUri, contentCreated, contentExpiration}`), the origin of every `contentUri`,
//! and dropping what was delivered already (the service retries notifications, and a blob may be
//! both pulled and notified).
//!
//! Reference: "Webhook validation" and "Receiving notifications" in Microsoft's Office 365
//! Management Activity API reference.

use super::feed::{self, ContentRef, UrlRule};
use super::times::parse_service_time;
use crate::error::{Error, Result};
use crate::secret::Secret;
use serde::Deserialize;
use std::collections::HashSet;

/// The header carrying the subscription's `authId` (the service spells it `Webhook-AuthID`;
/// header names are case-insensitive).
pub(crate) const AUTH_ID_HEADER: &str = "webhook-authid";
/// The header of the validation request sent when a subscription with a webhook is started.
pub(crate) const VALIDATION_HEADER: &str = "webhook-validationcode";
/// The largest request body read. Notifications are small by design ("the number of content
/// blobs in each notification is limited"); a larger body is refused with 413 unread.
pub(crate) const MAX_BODY: usize = 1 << 20;

/// The webhook's shared secret (`--auth-id-file`, `ENTRA_TOKEN_WEBHOOK_AUTH_ID`), kept only as
/// its SHA-256 digest.
pub(crate) struct AuthId {
    digest: Vec<u8>,
}

impl std::fmt::Debug for AuthId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthId([REDACTED])")
    }
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

impl AuthId {
    /// The value is compared exactly as given (a secret file's one trailing newline is removed
    /// when it is read, as for every secret file). `source` names where it came from, for the
    /// error (exit 2) when it is blank.
    pub(crate) fn new(secret: &Secret<String>, source: &str) -> Result<AuthId> {
        let value = secret.expose();
        if value.trim().is_empty() {
            return Err(Error::usage(format!("the webhook auth id from {source} is empty")));
        }
        Ok(AuthId {
            digest: sha256(value.as_bytes()),
        })
    }

    /// Whether `presented` (the `Webhook-AuthId` header, if any) is the secret. The comparison
    /// takes the same time wherever the values differ, and does not reveal the secret's length.
    pub(crate) fn matches(&self, presented: Option<&[u8]>) -> bool {
        let Some(p) = presented else { return false };
        aws_lc_rs::constant_time::verify_slices_are_equal(&sha256(p), &self.digest).is_ok()
    }
}

/// What to answer a request, and what to do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// 200: the validation request of a subscription being started with this webhook.
    Validated,
    /// 401: no or the wrong `Webhook-AuthId`; nothing is read or fetched.
    Unauthorized,
    /// 405: only POST is served.
    MethodNotAllowed,
    /// 413: the body is over [`MAX_BODY`].
    TooLarge,
    /// 400: not a notification (the reason is for the log, not the reply).
    BadRequest(String),
    /// Notifications to fetch (then answered 200).
    Notify(Notifications),
}

impl Verdict {
    pub(crate) fn status(&self) -> u16 {
        match self {
            Verdict::Validated | Verdict::Notify(_) => 200,
            Verdict::Unauthorized => 401,
            Verdict::MethodNotAllowed => 405,
            Verdict::TooLarge => 413,
            Verdict::BadRequest(_) => 400,
        }
    }
}

/// Checks what can be checked before the body is read: the method, the auth id, the announced
/// length. `None`: read the body (at most [`MAX_BODY`]) and call [`judge_body`].
pub(crate) fn judge_head(
    method: &str,
    auth_id: Option<&[u8]>,
    content_length: Option<u64>,
    expected: &AuthId,
) -> Option<Verdict> {
    if !method.eq_ignore_ascii_case("POST") {
        return Some(Verdict::MethodNotAllowed);
    }
    if !expected.matches(auth_id) {
        return Some(Verdict::Unauthorized);
    }
    if content_length.is_some_and(|n| n > MAX_BODY as u64) {
        return Some(Verdict::TooLarge);
    }
    None
}

/// The notifications of one request that are this tenant's and on the Management API's origin.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Notifications {
    pub(crate) content: Vec<ContentRef>,
    /// Entries for other tenants (a webhook shared by several tenants): not fetched here.
    pub(crate) other_tenant: usize,
    /// Entries already past their `contentExpiration`.
    pub(crate) expired: usize,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    tenant_id: String,
    // `clientId` (the app that created the subscription) is not needed here
    content_type: String,
    content_id: String,
    content_uri: String,
    #[serde(default)]
    content_created: Option<String>,
    #[serde(default)]
    content_expiration: Option<String>,
}

/// Reads a request body that passed [`judge_head`]. `validation_code` is the
/// `Webhook-ValidationCode` header; `tenant` the tenant this listener fetches for (the token's
/// `tid`); `rule` the Management API's origin. A `contentUri` on any other origin makes the
/// whole request a 400: nothing of it is fetched.
pub(crate) fn judge_body(
    validation_code: Option<&[u8]>,
    body: &[u8],
    tenant: &str,
    rule: &UrlRule,
    now: i64,
) -> Verdict {
    if body.len() > MAX_BODY {
        return Verdict::TooLarge;
    }
    if validation_code.is_some() || is_validation_body(body) {
        return Verdict::Validated;
    }
    let list: Vec<Notification> = match serde_json::from_slice(body) {
        Ok(l) => l,
        Err(e) => return Verdict::BadRequest(format!("the body is not an array of notifications ({e})")),
    };
    let mut out = Notifications::default();
    let mut ids = HashSet::new();
    for n in list {
        if !n.tenant_id.trim().eq_ignore_ascii_case(tenant) {
            out.other_tenant += 1;
            continue;
        }
        let content_uri = match rule.accept(&n.content_uri, "contentUri") {
            Ok(u) => u,
            Err(e) => return Verdict::BadRequest(e.message),
        };
        if n.content_expiration
            .as_deref()
            .and_then(parse_service_time)
            .is_some_and(|t| t <= now)
        {
            out.expired += 1;
            continue;
        }
        let content_type = feed::content_type(&n.content_type).map_or(n.content_type, str::to_string);
        if !ids.insert((content_type.clone(), n.content_id.clone())) {
            continue;
        }
        out.content.push(ContentRef {
            created: n.content_created.as_deref().and_then(parse_service_time).unwrap_or(now),
            content_type,
            content_id: n.content_id,
            content_uri,
        });
    }
    Verdict::Notify(out)
}

fn is_validation_body(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Validation {
        #[serde(rename = "validationCode")]
        _code: serde::de::IgnoredAny,
    }
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') && serde_json::from_slice::<Validation>(body).is_ok()
}

impl Notifications {
    /// The blobs not delivered yet according to `delivered(content_type, content_id)` (the state
    /// file's [`super::state::StateFile::is_delivered`], or the listener's own memory).
    pub(crate) fn undelivered(self, delivered: impl Fn(&str, &str) -> bool) -> Vec<ContentRef> {
        self.content
            .into_iter()
            .filter(|r| !delivered(&r.content_type, &r.content_id))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TENANT: &str = "41463f53-8812-40f4-890f-865bf6e35190";
    const NOW: i64 = 1_795_000_000; // 2026-11-18T11:06:40Z

    fn origin() -> UrlRule {
        UrlRule::new(&url::Url::parse("https://manage.office.com").unwrap())
    }

    fn auth() -> AuthId {
        AuthId::new(
            &Secret::new("o365activityapinotification".to_string()),
            "--auth-id-file",
        )
        .unwrap()
    }

    fn note(tenant: &str, id: &str, uri: &str) -> serde_json::Value {
        json!({"tenantId": tenant, "clientId": "c", "contentType": "Audit.SharePoint", "contentId": id,
               "contentUri": uri, "contentCreated": "2026-11-18T10:00:00.000Z",
               "contentExpiration": "2026-11-25T10:00:00.000Z"})
    }

    #[test]
    fn auth_id_is_checked_before_anything_else() {
        let a = auth();
        assert!(a.matches(Some(b"o365activityapinotification")));
        assert!(!a.matches(Some(b"o365activityapinotificatioN")));
        assert!(!a.matches(Some(b"o365activityapinotification ")));
        assert!(!a.matches(Some(b"")));
        assert!(!a.matches(None));
        assert_eq!(
            judge_head("POST", Some(b"wrong"), Some(10), &a),
            Some(Verdict::Unauthorized)
        );
        assert_eq!(judge_head("POST", None, None, &a).unwrap().status(), 401);
        // a large body from someone without the secret is refused as unauthorized, unread
        assert_eq!(judge_head("POST", None, Some(1 << 30), &a), Some(Verdict::Unauthorized));
        assert_eq!(
            judge_head("GET", Some(b"o365activityapinotification"), None, &a),
            Some(Verdict::MethodNotAllowed)
        );
        let ok = Some(&b"o365activityapinotification"[..]);
        assert_eq!(judge_head("POST", ok, Some(1 << 30), &a), Some(Verdict::TooLarge));
        assert_eq!(judge_head("post", ok, Some(100), &a), None);
        assert_eq!(judge_head("POST", ok, None, &a), None);

        let empty = AuthId::new(&Secret::new(" \n".to_string()), "ENTRA_TOKEN_WEBHOOK_AUTH_ID").unwrap_err();
        assert_eq!(empty.exit_code(), 2);
        assert!(empty.message.contains("ENTRA_TOKEN_WEBHOOK_AUTH_ID"));
    }

    #[test]
    fn validation_handshake() {
        let code = Some(&b"opaque-123"[..]);
        let body = json!({"validationCode": "opaque-123"}).to_string();
        assert_eq!(
            judge_body(code, body.as_bytes(), TENANT, &origin(), NOW),
            Verdict::Validated
        );
        assert_eq!(
            judge_body(None, body.as_bytes(), TENANT, &origin(), NOW),
            Verdict::Validated
        );
        assert_eq!(judge_body(code, b"", TENANT, &origin(), NOW).status(), 200);
    }

    #[test]
    fn notifications_are_parsed_filtered_and_deduplicated() {
        let uri = |id: &str| format!("https://manage.office.com/api/v1.0/{TENANT}/activity/feed/audit/{id}");
        let mut expired = note(TENANT, "old", &uri("old"));
        expired["contentExpiration"] = json!("2026-11-18T11:00:00.000Z");
        let body = json!([
            note(TENANT, "a", &uri("a")),
            note(&TENANT.to_ascii_uppercase(), "b", &uri("b")),
            note(TENANT, "a", &uri("a")),
            note(
                "00000000-0000-0000-0000-000000000001",
                "x",
                "https://manage.office.com/x"
            ),
            expired,
        ]);
        let Verdict::Notify(n) = judge_body(None, body.to_string().as_bytes(), TENANT, &origin(), NOW) else {
            panic!("not a notification");
        };
        assert_eq!((n.other_tenant, n.expired), (1, 1));
        let ids: Vec<_> = n.content.iter().map(|r| r.content_id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(n.content[0].content_type, "Audit.SharePoint");
        assert_eq!(n.content[0].created, NOW - 3600 - 400);
        assert_eq!(n.content[0].content_uri.as_str(), uri("a"));

        let left = n.undelivered(|ct, id| ct == "Audit.SharePoint" && id == "a");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].content_id, "b");
    }

    #[test]
    fn a_content_uri_off_origin_refuses_the_whole_request() {
        let body = json!([
            note(
                TENANT,
                "a",
                "https://manage.office.com/api/v1.0/t/activity/feed/audit/a"
            ),
            note(
                TENANT,
                "evil",
                "https://attacker.example/api/v1.0/t/activity/feed/audit/evil"
            ),
        ]);
        let v = judge_body(None, body.to_string().as_bytes(), TENANT, &origin(), NOW);
        assert_eq!(v.status(), 400);
        let Verdict::BadRequest(why) = v else { panic!() };
        assert!(why.contains("another origin"), "{why}");
    }

    #[test]
    fn malformed_and_oversized_bodies() {
        for bad in [&b"not json"[..], b"{}", b"[{\"tenantId\":\"x\"}]", b"[1]"] {
            assert_eq!(judge_body(None, bad, TENANT, &origin(), NOW).status(), 400, "{bad:?}");
        }
        let big = vec![b' '; MAX_BODY + 1];
        assert_eq!(judge_body(None, &big, TENANT, &origin(), NOW), Verdict::TooLarge);
        assert_eq!(
            judge_body(None, b"[]", TENANT, &origin(), NOW),
            Verdict::Notify(Notifications::default())
        );
    }
}
