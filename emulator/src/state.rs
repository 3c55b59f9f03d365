//! Everything the emulator remembers: the directory (tenants, apps and their credentials,
//! resources, consents), the signing key, the runtime config, the request log and the fault
//! queue. Locks are `std::sync::Mutex` and are never held across an `.await`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use super::credentials::{CertCredential, FederatedCredential, TOKEN_EXCHANGE_AUDIENCE};
use super::fixtures as fx;

/// A tenant and the names it answers to in the path segment.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: String,
    /// Verified domains, lower-case; the first is the initial `*.onmicrosoft.com` domain.
    pub domains: Vec<String>,
    /// Display name, used in AADSTS texts ("directory 'Contoso'").
    pub display_name: String,
}

/// A client secret registered on an app (certificates and federated credentials have their own
/// lists on [`App`]).
#[derive(Debug, Clone)]
pub enum Credential {
    Secret { id: String, value: String, expired: bool },
}

/// An app registration.
#[derive(Debug, Clone)]
pub struct App {
    pub client_id: String,
    pub home_tenant: String,
    pub display_name: String,
    pub credentials: Vec<Credential>,
    /// Registered certificates (control API; none in the fixture).
    pub certificates: Vec<CertCredential>,
    /// Federated identity credentials.
    pub federated: Vec<FederatedCredential>,
    /// Registered redirect URIs (`http://localhost` / `http://127.0.0.1`: any port).
    pub redirect_uris: Vec<String>,
    /// `allowPublicClient`: the app is a public client and must send no credential.
    pub public_client: bool,
    /// Application ID URIs this app exposes as a resource (e.g. `api://{client_id}`).
    pub identifier_uris: Vec<String>,
}

/// A resource (API) that tokens can be issued for.
#[derive(Debug, Clone)]
pub struct Resource {
    /// The canonical identifier, used as `aud`.
    pub id: String,
    /// Other names accepted for it (its app ID GUID, ...).
    pub aliases: Vec<String>,
    /// When the resource is an app registered in the emulator: present only in tenants where
    /// that app has a service principal. `None`: a first-party API present in every tenant.
    pub owner_app: Option<String>,
}

/// An app's service principal in a tenant (i.e. admin consent) with the app roles granted.
#[derive(Debug, Clone)]
pub struct Consent {
    pub tenant_id: String,
    pub client_id: String,
    /// Object ID of the service principal (the `oid`/`sub` of app-only tokens).
    pub object_id: String,
    /// resource id → granted application roles.
    pub roles: BTreeMap<String, Vec<String>>,
}

/// The whole directory.
#[derive(Debug, Clone)]
pub struct Directory {
    pub tenants: Vec<Tenant>,
    pub apps: Vec<App>,
    pub resources: Vec<Resource>,
    pub consents: Vec<Consent>,
}

