//! Everything the emulator remembers while it serves: the runtime config, the sign-in grants
//! (authorization codes, refresh tokens, device codes), Management Activity API subscriptions,
//! the request log and the fault queue, beside the directory and the signing key. Locks are
//! `std::sync::Mutex` and are never held across an `.await`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::activity_feed::Feed;
use crate::clock;
use crate::directory::Directory;
use crate::error::Result;
use crate::fixtures::{self as fx, User};
use crate::signer::Signer;

/// Runtime settings that tests can change through `POST /_emulator/config`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// Access-token lifetime in seconds (`expires_in`). 0 issues tokens that have expired by the
    /// time they arrive (to test expiry without waiting).
    pub(crate) token_lifetime: u64,
    /// When > 0, adds an `xms_pad` claim of that many characters to every access token.
    pub(crate) token_padding: usize,
    /// Number of users behind Graph `/users` (generated page by page, never stored).
    pub(crate) user_count: u64,
    /// Number of Intune managed devices behind `/deviceManagement/managedDevices`.
    pub(crate) device_count: u64,
    /// When N > 0, every Nth Graph request is answered 429 `TooManyRequests`.
    pub(crate) graph_throttle_every: u64,
    /// The `Retry-After` value of throttled Graph replies (sent verbatim).
    pub(crate) graph_retry_after: String,
    /// The `Retry-After` value of Intune's 503 for pages over 100 devices (sent verbatim).
    pub(crate) intune_retry_after: String,
    /// When set, page 1 of `/v1.0/users` carries this URL as `@odata.nextLink`.
    pub(crate) foreign_next_link: Option<String>,
    /// Generated content blobs per content type (Management Activity API), spread over the 22
    /// hours that end an hour before the emulator started (or was reset).
    pub(crate) content_blobs: u64,
    /// Content blobs per page (`NextPageUri` paging).
    pub(crate) content_page_size: u64,
    /// The user who "signs in" at /authorize, /adminconsent and device login (a fixture UPN).
    pub(crate) signed_in_user: String,
    /// The next authorize/consent redirect (or device approval) is a decline (then resets).
    pub(crate) decline_next: bool,
    /// Refresh tokens are refused (AADSTS50173, as after a revocation).
    pub(crate) revoke_refresh_tokens: bool,
    /// Refresh tokens are refused with `interaction_required` (AADSTS50076) and a `claims` challenge.
    pub(crate) refresh_interaction_required: bool,
    /// Device-code `interval` in seconds.
    pub(crate) device_interval: u64,
    /// Device-code `expires_in` in seconds.
    pub(crate) device_expires_in: u64,
    /// Device-code replies carry `interval`/`expires_in` as strings (as some v1-style replies do).
    pub(crate) device_numbers_as_strings: bool,
    /// The next pending device-code poll is answered `slow_down` (then resets).
    pub(crate) device_slow_down: bool,
    /// When set, v2 client-credentials replies carry `refresh_in` (refresh the token after that
    /// many seconds, at most its lifetime; 0: at once). `null`: not sent, as by default.
    #[serde(default)]
    pub(crate) refresh_in: Option<u64>,
    /// `true`: id_tokens carry only the OpenID Connect claims (`iss`, `sub`, `aud`, `exp`, `iat`,
    /// `nbf`, `nonce`: no `oid`, `tid`, `preferred_username` or `name`) and user access tokens no
    /// user name (`upn`, `unique_name`, `name`), as from a standards-only OpenID provider that
    /// keeps profile claims in userinfo.
    #[serde(default)]
    pub(crate) minimal_id_token: bool,
    /// The Azure Arc stand-in's key folder: its challenge writes a key file there. `null`: the
    /// Arc endpoint answers 500.
    #[serde(default)]
    pub(crate) arc_key_dir: Option<String>,
    /// When set, the Arc challenge names this path instead of a key file it wrote (a hostile
    /// endpoint, e.g. `/etc/shadow`).
    #[serde(default)]
    pub(crate) arc_challenge_realm: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            token_lifetime: fx::DEFAULT_TOKEN_LIFETIME,
            token_padding: 0,
            user_count: 250,
            device_count: 120,
            graph_throttle_every: 0,
            graph_retry_after: "1".into(),
            intune_retry_after: "10".into(),
            foreign_next_link: None,
            content_blobs: 30,
            content_page_size: 10,
            signed_in_user: fx::ADMIN_UPN.into(),
            decline_next: false,
            revoke_refresh_tokens: false,
            refresh_interaction_required: false,
            device_interval: 5,
            device_expires_in: 900,
            device_numbers_as_strings: false,
            device_slow_down: false,
            refresh_in: None,
            minimal_id_token: false,
            arc_key_dir: None,
            arc_challenge_realm: None,
        }
    }
}

