//! The emulator's directory: tenants and the names they answer to, app registrations with their
//! secrets, certificates and federated credentials, resources (APIs) and admin consents; the
//! fixed contents it starts with, and the lookups the endpoints make.

use std::collections::BTreeMap;

use crate::credentials::{CertCredential, FederatedCredential, TOKEN_EXCHANGE_AUDIENCE};
use crate::fixtures as fx;

/// A tenant and the names it answers to in the path segment.
#[derive(Debug, Clone)]
pub(crate) struct Tenant {
    pub(crate) id: String,
    /// Verified domains, lower-case; the first is the initial `*.onmicrosoft.com` domain.
    pub(crate) domains: Vec<String>,
    /// Display name, used in AADSTS texts ("directory 'Contoso'").
    pub(crate) display_name: String,
}

/// A client secret registered on an app.
#[derive(Debug, Clone)]
pub(crate) struct ClientSecret {
    pub(crate) value: String,
    pub(crate) expired: bool,
}

/// An app registration.
#[derive(Debug, Clone)]
pub(crate) struct App {
    pub(crate) client_id: String,
    pub(crate) home_tenant: String,
    /// Client secrets.
    pub(crate) secrets: Vec<ClientSecret>,
    /// Registered certificates (control API; none in the fixture).
    pub(crate) certificates: Vec<CertCredential>,
    /// Federated identity credentials.
    pub(crate) federated: Vec<FederatedCredential>,
    /// Registered redirect URIs (`http://localhost` / `http://127.0.0.1`: any port).
    pub(crate) redirect_uris: Vec<String>,
    /// `allowPublicClient`: the app is a public client and must send no credential.
    pub(crate) public_client: bool,
}

/// A resource (API) that tokens can be issued for.
#[derive(Debug, Clone)]
pub(crate) struct Resource {
    /// The canonical identifier, used as `aud`.
    pub(crate) id: String,
    /// Other names accepted for it (its app ID GUID, ...).
    pub(crate) aliases: Vec<String>,
    /// When the resource is an app registered in the emulator: present only in tenants where
    /// that app has a service principal. `None`: a first-party API present in every tenant.
    pub(crate) owner_app: Option<String>,
}

/// An app's service principal in a tenant (i.e. admin consent) with the app roles granted.
#[derive(Debug, Clone)]
pub(crate) struct Consent {
    pub(crate) tenant_id: String,
    pub(crate) client_id: String,
    /// Object ID of the service principal (the `oid`/`sub` of app-only tokens).
    pub(crate) object_id: String,
    /// resource id → granted application roles.
    pub(crate) roles: BTreeMap<String, Vec<String>>,
}

/// The whole directory.
#[derive(Debug, Clone)]
pub(crate) struct Directory {
    pub(crate) tenants: Vec<Tenant>,
    pub(crate) apps: Vec<App>,
    pub(crate) resources: Vec<Resource>,
    pub(crate) consents: Vec<Consent>,
}

/// How the tenant path segment resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TenantRef<'a> {
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
    /// The fixed contents described in [`crate::fixtures`]. `base_url` is the emulator's own
    /// URL: the GitHub Actions stand-in's issuer (`{base_url}/_actions`) and the Azure Pipelines
    /// one (`{base_url}/_pipelines/{org}`) are registered as federated credentials of
    /// [`fx::CLIENT_ID`].
    pub(crate) fn fixture(base_url: &str) -> Self {
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
                    secrets: vec![
                        ClientSecret {
                            value: fx::CLIENT_SECRET.into(),
                            expired: false,
                        },
                        ClientSecret {
                            value: fx::EXPIRED_CLIENT_SECRET.into(),
                            expired: true,
                        },
                    ],
                    certificates: Vec::new(),
                    redirect_uris: fx::REDIRECT_URIS.iter().map(|s| s.to_string()).collect(),
                    public_client: false,
                    federated: vec![
                        FederatedCredential {
                            id: fx::ACTIONS_FEDERATED_CREDENTIAL_ID.into(),
                            name: "github-actions-main".into(),
                            issuer: format!("{base_url}/_actions"),
                            subject: fx::ACTIONS_SUBJECT.into(),
                            audiences: vec![TOKEN_EXCHANGE_AUDIENCE.into()],
                        },
                        FederatedCredential {
                            id: fx::PIPELINES_FEDERATED_CREDENTIAL_ID.into(),
                            name: "azure-pipelines-contoso-graph".into(),
                            issuer: format!("{base_url}/_pipelines/{}", fx::PIPELINES_ORG_ID),
                            subject: fx::PIPELINES_SUBJECT.into(),
                            audiences: vec![TOKEN_EXCHANGE_AUDIENCE.into()],
                        },
                    ],
                },
                App {
                    client_id: fx::PUBLIC_CLIENT_ID.into(),
                    home_tenant: fx::TENANT_ID.into(),
                    secrets: Vec::new(),
                    certificates: Vec::new(),
                    federated: Vec::new(),
                    redirect_uris: fx::REDIRECT_URIS.iter().map(|s| s.to_string()).collect(),
                    public_client: true,
                },
            ],
            resources: vec![
                first_party(fx::GRAPH_RESOURCE, &[fx::GRAPH_APP_ID]),
                first_party(fx::MANAGE_OFFICE_RESOURCE, &[fx::MANAGE_OFFICE_APP_ID]),
                first_party(fx::ARM_RESOURCE, &[]),
                first_party(fx::ASM_RESOURCE, &["797f4846-ba00-4fd7-ba43-dac1f8f63013"]),
                first_party(fx::VAULT_RESOURCE, &["cfa8b339-82a2-471a-a3c9-0fc0be7a4093"]),
                first_party(fx::MANAGED_DESKTOP_RESOURCE, &[]),
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
    pub(crate) fn resolve_tenant(&self, segment: &str) -> TenantRef<'_> {
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

    pub(crate) fn app(&self, client_id: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    pub(crate) fn app_mut(&mut self, client_id: &str) -> Option<&mut App> {
        self.apps
            .iter_mut()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    /// The app's service principal in `tenant_id`, if the app is consented there.
    pub(crate) fn consent(&self, tenant_id: &str, client_id: &str) -> Option<&Consent> {
        self.consents
            .iter()
            .find(|c| c.tenant_id == tenant_id && c.client_id.eq_ignore_ascii_case(client_id))
    }

    /// Finds a resource by identifier (trailing `/` and ASCII case are not significant), as
    /// long as it has a service principal in `tenant_id`.
    pub(crate) fn resource_in_tenant(&self, name: &str, tenant_id: &str) -> Option<&Resource> {
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

    /// Records admin consent: the app gets a service principal in `tenant_id` with the app roles
    /// it has in its home tenant.
    pub(crate) fn grant_admin_consent(&mut self, tenant_id: &str, client_id: &str) {
        if self.consent(tenant_id, client_id).is_some() {
            return;
        }
        let roles = self
            .app(client_id)
            .and_then(|a| self.consent(&a.home_tenant, &a.client_id))
            .map(|c| c.roles.clone())
            .unwrap_or_default();
        self.consents.push(Consent {
            tenant_id: tenant_id.to_string(),
            client_id: client_id.to_string(),
            object_id: uuid::Uuid::new_v4().to_string(),
            roles,
        });
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
}
