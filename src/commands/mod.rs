//! One file per subcommand. Each receives resolved settings and returns `Result<()>`.

pub mod api;
pub mod cache;
pub mod cert;
pub mod completions;
pub mod consent;
pub mod decode;
pub mod get;
pub mod login;
pub mod redeem;
pub mod user;
