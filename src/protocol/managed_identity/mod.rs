//! Managed identity as pure functions: which hosting environment's endpoint to use (detected from
//! the variables the platform sets, in the order MSAL detects them), the user-assigned identity
//! selector and where it came from, the resource a scope names, and the checks on the endpoint
//! URLs. No I/O and no environment reads: the caller passes the values it read.
//!
//! References: MSAL Python `msal/managed_identity.py` (`get_managed_identity_source`),
//! azure-identity `ManagedIdentityCredential`, and Microsoft's "How to use managed identities for
//! Azure resources on an Azure VM to acquire an access token"
//! (<https://learn.microsoft.com/entra/identity/managed-identities-azure-resources/how-to-use-vm-token>).

pub(crate) mod reply;
pub(crate) mod request;
pub(crate) mod retry;

use crate::env::EnvVars;
use crate::error::{Error, Result};
use crate::protocol::authority::{self, Audience};
use crate::secret::Secret;
use sha1::{Digest, Sha1};
use std::net::IpAddr;
use url::Url;

/// The Azure VM / VMSS Instance Metadata Service host.
pub(crate) const IMDS_HOST: &str = "http://169.254.169.254";
/// The IMDS token path, appended to the host (or to `AZURE_POD_IDENTITY_AUTHORITY_HOST`).
pub(crate) const IMDS_TOKEN_PATH: &str = "/metadata/identity/oauth2/token";
/// The Azure Arc agent's endpoint when the agent is installed but its variables are not in this
/// process's environment (MSAL Python's default).
pub(crate) const ARC_DEFAULT_ENDPOINT: &str = "http://localhost:40342/metadata/identity/oauth2/token";

/// Where a managed identity's token comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// Azure VM / VMSS (and AKS nodes): the Instance Metadata Service.
    Imds,
    /// App Service, Azure Functions, Container Apps, Azure Automation.
    AppService,
    /// An Azure Arc-enabled server (the Connected Machine agent's HIMDS).
    Arc,
    /// Azure Cloud Shell.
    CloudShell,
    /// A Service Fabric cluster's managed identity token service.
    ServiceFabric,
}

impl Source {
    /// The name `whoami -o json` reports as `source.detail`, and cache keys use.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Source::Imds => "imds",
            Source::AppService => "app-service",
            Source::Arc => "arc",
            Source::CloudShell => "cloud-shell",
            Source::ServiceFabric => "service-fabric",
        }
    }

    /// A name for people.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Source::Imds => "Azure VM/VMSS (IMDS)",
            Source::AppService => "App Service / Functions / Container Apps",
            Source::Arc => "Azure Arc",
            Source::CloudShell => "Cloud Shell",
            Source::ServiceFabric => "Service Fabric",
        }
    }

    /// The query parameter naming a user-assigned identity, or `None` when this source takes no
    /// selector (Arc, Cloud Shell and Service Fabric serve one identity, configured outside).
    pub(crate) fn selector_parameter(self, kind: SelectorKind) -> Option<&'static str> {
        match (self, kind) {
            (Source::Imds | Source::AppService, SelectorKind::ClientId) => Some("client_id"),
            (Source::Imds | Source::AppService, SelectorKind::ObjectId) => Some("object_id"),
            (Source::Imds, SelectorKind::ResourceId) => Some("msi_res_id"),
            (Source::AppService, SelectorKind::ResourceId) => Some("mi_res_id"),
            (Source::Arc | Source::CloudShell | Source::ServiceFabric, _) => None,
        }
    }
}

/// The managed-identity variables as the caller read them (an empty value counts as unset, as in
/// azure-identity). `arc_agent_installed` says whether the Azure Arc agent's `himds` executable
/// exists (`/opt/azcmagent/bin/himds`, `%ProgramFiles%\AzureConnectedMachineAgent\himds.exe`):
/// MSAL treats that as Arc even when the agent's variables are not in this process's environment.
#[derive(Debug, Default, Clone)]
pub(crate) struct Variables {
    pub(crate) identity_endpoint: Option<String>,
    pub(crate) identity_header: Option<Secret<String>>,
    pub(crate) identity_server_thumbprint: Option<String>,
    pub(crate) imds_endpoint: Option<String>,
    pub(crate) msi_endpoint: Option<String>,
    pub(crate) msi_secret_set: bool,
    pub(crate) pod_identity_authority_host: Option<String>,
    pub(crate) arc_agent_installed: bool,
}