/// Upper bound for `token_lifetime` (ten years), so expiry arithmetic cannot overflow.
pub(crate) const MAX_TOKEN_LIFETIME: u64 = 10 * 365 * 86_400;

/// Upper bound for generated collection sizes.
pub(crate) const MAX_COLLECTION: u64 = 10_000_000;

/// Upper bound for `token_padding` (characters).
pub(crate) const MAX_TOKEN_PADDING: usize = 8 * 1024 * 1024;

impl Config {
    /// Range checks applied after `POST /_emulator/config` merged its fields.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.token_lifetime > MAX_TOKEN_LIFETIME {
            return Err(format!("token_lifetime must be between 0 and {MAX_TOKEN_LIFETIME}"));
        }
        if self.token_padding > MAX_TOKEN_PADDING {
            return Err(format!("token_padding must be at most {MAX_TOKEN_PADDING}"));
        }
        for (name, n) in [
            ("user_count", self.user_count),
            ("device_count", self.device_count),
            ("content_blobs", self.content_blobs),
        ] {
            if n > MAX_COLLECTION {
                return Err(format!("{name} must be at most {MAX_COLLECTION}"));
            }
        }
        if self.content_page_size == 0 || self.content_page_size > 10_000 {
            return Err("content_page_size must be between 1 and 10000".into());
        }
        for (name, value) in [
            ("graph_retry_after", &self.graph_retry_after),
            ("intune_retry_after", &self.intune_retry_after),
        ] {
            if value.is_empty() || hyper::header::HeaderValue::from_str(value).is_err() {
                return Err(format!("{name} must be a non-empty header value"));
            }
        }
        if fx::user_by_upn(&self.signed_in_user).is_none() {
            return Err(format!(
                "signed_in_user must be one of the fixture users: {}",
                fx::USERS.iter().map(|u| u.upn).collect::<Vec<_>>().join(", ")
            ));
        }
        if self.device_expires_in == 0 || self.device_expires_in > 86_400 || self.device_interval > 3_600 {
            return Err("device_expires_in must be 1..=86400 and device_interval at most 3600".into());
        }
        if let Some(link) = &self.foreign_next_link
            && url::Url::parse(link).is_err()
        {
            return Err("foreign_next_link must be an absolute URL (or null)".into());
        }
        Ok(())
    }
}

/// One logged request (everything except `/_emulator/...`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LoggedRequest {
    pub(crate) seq: u64,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) form: Option<BTreeMap<String, String>>,
    pub(crate) body: String,
    /// The status the emulator answered (`null` while the reply is still being produced).
    pub(crate) status: Option<u16>,
}

/// A queued fault (`POST /_emulator/faults`; answered by `server::faults`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct FaultSpec {
    #[serde(flatten)]
    pub(crate) kind: FaultKind,
    #[serde(default = "one")]
    pub(crate) count: u32,
    /// Only requests whose path contains this substring match.
    #[serde(default)]
    pub(crate) path: Option<String>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum FaultKind {
    Status {
        status: u16,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        #[serde(default)]
        body: Option<String>,
        #[serde(default)]
        content_type: Option<String>,
    },
    Throttle {
        #[serde(default)]
        retry_after: Option<String>,
    },
    Html {
        #[serde(default)]
        status: Option<u16>,
    },
    Truncated {},
    NotToken {},
    /// Answers the request `delay_ms` later.
    Delay {
        delay_ms: u64,
    },
    /// Moves the emulator's clock `seconds` forward, then answers the request as usual: as if it
    /// had arrived that much later, without the wait (tokens it issued expire sooner).
    AdvanceClock {
        seconds: u64,
    },
    Oversized {
        bytes: u64,
        #[serde(default)]
        content_length: bool,
    },
}

/// Which token endpoint a request or a grant belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `/{tenant}/oauth2/token` (Azure AD v1: `resource`, string numbers).
    V1,
    /// `/{tenant}/oauth2/v2.0/token` (identity platform v2: `scope`, integer numbers).
    V2,
}

