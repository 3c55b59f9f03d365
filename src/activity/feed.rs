//! The Office 365 Management Activity API as the `activity` engine sees it: the
//! [`ManagementApi`] trait it pulls through (the real implementation sits on `api`'s HTTP
//! machinery; tests use a fake), the content listing's JSON, the feed's URLs (always with
//! `PublisherIdentifier`, which picks the throttling quota), the rule that a `contentUri` or
//! `NextPageUri` off the Management API's origin is never fetched, and what the service's
//! `AFnnnnn` error replies mean for the exit code and the hint.
//!
//! Reference: Microsoft's "Office 365 Management Activity API reference" and "Troubleshooting
//! the Office 365 Management Activity API" pages.

use super::times::{Window, api_time, parse_service_time};
use crate::error::{Error, Result};
use serde::Deserialize;
use std::future::Future;
use url::{Origin, Url};

/// The content types, in the order `activity` handles them by default.
pub(crate) const CONTENT_TYPES: [&str; 5] = [
    "Audit.AzureActiveDirectory",
    "Audit.Exchange",
    "Audit.SharePoint",
    "Audit.General",
    "DLP.All",
];

/// `--content-type`: one of [`CONTENT_TYPES`], matched case-insensitively, in its canonical
/// spelling (the state file is keyed by it).
pub(crate) fn content_type(text: &str) -> Result<&'static str> {
    CONTENT_TYPES
        .iter()
        .find(|c| c.eq_ignore_ascii_case(text.trim()))
        .copied()
        .ok_or_else(|| {
            Error::usage(format!("--content-type: {text:?} is not a content type"))
                .hint(format!("use one of {}", CONTENT_TYPES.join(", ")))
        })
}

/// One page of `subscriptions/content`: the body as received and the `NextPageUri` header.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListReply {
    pub(crate) body: Vec<u8>,
    pub(crate) next_page_uri: Option<String>,
}

/// The two calls the engine makes. The implementation owns the token (renewed mid-run), the
/// connection, `PublisherIdentifier`, retries honouring `Retry-After` (reporting each wait to
/// [`super::Progress::throttled`]) and the mapping of error replies ([`error_from_reply`]).
pub(crate) trait ManagementApi {
    /// Lists `content_type` for `window`, or fetches the page at `next_page` (a `NextPageUri`
    /// already checked to be on the Management API's origin).
    fn list(
        &self,
        content_type: &str,
        window: Window,
        next_page: Option<&Url>,
    ) -> impl Future<Output = Result<ListReply>>;
    /// Downloads one content blob (a JSON array of events) at a `contentUri` already checked to
    /// be on the Management API's origin.
    fn fetch(&self, content_uri: &Url) -> impl Future<Output = Result<Vec<u8>>>;
}

/// A content blob as listed (or notified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContentRef {
    pub(crate) content_type: String,
    pub(crate) content_id: String,
    pub(crate) content_uri: Url,
    /// `contentCreated`, Unix seconds (when the service made the blob available).
    pub(crate) created: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedContent {
    content_type: String,
    content_id: String,
    content_uri: String,
    #[serde(default)]
    content_created: Option<String>,
}

/// Parses a listing page. Every `contentUri` must pass `rule` (exit 4 otherwise, before any blob
/// of the page is fetched). A `contentCreated` that cannot be read counts as `now` (it only
/// decides when the id is forgotten).
pub(crate) fn parse_listing(body: &[u8], rule: &UrlRule, now: i64) -> Result<Vec<ContentRef>> {
    let listed: Vec<ListedContent> = serde_json::from_slice(body).map_err(|e| {
        Error::network("the content listing from the Management Activity API is not the expected JSON array").cause(e)
    })?;
    listed
        .into_iter()
        .map(|c| {
            let content_uri = rule.accept(&c.content_uri, "contentUri")?;
            Ok(ContentRef {
                created: c.content_created.as_deref().and_then(parse_service_time).unwrap_or(now),
                content_type: c.content_type,
                content_id: c.content_id,
                content_uri,
            })
        })
        .collect()
}

