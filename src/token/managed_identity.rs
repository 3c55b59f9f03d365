//! Managed-identity tokens: the hosting platform's endpoint is detected from its variables
//! (IMDS, App Service, Azure Arc, Cloud Shell, Service Fabric), asked for a token for one
//! resource, retried on the schedule Microsoft documents (90 s default deadline, IMDS's 410 for
//! up to 70 s), and — for Azure Arc — answered once with the key file its challenge names, read
//! only from the agent's folder. No request ever goes to Entra's token endpoint.

use crate::cache::{CacheKey, KeyKind};
use crate::credential::arc_key;
use crate::credential::source::ManagedIdentitySource;
use crate::error::{Error, Result};
use crate::http::{self, Deadline, Http, retry as http_retry};
use crate::log;
use crate::protocol::authority::Audience;
use crate::protocol::managed_identity::{self as mi, Endpoint, Selector, Source, reply, request, retry};
use crate::protocol::token::TokenResponse;
use crate::rt;
use crate::secret::Secret;
use crate::settings::Settings;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// One attempt waits at most this long for its answer; the rest of the deadline is for retries.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// Managed-identity token replies are small JSON documents.
const REPLY_CAP: usize = 1024 * 1024;

/// One managed identity's token for one resource, with the endpoint that serves it.
pub(crate) struct ManagedIdentityToken {
    endpoint: Endpoint,
    selector: Option<Selector>,
    resource: String,
    arc_key_folder: Option<PathBuf>,
    timeout: Duration,
}

impl ManagedIdentityToken {
    /// Detects the endpoint and checks the selector and the resource (exit 2 when unusable).
    /// Sends nothing.
    pub(crate) fn prepare(
        settings: &Settings,
        src: ManagedIdentitySource,
        audience: &Audience,
    ) -> Result<ManagedIdentityToken> {
        let mut vars = src.variables;
        vars.arc_agent_installed = src.arc_agent.as_deref().is_some_and(std::path::Path::exists);
        if let Some(h) = &vars.identity_header {
            log::register_secret(h.expose());
        }
        let endpoint = mi::detect(&vars)?;
        log::info(format!(
            "managed identity: {} ({})",
            endpoint.source.label(),
            endpoint.detected_by
        ));
        let selector = mi::resolve_selector(&src.selector_levels)?;
        mi::check_selector(endpoint.source, selector.as_ref())?;
        let resource = mi::resource_for(audience)?;
        let timeout = if settings.timeout_explicit {
            settings.timeout
        } else {
            retry::DEFAULT_TIMEOUT
        };
        Ok(ManagedIdentityToken {
            endpoint,
            selector,
            resource,
            arc_key_folder: src.arc_key_folder,
            timeout,
        })
    }

    /// The source (`imds`, `app-service`, …) for `whoami`.
    pub(crate) fn source(&self) -> Source {
        self.endpoint.source
    }

    /// Source, endpoint origin, identity and resource; never `IDENTITY_HEADER` or a key.
    pub(crate) fn cache_key(&self) -> CacheKey {
        CacheKey {
            kind: KeyKind::ManagedIdentity,
            authority: self.endpoint.url.origin().ascii_serialization(),
            tenant: String::new(),
            client_id: self
                .selector
                .as_ref()
                .map_or_else(|| "system-assigned".to_string(), Selector::label),
            credential: mi::cache_identity(&self.endpoint, self.selector.as_ref()),
            endpoint: self.endpoint.source.as_str().to_string(),
            audience: format!("resource:{}", self.resource),
            account: None,
        }
    }

    fn client(&self, settings: &Settings) -> Result<Http> {
        match &self.endpoint.server_thumbprint {
            Some(pin) => Http::pinned(self.timeout, pin.clone()),
            None => Http::new(self.timeout, &settings.tls_roots),
        }
    }