/// An issued authorization code.
#[derive(Debug, Clone)]
pub(crate) struct AuthCode {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    /// `(code_challenge, code_challenge_method)` from `/authorize`.
    pub(crate) code_challenge: Option<(String, String)>,
    pub(crate) endpoint: Endpoint,
    pub(crate) scopes: Vec<String>,
    pub(crate) resource: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) user: User,
    pub(crate) expires: u64,
    pub(crate) redeemed: bool,
}

/// A refresh token's grant.
#[derive(Debug, Clone)]
pub(crate) struct RefreshGrant {
    pub(crate) client_id: String,
    pub(crate) user: User,
    pub(crate) scopes: Vec<String>,
    pub(crate) resource: Option<String>,
}

/// Where a device-code authorization stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DeviceStatus {
    Pending,
    Approved(User),
    Declined,
    Redeemed,
}

/// A device-code authorization.
#[derive(Debug, Clone)]
pub(crate) struct DeviceGrant {
    pub(crate) client_id: String,
    pub(crate) user_code: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) resource: Option<String>,
    pub(crate) expires: u64,
    pub(crate) status: DeviceStatus,
}

/// Sign-in grants, by the code or token that redeems them.
#[derive(Debug, Default)]
pub(crate) struct Grants {
    pub(crate) codes: HashMap<String, AuthCode>,
    pub(crate) refresh: HashMap<String, RefreshGrant>,
    pub(crate) devices: HashMap<String, DeviceGrant>,
}

/// What changes while the emulator serves (behind [`State::lock`]).
#[derive(Debug)]
pub(crate) struct MutableState {
    pub(crate) config: Config,
    /// The directory: fixture contents plus what the control API and consents added.
    pub(crate) directory: Directory,
    /// Redeemed certificate assertions: `"{client_id}|{jti}"` → refuse replays until then.
    pub(crate) seen_jti: HashMap<String, u64>,
    /// Graph requests answered so far (for `graph_throttle_every`).
    pub(crate) graph_requests: u64,
    /// The Management Activity API's subscriptions and content.
    pub(crate) activity: Feed,
    /// What webhook delivery sent and how the receivers answered (`/_emulator/webhook-deliveries`).
    pub(crate) webhook_deliveries: Vec<serde_json::Value>,
    /// Sign-in grants: authorization codes, refresh tokens, device codes.
    pub(crate) grants: Grants,
    pub(crate) log: Vec<LoggedRequest>,
    pub(crate) next_seq: u64,
    pub(crate) faults: VecDeque<FaultSpec>,
}

impl MutableState {
    /// A fresh state; the activity feed's generated content is anchored at the system clock.
    pub(crate) fn new(config: Config, base_url: &str) -> Self {
        MutableState {
            config,
            directory: Directory::fixture(base_url),
            seen_jti: HashMap::new(),
            graph_requests: 0,
            activity: Feed::fixture(fx::TENANT_ID, clock::system_now()),
            webhook_deliveries: Vec::new(),
            grants: Grants::default(),
            log: Vec::new(),
            next_seq: 1,
            faults: VecDeque::new(),
        }
    }
}

/// Everything shared between connections.
pub(crate) struct State {
    pub(crate) signer: Signer,
    /// The emulator's base URL (`http://127.0.0.1:PORT`), used for its own issuers.
    pub(crate) base_url: String,
    /// The config given on the command line (what `/_emulator/reset` goes back to).
    pub(crate) initial_config: Config,
    /// Seconds the emulator's clock runs ahead of the system clock (the `advance_clock` fault).
    /// Outside the lock, so reading the clock never waits for it.
    clock_ahead: AtomicU64,
    mutable: Mutex<MutableState>,
}

impl State {
    pub(crate) fn new(config: Config, base_url: &str) -> Result<Self> {
        Ok(State {
            signer: Signer::generate()?,
            base_url: base_url.to_string(),
            initial_config: config.clone(),
            clock_ahead: AtomicU64::new(0),
            mutable: Mutex::new(MutableState::new(config, base_url)),
        })
    }

    /// Locks what changes while serving; a poisoned lock is recovered (the data stays usable).
    pub(crate) fn lock(&self) -> MutexGuard<'_, MutableState> {
        self.mutable.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the current config.
    pub(crate) fn config(&self) -> Config {
        self.lock().config.clone()
    }

    /// Seconds since the Unix epoch by the emulator's clock: the system clock plus whatever
    /// `advance_clock` faults added. Every timestamp and expiry the emulator issues or checks
    /// uses it.
    pub(crate) fn now(&self) -> u64 {
        clock::system_now().saturating_add(self.clock_ahead.load(Ordering::Relaxed))
    }