fn set(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl Variables {
    fn header(&self) -> Option<&Secret<String>> {
        self.identity_header.as_ref().filter(|h| !h.expose().trim().is_empty())
    }

    /// The variable that announces a managed identity, if any: the only way one is chosen
    /// automatically (nothing probes 169.254.169.254 on its own).
    pub(crate) fn announced_by(&self) -> Option<&'static str> {
        if set(&self.identity_endpoint).is_some() {
            Some(EnvVars::IDENTITY_ENDPOINT)
        } else if set(&self.msi_endpoint).is_some() {
            Some(EnvVars::MSI_ENDPOINT)
        } else {
            None
        }
    }
}

/// A SHA-1 certificate thumbprint (Service Fabric pins its token service's certificate by it).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Thumbprint(pub [u8; 20]);

impl Thumbprint {
    /// Hex, upper or lower case, with optional `:` or space separators.
    pub(crate) fn parse(text: &str) -> Option<Thumbprint> {
        let hex: Vec<u8> = text.bytes().filter(|b| !matches!(b, b':' | b' ')).collect();
        if hex.len() != 40 {
            return None;
        }
        let mut out = [0u8; 20];
        for (i, pair) in hex.chunks(2).enumerate() {
            let s = std::str::from_utf8(pair).ok()?;
            out[i] = u8::from_str_radix(s, 16).ok()?;
        }
        Some(Thumbprint(out))
    }

    /// Whether a DER certificate has this SHA-1 thumbprint.
    pub(crate) fn matches(&self, certificate_der: &[u8]) -> bool {
        Sha1::digest(certificate_der).as_slice() == self.0
    }

    pub(crate) fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02X}")).collect()
    }
}

impl std::fmt::Debug for Thumbprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Thumbprint({})", self.to_hex())
    }
}

/// The detected managed-identity endpoint: everything a request needs except the resource and
/// the selector.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub(crate) source: Source,
    /// The token URL without query parameters of ours.
    pub(crate) url: Url,
    /// App Service's `X-IDENTITY-HEADER` / Service Fabric's `secret` value.
    pub(crate) identity_header: Option<Secret<String>>,
    /// Service Fabric: the token service certificate's SHA-1 thumbprint, pinned instead of
    /// verifying the (self-signed) chain.
    pub(crate) server_thumbprint: Option<Thumbprint>,
    /// Why this source was chosen, for `-v` and `whoami` (names variables, never values).
    pub(crate) detected_by: &'static str,
}

