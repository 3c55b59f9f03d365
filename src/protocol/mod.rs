//! Entra's protocol as pure functions and types: clouds, tenants, endpoints, form bodies, token
//! responses and error bodies, and what `api` infers from a URL or an error reply. NO I/O here:
//! everything is unit-testable.

pub mod api;
pub mod authority;
pub mod authorize;
pub mod device_code;
pub mod entra_error;
pub mod jwt;
pub mod redirect;
pub mod token;