/// How the tenant path segment resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantRef<'a> {
    /// A real tenant (by GUID or one of its domains).
    Tenant(&'a Tenant),
    /// `common`, `organizations` or `consumers` (or the consumers GUID).
    MultiTenant(&'static str),
    /// Nothing matched.
    Unknown,
}

impl PartialEq for Tenant {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for Tenant {}

const CONSUMERS_TENANT_ID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

impl Directory {
    /// The fixed contents described in [`super::fixtures`]. `base_url` is the emulator's own
    /// URL: the GitHub Actions stand-in's issuer (`{base_url}/_actions`) is registered as a
    /// federated credential of [`fx::CLIENT_ID`].
    pub fn fixture(base_url: &str) -> Self {
        let api_uri = format!("api://{}", fx::CLIENT_ID);
        let mut home_roles = BTreeMap::new();
        home_roles.insert(
            fx::GRAPH_RESOURCE.to_string(),
            fx::GRAPH_ROLES.iter().map(|s| s.to_string()).collect(),
        );
        home_roles.insert(
            fx::MANAGE_OFFICE_RESOURCE.to_string(),
            fx::MANAGE_OFFICE_ROLES.iter().map(|s| s.to_string()).collect(),
        );
        let first_party = |id: &str, aliases: &[&str]| Resource {
            id: id.to_string(),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
            owner_app: None,
        };
        Directory {
            tenants: vec![
                Tenant {
                    id: fx::TENANT_ID.into(),
                    domains: vec![fx::TENANT_DOMAIN.into(), fx::TENANT_CUSTOM_DOMAIN.into()],
                    display_name: "Contoso".into(),
                },
                Tenant {
                    id: fx::OTHER_TENANT_ID.into(),
                    domains: vec![fx::OTHER_TENANT_DOMAIN.into()],
                    display_name: "Fabrikam".into(),
                },
            ],
            apps: vec![
                App {
                    client_id: fx::CLIENT_ID.into(),
                    home_tenant: fx::TENANT_ID.into(),
                    display_name: "entra-token emulator app".into(),
                    credentials: vec![
                        Credential::Secret {
                            id: fx::CLIENT_SECRET_ID.into(),
                            value: fx::CLIENT_SECRET.into(),
                            expired: false,
                        },
                        Credential::Secret {
                            id: fx::EXPIRED_CLIENT_SECRET_ID.into(),
                            value: fx::EXPIRED_CLIENT_SECRET.into(),
                            expired: true,
                        },
                    ],
                    identifier_uris: vec![api_uri.clone()],
                    certificates: Vec::new(),
                    redirect_uris: fx::REDIRECT_URIS.iter().map(|s| s.to_string()).collect(),
                    public_client: false,
                    federated: vec![FederatedCredential {
                        id: fx::ACTIONS_FEDERATED_CREDENTIAL_ID.into(),
                        name: "github-actions-main".into(),
                        issuer: format!("{base_url}/_actions"),
                        subject: fx::ACTIONS_SUBJECT.into(),
                        audiences: vec![TOKEN_EXCHANGE_AUDIENCE.into()],
                    }],
                },
                App {
                    client_id: fx::PUBLIC_CLIENT_ID.into(),
                    home_tenant: fx::TENANT_ID.into(),
                    display_name: "entra-token emulator public client".into(),
                    credentials: Vec::new(),
                    identifier_uris: Vec::new(),
                    certificates: Vec::new(),
                    federated: Vec::new(),
                    redirect_uris: fx::REDIRECT_URIS.iter().map(|s| s.to_string()).collect(),
                    public_client: true,
                },
            ],
            resources: vec![
                first_party(fx::GRAPH_RESOURCE, &["00000003-0000-0000-c000-000000000000"]),
                first_party(fx::MANAGE_OFFICE_RESOURCE, &["c5393580-f805-4401-95e8-94b7a6ef2fc2"]),
                first_party(fx::ARM_RESOURCE, &[]),
                first_party(fx::ASM_RESOURCE, &["797f4846-ba00-4fd7-ba43-dac1f8f63013"]),
                first_party(fx::VAULT_RESOURCE, &["cfa8b339-82a2-471a-a3c9-0fc0be7a4093"]),
                Resource {
                    id: api_uri,
                    aliases: vec![fx::CLIENT_ID.into()],
                    owner_app: Some(fx::CLIENT_ID.into()),
                },
            ],
            consents: vec![
                Consent {
                    tenant_id: fx::TENANT_ID.into(),
                    client_id: fx::CLIENT_ID.into(),
                    object_id: fx::SERVICE_PRINCIPAL_ID.into(),
                    roles: home_roles,
                },
                Consent {
                    tenant_id: fx::TENANT_ID.into(),
                    client_id: fx::PUBLIC_CLIENT_ID.into(),
                    object_id: "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f".into(),
                    roles: BTreeMap::new(),
                },
            ],
        }
    }

    /// Resolves the `{tenant}` path segment (GUID or domain, case-insensitive).
    pub fn resolve_tenant(&self, segment: &str) -> TenantRef<'_> {
        let s = segment.to_ascii_lowercase();
        match s.as_str() {
            "common" => return TenantRef::MultiTenant("common"),
            "organizations" => return TenantRef::MultiTenant("organizations"),
            "consumers" | CONSUMERS_TENANT_ID => return TenantRef::MultiTenant("consumers"),
            _ => {}
        }
        self.tenants
            .iter()
            .find(|t| t.id == s || t.domains.contains(&s))
            .map_or(TenantRef::Unknown, TenantRef::Tenant)
    }

    pub fn app(&self, client_id: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    pub fn app_mut(&mut self, client_id: &str) -> Option<&mut App> {
        self.apps
            .iter_mut()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    /// The app's service principal in `tenant_id`, if the app is consented there.
    pub fn consent(&self, tenant_id: &str, client_id: &str) -> Option<&Consent> {
        self.consents
            .iter()
            .find(|c| c.tenant_id == tenant_id && c.client_id.eq_ignore_ascii_case(client_id))
    }

    /// Finds a resource by identifier (trailing `/` and ASCII case are not significant), as
    /// long as it has a service principal in `tenant_id`.
    pub fn resource_in_tenant(&self, name: &str, tenant_id: &str) -> Option<&Resource> {
        let norm = |s: &str| s.trim_end_matches('/').to_ascii_lowercase();
        let want = norm(name);
        if want.is_empty() {
            return None;
        }
        self.resources
            .iter()
            .find(|r| norm(&r.id) == want || r.aliases.iter().any(|a| norm(a) == want))
            .filter(|r| match &r.owner_app {
                None => true,
                Some(app) => self.consent(tenant_id, app).is_some(),
            })
    }
}

/// Runtime settings that tests can change through `POST /_emulator/config`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Access-token lifetime in seconds (`expires_in`).
    pub token_lifetime: u64,
    /// When > 0, adds an `xms_pad` claim of that many characters to every access token.
    pub token_padding: usize,
    /// Number of users behind Graph `/users` (generated page by page, never stored).
    pub user_count: u64,
    /// Number of Intune managed devices behind `/deviceManagement/managedDevices`.
    pub device_count: u64,
    /// When N > 0, every Nth Graph request is answered 429 `TooManyRequests`.
    pub graph_throttle_every: u64,
    /// The `Retry-After` value of throttled Graph replies (sent verbatim).
    pub graph_retry_after: String,
    /// When set, page 1 of `/v1.0/users` carries this URL as `@odata.nextLink`.
    pub foreign_next_link: Option<String>,
    /// Number of content blobs `subscriptions/content` lists (Management Activity API).
    pub content_blobs: u64,
    /// Content blobs per page (`NextPageUri` paging).
    pub content_page_size: u64,
    /// The user who "signs in" at /authorize, /adminconsent and device login (a fixture UPN).
    pub signed_in_user: String,
    /// The next authorize/consent redirect (or device approval) is a decline (then resets).
    pub decline_next: bool,
    /// Refresh tokens are refused (AADSTS50173, as after a revocation).
    pub revoke_refresh_tokens: bool,
    /// Refresh tokens are refused with `interaction_required` (AADSTS50076) and a `claims` challenge.
    pub refresh_interaction_required: bool,
    /// Device-code `interval` in seconds.
    pub device_interval: u64,
    /// Device-code `expires_in` in seconds.
    pub device_expires_in: u64,
    /// Device-code replies carry `interval`/`expires_in` as strings (as some v1-style replies do).
    pub device_numbers_as_strings: bool,
    /// The next pending device-code poll is answered `slow_down` (then resets).
    pub device_slow_down: bool,
    /// When > 0, v2 token replies carry `refresh_in` (seconds: refresh the token after that long).
    #[serde(default)]
    pub refresh_in: u64,
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
            refresh_in: 0,
        }
    }
}