/// Detects the hosting environment from its variables, in MSAL Python's order: Service Fabric,
/// App Service, (Azure Machine Learning: refused), Azure Arc, Cloud Shell, else IMDS. Bad values
/// are exit 2 naming the variable.
pub(crate) fn detect(vars: &Variables) -> Result<Endpoint> {
    let identity_endpoint = set(&vars.identity_endpoint);
    let header = vars.header();
    let thumbprint = set(&vars.identity_server_thumbprint);
    if let (Some(endpoint), Some(header), Some(thumbprint)) = (identity_endpoint, header, thumbprint) {
        let pinned = Thumbprint::parse(thumbprint).ok_or_else(|| {
            Error::usage(format!(
                "{} is not a SHA-1 certificate thumbprint (40 hex digits)",
                EnvVars::IDENTITY_SERVER_THUMBPRINT
            ))
        })?;
        return Ok(Endpoint {
            source: Source::ServiceFabric,
            url: endpoint_url(endpoint, EnvVars::IDENTITY_ENDPOINT, Transport::HttpsPinned)?,
            identity_header: Some(header.clone()),
            server_thumbprint: Some(pinned),
            detected_by: "IDENTITY_ENDPOINT, IDENTITY_HEADER and IDENTITY_SERVER_THUMBPRINT are set (Service Fabric)",
        });
    }
    if let (Some(endpoint), Some(header)) = (identity_endpoint, header) {
        return Ok(Endpoint {
            source: Source::AppService,
            url: endpoint_url(endpoint, EnvVars::IDENTITY_ENDPOINT, Transport::Platform)?,
            identity_header: Some(header.clone()),
            server_thumbprint: None,
            detected_by: "IDENTITY_ENDPOINT and IDENTITY_HEADER are set (App Service, Functions, Container Apps)",
        });
    }
    if set(&vars.msi_endpoint).is_some() && vars.msi_secret_set {
        return Err(Error::usage(
            "MSI_ENDPOINT and MSI_SECRET are set: that is Azure Machine Learning's managed identity, which entra-token does not support",
        )
        .hint("use a client credential or a federated token on Azure Machine Learning compute"));
    }
    if let (Some(endpoint), true) = (identity_endpoint, set(&vars.imds_endpoint).is_some()) {
        return Ok(Endpoint {
            source: Source::Arc,
            url: endpoint_url(endpoint, EnvVars::IDENTITY_ENDPOINT, Transport::Platform)?,
            identity_header: None,
            server_thumbprint: None,
            detected_by: "IDENTITY_ENDPOINT and IMDS_ENDPOINT are set (Azure Arc)",
        });
    }
    if vars.arc_agent_installed {
        return Ok(Endpoint {
            source: Source::Arc,
            url: Url::parse(ARC_DEFAULT_ENDPOINT).expect("built-in Arc endpoint"),
            identity_header: None,
            server_thumbprint: None,
            detected_by: "the Azure Arc agent (himds) is installed",
        });
    }
    if let Some(endpoint) = set(&vars.msi_endpoint) {
        return Ok(Endpoint {
            source: Source::CloudShell,
            url: endpoint_url(endpoint, EnvVars::MSI_ENDPOINT, Transport::Platform)?,
            identity_header: None,
            server_thumbprint: None,
            detected_by: "MSI_ENDPOINT is set without MSI_SECRET (Cloud Shell)",
        });
    }
    Ok(Endpoint {
        source: Source::Imds,
        url: imds_url(set(&vars.pod_identity_authority_host))?,
        identity_header: None,
        server_thumbprint: None,
        detected_by: if set(&vars.pod_identity_authority_host).is_some() {
            "no App Service, Arc, Cloud Shell or Service Fabric variables: IMDS at AZURE_POD_IDENTITY_AUTHORITY_HOST"
        } else {
            "no App Service, Arc, Cloud Shell or Service Fabric variables: IMDS"
        },
    })
}

/// Which `http://` hosts an endpoint URL may use.
#[derive(Clone, Copy)]
enum Transport {
    /// The IMDS host override: `http://` only for 169.254.169.254 and loopback.
    Imds,
    /// A platform-set endpoint (App Service, Arc, Cloud Shell): `http://` only for loopback,
    /// link-local and private addresses — App Service containers get e.g. `http://172.16.5.3:8081`.
    Platform,
    /// Service Fabric: `https://` with a pinned certificate, or loopback `http://` (tests).
    HttpsPinned,
}

fn plain_http_allowed(url: &Url, transport: Transport) -> bool {
    if authority::is_loopback(url) {
        return true;
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        _ => return false,
    };
    match (transport, ip) {
        (Transport::Imds, IpAddr::V4(v4)) => v4.octets() == [169, 254, 169, 254],
        (Transport::Platform, IpAddr::V4(v4)) => v4.is_link_local() || v4.is_private(),
        (Transport::Platform, IpAddr::V6(v6)) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        _ => false,
    }
}

