//! One `api` run's connection, token and retry policy: the bearer token goes only to the origin
//! it was asked for, is renewed when nearly expired, and a 401 for a token that may have gone
//! stale gets one fresh token and one retry.

use super::reply::print_head;
use super::{Auth, ERROR_BODY_CAP, MIN_VALIDITY, Plan, RENEW_BELOW};
use crate::cache::CachedToken;
use crate::error::Result;
use crate::http::{Deadline, Http, Pending, Request, retry};
use crate::log;
use crate::progress::Progress;
use crate::rt;
use crate::secret::Secret;
use std::time::Duration;
use url::Url;

/// One run's connection, token and retry policy.
pub(super) struct Session<'a, 's> {
    pub(super) http: Http,
    pub(super) policy: retry::Policy,
    pub(super) timeout: Duration,
    pub(super) auth: &'a Auth<'s>,
    pub(super) token: Option<CachedToken>,
    /// Whether `token` was served from the cache (it may have been revoked since) rather than
    /// fetched by this run.
    pub(super) token_from_cache: bool,
    /// The origin the token is for: the first URL's.
    pub(super) origin: url::Origin,
    pub(super) include: bool,
    pub(super) progress: Progress,
}

impl Session<'_, '_> {
    /// The token to send to `url`: only to the token's own origin, renewed when nearly expired.
    async fn bearer(&mut self, url: &Url, force: bool) -> Result<Option<Secret<String>>> {
        let auth: &Auth<'_> = self.auth;
        let Auth::Token(source) = auth else {
            return Ok(None);
        };
        if url.origin() != self.origin {
            return Ok(None);
        }
        let renew = force
            || self
                .token
                .as_ref()
                .is_none_or(|t| t.meta.expires_on - rt::now() < RENEW_BELOW);
        if renew {
            let served = source.token_async(MIN_VALIDITY, force).await?;
            self.token = Some(served.token);
            self.token_from_cache = served.from_cache;
        }
        Ok(self.token.as_ref().and_then(|t| t.access_token.clone()))
    }

    /// A 401 is worth one fresh token when ours may have gone stale: it expired (or nearly) by
    /// our clock, or it came from the cache (revoked, or issued by another sign-in). A token
    /// fetched a moment ago would only be rejected again.
    fn token_may_be_stale(&self) -> bool {
        self.token
            .as_ref()
            .is_some_and(|t| t.meta.expires_on - rt::now() < RENEW_BELOW || self.token_from_cache)
    }

    /// Sends one request (retries per policy), with one fresh-token retry after a 401.
    pub(super) async fn call(
        &mut self,
        method: &reqwest::Method,
        url: &Url,
        plan: &Plan,
    ) -> Result<(Pending, Deadline)> {
        let mut refreshed = false;
        loop {
            let mut req = Request::new(method.clone(), url.clone());
            req.headers = plan.headers.clone();
            req.body = plan.body.clone();
            req.bearer = self.bearer(url, refreshed).await?;
            let sent_token = req.bearer.is_some();
            let deadline = Deadline::after(self.timeout);
            let progress = &self.progress;
            let on_wait = |status: u16, wait: Duration| progress.waiting(status, wait);
            let pending = self
                .http
                .send_streaming(&req, &self.policy, deadline, ERROR_BODY_CAP, &on_wait)
                .await?;
            if pending.status == 401 && sent_token && !refreshed && self.token_may_be_stale() {
                log::info("HTTP 401 for a token that may have expired: getting a new one and retrying once");
                let _ = pending.read_by(ERROR_BODY_CAP, deadline).await;
                refreshed = true;
                continue;
            }
            if self.include {
                print_head(&pending);
            }
            return Ok((pending, deadline));
        }
    }
}
