//! Clouds, tenants, v1/v2 endpoints and the scope/resource mapping
//! (<https://learn.microsoft.com/en-us/entra/identity-platform/authentication-national-cloud>,
//! <https://learn.microsoft.com/en-us/entra/identity-platform/scopes-oidc>).

use crate::error::{Error, Result};
use url::Url;

/// A national cloud: its authority and Graph hosts (`--cloud`, a profile's `cloud`). `pub`: the
/// public `cli::GlobalArgs` holds one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Cloud {
    Public,
    #[value(name = "usgov")]
    UsGov,
    China,
}

impl Cloud {
    /// A cloud as a profile spells it: a `--cloud` value (any case), or the Azure CLI's name.
    pub(crate) fn parse(s: &str) -> Option<Cloud> {
        match s.to_ascii_lowercase().as_str() {
            "azurecloud" | "global" => Some(Cloud::Public),
            "azureusgovernment" => Some(Cloud::UsGov),
            "azurechinacloud" => Some(Cloud::China),
            other => <Cloud as clap::ValueEnum>::from_str(other, false).ok(),
        }
    }
    pub(crate) fn authority_host(self) -> &'static str {
        match self {
            Cloud::Public => "https://login.microsoftonline.com",
            Cloud::UsGov => "https://login.microsoftonline.us",
            Cloud::China => "https://login.chinacloudapi.cn",
        }
    }
    /// The Office 365 Management Activity API's base in this cloud (GCC and DoD tenants pass
    /// `--management-url`).
    pub(crate) fn management(self) -> &'static str {
        match self {
            Cloud::Public => "https://manage.office.com",
            Cloud::UsGov => "https://manage.office365.us",
            Cloud::China => "https://manage.office.cn",
        }
    }
    pub(crate) fn graph(self) -> &'static str {
        match self {
            Cloud::Public => "https://graph.microsoft.com",
            Cloud::UsGov => "https://graph.microsoft.us",
            Cloud::China => "https://microsoftgraph.chinacloudapi.cn",
        }
    }
}

/// The `{tenant}` path segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tenant {
    Id(String),
    Domain(String),
    /// `common`, `organizations`, `consumers`: fine for sign-in, not for app-only tokens.
    Multi(String),
}

impl Tenant {
    pub(crate) fn parse(s: &str) -> Result<Tenant> {
        let t = s.trim();
        let lower = t.to_ascii_lowercase();
        if matches!(lower.as_str(), "common" | "organizations" | "consumers") {
            return Ok(Tenant::Multi(lower));
        }
        if uuid::Uuid::parse_str(t).is_ok() && t.len() == 36 {
            return Ok(Tenant::Id(lower));
        }
        let valid_domain = t.contains('.')
            && !t.starts_with('.')
            && !t.ends_with('.')
            && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if valid_domain {
            return Ok(Tenant::Domain(lower));
        }
        Err(
            Error::usage(format!("tenant '{t}' is not a tenant GUID or a domain name"))
                .hint("use the directory (tenant) ID GUID or a verified domain such as contoso.onmicrosoft.com"),
        )
    }
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Tenant::Id(s) | Tenant::Domain(s) | Tenant::Multi(s) => s,
        }
    }
    pub(crate) fn is_multi(&self) -> bool {
        matches!(self, Tenant::Multi(_))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    V1,
    V2,
}

impl Endpoint {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Endpoint::V1 => "v1",
            Endpoint::V2 => "v2",
        }
    }
}

/// Parses and checks an authority host URL: https, or http only for loopback hosts.
pub(crate) fn parse_authority_host(raw: &str, source: &str) -> Result<Url> {
    let trimmed = raw.trim();
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("https://{trimmed}")
    };
    let url = Url::parse(&with_scheme)
        .map_err(|e| Error::usage(format!("{source}: '{trimmed}' is not a valid URL")).cause(e))?;
    check_transport(&url, source)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::usage(format!(
            "{source}: '{trimmed}' must not have a query or fragment"
        )));
    }
    Ok(url)
}

/// `http://` is refused unless the host is loopback (a token or secret never crosses the network
/// in clear).
pub(crate) fn check_transport(url: &Url, source: &str) -> Result<()> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(Error::usage(format!(
            "{source}: refusing to send credentials over plain http to '{}'",
            url.host_str().unwrap_or("")
        ))
        .hint("use an https:// URL (http:// is accepted only for localhost, 127.0.0.0/8 and [::1])")),
        other => Err(Error::usage(format!(
            "{source}: unsupported URL scheme '{other}' (use https)"
        ))),
    }
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// `{authority}/{tenant}/{suffix}`, keeping any path prefix the authority host has.
pub(crate) fn join(authority: &Url, tenant: &str, suffix: &str) -> Url {
    let mut url = authority.clone();
    let base = authority.path().trim_end_matches('/');
    url.set_path(&format!("{base}/{tenant}/{suffix}"));
    url
}