/// Where the URLs the service hands out (`contentUri`, `NextPageUri`) may point: the Management
/// API's origin. With `--management-url` (e.g. the emulator), URLs on the cloud's real host are
/// rebased onto it, as `api` does, and anything else is refused. The token is never sent
/// anywhere else.
#[derive(Debug, Clone)]
pub(crate) struct UrlRule {
    base: Url,
    origin: Origin,
    rebase_from: Option<Origin>,
}

impl UrlRule {
    /// Only `base`'s origin (scheme, host, port).
    pub(crate) fn new(base: &Url) -> UrlRule {
        UrlRule {
            base: base.clone(),
            origin: base.origin(),
            rebase_from: None,
        }
    }

    /// `base` is `--management-url`; URLs on `real` (the cloud's default Management host) are
    /// rewritten onto it.
    pub(crate) fn rebasing(base: &Url, real: &Url) -> UrlRule {
        let origin = base.origin();
        let real = real.origin();
        UrlRule {
            base: base.clone(),
            rebase_from: (real != origin).then_some(real),
            origin,
        }
    }

    /// Parses `text` and accepts it on the Management API's origin (rebased from the real host
    /// when `--management-url` is set); anything else is exit 4.
    pub(crate) fn accept(&self, text: &str, what: &str) -> Result<Url> {
        let url = Url::parse(text.trim()).map_err(|e| {
            Error::network(format!(
                "the Management Activity API sent a {what} that is not a URL: {text:?}"
            ))
            .cause(e)
        })?;
        let origin = url.origin();
        if origin == self.origin {
            return Ok(url);
        }
        if self.rebase_from.as_ref() == Some(&origin) {
            let mut rebased = self.base.clone();
            rebased.set_path(&format!("{}{}", self.base.path().trim_end_matches('/'), url.path()));
            rebased.set_query(url.query());
            rebased.set_fragment(None);
            return Ok(rebased);
        }
        Err(Error::network(format!(
            "refused a {what} on another origin: {} is not {}",
            origin.ascii_serialization(),
            self.origin.ascii_serialization()
        ))
        .hint("it was not fetched (the token is only sent to the Management API); check --management-url"))
    }
}

/// The blob's events: a JSON array whose elements are kept as received.
pub(crate) fn blob_events<'a>(body: &'a [u8], uri: &Url) -> Result<Vec<&'a serde_json::value::RawValue>> {
    serde_json::from_slice(body)
        .map_err(|e| Error::network(format!("the content blob at {uri} is not a JSON array of events")).cause(e))
}

/// The feed of one tenant: `{base}/api/v1.0/{tenant}/activity/feed/...`, every URL carrying
/// `PublisherIdentifier`.
#[derive(Debug, Clone)]
pub(crate) struct Feed {
    root: Url,
    publisher: String,
}

/// The subscription operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubscriptionOp {
    Start,
    Stop,
    List,
}

impl Feed {
    /// `base` is the Management API's base (`https://manage.office.com` or `--management-url`),
    /// `tenant` the token's `tid`, `publisher` `--publisher-id` (default: the token's `tid`).
    pub(crate) fn new(base: &Url, tenant: &str, publisher: &str) -> Result<Feed> {
        let mut root = base.clone();
        root.set_query(None);
        root.set_fragment(None);
        {
            let mut segments = root
                .path_segments_mut()
                .map_err(|_| Error::usage(format!("--management-url {base} cannot be a base URL")))?;
            segments
                .pop_if_empty()
                .extend(["api", "v1.0", tenant, "activity", "feed", ""]);
        }
        Ok(Feed {
            root,
            publisher: publisher.to_string(),
        })
    }

    /// `subscriptions/content?contentType=…&startTime=…&endTime=…&PublisherIdentifier=…`.
    pub(crate) fn content_url(&self, content_type: &str, window: Window) -> Url {
        let mut url = self.join("subscriptions/content");
        url.query_pairs_mut()
            .append_pair("contentType", content_type)
            .append_pair("startTime", &api_time(window.start))
            .append_pair("endTime", &api_time(window.end));
        self.with_publisher(url)
    }

    /// `subscriptions/start|stop?contentType=…` or `subscriptions/list`.
    pub(crate) fn subscription_url(&self, op: SubscriptionOp, content_type: Option<&str>) -> Url {
        let mut url = self.join(match op {
            SubscriptionOp::Start => "subscriptions/start",
            SubscriptionOp::Stop => "subscriptions/stop",
            SubscriptionOp::List => "subscriptions/list",
        });
        if let Some(ct) = content_type {
            url.query_pairs_mut().append_pair("contentType", ct);
        }
        self.with_publisher(url)
    }

