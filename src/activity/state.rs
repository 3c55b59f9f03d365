//! The `activity --state FILE` file: what has been delivered for one tenant, so that a run picks
//! up where the last one stopped and never writes a content blob twice.
//!
//! ```json
//! {"version":1,"tenant":"41463f53-8812-40f4-890f-865bf6e35190","content":{
//!   "Audit.General":{"listed_until":"2026-11-20T08:00:00Z",
//!                    "delivered":{"20261120075512345$…":"2026-11-20T07:55:12Z"}}}}
//! ```
//!
//! Per content type: `listed_until`, the end of the last window whose blobs were all written,
//! and the id of every blob delivered in the last 7 days with its `contentCreated` (the service
//! expires content after 7 days, so older ids can never be listed again and are pruned). Times
//! are RFC 3339 UTC to the second, which sort as text.
//!
//! The file is private (0600), never followed through a symlink, refused if another user owns it
//! or others can write it; corrupt, of an unknown version, or another tenant's: exit 2 and the
//! file is left as it is. A run holds an exclusive lock on `FILE.lock` from open to drop; each
//! save writes `FILE.tmp` (created exclusively), fsyncs it, renames it over `FILE` and fsyncs the
//! directory, so the file is always either the old or the new state.

use super::times::{RETENTION, parse_rfc3339, rfc3339};
use crate::error::{Error, Result};
use crate::files::owned_file;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The format version this entra-token reads and writes.
pub(crate) const VERSION: u32 = 1;

/// A state file larger than this is refused (7 days of ids of a very busy tenant fit easily).
const MAX_BYTES: u64 = 512 << 20;

/// How often a waiting run retries the lock.
const LOCK_POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    version: u32,
    tenant: String,
    #[serde(default)]
    content: BTreeMap<String, ContentState>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContentState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    listed_until: Option<String>,
    /// content id → `contentCreated`
    #[serde(default)]
    delivered: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct VersionProbe {
    version: Option<serde_json::Value>,
}

/// An open, locked state file and its contents in memory.
#[derive(Debug)]
pub(crate) struct StateFile {
    path: PathBuf,
    temp_path: PathBuf,
    dir: PathBuf,
    /// Holds the exclusive lock on `FILE.lock` until dropped.
    _lock: File,
    state: State,
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

impl StateFile {
    /// Locks `FILE.lock` (waiting up to `lock_wait`, then exit 2), reads `FILE` if it exists and
    /// checks it belongs to `tenant` (the token's `tid`). Nothing is written until [`save`].
    ///
    /// [`save`]: StateFile::save
    pub(crate) fn open(path: &Path, tenant: &str, lock_wait: Duration, now: i64) -> Result<StateFile> {
        let lock_path = sibling(path, ".lock");
        let lock = owned_file::open_or_create(&lock_path, "state lock file")?;
        acquire(&lock, path, &lock_path, lock_wait)?;
        let tenant = tenant.trim().to_ascii_lowercase();
        let state = match owned_file::open_existing(path, "state file")? {
            None => State {
                version: VERSION,
                tenant,
                content: BTreeMap::new(),
            },
            Some(f) => read_state(f, path, &tenant)?,
        };
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut file = StateFile {
            temp_path: sibling(path, ".tmp"),
            path: path.to_path_buf(),
            dir,
            _lock: lock,
            state,
        };
        file.prune(now);
        Ok(file)
    }

    pub(crate) fn tenant(&self) -> &str {
        &self.state.tenant
    }

    /// The cursor of `content_type`: the end of the last window fully delivered.
    pub(crate) fn listed_until(&self, content_type: &str) -> Option<i64> {
        self.state
            .content
            .get(content_type)?
            .listed_until
            .as_deref()
            .and_then(parse_rfc3339)
    }

    pub(crate) fn is_delivered(&self, content_type: &str, content_id: &str) -> bool {
        self.state
            .content
            .get(content_type)
            .is_some_and(|c| c.delivered.contains_key(content_id))
    }

    /// The ids delivered for `content_type` (in the last 7 days).
    pub(crate) fn delivered_ids(&self, content_type: &str) -> impl Iterator<Item = &str> {
        self.state
            .content
            .get(content_type)
            .into_iter()
            .flat_map(|c| c.delivered.keys().map(String::as_str))
    }

    /// Records a blob whose events were written (and flushed).
    pub(crate) fn mark_delivered(&mut self, content_type: &str, content_id: &str, created: i64) {
        self.entry(content_type)
            .delivered
            .insert(content_id.to_string(), rfc3339(created));
    }

    /// Moves the cursor of `content_type` forward to `until` (never back).
    pub(crate) fn advance_listed_until(&mut self, content_type: &str, until: i64) {
        let current = self.listed_until(content_type);
        if current.is_none_or(|c| c < until) {
            self.entry(content_type).listed_until = Some(rfc3339(until));
        }
    }

    fn entry(&mut self, content_type: &str) -> &mut ContentState {
        self.state.content.entry(content_type.to_string()).or_default()
    }