fn endpoint_url(raw: &str, variable: &str, transport: Transport) -> Result<Url> {
    let url = Url::parse(raw.trim()).map_err(|e| Error::usage(format!("{variable} is not a valid URL")).cause(e))?;
    match url.scheme() {
        "https" => {}
        "http" if plain_http_allowed(&url, transport) => {}
        "http" => {
            return Err(Error::usage(format!(
                "{variable}: refusing to send a managed identity request over plain http to '{}'",
                url.host_str().unwrap_or("")
            ))
            .hint(match transport {
                Transport::Imds => "http:// is accepted only for 169.254.169.254 and loopback hosts",
                Transport::Platform => "http:// is accepted only for loopback, link-local and private addresses",
                Transport::HttpsPinned => "Service Fabric's token service is https:// (http:// only on loopback)",
            }));
        }
        other => {
            return Err(Error::usage(format!("{variable}: unsupported URL scheme '{other}'")));
        }
    }
    if url.host_str().is_none_or(str::is_empty) || url.fragment().is_some() || !url.username().is_empty() {
        return Err(Error::usage(format!(
            "{variable} must be an http(s) URL with a host and no fragment or user name"
        )));
    }
    Ok(url)
}

/// The IMDS token URL: `{AZURE_POD_IDENTITY_AUTHORITY_HOST or http://169.254.169.254}` with its
/// trailing `/` removed, then `/metadata/identity/oauth2/token` (as MSAL and azure-identity
/// build it).
pub(crate) fn imds_url(authority_host: Option<&str>) -> Result<Url> {
    let Some(host) = authority_host.map(str::trim).filter(|h| !h.is_empty()) else {
        return Ok(Url::parse(&format!("{IMDS_HOST}{IMDS_TOKEN_PATH}")).expect("built-in IMDS URL"));
    };
    let variable = EnvVars::AZURE_POD_IDENTITY_AUTHORITY_HOST;
    let base = endpoint_url(host, variable, Transport::Imds)?;
    if base.query().is_some() {
        return Err(Error::usage(format!("{variable} must not have a query")));
    }
    let joined = format!("{}{IMDS_TOKEN_PATH}", base.as_str().trim_end_matches('/'));
    Url::parse(&joined).map_err(|e| Error::usage(format!("{variable} is not a valid URL")).cause(e))
}

/// How a user-assigned identity is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // the three ids Azure names: client id, object id, resource id
pub(crate) enum SelectorKind {
    ClientId,
    ObjectId,
    ResourceId,
}

impl SelectorKind {
    /// The command-line flag that sets it.
    #[cfg(test)]
    pub(crate) fn flag(self) -> &'static str {
        match self {
            SelectorKind::ClientId => "--client-id",
            SelectorKind::ObjectId => "--mi-object-id",
            SelectorKind::ResourceId => "--mi-resource-id",
        }
    }

    /// A generic name for messages (IMDS's parameter names, which users know).
    pub(crate) fn name(self) -> &'static str {
        match self {
            SelectorKind::ClientId => "client_id",
            SelectorKind::ObjectId => "object_id",
            SelectorKind::ResourceId => "resource_id",
        }
    }
}

pub(crate) use crate::origin::Origin;

/// A user-assigned identity: its client id, object id or ARM resource id, and where that came
/// from (messages and the "Identity not found" hint name it). None = the system-assigned one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selector {
    pub(crate) kind: SelectorKind,
    pub(crate) value: String,
    pub(crate) origin: Origin,
}

impl Selector {
    /// A stable label for cache keys and logs (`client_id=…`); identifiers, not secrets.
    pub(crate) fn label(&self) -> String {
        format!("{}={}", self.kind.name(), self.value)
    }
}