/// Upper bound for `token_lifetime` (ten years), so expiry arithmetic cannot overflow.
pub const MAX_TOKEN_LIFETIME: u64 = 10 * 365 * 86_400;

/// Upper bound for generated collection sizes.
pub const MAX_COLLECTION: u64 = 10_000_000;

impl Config {
    /// Range checks applied after `POST /_emulator/config` merged its fields.
    pub fn validate(&self, max_padding: usize) -> Result<(), String> {
        if self.token_lifetime == 0 || self.token_lifetime > MAX_TOKEN_LIFETIME {
            return Err(format!("token_lifetime must be between 1 and {MAX_TOKEN_LIFETIME}"));
        }
        if self.token_padding > max_padding {
            return Err(format!("token_padding must be at most {max_padding}"));
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
        if self.graph_retry_after.is_empty() || hyper::header::HeaderValue::from_str(&self.graph_retry_after).is_err() {
            return Err("graph_retry_after must be a non-empty header value".into());
        }
        if super::signin::user_by_upn(&self.signed_in_user).is_none() {
            return Err(format!(
                "signed_in_user must be one of the fixture users: {}",
                super::signin::USERS
                    .iter()
                    .map(|u| u.upn)
                    .collect::<Vec<_>>()
                    .join(", ")
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
pub struct LoggedRequest {
    pub seq: u64,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub form: Option<BTreeMap<String, String>>,
    pub body: String,
    /// The status the emulator answered (`null` while the reply is still being produced).
    pub status: Option<u16>,
}

/// A queued fault (see the control API in `server.rs`).
#[derive(Debug, Clone, Deserialize)]
pub struct FaultSpec {
    #[serde(flatten)]
    pub kind: FaultKind,
    #[serde(default = "one")]
    pub count: u32,
    /// Only requests whose path contains this substring match.
    #[serde(default)]
    pub path: Option<String>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
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
    Delay {
        delay_ms: u64,
    },
    Oversized {
        bytes: u64,
        #[serde(default)]
        content_length: bool,
    },
}

/// Mutable runtime state.
#[derive(Debug)]
pub struct Runtime {
    pub config: Config,
    /// The directory: fixture contents plus what the control API and consents added.
    pub directory: Directory,
    /// Redeemed certificate assertions: `"{client_id}|{jti}"` → refuse replays until then.
    pub seen_jti: HashMap<String, u64>,
    /// Graph requests answered so far (for `graph_throttle_every`).
    pub graph_requests: u64,
    /// Management Activity API subscriptions started per tenant.
    pub subscriptions: super::management::Subscriptions,
    /// Sign-in grants: authorization codes, refresh tokens, device codes.
    pub grants: super::signin::Grants,
    pub log: Vec<LoggedRequest>,
    pub next_seq: u64,
    pub faults: VecDeque<FaultSpec>,
}

impl Runtime {
    pub fn new(config: Config, base_url: &str) -> Self {
        Runtime {
            config,
            directory: Directory::fixture(base_url),
            seen_jti: HashMap::new(),
            graph_requests: 0,
            subscriptions: super::management::fixture_subscriptions(),
            grants: super::signin::Grants::default(),
            log: Vec::new(),
            next_seq: 1,
            faults: VecDeque::new(),
        }
    }
}

/// Everything shared between connections.
pub struct State {
    pub signer: super::token::Signer,
    /// The emulator's base URL (`http://127.0.0.1:PORT`), used for its own issuers.
    pub base_url: String,
    /// The config given on the command line (what `/_emulator/reset` goes back to).
    pub initial_config: Config,
    runtime: Mutex<Runtime>,
}

impl State {
    pub fn new(config: Config, base_url: &str) -> crate::error::Result<Self> {
        Ok(State {
            signer: super::token::Signer::generate()?,
            base_url: base_url.to_string(),
            initial_config: config.clone(),
            runtime: Mutex::new(Runtime::new(config, base_url)),
        })
    }

    /// Locks the runtime state; a poisoned lock is recovered (the data stays usable).
    pub fn rt(&self) -> MutexGuard<'_, Runtime> {
        self.runtime.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn config(&self) -> Config {
        self.rt().config.clone()
    }

    /// Takes the next fault that matches `path`, decrementing its count.
    pub fn take_fault(&self, path: &str) -> Option<FaultKind> {
        let mut rt = self.rt();
        let idx = rt
            .faults
            .iter()
            .position(|f| f.path.as_deref().is_none_or(|p| path.contains(p)))?;
        let f = &mut rt.faults[idx];
        let kind = f.kind.clone();
        f.count = f.count.saturating_sub(1);
        if f.count == 0 {
            rt.faults.remove(idx);
        }
        Some(kind)
    }

    /// Appends a log entry and returns its sequence number.
    pub fn log_request(&self, mut entry: LoggedRequest) -> u64 {
        let mut rt = self.rt();
        entry.seq = rt.next_seq;
        rt.next_seq += 1;
        let seq = entry.seq;
        rt.log.push(entry);
        seq
    }

    /// Records the status answered for request `seq` (no-op if the log was cleared since).
    pub fn set_status(&self, seq: u64, status: u16) {
        let mut rt = self.rt();
        if let Some(e) = rt.log.iter_mut().rev().find(|e| e.seq == seq) {
            e.status = Some(status);
        }
    }

    pub fn reset(&self) {
        let mut rt = self.rt();
        rt.config = self.initial_config.clone();
        rt.directory = Directory::fixture(&self.base_url);
        rt.seen_jti.clear();
        rt.graph_requests = 0;
        rt.subscriptions = super::management::fixture_subscriptions();
        rt.grants = super::signin::Grants::default();
        rt.log.clear();
        rt.faults.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_resolution() {
        let d = Directory::fixture("http://127.0.0.1:1");
        let id = |r: TenantRef<'_>| match r {
            TenantRef::Tenant(t) => t.id.clone(),
            other => format!("{other:?}"),
        };
        assert_eq!(id(d.resolve_tenant(fx::TENANT_ID)), fx::TENANT_ID);
        assert_eq!(id(d.resolve_tenant(&fx::TENANT_ID.to_uppercase())), fx::TENANT_ID);
        assert_eq!(id(d.resolve_tenant("Contoso.OnMicrosoft.com")), fx::TENANT_ID);
        assert_eq!(id(d.resolve_tenant("contoso.com")), fx::TENANT_ID);
        assert_eq!(id(d.resolve_tenant(fx::OTHER_TENANT_DOMAIN)), fx::OTHER_TENANT_ID);
        assert_eq!(d.resolve_tenant("Common"), TenantRef::MultiTenant("common"));
        assert_eq!(
            d.resolve_tenant("organizations"),
            TenantRef::MultiTenant("organizations")
        );
        assert_eq!(
            d.resolve_tenant(CONSUMERS_TENANT_ID),
            TenantRef::MultiTenant("consumers")
        );
        assert_eq!(d.resolve_tenant("nope.onmicrosoft.com"), TenantRef::Unknown);
        assert_eq!(d.resolve_tenant(""), TenantRef::Unknown);
    }

    #[test]
    fn resources_per_tenant() {
        let d = Directory::fixture("http://127.0.0.1:1");
        let api = format!("api://{}", fx::CLIENT_ID);
        assert!(
            d.resource_in_tenant("https://graph.microsoft.com/", fx::TENANT_ID)
                .is_some()
        );
        assert!(
            d.resource_in_tenant("https://management.core.windows.net", fx::TENANT_ID)
                .is_some()
        );
        assert!(d.resource_in_tenant(&api, fx::TENANT_ID).is_some());
        assert!(d.resource_in_tenant(&api, fx::OTHER_TENANT_ID).is_none());
        assert!(d.resource_in_tenant("https://example.com", fx::TENANT_ID).is_none());
        assert!(d.consent(fx::OTHER_TENANT_ID, fx::CLIENT_ID).is_none());
    }

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
        s.rt().faults.push_back(f);
        let g: FaultSpec = serde_json::from_str(r#"{"kind":"not_token"}"#).unwrap();
        s.rt().faults.push_back(g);
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
}
