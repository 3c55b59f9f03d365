//! `logout [--account UPN]`: forgets a signed-in account (every account without `--account`):
//! its refresh token and access tokens are removed from the cache.

use crate::cache::Cache;
use crate::cli::LogoutArgs;
use crate::error::Result;
use crate::settings::Settings;
use crate::token::accounts;

pub(crate) fn run(settings: &Settings, args: &LogoutArgs) -> Result<()> {
    let cache = Cache::open(&settings.cache)?;
    let Some(dir) = cache.dir.as_ref() else {
        eprintln!("the cache is off: nothing to sign out");
        return Ok(());
    };
    let removed = accounts::sign_out(dir, args.account.as_deref());
    match (removed.accounts.is_empty(), &args.account) {
        (true, Some(a)) => eprintln!("{a} is not signed in: nothing removed"),
        (true, None) => eprintln!("no account is signed in: nothing removed"),
        (false, _) => eprintln!(
            "signed out {} ({} cache entr{} removed)",
            crate::sanitize::line(&removed.accounts.join(", ")),
            removed.entries,
            if removed.entries == 1 { "y" } else { "ies" }
        ),
    }
    Ok(())
}