    /// Asks the endpoint, retrying per the schedule; an Arc challenge is answered once.
    pub(crate) async fn fetch(&self, settings: &Settings) -> Result<TokenResponse> {
        let source = self.endpoint.source;
        let deadline = Deadline::after(self.timeout);
        let http = self.client(settings)?;
        let started = Instant::now();
        let mut retries = 0u32;
        let mut arc_key: Option<Secret<String>> = None;
        loop {
            let req = request::build(&self.endpoint, &self.resource, self.selector.as_ref(), arc_key.as_ref())?;
            let this_attempt = Deadline::after(deadline.remaining().min(ATTEMPT_TIMEOUT));
            let reply = match http
                .send(&wire(req), &http_retry::Policy::never(), this_attempt, REPLY_CAP)
                .await
            {
                Ok(reply) => reply,
                Err(e) => {
                    let outcome = if http::is_connect_failure(&e) {
                        retry::Outcome::ConnectFailed
                    } else if this_attempt.remaining().is_zero() && !deadline.remaining().is_zero() {
                        // no answer in time (IMDS while it updates), with time left to try again
                        retry::Outcome::TimedOut
                    } else {
                        // TLS (a Service Fabric pin that does not match), a cut-off reply, the deadline
                        return Err(e);
                    };
                    let attempt = retry::Attempt {
                        outcome,
                        retries,
                        since_first: started.elapsed(),
                        remaining: deadline.remaining(),
                        retry_after: None,
                    };
                    match retry::decide(source, &attempt) {
                        retry::Decision::RetryAfter(wait) => {
                            log::info(format!("no answer: retrying in {} ms", wait.as_millis()));
                            tokio::time::sleep(wait).await;
                            retries += 1;
                            continue;
                        }
                        retry::Decision::Stop(_) => return Err(e),
                    }
                }
            };
            if source == Source::Arc && reply.status == 401 && arc_key.is_none() {
                let folder = self.arc_key_folder.as_deref().ok_or_else(|| {
                    Error::network("the Azure Arc endpoint asks for its key, but this platform has no Arc key folder")
                })?;
                arc_key = Some(arc_key::read_challenged_key(reply.header("www-authenticate"), folder)?);
                log::info("Azure Arc challenge: answering with the agent's key file");
                continue;
            }
            let attempt = retry::Attempt {
                outcome: retry::Outcome::Status(reply.status),
                retries,
                since_first: started.elapsed(),
                remaining: deadline.remaining(),
                retry_after: reply.header("retry-after").and_then(http_retry::parse_retry_after),
            };
            match retry::decide(source, &attempt) {
                retry::Decision::RetryAfter(wait) => {
                    log::info(format!(
                        "HTTP {}: retrying in {} ms (retry {} of at most {})",
                        reply.status,
                        wait.as_millis(),
                        retries + 1,
                        if reply.status == 410 {
                            "70 s".to_string()
                        } else {
                            retry::MAX_RETRIES.to_string()
                        }
                    ));
                    tokio::time::sleep(wait).await;
                    retries += 1;
                }
                retry::Decision::Stop(stop) => {
                    let classified = reply::classify(
                        source,
                        reply.status,
                        reply.content_type(),
                        &reply.body,
                        rt::now(),
                        self.selector.as_ref(),
                    );
                    return match classified {
                        Ok(t) => Ok(TokenResponse {
                            access_token: t.access_token,
                            token_type: t.token_type,
                            expires_on: t.expires_on,
                            refresh_on: t.refresh_on,
                            refresh_token: None,
                            id_token: None,
                            scope: None,
                            resource: t.resource.or_else(|| Some(self.resource.clone())),
                        }),
                        Err(e) if stop != retry::Stop::Final => Err(e.cause(format!(
                            "{} (after {retries} retr{})",
                            stop.describe(),
                            if retries == 1 { "y" } else { "ies" }
                        ))),
                        Err(e) => Err(e),
                    };
                }
            }
        }
    }
}

/// The request as the HTTP layer sends it (secret header values are redacted in its logs).
fn wire(req: request::Request) -> http::Request {
    let method = match req.method {
        request::Method::Get => reqwest::Method::GET,
        request::Method::Post => reqwest::Method::POST,
    };
    let mut out = http::Request::new(method, req.url);
    out.headers = req
        .headers
        .iter()
        .map(|(name, value)| (name.to_string(), value.expose().to_string()))
        .collect();
    if req.method == request::Method::Post {
        out.form = Some(
            req.form
                .into_iter()
                .map(|(k, v)| (k.to_string(), Secret::new(v)))
                .collect(),
        );
    }
    out
}