    /// `url` with `PublisherIdentifier` added unless it already has one (a `NextPageUri`
    /// usually does; a `contentUri` does not, and the service wants it there too).
    pub(crate) fn with_publisher(&self, mut url: Url) -> Url {
        let present = url
            .query_pairs()
            .any(|(k, _)| k.eq_ignore_ascii_case("PublisherIdentifier"));
        if !present {
            url.query_pairs_mut()
                .append_pair("PublisherIdentifier", &self.publisher);
        }
        url
    }

    fn join(&self, path: &str) -> Url {
        self.root.join(path).expect("a relative path joins onto the feed root")
    }
}

/// The service's error body: `{"error":{"code":"AF20022","message":"…"}}`, or ASP.NET's
/// `{"Message":"Authorization has been denied for this request."}` on a 401.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ServiceError {
    pub(crate) code: Option<String>,
    pub(crate) message: Option<String>,
}

impl ServiceError {
    pub(crate) fn parse(body: &[u8]) -> ServiceError {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let s = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_string);
        ServiceError {
            code: s(v.pointer("/error/code")),
            message: s(v.pointer("/error/message")).or_else(|| s(v.get("Message"))),
        }
    }
}

/// Whether a reply means "slow down": 429, or the `AF429` code the service has also been seen
/// sending with a 403 ("Too many requests. Method=GetBlob, PublisherId=…").
pub(crate) fn is_throttled(status: u16, body: &[u8]) -> bool {
    status == 429 || (status == 403 && ServiceError::parse(body).code.as_deref() == Some("AF429"))
}