    /// Forgets ids whose content was created more than 7 days before `now` (expired content is
    /// never listed again).
    fn prune(&mut self, now: i64) {
        let oldest = rfc3339(now - RETENTION);
        for c in self.state.content.values_mut() {
            c.delivered.retain(|_, created| *created >= oldest);
        }
    }

    /// Writes the state: `FILE.tmp` created exclusively (0600, no symlink followed), fsynced,
    /// renamed over `FILE`, and the directory fsynced.
    pub(crate) fn save(&mut self, now: i64) -> Result<()> {
        self.prune(now);
        let mut bytes =
            serde_json::to_vec(&self.state).map_err(|e| Error::internal("could not encode the state").cause(e))?;
        bytes.push(b'\n');
        let fail = |what: &str, e: std::io::Error| {
            Error::usage(format!("could not {what} the state file {}", self.path.display())).cause(e)
        };
        // A temp file left by a killed run is ours to replace: the lock is held.
        owned_file::remove_if_present(&self.temp_path, "state temp file")?;
        let mut tmp = owned_file::create_new(&self.temp_path, "state temp file")?;
        tmp.write_all(&bytes).map_err(|e| fail("write", e))?;
        tmp.sync_all().map_err(|e| fail("sync", e))?;
        drop(tmp);
        std::fs::rename(&self.temp_path, &self.path).map_err(|e| fail("replace", e))?;
        owned_file::sync_dir(&self.dir)
    }
}

fn acquire(lock: &File, path: &Path, lock_path: &Path, wait: Duration) -> Result<()> {
    let deadline = Instant::now() + wait;
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Error::usage(format!(
                        "another entra-token run is using the state file {} (it holds {}); gave up after {} s",
                        path.display(),
                        lock_path.display(),
                        wait.as_secs()
                    ))
                    .hint("wait for that run to finish, or raise --timeout"));
                }
                std::thread::sleep(left.min(LOCK_POLL));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::usage(format!("cannot lock {}", lock_path.display())).cause(e));
            }
        }
    }
}

