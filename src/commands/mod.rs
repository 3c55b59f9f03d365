//! One file per verb (`api`, the largest, keeps its session and reply handling beside it in
//! `api/`). Each reads: parse its flags, ask the token layer (or the cache, or the certificate
//! helpers), call, print through `output`. Commands never import each other: what two of them
//! share lives in the token layer or below.

pub(crate) mod activity;
pub(crate) mod api;
pub(crate) mod cache;
pub(crate) mod cert;
pub(crate) mod completions;
pub(crate) mod consent;
pub(crate) mod decode;
pub(crate) mod get;
pub(crate) mod login;
pub(crate) mod logout;
pub(crate) mod redeem;
pub(crate) mod whoami;
