//! entra-token: Microsoft Entra ID OAuth 2.0 tokens for scripts and CI, and the local emulator
//! used to test them.

pub mod emulator;
pub mod error;