fn read_state(file: File, path: &Path, tenant: &str) -> Result<State> {
    let mut bytes = Vec::new();
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::usage(format!("cannot read the state file {}", path.display())).cause(e))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(Error::usage(format!(
            "the state file {} is larger than {} MiB; refusing to read it",
            path.display(),
            MAX_BYTES >> 20
        )));
    }
    let untouched = "it was left untouched; move it away to start over (the next run then lists from --since)";
    let corrupt = |cause: String| {
        Error::usage(format!(
            "the state file {} is not a valid entra-token activity state",
            path.display()
        ))
        .cause(cause)
        .hint(untouched)
    };
    let probe: VersionProbe = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    match probe.version {
        Some(v) if v.as_u64() == Some(u64::from(VERSION)) => {}
        Some(v) => {
            return Err(Error::usage(format!(
                "the state file {} has version {v}; this entra-token reads version {VERSION}",
                path.display()
            ))
            .hint("it was left untouched; use the entra-token that wrote it, or move it away to start over"));
        }
        None => return Err(corrupt("it has no \"version\"".into())),
    }
    let mut state: State = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    // Normalise every time (the pruning compares them as text) and refuse unreadable ones.
    for (ct, c) in &mut state.content {
        if let Some(t) = &mut c.listed_until {
            *t = rfc3339(parse_rfc3339(t).ok_or_else(|| corrupt(format!("{ct}: listed_until {t:?} is not a time")))?);
        }
        for (id, created) in &mut c.delivered {
            *created =
                rfc3339(parse_rfc3339(created).ok_or_else(|| corrupt(format!("{ct}: {id:?} has no valid time")))?);
        }
    }
    if !state.tenant.eq_ignore_ascii_case(tenant) {
        return Err(Error::usage(format!(
            "the state file {} belongs to tenant {}, not {tenant}",
            path.display(),
            state.tenant
        ))
        .hint("use one state file per tenant (e.g. --state \"$STATE_DIR/$TENANT.json\")"));
    }
    state.tenant = state.tenant.to_ascii_lowercase();
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::times::{DAY, HOUR};

    const NOW: i64 = 1_795_000_000;
    const TENANT: &str = "41463f53-8812-40f4-890f-865bf6e35190";
    const WAIT: Duration = Duration::from_millis(300);

    fn open(path: &Path) -> Result<StateFile> {
        StateFile::open(path, TENANT, WAIT, NOW)
    }

    #[test]
    fn round_trip_and_exact_shape() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        let mut s = open(&p).unwrap();
        assert!(!p.exists(), "nothing written before save");
        assert_eq!(s.listed_until("Audit.General"), None);
        s.mark_delivered("Audit.General", "a$1", NOW - HOUR);
        s.advance_listed_until("Audit.General", NOW - 60);
        s.advance_listed_until("Audit.General", NOW - DAY); // never back
        s.save(NOW).unwrap();
        drop(s);
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            format!(
                "{{\"version\":1,\"tenant\":\"{TENANT}\",\"content\":{{\"Audit.General\":{{\"listed_until\":\
                 \"2026-11-18T11:05:40Z\",\"delivered\":{{\"a$1\":\"2026-11-18T10:06:40Z\"}}}}}}}}\n"
            )
        );
        let s = StateFile::open(&p, &TENANT.to_ascii_uppercase(), WAIT, NOW).unwrap();
        assert_eq!(s.listed_until("Audit.General"), Some(NOW - 60));
        assert!(s.is_delivered("Audit.General", "a$1"));
        assert!(!s.is_delivered("Audit.Exchange", "a$1"));
        assert_eq!(s.delivered_ids("Audit.General").collect::<Vec<_>>(), ["a$1"]);
        assert_eq!(s.tenant(), TENANT);
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private_and_no_temp_is_left() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        let mut s = open(&p).unwrap();
        // a temp file left by a killed run is replaced
        std::fs::write(dir.path().join("state.json.tmp"), "junk").unwrap();
        s.save(NOW).unwrap();
        for name in ["state.json", "state.json.lock"] {
            let mode = std::fs::metadata(dir.path().join(name)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        assert!(!dir.path().join("state.json.tmp").exists());
    }

    #[test]
    fn old_ids_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        let mut s = open(&p).unwrap();
        s.mark_delivered("DLP.All", "old", NOW - 8 * DAY);
        s.mark_delivered("DLP.All", "edge", NOW - 7 * DAY);
        s.mark_delivered("DLP.All", "new", NOW - DAY);
        s.save(NOW).unwrap();
        drop(s);
        let s = open(&p).unwrap();
        assert!(!s.is_delivered("DLP.All", "old"));
        assert!(s.is_delivered("DLP.All", "edge") && s.is_delivered("DLP.All", "new"));
        // a later run forgets what has expired since
        drop(s);
        let s = StateFile::open(&p, TENANT, WAIT, NOW + 2 * DAY).unwrap();
        assert_eq!(s.delivered_ids("DLP.All").collect::<Vec<_>>(), ["new"]);
    }

    fn refused(p: &Path, content: &str) -> Error {
        std::fs::write(p, content).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let e = open(p).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{}", e.message);
        assert_eq!(std::fs::read_to_string(p).unwrap(), content, "left untouched");
        e
    }

    #[test]
    fn corrupt_unknown_version_and_foreign_tenant_are_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        for bad in [
            "",
            "{",
            "[]",
            "{\"tenant\":\"x\"}",
            "{\"version\":1}",
            "{\"version\":1,\"tenant\":\"41463f53-8812-40f4-890f-865bf6e35190\",\"extra\":1}",
            "{\"version\":1,\"tenant\":\"41463f53-8812-40f4-890f-865bf6e35190\",\"content\":{\"Audit.General\":{\"listed_until\":\"yesterday\"}}}",
            "{\"version\":1,\"tenant\":\"41463f53-8812-40f4-890f-865bf6e35190\",\"content\":{\"Audit.General\":{\"delivered\":{\"a\":5}}}}",
        ] {
            let e = refused(&p, bad);
            assert!(
                e.message.contains("not a valid entra-token activity state"),
                "{bad}: {}",
                e.message
            );
            assert!(e.hint.unwrap().contains("left untouched"));
        }
        let e = refused(&p, "{\"version\":2,\"tenant\":\"x\",\"whatever\":true}");
        assert!(e.message.contains("version 2"), "{}", e.message);
        let e = refused(&p, "{\"version\":\"1\"}");
        assert!(e.message.contains("version \"1\""), "{}", e.message);
        let other = "{\"version\":1,\"tenant\":\"00000000-0000-0000-0000-000000000001\"}";
        let e = refused(&p, other);
        assert!(
            e.message
                .contains("belongs to tenant 00000000-0000-0000-0000-000000000001"),
            "{}",
            e.message
        );
        assert!(e.hint.unwrap().contains("one state file per tenant"));
    }

    #[test]
    fn a_second_run_waits_for_the_lock_then_gives_up() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        let first = open(&p).unwrap();
        let e = open(&p).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.message.contains("another entra-token run"), "{}", e.message);
        drop(first);
        open(&p).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_or_foreign_state_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere.json");
        std::fs::write(&target, "{}").unwrap();
        let p = dir.path().join("s.json");
        std::os::unix::fs::symlink(&target, &p).unwrap();
        let e = open(&p).unwrap_err();
        assert!(e.message.contains("symbolic link"), "{}", e.message);
        // a symlinked lock is refused too
        let q = dir.path().join("q.json");
        std::os::unix::fs::symlink(&target, dir.path().join("q.json.lock")).unwrap();
        assert!(open(&q).unwrap_err().message.contains("symbolic link"));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "{}");

        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // as root, a file handed to another user must be refused
            let r = dir.path().join("r.json");
            std::fs::write(&r, "{}").unwrap();
            std::os::unix::fs::chown(&r, Some(65534), Some(65534)).unwrap();
            let e = open(&r).unwrap_err();
            assert!(e.message.contains("belongs to another user"), "{}", e.message);
        }
    }
}