/// The error for a non-2xx reply after retries: throttling or a 5xx that outlasted the retries is
/// exit 4; anything else is exit 5 with the service's code and message and a hint.
pub(crate) fn error_from_reply(status: u16, body: &[u8], request_id: Option<&str>) -> Error {
    let svc = ServiceError::parse(body);
    let code = svc.code.as_deref().unwrap_or("");
    let mut text = format!("the Management Activity API answered HTTP {status}");
    if !code.is_empty() {
        text.push_str(&format!(" {code}"));
    }
    if let Some(m) = &svc.message {
        text.push_str(&format!(": {m}"));
    }
    let throttled = is_throttled(status, body);
    let mut err = if throttled || status >= 500 {
        Error::network(text)
    } else {
        Error::api(text)
    };
    if let Some(id) = request_id {
        err = err.cause(format!("request-id: {id}"));
    }
    let hint = match code {
        "AF20022" => Some(
            "no subscription for this content type: start one with `entra-token activity subscriptions start` \
             (content can take up to 12 hours to appear)",
        ),
        "AF20023" => Some("the subscription was disabled: `entra-token activity subscriptions start` enables it again"),
        "AF10001" => Some(
            "the app needs the application permission ActivityFeed.Read (ActivityFeed.ReadDlp for DLP.All) of the \
             Office 365 Management APIs, with admin consent",
        ),
        "AF20010" | "AF20011" | "AF20012" | "AF20013" => {
            Some("the tenant in the URL must be the token's tenant id (a GUID) — check --tenant")
        }
        "AF20030" | "AF20055" => {
            Some("the service wants windows of at most 24 h starting within the last 7 days: check the system clock")
        }
        "AF20051" => Some("that content expired (the service keeps 7 days)"),
        _ if throttled => Some(
            "the service kept throttling: try again later; set --publisher-id to your own tenant id for a dedicated quota",
        ),
        _ if status >= 500 => Some("the service is failing: try again later"),
        _ if status == 401 => Some("the token was refused: check the app's permissions and the tenant"),
        _ => None,
    };
    if let Some(h) = hint {
        err = err.hint(h);
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TENANT: &str = "41463f53-8812-40f4-890f-865bf6e35190";

    fn feed() -> Feed {
        Feed::new(
            &Url::parse("https://manage.office.com").unwrap(),
            TENANT,
            "46b472a7-c68e-4adf-8ade-3db49497518e",
        )
        .unwrap()
    }

    #[test]
    fn content_types_are_canonical() {
        assert_eq!(content_type("audit.general").unwrap(), "Audit.General");
        assert_eq!(content_type("DLP.ALL").unwrap(), "DLP.All");
        let e = content_type("Audit.Teams").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.message.contains("--content-type") && e.hint.unwrap().contains("Audit.Exchange"));
    }

    #[test]
    fn feed_urls() {
        let f = feed();
        let w = Window {
            start: 1_795_000_000 - 3600,
            end: 1_795_000_000,
        };
        assert_eq!(
            f.content_url("Audit.General", w).as_str(),
            "https://manage.office.com/api/v1.0/41463f53-8812-40f4-890f-865bf6e35190/activity/feed/subscriptions/content\
             ?contentType=Audit.General&startTime=2026-11-18T10%3A06%3A40&endTime=2026-11-18T11%3A06%3A40\
             &PublisherIdentifier=46b472a7-c68e-4adf-8ade-3db49497518e"
        );
        assert_eq!(
            f.subscription_url(SubscriptionOp::Start, Some("DLP.All")).as_str(),
            "https://manage.office.com/api/v1.0/41463f53-8812-40f4-890f-865bf6e35190/activity/feed/subscriptions/start\
             ?contentType=DLP.All&PublisherIdentifier=46b472a7-c68e-4adf-8ade-3db49497518e"
        );
        assert!(
            f.subscription_url(SubscriptionOp::List, None)
                .as_str()
                .ends_with("/feed/subscriptions/list?PublisherIdentifier=46b472a7-c68e-4adf-8ade-3db49497518e")
        );
        // a base with a path (an emulator or a proxy) and a trailing slash
        let g = Feed::new(&Url::parse("http://127.0.0.1:8080/manage/").unwrap(), TENANT, "p").unwrap();
        assert!(
            g.subscription_url(SubscriptionOp::Stop, Some("Audit.Exchange"))
                .as_str()
                .starts_with("http://127.0.0.1:8080/manage/api/v1.0/41463f53-8812-40f4-890f-865bf6e35190/activity/feed/subscriptions/stop?")
        );
    }

    #[test]
    fn publisher_identifier_added_once() {
        let f = feed();
        let blob = Url::parse("https://manage.office.com/api/v1.0/t/activity/feed/audit/a$b$c").unwrap();
        let with = f.with_publisher(blob);
        assert_eq!(
            with.query(),
            Some("PublisherIdentifier=46b472a7-c68e-4adf-8ade-3db49497518e")
        );
        let next = Url::parse("https://manage.office.com/api/v1/t/activity/feed/subscriptions/content?contentType=Audit.General&publisheridentifier=x&nextPage=1").unwrap();
        assert_eq!(f.with_publisher(next.clone()), next);
    }

    #[test]
    fn listing_is_parsed_and_origins_checked() {
        let origin = UrlRule::new(&Url::parse("https://manage.office.com").unwrap());
        let body = json!([
            {"contentType": "Audit.SharePoint", "contentId": "492638008028$04",
             "contentUri": "https://manage.office.com/api/v1.0/t/activity/feed/audit/492638008028$04",
             "contentCreated": "2015-05-23T17:35:00.000Z", "contentExpiration": "2015-05-30T17:35:00.000Z"},
            {"contentType": "Audit.SharePoint", "contentId": "x", "contentUri": "https://manage.office.com/x",
             "contentCreated": "garbage"}
        ]);
        let refs = parse_listing(body.to_string().as_bytes(), &origin, 42).unwrap();
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[0].content_id, "492638008028$04");
        assert_eq!(refs[0].created, 1_432_402_500);
        assert_eq!(refs[1].created, 42);

        let evil = json!([{"contentType": "Audit.General", "contentId": "x",
                           "contentUri": "https://manage.office.com.evil.example/x"}]);
        let e = parse_listing(evil.to_string().as_bytes(), &origin, 0).unwrap_err();
        assert_eq!(e.exit_code(), 4);
        assert!(e.message.contains("another origin"), "{}", e.message);
        // scheme and port are part of the origin
        for other in ["http://manage.office.com/x", "https://manage.office.com:8443/x"] {
            assert_eq!(
                origin.accept(other, "contentUri").unwrap_err().exit_code(),
                4,
                "{other}"
            );
        }
        for bad in [&b"<html>"[..], b"{\"value\":[]}", b"[{\"contentId\":1}]"] {
            assert_eq!(parse_listing(bad, &origin, 0).unwrap_err().exit_code(), 4);
        }
        assert!(parse_listing(b"[]", &origin, 0).unwrap().is_empty());
    }

    #[test]
    fn real_host_urls_are_rebased_onto_the_management_url() {
        let real = Url::parse("https://manage.office.com").unwrap();
        let emu = Url::parse("http://127.0.0.1:8080/manage/").unwrap();
        let rule = UrlRule::rebasing(&emu, &real);
        assert_eq!(rule.origin, emu.origin());
        let blob = rule
            .accept(
                "https://manage.office.com/api/v1.0/t/activity/feed/audit/a$b?PublisherIdentifier=p",
                "contentUri",
            )
            .unwrap();
        assert_eq!(
            blob.as_str(),
            "http://127.0.0.1:8080/manage/api/v1.0/t/activity/feed/audit/a$b?PublisherIdentifier=p"
        );
        // the override's own URLs are taken as they are
        let own = "http://127.0.0.1:8080/api/v1/t/activity/feed/subscriptions/content?nextPage=2";
        assert_eq!(rule.accept(own, "NextPageUri").unwrap().as_str(), own);
        // any other origin is still refused, including the real host on another port or scheme
        for other in [
            "https://evil.example/x",
            "https://manage.office.com:444/x",
            "http://manage.office.com/x",
        ] {
            assert_eq!(rule.accept(other, "contentUri").unwrap_err().exit_code(), 4, "{other}");
        }
        // without an override nothing is rebased
        let plain = UrlRule::rebasing(&real, &real);
        assert_eq!(
            plain
                .accept("https://manage.office.com/x", "contentUri")
                .unwrap()
                .as_str(),
            "https://manage.office.com/x"
        );
        assert!(plain.accept("http://127.0.0.1:8080/x", "contentUri").is_err());
    }

    #[test]
    fn blob_events_are_kept_verbatim() {
        let uri = Url::parse("https://manage.office.com/b").unwrap();
        let body = br#"[ {"Id":"1","N":1.50} ,{"Id":"2"}]"#;
        let ev = blob_events(body, &uri).unwrap();
        assert_eq!(
            ev.iter().map(|e| e.get()).collect::<Vec<_>>(),
            [r#"{"Id":"1","N":1.50}"#, r#"{"Id":"2"}"#]
        );
        assert_eq!(blob_events(b"{}", &uri).unwrap_err().exit_code(), 4);
    }

    #[test]
    fn error_replies() {
        let body = |code: &str| {
            json!({"error": {"code": code, "message": "m"}})
                .to_string()
                .into_bytes()
        };
        let e = error_from_reply(400, &body("AF20022"), Some("rid-1"));
        assert_eq!(e.exit_code(), 5);
        assert!(
            e.message.contains("AF20022") && e.message.contains(": m"),
            "{}",
            e.message
        );
        assert!(e.hint.as_deref().unwrap().contains("activity subscriptions start"));
        assert!(e.causes.iter().any(|c| c.contains("rid-1")));

        assert!(is_throttled(429, b""));
        assert!(is_throttled(403, &body("AF429")));
        assert!(!is_throttled(403, &body("AF10001")));
        assert_eq!(error_from_reply(403, &body("AF429"), None).exit_code(), 4);
        assert_eq!(error_from_reply(429, b"", None).exit_code(), 4);
        assert_eq!(error_from_reply(500, &body("AF50000"), None).exit_code(), 4);
        let perm = error_from_reply(403, &body("AF10001"), None);
        assert_eq!(perm.exit_code(), 5);
        assert!(perm.hint.unwrap().contains("ActivityFeed.Read"));
        let denied = error_from_reply(
            401,
            br#"{"Message":"Authorization has been denied for this request."}"#,
            None,
        );
        assert_eq!(denied.exit_code(), 5);
        assert!(
            denied.message.contains("Authorization has been denied"),
            "{}",
            denied.message
        );
        assert_eq!(
            ServiceError::parse(b"<html>"),
            ServiceError {
                code: None,
                message: None
            }
        );
    }
}