/// Picks the selector: the first precedence level (flags, then environment, then the profile)
/// that names one wins; two at the same level is exit 2. Values are checked: client and object
/// ids are GUIDs, a resource id is a user-assigned identity's ARM id.
pub(crate) fn resolve_selector(levels: &[Vec<Selector>]) -> Result<Option<Selector>> {
    let Some(level) = levels.iter().find(|l| !l.is_empty()) else {
        return Ok(None);
    };
    if let [a, b, ..] = level.as_slice() {
        return Err(Error::usage(format!(
            "{} and {} both name a user-assigned managed identity: give only one",
            a.origin.describe(),
            b.origin.describe()
        )));
    }
    let s = &level[0];
    let value = s.value.trim();
    let ok = match s.kind {
        SelectorKind::ClientId | SelectorKind::ObjectId => value.len() == 36 && uuid::Uuid::parse_str(value).is_ok(),
        SelectorKind::ResourceId => is_identity_resource_id(value),
    };
    if !ok {
        let what = match s.kind {
            SelectorKind::ClientId => "a managed identity's client id (a GUID)",
            SelectorKind::ObjectId => "a managed identity's object (principal) id (a GUID)",
            SelectorKind::ResourceId => {
                "a user-assigned identity's resource id (/subscriptions/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/NAME)"
            }
        };
        return Err(Error::usage(format!(
            "{}: '{value}' is not {what}",
            s.origin.describe()
        )));
    }
    Ok(Some(Selector {
        kind: s.kind,
        value: value.to_string(),
        origin: s.origin.clone(),
    }))
}

fn is_identity_resource_id(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    lower.starts_with("/subscriptions/")
        && lower.contains("/providers/microsoft.managedidentity/userassignedidentities/")
        && !lower.ends_with('/')
        && v.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'?' | b'#' | b'&' | b'%' | b'\\'))
}

/// Exit 2 when `source` cannot take the selector: Arc, Cloud Shell and Service Fabric serve the
/// one identity configured for the machine or cluster.
pub(crate) fn check_selector(source: Source, selector: Option<&Selector>) -> Result<()> {
    match selector {
        Some(s) if source.selector_parameter(s.kind).is_none() => Err(Error::usage(format!(
            "{} managed identity takes no user-assigned identity, but `{}` comes from {}",
            source.label(),
            s.kind.name(),
            s.origin.describe()
        ))
        .hint(match &s.origin {
            Origin::Env(v) => format!(
                "unset {v} for this command to use the identity {} provides",
                source.label()
            ),
            other => format!(
                "drop {} to use the identity {} provides",
                other.describe(),
                source.label()
            ),
        })),
        _ => Ok(()),
    }
}

/// The `resource` a managed identity token is requested for: a v2 scope without its `/.default`
/// (`https://graph.microsoft.com/.default` → `https://graph.microsoft.com`;
/// `https://management.core.windows.net//.default` keeps its `/`), or `--resource` as given.
pub(crate) fn resource_for(audience: &Audience) -> Result<String> {
    match audience {
        Audience::Resource(r) if !r.trim().is_empty() => Ok(r.trim().to_string()),
        Audience::Resource(_) => Err(Error::usage("--resource is empty")),
        Audience::Scope(scopes) => {
            let list: Vec<&str> = scopes.split_whitespace().collect();
            match list.as_slice() {
                [] => Err(Error::usage("--scope is empty")),
                [one] => authority::scope_to_resource(one).ok_or_else(|| {
                    Error::usage(format!(
                        "a managed identity token is for a resource's /.default scope, not '{one}'"
                    ))
                    .hint("use e.g. --scope https://graph.microsoft.com/.default, or --resource https://graph.microsoft.com")
                }),
                _ => Err(Error::usage(
                    "a managed identity token is for one resource: pass a single /.default scope",
                )),
            }
        }
    }
}

/// The cache identity of a managed-identity token: source, endpoint origin and selector. Never
/// `IDENTITY_HEADER` (a secret, and rotated by the platform).
pub(crate) fn cache_identity(endpoint: &Endpoint, selector: Option<&Selector>) -> String {
    let who = selector.map_or_else(|| "system-assigned".to_string(), Selector::label);
    format!(
        "managed-identity:{}:{}:{who}",
        endpoint.source.as_str(),
        endpoint.url.origin().ascii_serialization()
    )
}

#[cfg(test)]
mod tests;