    /// Moves the emulator's clock `seconds` forward.
    pub(crate) fn advance_clock(&self, seconds: u64) {
        let _ = self
            .clock_ahead
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |ahead| {
                Some(ahead.saturating_add(seconds))
            });
    }

    /// Takes the next fault that matches `path`, decrementing its count.
    pub(crate) fn take_fault(&self, path: &str) -> Option<FaultKind> {
        let mut mutable = self.lock();
        let idx = mutable
            .faults
            .iter()
            .position(|f| f.path.as_deref().is_none_or(|p| path.contains(p)))?;
        let f = &mut mutable.faults[idx];
        let kind = f.kind.clone();
        f.count = f.count.saturating_sub(1);
        if f.count == 0 {
            mutable.faults.remove(idx);
        }
        Some(kind)
    }

    /// Appends a log entry and returns its sequence number.
    pub(crate) fn log_request(&self, mut entry: LoggedRequest) -> u64 {
        let mut mutable = self.lock();
        entry.seq = mutable.next_seq;
        mutable.next_seq += 1;
        let seq = entry.seq;
        mutable.log.push(entry);
        seq
    }

    /// Records the status answered for request `seq` (no-op if the log was cleared since).
    pub(crate) fn set_status(&self, seq: u64, status: u16) {
        let mut mutable = self.lock();
        if let Some(e) = mutable.log.iter_mut().rev().find(|e| e.seq == seq) {
            e.status = Some(status);
        }
    }

    /// Back to the state the emulator started in (`POST /_emulator/reset`). Sequence numbers
    /// keep counting, so a reply still in flight cannot mark a newer request's status.
    pub(crate) fn reset(&self) {
        let mut mutable = self.lock();
        let next_seq = mutable.next_seq;
        *mutable = MutableState::new(self.initial_config.clone(), &self.base_url);
        mutable.next_seq = next_seq;
        self.clock_ahead.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_fifo_and_counted() {
        let s = State::new(
            Config {
                token_lifetime: 10,
                ..Config::default()
            },
            "http://127.0.0.1:1",
        )
        .unwrap();
        let f: FaultSpec = serde_json::from_str(r#"{"kind":"throttle","count":2,"path":"v2.0"}"#).unwrap();
        s.lock().faults.push_back(f);
        let g: FaultSpec = serde_json::from_str(r#"{"kind":"not_token"}"#).unwrap();
        s.lock().faults.push_back(g);
        assert!(matches!(s.take_fault("/x/oauth2/token"), Some(FaultKind::NotToken {})));
        assert!(matches!(
            s.take_fault("/x/oauth2/v2.0/token"),
            Some(FaultKind::Throttle { .. })
        ));
        assert!(matches!(
            s.take_fault("/x/oauth2/v2.0/token"),
            Some(FaultKind::Throttle { .. })
        ));
        assert!(s.take_fault("/x/oauth2/v2.0/token").is_none());
    }

    #[test]
    fn the_clock_runs_ahead_only_when_advanced_and_reset_puts_it_back() {
        let s = State::new(Config::default(), "http://127.0.0.1:1").unwrap();
        let before = clock::system_now();
        assert!((before..=before + 1).contains(&s.now()));
        s.advance_clock(3600);
        s.advance_clock(60);
        let ahead = s.now() - clock::system_now();
        assert!((3659..=3660).contains(&ahead), "{ahead}");
        s.advance_clock(u64::MAX);
        assert_eq!(s.now(), u64::MAX, "saturates instead of wrapping");
        s.reset();
        assert!(s.now() <= clock::system_now() + 1);
    }

    #[test]
    fn config_ranges() {
        let with = |f: &dyn Fn(&mut Config)| {
            let mut c = Config::default();
            f(&mut c);
            c.validate()
        };
        assert!(
            with(&|c| c.token_lifetime = 0).is_ok(),
            "tokens that expire as they arrive"
        );
        assert!(with(&|c| c.token_lifetime = MAX_TOKEN_LIFETIME + 1).is_err());
        for bad in ["", "1\n2"] {
            let e = with(&|c| c.intune_retry_after = bad.into()).unwrap_err();
            assert!(e.contains("intune_retry_after"), "{bad:?}: {e}");
        }
        assert!(with(&|c| c.intune_retry_after = "0.5".into()).is_ok());
    }
}
