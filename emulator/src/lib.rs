//! entra-token-emulator: a local TEST DOUBLE of Microsoft Entra ID's token and sign-in endpoints
//! (not the real service), with small stand-ins for Microsoft Graph, Intune and the Office 365
//! Management Activity API and a test-control API; the `entra-token emulator` command. It shares
//! no code with entra-token, the client it tests.
//!
//! Layers, each importing only those below it: `cli` → `server` (HTTP, control API, faults) →
//! `endpoints` / `apis` → `state` → `directory`, `activity_feed`, `signer` → `credentials`,
//! `aadsts`, `clock`, `fixtures`, `reply`.

mod aadsts;
mod activity_feed;
mod apis;
mod cli;
mod clock;
mod credentials;
mod directory;
mod endpoints;
mod error;
pub mod fixtures;
mod reply;
mod server;
mod signer;
mod state;

pub use cli::{EmulatorArgs, EmulatorCommand, ExecArgs, ServeArgs, run};
pub use error::{Error, ErrorKind, Result};
