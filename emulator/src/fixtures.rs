//! The fixed directory contents of the emulator: tenant, app, secret and user values that tests
//! and users' scripts can rely on. Imports nothing: everything else builds on it.

/// The home tenant. Its verified domains are `contoso.onmicrosoft.com` and `contoso.com`.
pub const TENANT_ID: &str = "7e0a1f4c-3b6d-4c2e-9a51-0c4f3d2b1a00";
/// The home tenant's initial domain.
pub const TENANT_DOMAIN: &str = "contoso.onmicrosoft.com";
/// The home tenant's custom verified domain.
pub const TENANT_CUSTOM_DOMAIN: &str = "contoso.com";
/// A second tenant (`fabrikam.onmicrosoft.com`); the app is NOT consented there.
pub const OTHER_TENANT_ID: &str = "b5c1e2d3-f4a5-4b6c-8d7e-9f0a1b2c3d4e";
/// The second tenant's initial domain.
pub const OTHER_TENANT_DOMAIN: &str = "fabrikam.onmicrosoft.com";
/// The confidential client app; its home tenant is [`TENANT_ID`].
pub const CLIENT_ID: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
/// The app's client secret value (special characters on purpose).
pub const CLIENT_SECRET: &str = "Emu~lat.or_Secret-1+/=%&value";
/// The secret's *ID*, which users paste by mistake instead of the value.
pub const CLIENT_SECRET_ID: &str = "5e3c9a7b-2d1f-4e6a-8b0c-1d2e3f4a5b6c";
/// A client secret registered on the app that has expired.
pub const EXPIRED_CLIENT_SECRET: &str = "Expired~Secret.value_0";
/// The expired secret's ID.
pub const EXPIRED_CLIENT_SECRET_ID: &str = "c7d8e9f0-a1b2-4c3d-9e4f-5a6b7c8d9e0f";
/// Object ID of the app's service principal in the home tenant (`oid`/`sub` of app tokens).
pub const SERVICE_PRINCIPAL_ID: &str = "3f2e1d0c-9b8a-4765-a432-10fedcba9876";

/// Microsoft Graph.
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
/// Office 365 Management Activity API.
pub const MANAGE_OFFICE_RESOURCE: &str = "https://manage.office.com";
/// Azure Resource Manager.
pub const ARM_RESOURCE: &str = "https://management.azure.com";
/// Azure Service Management (note the trailing slash: v2 scope `https://management.core.windows.net//.default`).
pub const ASM_RESOURCE: &str = "https://management.core.windows.net/";
/// Azure Key Vault.
pub const VAULT_RESOURCE: &str = "https://vault.azure.net";
/// The Microsoft Managed Desktop API ("Modern Workplace Customer APIs"): the emulator's
/// Application ID URI for it (a customer's tenant shows its own).
pub const MANAGED_DESKTOP_RESOURCE: &str = "api://modern-workplace-customer-apis";

/// Application roles granted to the app on Microsoft Graph in the home tenant.
pub const GRAPH_ROLES: &[&str] = &[
    "User.Read.All",
    "Group.ReadWrite.All",
    "DeviceManagementManagedDevices.Read.All",
    "Device.Read.All",
    "CloudPC.Read.All",
];
/// Application roles granted to the app on the Office 365 Management API in the home tenant.
pub const MANAGE_OFFICE_ROLES: &[&str] = &["ActivityFeed.Read"];

/// Default access-token lifetime in seconds (`expires_in`).
pub const DEFAULT_TOKEN_LIFETIME: u64 = 3599;

/// The bearer token the GitHub Actions OIDC stand-in (`GET /_actions/idtoken`) requires, as
/// `ACTIONS_ID_TOKEN_REQUEST_TOKEN` would carry it.
pub const ACTIONS_REQUEST_TOKEN: &str = "actions-request-token-emu";
/// The `sub` of tokens from the Actions OIDC stand-in (issuer `{base}/_actions`); [`CLIENT_ID`]
/// has a federated credential for it with audience `api://AzureADTokenExchange`.
pub const ACTIONS_SUBJECT: &str = "repo:contoso/app:ref:refs/heads/main";
/// Lifetime of tokens from the Actions OIDC stand-in, in seconds.
pub const ACTIONS_TOKEN_LIFETIME: u64 = 300;
/// The id of [`CLIENT_ID`]'s federated credential for the Actions stand-in.
pub const ACTIONS_FEDERATED_CREDENTIAL_ID: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";

