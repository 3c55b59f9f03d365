//! entra-token: Microsoft Entra ID OAuth 2.0 tokens for scripts and CI, and the local emulator
//! used to test them. The binary in `main.rs` only parses arguments and calls [`app::run`].

pub mod app;
pub mod cache;
pub mod cli;
pub mod commands;
pub mod credential;
pub mod error;
pub mod hints;
pub mod http;
pub mod log;
pub mod loopback;
pub mod output;
pub mod protocol;
pub mod secret;
pub mod settings;
