//! Entra's protocol as pure functions and types: clouds, tenants, endpoints, form bodies, token
//! responses and error bodies, and what `api` infers from a URL or an error reply. NO I/O here:
//! everything is unit-testable.

pub(crate) mod api;
pub(crate) mod authority;
pub(crate) mod authorize;
pub(crate) mod device_code;
pub(crate) mod entra_error;
pub(crate) mod jwt;
pub(crate) mod managed_identity;
pub(crate) mod pipelines;
pub(crate) mod redirect;
pub(crate) mod token;