/// The user who signs in at `/authorize` by default (home tenant).
pub const ADMIN_UPN: &str = "admin@contoso.onmicrosoft.com";
/// Object ID of [`ADMIN_UPN`] (first entry of Graph `/users`).
pub const ADMIN_USER_ID: &str = "6b3f2a1e-0c9d-4e8f-a7b6-5c4d3e2f1a0b";
/// A user of the second tenant, for consent tests.
pub const OTHER_ADMIN_UPN: &str = "admin@fabrikam.onmicrosoft.com";
/// Object ID of [`OTHER_ADMIN_UPN`].
pub const OTHER_ADMIN_USER_ID: &str = "d4c3b2a1-9f8e-4d7c-b6a5-0f1e2d3c4b5a";
/// Microsoft Graph's application ID (an accepted `aud` of Graph tokens).
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// Office 365 Management APIs' application ID.
pub const MANAGE_OFFICE_APP_ID: &str = "c5393580-f805-4401-95e8-94b7a6ef2fc2";
/// A public client app (`allowPublicClient`): it must send no credential.
pub const PUBLIC_CLIENT_ID: &str = "e1d2c3b4-a5f6-4e7d-8c9b-0a1f2e3d4c5b";
/// Redirect URIs registered on both fixture apps (`localhost`/`127.0.0.1`: any port).
pub const REDIRECT_URIS: &[&str] = &[
    "http://localhost",
    "http://127.0.0.1",
    "https://app.contoso.com/callback",
];

/// A fixture user who can sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    pub upn: &'static str,
    pub oid: &'static str,
    pub tenant_id: &'static str,
    pub name: &'static str,
}

/// The users who can sign in; the first is the default `signed_in_user`.
pub const USERS: &[User] = &[
    User {
        upn: ADMIN_UPN,
        oid: ADMIN_USER_ID,
        tenant_id: TENANT_ID,
        name: "Contoso Admin",
    },
    User {
        upn: OTHER_ADMIN_UPN,
        oid: OTHER_ADMIN_USER_ID,
        tenant_id: OTHER_TENANT_ID,
        name: "Fabrikam Admin",
    },
];

/// The fixture user with this UPN (ASCII case-insensitive).
pub fn user_by_upn(upn: &str) -> Option<User> {
    USERS.iter().copied().find(|u| u.upn.eq_ignore_ascii_case(upn))
}

/// The VM's system-assigned managed identity: object id (`oid`) of its service principal.
pub const MI_SYSTEM_OBJECT_ID: &str = "6b1f2e3d-4c5b-4a69-8e7d-0f1e2d3c4b5a";
/// The system-assigned identity's client id (`appid`).
pub const MI_SYSTEM_CLIENT_ID: &str = "2c3d4e5f-6a7b-4c8d-9e0f-a1b2c3d4e5f6";
/// The VM's ARM resource id (`xms_mirid` of system-assigned tokens).
pub const MI_VM_RESOURCE_ID: &str = "/subscriptions/0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1";
/// A user-assigned managed identity assigned to the VM: client id.
pub const MI_USER_CLIENT_ID: &str = "8d9e0f1a-2b3c-4d5e-8f6a-7b8c9d0e1f2a";
/// The user-assigned identity's object id.
pub const MI_USER_OBJECT_ID: &str = "4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8";
/// The user-assigned identity's ARM resource id.
pub const MI_USER_RESOURCE_ID: &str = "/subscriptions/0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ci-identity";

/// App Service's `IDENTITY_HEADER`: the `X-IDENTITY-HEADER` value the App Service stand-in
/// (`GET /msi/token`) requires (Service Fabric's `secret` too).
pub const MI_IDENTITY_HEADER: &str = "emulator-identity-header-3f9a";

/// Azure Pipelines: the job's `SYSTEM_ACCESSTOKEN` the OIDC stand-in
/// (`POST /_pipelines/{org}/oidctoken`) requires as its bearer token.
pub const PIPELINES_ACCESS_TOKEN: &str = "pipelines-system-access-token-emu";
/// Azure Pipelines: the organization's id (in the OIDC token's issuer).
pub const PIPELINES_ORG_ID: &str = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d";
/// Azure Pipelines: the service connection the OIDC stand-in knows; [`CLIENT_ID`] has a
/// federated credential for its subject.
pub const PIPELINES_SERVICE_CONNECTION_ID: &str = "1b8f7a2e-52c4-4a8e-9b8e-3d2c1a0f9e8d";
/// The `sub` of the OIDC stand-in's tokens: `sc://{organization}/{project}/{service connection}`.
pub const PIPELINES_SUBJECT: &str = "sc://contoso/app/contoso-graph";
/// The id of [`CLIENT_ID`]'s federated credential for the Azure Pipelines stand-in.
pub const PIPELINES_FEDERATED_CREDENTIAL_ID: &str = "7c6d5e4f-3a2b-4c1d-9e8f-0a1b2c3d4e5f";
