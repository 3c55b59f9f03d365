//! Entra's protocol as pure functions and types: clouds, tenants, endpoints, form bodies, token
//! responses and error bodies. NO I/O here: everything is unit-testable.

pub mod authority;
pub mod authorize;
pub mod entra_error;
pub mod jwt;
pub mod token;
