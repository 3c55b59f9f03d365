//! The `activity` engine: pulling the Office 365 Management Activity API feed resumably and
//! receiving its webhook, independent of the command line and of the HTTP client.
//!
//! - [`times`]: `--since`/`--until`/`--overlap`, the 7-day retention, windows of at most 24 h.
//! - [`feed`]: the [`feed::ManagementApi`] trait the engine pulls through, the listing JSON, the
//!   feed's URLs with `PublisherIdentifier`, the origin rule, the service's `AFnnnnn` errors.
//! - [`state`]: the `--state` file (cursor and delivered content ids per content type, one file
//!   per tenant, locked for the whole run, replaced atomically).
//! - [`pull`]: listing, bounded concurrent blob downloads written in listing order, state saves.
//! - [`webhook`]: the notification receiver's pure parts (handshake, auth id, body, dedupe).
//!
//! Guarantee (with a state file): across clean runs every event is written exactly once; after a
//! kill, the only duplicates come from the at most `--concurrency` blobs whose events were
//! written but whose state was not yet saved, and nothing is lost.

pub(crate) mod feed;
pub(crate) mod pull;
pub(crate) mod state;
pub(crate) mod times;
pub(crate) mod webhook;

use std::time::Duration;
use times::Window;

/// What a run reports while it works: the stderr/TTY progress display implements it, tests
/// record it, `()` ignores it. Every method has a do-nothing default.
pub(crate) trait Progress {
    /// One window of one content type was listed completely (all its pages).
    fn window_listed(&self, _content_type: &str, _window: Window, _blobs: usize) {}
    /// A content blob was downloaded and its events written (`events` of them).
    fn blob_written(&self, _content_type: &str, _events: usize) {}
    /// A listed blob was skipped because the state says it was delivered already.
    fn blob_skipped(&self, _content_type: &str) {}
    /// The service throttled a request and the client waits `wait` before retrying (called by
    /// the [`feed::ManagementApi`] implementation, which owns the retries).
    fn throttled(&self, _status: u16, _wait: Duration) {}
    /// Something the user should know that does not stop the run (stderr, any verbosity).
    fn warning(&self, message: &str) {
        crate::log::warn(message);
    }
}

impl Progress for () {}
