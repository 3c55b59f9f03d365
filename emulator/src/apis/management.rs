//! An Office 365 Management Activity API stand-in at `/api/v1.0/{tenant}/activity/feed/...`
//! (and `/api/v1/...`, the form Microsoft's `NextPageUri` examples use): subscriptions, content
//! listing with `NextPageUri` header paging, and content blobs. Error codes follow the API's
//! documented `AFnnnnn` catalogue; authentication failures answer 401 with ASP.NET's
//! `{"Message":"Authorization has been denied for this request."}` as the real service does,
//! a token for another tenant gets AF20010 (401), and a token without `ActivityFeed.Read` gets
//! AF10001 (403).

use serde_json::{Value, json};

use crate::apis::{ApiReply, ApiRequest, TokenProblem, check_bearer, has_permission};
use crate::clock::{iso8601, parse_iso_time};
use crate::fixtures as fx;
use crate::signer::Signer;
use crate::state::{Config, Subscriptions};

/// The content types the API knows.
pub(crate) const CONTENT_TYPES: &[&str] = &[
    "Audit.AzureActiveDirectory",
    "Audit.Exchange",
    "Audit.SharePoint",
    "Audit.General",
    "DLP.All",
];

/// The API's error body: `{"error": {"code": "AFnnnnn", "message": ...}}`.
fn af(status: u16, code: &str, message: &str) -> ApiReply {
    ApiReply::json(status, json!({"error": {"code": code, "message": message}}))
}

const DAY: u64 = 86_400;

/// Handles a request whose path starts with `/api/v1.0/` or `/api/v1/`.
pub(crate) fn handle(req: &ApiRequest<'_>, signer: &Signer, config: &Config, subs: &mut Subscriptions) -> ApiReply {
    let segments: Vec<&str> = req
        .path
        .trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .collect();
    // api / v1.0|v1 / {tenant} / activity / feed / rest...
    let (tenant, rest) = match segments.as_slice() {
        ["api", "v1.0" | "v1", tenant, "activity", "feed", rest @ ..] => (*tenant, rest),
        _ => return af(404, "AF20000", &format!("No resource at {}.", req.path)),
    };
    let claims = match check_bearer(
        (req.header)("authorization").as_deref(),
        signer,
        &[fx::MANAGE_OFFICE_RESOURCE, fx::MANAGE_OFFICE_APP_ID],
        req.now,
    ) {
        Ok(c) => c,
        Err(problem) => {
            let why = match problem {
                TokenProblem::Missing => "no bearer token",
                TokenProblem::Invalid => "the token's signature is invalid",
                TokenProblem::Expired => "the token has expired or is not yet valid",
                TokenProblem::WrongAudience => "the token's audience is not https://manage.office.com",
            };
            return ApiReply::json(
                401,
                json!({"Message": "Authorization has been denied for this request.", "Reason": why}),
            )
            .header("www-authenticate", r#"Bearer realm="", error="invalid_token""#);
        }
    };
    let tenant = tenant.to_ascii_lowercase();
    if uuid::Uuid::parse_str(&tenant).is_err() {
        return af(
            400,
            "AF20013",
            &format!("The tenant ID passed in the URL ({tenant}) is not a valid GUID."),
        );
    }
    let tid = claims.get("tid").and_then(Value::as_str).unwrap_or("");
    if !tid.eq_ignore_ascii_case(&tenant) {
        return af(
            401,
            "AF20010",
            &format!(
                "The tenant ID passed in the URL ({tenant}) does not match the tenant ID passed in the access token ({tid})."
            ),
        );
    }
    if !has_permission(&claims, &["ActivityFeed.Read", "ActivityFeed.ReadDlp"]) {
        let roles = claims
            .get("roles")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))
            .unwrap_or_default();
        return af(
            403,
            "AF10001",
            &format!("The permission set ({roles}) sent in the request does not include the expected permission."),
        );
    }
    let content_type = req.param("contentType");
    match (req.method, rest) {
        ("POST", ["subscriptions", "start"]) => {
            let ct = match checked_type(content_type) {
                Ok(ct) => ct,
                Err(e) => return e,
            };
            subs.entry(tenant).or_default().insert(ct.clone());
            ApiReply::json(200, json!({"contentType": ct, "status": "enabled", "webhook": null}))
        }
        ("POST", ["subscriptions", "stop"]) => {
            let ct = match checked_type(content_type) {
                Ok(ct) => ct,
                Err(e) => return e,
            };
            if !subs.get_mut(&tenant).is_some_and(|s| s.remove(&ct)) {
                return af(400, "AF20022", "No subscription found for the specified content type.");
            }
            ApiReply::json(200, Value::Null)
        }
        ("GET", ["subscriptions", "list"]) => {
            let list: Vec<Value> = subs
                .get(&tenant)
                .into_iter()
                .flatten()
                .map(|ct| json!({"contentType": ct, "status": "enabled", "webhook": null}))
                .collect();
            ApiReply::json(200, Value::Array(list))
        }
        ("GET", ["subscriptions", "notifications"]) => {
            if let Err(e) = checked_type(content_type) {
                return e;
            }
            ApiReply::json(200, json!([]))
        }
        ("GET", ["subscriptions", "content"]) => {
            let ct = match checked_type(content_type) {
                Ok(ct) => ct,
                Err(e) => return e,
            };
            if !subs.get(&tenant).is_some_and(|s| s.contains(&ct)) {
                return af(400, "AF20022", "No subscription found for the specified content type.");
            }
            list_content(req, config, &tenant, &ct)
        }
        ("GET", ["audit", content_id]) => content_blob(req, &tenant, content_id),
        _ => af(
            404,
            "AF20000",
            &format!(
                "The Management Activity API stand-in has no {} {}.",
                req.method, req.path
            ),
        ),
    }
}

