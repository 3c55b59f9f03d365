//! entra-token: Microsoft Entra ID OAuth 2.0 tokens for scripts and CI, and the local emulator
//! used to test them. The binary in `main.rs` only calls [`app::main_with_args`]; the clap types
//! in [`cli`] are public for tools that render the command line (man pages), and [`completion`]
//! gives the shell completion scripts the `completions` command prints.
//! Everything else is internal; `docs/architecture.md` maps it.

pub mod app;
pub mod cli;
pub mod completion;

mod activity;
mod cache;
mod commands;
mod credential;
mod dirs;
mod env;
mod error;
mod files;
mod hardening;
mod hints;
mod http;
mod input;
mod log;
mod loopback;
mod origin;
mod output;
mod progress;
mod protocol;
mod redact;
mod rt;
mod sanitize;
mod secret;
mod settings;
mod token;

/// Entry points for fuzz targets (built only with `--cfg fuzzing`, and for `cargo test`'s replay
/// of their corpora): each feeds untrusted bytes to one parser and must never panic.
#[cfg(any(fuzzing, test))]
#[doc(hidden)]
pub mod fuzzing;

/// Property tests of the pure functions (scope mapping, URLs, cache keys, freshness).
#[cfg(test)]
mod properties;
