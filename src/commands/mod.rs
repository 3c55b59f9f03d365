//! One file per verb. Each reads: parse its flags, ask the token layer (or the cache, or the
//! certificate helpers), call, print through `output`. Commands never import each other: what
//! two of them share lives in the token layer or below.

pub mod api;
pub mod cache;
pub mod cert;
pub mod completions;
pub mod consent;
pub mod decode;
pub mod get;
pub mod login;
pub mod logout;
pub mod redeem;