fn checked_type(ct: Option<String>) -> Result<String, ApiReply> {
    let Some(ct) = ct.filter(|c| !c.is_empty()) else {
        return Err(af(400, "AF20001", "Missing parameter: contentType."));
    };
    CONTENT_TYPES
        .iter()
        .find(|k| k.eq_ignore_ascii_case(&ct))
        .map(|k| k.to_string())
        .ok_or_else(|| af(400, "AF20020", "The specified content type is not valid."))
}

const WINDOW_RULE: &str = "Start time and end time must both be specified (or both omitted) and must be less than or equal to 24 hours apart, with the start time no more than 7 days in the past.";

/// The listing window `[start, end)`: both given or neither (then the last 24 h).
fn window(req: &ApiRequest<'_>) -> Result<(u64, u64), ApiReply> {
    let now = req.now;
    match (req.param("startTime"), req.param("endTime")) {
        (None, None) => Ok((now - DAY.min(now), now)),
        (Some(s), Some(e)) => {
            let (Some(start), Some(end)) = (parse_iso_time(&s), parse_iso_time(&e)) else {
                return Err(af(400, "AF20054", "Invalid syntax for the start time and end time."));
            };
            if end <= start || end - start > DAY || start + 7 * DAY < now {
                return Err(af(400, "AF20030", WINDOW_RULE));
            }
            Ok((start, end))
        }
        _ => Err(af(400, "AF20030", WINDOW_RULE)),
    }
}

/// `nextPage` tokens look like Microsoft's (`2015101900R022885001761`): here the page index.
fn encode_page(page: u64) -> String {
    format!("{:014}R{page:09}", 0)
}

fn decode_page(s: &str) -> Option<u64> {
    let (zeros, page) = s.split_once('R')?;
    if zeros.len() != 14 || !zeros.bytes().all(|b| b == b'0') || page.len() != 9 {
        return None;
    }
    page.parse().ok()
}

