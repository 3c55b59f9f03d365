//! The engine's `ManagementApi` on the shared HTTP client: one connection pool, the app-only
//! token for the cloud's Management API (renewed when nearly expired, and once after a 401),
//! `PublisherIdentifier` on every URL, retries of 429/503/504 and connection failures honouring
//! `Retry-After`, and non-2xx answers mapped to the service's `AFnnnnn` errors (exit 5).

use crate::activity::Progress;
use crate::activity::feed::{self, Feed, ListReply, ManagementApi, SubscriptionOp};
use crate::activity::times::Window;
use crate::cache::CachedToken;
use crate::cli::FeedArgs;
use crate::error::{Error, Result};
use crate::http::{Deadline, Http, Request, retry};
use crate::log;
use crate::protocol::authority::{Audience, Endpoint};
use crate::rt;
use crate::secret::Secret;
use crate::settings::Settings;
use crate::token::TokenSource;
use std::cell::RefCell;
use std::time::Duration;
use url::Url;

/// The most of a listing page that is read (as `api`'s page cap).
const LIST_CAP: usize = 32 * 1024 * 1024;
/// The most of one content blob that is read; at most `--concurrency` are held at once.
const BLOB_CAP: usize = 64 * 1024 * 1024;
/// The most of a subscription reply that is read.
const SUBSCRIPTION_CAP: usize = 4 * 1024 * 1024;
/// A token is renewed before a request when it has less than this many seconds left.
const RENEW_BELOW: i64 = 60;
/// Freshness asked of the cache.
const MIN_VALIDITY: i64 = 300;

pub(super) struct Client<'s> {
    http: Http,
    policy: retry::Policy,
    max_retries: u32,
    timeout: Duration,
    source: TokenSource<'s>,
    token: RefCell<CachedToken>,
    tenant: String,
    base: Url,
    overridden: bool,
    feed: Feed,
    progress: &'s dyn Progress,
}

impl<'s> Client<'s> {
    /// Gets the token (its `tid` names the tenant in every URL) and sets up the connection.
    pub(super) async fn connect(
        settings: &'s Settings,
        args: &'s FeedArgs,
        progress: &'s dyn Progress,
    ) -> Result<Client<'s>> {
        let (base, overridden) = settings.management_base(args.management_url.as_deref())?;
        let credential = settings.credential(&args.credential);
        // The audience is the real service's even when --management-url points elsewhere.
        let scope = format!("{}/.default", settings.cloud.management());
        let source = TokenSource::app(settings, &credential, Endpoint::V2, Audience::Scope(scope))?;
        let http = Http::for_api(settings.timeout, &settings.tls_roots)?;
        let token = source.token_async(MIN_VALIDITY, false).await?.token;
        let tenant = token
            .meta
            .tid
            .clone()
            .ok_or_else(|| Error::rejected("the token has no tid claim: cannot tell which tenant's feed to read"))?
            .to_ascii_lowercase();
        let publisher = args
            .publisher_id
            .as_deref()
            .map(str::trim)
            .unwrap_or(&tenant)
            .to_string();
        let feed = Feed::new(&base, &tenant, &publisher)?;
        Ok(Client {
            http,
            policy: retry::Policy::api(args.max_retries, &reqwest::Method::GET),
            max_retries: args.max_retries,
            timeout: settings.timeout,
            source,
            token: RefCell::new(token),
            tenant,
            base,
            overridden,
            feed,
            progress,
        })
    }

    pub(super) fn tenant(&self) -> &str {
        &self.tenant
    }

    pub(super) fn base(&self) -> &Url {
        &self.base
    }

    /// The base when `--management-url`/`ENTRA_TOKEN_MANAGEMENT_URL` replaced the cloud's.
    pub(super) fn base_override(&self) -> Option<&Url> {
        self.overridden.then_some(&self.base)
    }

    async fn bearer(&self, force: bool) -> Result<Option<Secret<String>>> {
        let renew = force || self.token.borrow().meta.expires_on - rt::now() < RENEW_BELOW;
        if renew {
            let served = self.source.token_async(MIN_VALIDITY, force).await?;
            *self.token.borrow_mut() = served.token;
        }
        Ok(self.token.borrow().access_token.clone())
    }

    /// One call: retries per policy (and of `AF429` in a 403, which the shared policy cannot
    /// tell from a refusal without the body), one fresh token after a 401, non-2xx → exit 5.
    async fn send(
        &self,
        method: reqwest::Method,
        url: Url,
        json_body: Option<&bytes::Bytes>,
        cap: usize,
    ) -> Result<crate::http::Reply> {
        let mut refreshed = false;
        let mut throttled = 0;
        loop {
            let mut req = Request::new(method.clone(), url.clone());
            if let Some(body) = json_body {
                req.headers
                    .push(("content-type".to_string(), "application/json".to_string()));
                req.body = Some(body.clone());
            }
            req.bearer = self.bearer(refreshed).await?;
            let deadline = Deadline::after(self.timeout);
            let on_wait = |status: u16, wait: Duration| self.progress.throttled(status, wait);
            let pending = self
                .http
                .send_streaming(&req, &self.policy, deadline, cap, &on_wait)
                .await?;
            if pending.status == 401 && !refreshed {
                log::info("HTTP 401: getting a new token and retrying once");
                let _ = pending.read_by(SUBSCRIPTION_CAP, deadline).await;
                refreshed = true;
                continue;
            }
            let reply = pending.read_by(cap, deadline).await?;
            if reply.status == 403 && feed::is_throttled(reply.status, &reply.body) && throttled < self.max_retries {
                throttled += 1;
                let wait = reply
                    .header("retry-after")
                    .and_then(retry::parse_retry_after)
                    .unwrap_or_else(|| retry::backoff(throttled))
                    .min(retry::MAX_WAIT);
                self.progress.throttled(reply.status, wait);
                tokio::time::sleep(wait).await;
                continue;
            }
            if !(200..300).contains(&reply.status) {
                let request_id = reply.header("request-id").map(str::to_string);
                return Err(feed::error_from_reply(reply.status, &reply.body, request_id.as_deref()));
            }
            return Ok(reply);
        }
    }

    /// Starts, stops or lists subscriptions; the service's JSON reply. `body` is the JSON body of
    /// a start with a webhook (it holds the webhook's auth id: only its length is ever logged).
    pub(super) async fn subscription(
        &self,
        op: SubscriptionOp,
        content_type: Option<&str>,
        body: Option<&bytes::Bytes>,
    ) -> Result<Vec<u8>> {
        let url = self.feed.subscription_url(op, content_type);
        let method = match op {
            SubscriptionOp::List => reqwest::Method::GET,
            SubscriptionOp::Start | SubscriptionOp::Stop => reqwest::Method::POST,
        };
        Ok(self.send(method, url, body, SUBSCRIPTION_CAP).await?.body)
    }
}

impl ManagementApi for Client<'_> {
    async fn list(&self, content_type: &str, window: Window, next_page: Option<&Url>) -> Result<ListReply> {
        let url = match next_page {
            Some(u) => self.feed.with_publisher(u.clone()),
            None => self.feed.content_url(content_type, window),
        };
        let reply = self.send(reqwest::Method::GET, url, None, LIST_CAP).await?;
        let next_page_uri = reply.header("NextPageUri").map(str::to_string);
        Ok(ListReply {
            body: reply.body,
            next_page_uri,
        })
    }

    async fn fetch(&self, content_uri: &Url) -> Result<Vec<u8>> {
        let url = self.feed.with_publisher(content_uri.clone());
        Ok(self.send(reqwest::Method::GET, url, None, BLOB_CAP).await?.body)
    }
}