pub(crate) fn token_url(authority: &Url, tenant: &Tenant, endpoint: Endpoint) -> Url {
    match endpoint {
        Endpoint::V2 => join(authority, tenant.as_str(), "oauth2/v2.0/token"),
        Endpoint::V1 => join(authority, tenant.as_str(), "oauth2/token"),
    }
}

/// What a token is for: a v2 scope list or a v1 resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Audience {
    Scope(String),
    Resource(String),
}

/// `--resource R` on v2 is `R/.default` by plain concatenation (a trailing `/` gives `//.default`,
/// which is what Entra expects for such resources).
pub(crate) fn resource_to_scope(resource: &str) -> String {
    format!("{resource}/.default")
}

/// The v1 resource for a v2 `/.default` scope (`https://graph.microsoft.com/.default` →
/// `https://graph.microsoft.com`; `https://management.core.windows.net//.default` keeps its `/`).
pub(crate) fn scope_to_resource(scope: &str) -> Option<String> {
    scope
        .strip_suffix("/.default")
        .filter(|r| !r.is_empty())
        .map(str::to_string)
}

/// App-only (client credentials) rules checked before anything is sent.
pub(crate) fn check_app_only(tenant: &Tenant, audience: &Audience) -> Result<()> {
    if tenant.is_multi() {
        return Err(Error::usage(format!(
            "app-only tokens need a specific tenant, not '{}'",
            tenant.as_str()
        ))
        .hint("set --tenant or AZURE_TENANT_ID to the tenant's GUID or domain (Entra answers AADSTS9001023 for common/consumers/organizations)"));
    }
    if let Audience::Scope(scopes) = audience {
        let list: Vec<&str> = scopes.split_whitespace().collect();
        if list.is_empty() {
            return Err(Error::usage("--scope is empty"));
        }
        if let Some(bad) = list.iter().find(|s| !s.ends_with("/.default")) {
            return Err(Error::usage(format!(
                "app-only tokens take a resource's /.default scope, not '{bad}'"
            ))
            .hint("use e.g. --scope https://graph.microsoft.com/.default; the app's granted application permissions come with it (Entra answers AADSTS1002012)"));
        }
        if list.len() > 1 {
            return Err(
                Error::usage("app-only tokens are for one resource: pass a single /.default scope")
                    .hint("request one token per resource (Entra answers AADSTS700022)"),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clouds_as_a_profile_spells_them() {
        assert_eq!(Cloud::parse("USGov"), Some(Cloud::UsGov));
        assert_eq!(Cloud::parse("AzureChinaCloud"), Some(Cloud::China));
        assert_eq!(Cloud::parse("global"), Some(Cloud::Public));
        assert_eq!(Cloud::parse("public"), Some(Cloud::Public));
        assert_eq!(Cloud::parse("us-gov"), None);
        assert_eq!(Cloud::parse("mars"), None);
    }

    #[test]
    fn tenants() {
        assert!(matches!(
            Tenant::parse("7E0A1F4C-3B6D-4C2E-9A51-0C4F3D2B1A00").unwrap(),
            Tenant::Id(_)
        ));
        assert!(matches!(
            Tenant::parse("contoso.onmicrosoft.com").unwrap(),
            Tenant::Domain(_)
        ));
        assert!(Tenant::parse("Common").unwrap().is_multi());
        assert!(Tenant::parse("a/b").is_err());
        assert!(Tenant::parse("contoso").is_err());
    }

    #[test]
    fn urls() {
        let a = parse_authority_host("https://login.microsoftonline.com/", "x").unwrap();
        let t = Tenant::parse("contoso.com").unwrap();
        assert_eq!(
            token_url(&a, &t, Endpoint::V2).as_str(),
            "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token"
        );
        assert_eq!(
            token_url(&a, &t, Endpoint::V1).as_str(),
            "https://login.microsoftonline.com/contoso.com/oauth2/token"
        );
        let p = parse_authority_host("https://proxy.example/entra", "x").unwrap();
        assert_eq!(
            token_url(&p, &t, Endpoint::V2).as_str(),
            "https://proxy.example/entra/contoso.com/oauth2/v2.0/token"
        );
        assert!(parse_authority_host("http://login.example.com", "x").is_err());
        assert!(parse_authority_host("http://127.0.0.2:8080", "x").is_ok());
        assert!(parse_authority_host("http://[::1]:8080", "x").is_ok());
        assert!(parse_authority_host("http://localhost:1", "x").is_ok());
    }

    #[test]
    fn scopes() {
        assert_eq!(
            resource_to_scope("https://management.core.windows.net/"),
            "https://management.core.windows.net//.default"
        );
        assert_eq!(
            scope_to_resource("https://management.core.windows.net//.default").unwrap(),
            "https://management.core.windows.net/"
        );
        let t = Tenant::parse("contoso.com").unwrap();
        assert!(check_app_only(&t, &Audience::Scope("User.Read".into())).is_err());
        assert!(check_app_only(&t, &Audience::Scope("https://graph.microsoft.com/.default".into())).is_ok());
        assert!(check_app_only(&Tenant::parse("common").unwrap(), &Audience::Resource("x".into())).is_err());
    }
}