fn list_content(req: &ApiRequest<'_>, config: &Config, tenant: &str, ct: &str) -> ApiReply {
    let (start, end) = match window(req) {
        Ok(w) => w,
        Err(e) => return e,
    };
    let page = match req.param("nextPage") {
        None => 0,
        Some(p) => match decode_page(&p) {
            Some(n) => n,
            None => return af(400, "AF20031", &format!("Invalid nextPage Input: {p}.")),
        },
    };
    let size = config.content_page_size.max(1);
    let total = config.content_blobs;
    let first = page.saturating_mul(size).min(total);
    let last = first.saturating_add(size).min(total);
    let span = (end - start).max(1);
    let blobs: Vec<Value> = (first..last)
        .map(|i| {
            let created = start + span * i / total.max(1);
            let id = format!("{created}${}${i:06}", ct.replace('.', "_"));
            json!({
                "contentType": ct,
                "contentId": id,
                "contentUri": format!("{}/api/v1.0/{tenant}/activity/feed/audit/{id}", req.origin),
                "contentCreated": iso8601(created as i64).replace('Z', ".000Z"),
                "contentExpiration": iso8601((created + 7 * DAY) as i64).replace('Z', ".000Z"),
            })
        })
        .collect();
    let mut reply = ApiReply::json(200, Value::Array(blobs));
    if last < total {
        let q = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let t = |e: u64| iso8601(e as i64).trim_end_matches('Z').to_string();
        let mut uri = format!(
            "{}/api/v1/{tenant}/activity/feed/subscriptions/content?contentType={}&startTime={}&endTime={}",
            req.origin,
            q(ct),
            q(&t(start)),
            q(&t(end)),
        );
        if let Some(p) = req.param("PublisherIdentifier") {
            uri.push_str(&format!("&PublisherIdentifier={}", q(&p)));
        }
        uri.push_str(&format!("&nextPage={}", encode_page(page + 1)));
        reply = reply.header("NextPageUri", uri);
    }
    reply
}

fn content_blob(req: &ApiRequest<'_>, tenant: &str, content_id: &str) -> ApiReply {
    let parts: Vec<&str> = content_id.split('$').collect();
    let parsed = match parts.as_slice() {
        [created, ct, idx] => created
            .parse::<u64>()
            .ok()
            .zip(idx.parse::<u64>().ok())
            .map(|(c, i)| (c, ct.replace('_', "."), i)),
        _ => None,
    };
    let Some((created, ct, idx)) = parsed.filter(|(_, ct, _)| CONTENT_TYPES.contains(&ct.as_str())) else {
        return af(
            400,
            "AF20052",
            &format!("Content ID {content_id} in the URL is invalid."),
        );
    };
    if created + 7 * DAY < req.now {
        return af(
            400,
            "AF20051",
            &format!(
                "Content requested with the key {content_id} has already expired. Content older than 7 days cannot be retrieved."
            ),
        );
    }
    let workload = match ct.as_str() {
        "Audit.Exchange" => "Exchange",
        "Audit.SharePoint" => "SharePoint",
        "Audit.AzureActiveDirectory" => "AzureActiveDirectory",
        _ => "MicrosoftTeams",
    };
    let events: Vec<Value> = (0..3u64)
        .map(|k| {
            let operation = ["UserLoggedIn", "FileAccessed", "MemberAdded"][k as usize];
            json!({
                "CreationTime": iso8601((created + k) as i64).trim_end_matches('Z'),
                "Id": format!("e0e0e0e0-0000-4000-8000-{:06}{:06}", idx % 1_000_000, k),
                "Operation": operation,
                "OrganizationId": tenant,
                "RecordType": 15 + k,
                "ResultStatus": "Succeeded",
                "UserKey": fx::ADMIN_USER_ID,
                "UserType": 0,
                "Version": 1,
                "Workload": workload,
                "ClientIP": "203.0.113.10",
                "ObjectId": format!("object-{idx}-{k}"),
                "UserId": fx::ADMIN_UPN,
            })
        })
        .collect();
    ApiReply::json(200, Value::Array(events))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_page_tokens() {
        assert_eq!(decode_page(&encode_page(3)), Some(3));
        assert_eq!(encode_page(2), "00000000000000R000000002");
        assert_eq!(decode_page("2015101900R022885001761"), None);
        assert_eq!(decode_page("x"), None);
    }

    #[test]
    fn content_types_case_insensitive() {
        assert_eq!(checked_type(Some("audit.general".into())).unwrap(), "Audit.General");
        assert!(checked_type(Some("Audit.Nope".into())).is_err());
        assert!(checked_type(None).is_err());
    }
}
