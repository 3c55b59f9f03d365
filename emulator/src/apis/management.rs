//! An Office 365 Management Activity API stand-in at `/api/v1.0/{tenant}/activity/feed/...`
//! (and `/api/v1/...`, the form Microsoft's `NextPageUri` examples use): this file checks the
//! caller (token, tenant, permission) and hands the request to `activity_feed`, which holds the
//! subscriptions and content. Error codes follow the API's documented `AFnnnnn` catalogue;
//! authentication failures answer 401 with ASP.NET's
//! `{"Message":"Authorization has been denied for this request."}` as the real service does,
//! a token for another tenant gets AF20010 (401), and a token without `ActivityFeed.Read` gets
//! AF10001 (403).

use serde_json::{Value, json};

use crate::activity_feed::{Baseline, Feed, FeedRequest, af};
use crate::apis::{ApiReply, ApiRequest, TokenProblem, check_bearer, has_permission};
use crate::fixtures as fx;
use crate::signer::Signer;
use crate::state::Config;

/// Handles a request whose path starts with `/api/v1.0/` or `/api/v1/`.
pub(crate) fn handle(req: &ApiRequest<'_>, signer: &Signer, config: &Config, feed: &mut Feed) -> ApiReply {
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
    let feed_req = FeedRequest {
        method: req.method,
        tenant: &tenant,
        rest,
        params: req.params(),
        body: req.body,
        origin: req.origin,
        now: req.now,
    };
    let baseline = Baseline {
        per_type: config.content_blobs,
        page_size: config.content_page_size,
    };
    feed.handle(&feed_req, baseline)
}
