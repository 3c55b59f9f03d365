//! `cache status | list | clear`: which store is in use and why, what is cached (never a
//! token), and removal of entries — files and, for a full clear, the keyring item.

use crate::cache::{Cache, Mode, file, keyring};
use crate::cli::{CacheClearArgs, CacheCommand, GlobalArgs, ListFormat};
use crate::error::Result;
use crate::output;
use crate::rt;
use crate::settings::Settings;
use crate::token::accounts;
use serde_json::json;

pub(crate) fn run(global: &GlobalArgs, settings: &Settings, cmd: &CacheCommand) -> Result<()> {
    match cmd {
        CacheCommand::Status(a) => status(settings, a.output),
        CacheCommand::List(a) => list(settings, a.output),
        CacheCommand::Clear(a) => clear(global, settings, a),
    }
}

fn status(settings: &Settings, format: ListFormat) -> Result<()> {
    let c = Cache::open(&settings.cache)?;
    let dir = c.dir.as_ref().map(|d| d.display().to_string());
    let entries = c.dir.as_ref().map(|d| file::list(d).len()).unwrap_or(0);
    match format {
        ListFormat::Json => output::json_value(&json!({
            "backend": c.backend.name(),
            "reason": c.reason,
            "directory": dir,
            "entries": entries,
        })),
        ListFormat::Text => output::text(&format!(
            "backend: {}\nreason: {}\ndirectory: {}\nentries: {entries}\n",
            c.backend.name(),
            c.reason,
            dir.as_deref().unwrap_or("-")
        )),
    }
}

fn list(settings: &Settings, format: ListFormat) -> Result<()> {
    let entries = settings.cache.dir.as_deref().map(file::list).unwrap_or_default();
    let now = rt::now();
    let rows: Vec<serde_json::Value> = entries
        .iter()
        .map(|(_, m)| {
            let (aud_kind, aud) = m.key.audience.split_once(':').unwrap_or(("scope", &m.key.audience));
            json!({
                "kind": m.key.kind,
                "tenant": m.key.tenant,
                "tid": m.tid,
                "client_id": m.key.client_id,
                "credential": m.key.credential.split(':').next().unwrap_or(""),
                aud_kind: aud,
                "endpoint": m.key.endpoint,
                "account": m.key.account.as_ref().map(|_| accounts::label(m)),
                "oid": m.oid,
                "authority": m.key.authority,
                "expires_on": m.expires_on,
                "expiresOn": output::rfc3339(m.expires_on, true),
                "expired": m.expires_on <= now,
            })
        })
        .collect();
    match format {
        ListFormat::Json => output::json_value(&serde_json::Value::Array(rows)),
        ListFormat::Text => {
            let mut text = String::new();
            for (_, m) in &entries {
                let left = m.expires_on.saturating_sub(now);
                let state = if left > 100 * 365 * 86_400 {
                    "expires in more than 100 years".to_string()
                } else if left > 0 {
                    format!("expires in {} min", left / 60)
                } else {
                    "expired".to_string()
                };
                // names a server chose (an account's UPN) print without control characters
                let line = format!(
                    "{:<6} {} {} {} {} [{}]{}",
                    m.key.kind,
                    m.key.tenant,
                    m.key.client_id,
                    m.key.audience,
                    m.key.endpoint,
                    state,
                    m.key
                        .account
                        .as_ref()
                        .map(|_| format!(" {}", accounts::label(m)))
                        .unwrap_or_default()
                );
                text.push_str(&crate::sanitize::line(&line));
                text.push('\n');
            }
            if entries.is_empty() {
                eprintln!("no cached tokens");
            }
            output::text(&text)
        }
    }
}

fn clear(global: &GlobalArgs, settings: &Settings, a: &CacheClearArgs) -> Result<()> {
    let Some(dir) = settings.cache.dir.as_ref() else {
        return Ok(());
    };
    // Filters come from flags only: an exported AZURE_TENANT_ID does not narrow a clear.
    let tenant = global.tenant.as_deref().map(str::to_ascii_lowercase);
    let client = global.client_id.as_deref().map(str::to_ascii_lowercase);
    let filtered = tenant.is_some() || client.is_some() || a.scope.is_some() || a.account.is_some();
    let mut removed = 0usize;
    if filtered {
        let mut names = Vec::new();
        for (name, m) in file::list(dir) {
            let aud = m
                .key
                .audience
                .split_once(':')
                .map(|(_, v)| v)
                .unwrap_or(&m.key.audience);
            let tid = m.tid.as_deref().unwrap_or("");
            let keep = tenant.as_deref().is_some_and(|t| t != m.key.tenant && t != tid)
                || client.as_deref().is_some_and(|c| c != m.key.client_id)
                || a.scope.as_deref().is_some_and(|s| s != aud)
                || a.account
                    .as_deref()
                    .is_some_and(|u| Some(u.to_ascii_lowercase()) != m.key.account);
            if !keep {
                names.push(name);
            }
        }
        removed = file::remove(dir, &names);
    } else {
        // only regular files of ours with the names entra-token gives; never through a link
        match file::clear(dir) {
            Ok(done) => {
                removed = done.removed;
                for what in done.skipped {
                    crate::log::warn(format!("left alone: {what}"));
                }
            }
            Err(e) => crate::log::warn(format!(
                "cache files not cleared: {e}, so entra-token does not touch it"
            )),
        }
        if settings.cache.mode != Mode::None && settings.cache.mode != Mode::File {
            match keyring::delete_key(&settings.cache.keyring, keyring::EXPLICIT_DEADLINE) {
                Ok(true) => eprintln!("removed the cache key from the keyring"),
                Ok(false) => {}
                Err(why) => crate::log::info(format!("keyring not cleared: {why}")),
            }
        }
    }
    eprintln!("removed {removed} cache entr{}", if removed == 1 { "y" } else { "ies" });
    Ok(())
}
