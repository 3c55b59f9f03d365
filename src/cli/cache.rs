//! `cache status | list | clear`.

use super::ListFormat;
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Which store is in use, and why
    Status(CacheOutputArgs),
    /// Cached entries: kind, tenant, client, scope, expiry (never a token)
    List(CacheOutputArgs),
    /// Remove entries: all of them (and the keyring item), or those matching the filters
    Clear(CacheClearArgs),
}

#[derive(Debug, Args)]
pub struct CacheOutputArgs {
    /// Output format
    #[arg(short, long, value_name = "FORMAT", default_value = "text")]
    pub output: ListFormat,
}

#[derive(Debug, Args)]
pub struct CacheClearArgs {
    /// Only entries for this scope or resource
    #[arg(long, value_name = "SCOPE")]
    pub scope: Option<String>,
    /// Only entries for this account (user tokens)
    #[arg(long, value_name = "UPN")]
    pub account: Option<String>,
}
