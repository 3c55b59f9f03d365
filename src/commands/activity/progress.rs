//! The `activity` progress display: one line per listed window and throttling wait on stderr,
//! only when stderr is a terminal (nothing on a pipe or in a log file). Kept to this one file so
//! a shared progress facility can replace it.

use crate::activity::Progress;
use crate::activity::times::{self, Window};
use std::cell::Cell;
use std::io::IsTerminal;
use std::time::Duration;

pub(super) struct StderrProgress {
    on: bool,
    blobs: Cell<u64>,
    events: Cell<u64>,
}

impl StderrProgress {
    pub(super) fn new() -> StderrProgress {
        StderrProgress {
            on: std::io::stderr().is_terminal(),
            blobs: Cell::new(0),
            events: Cell::new(0),
        }
    }
}

impl Progress for StderrProgress {
    fn window_listed(&self, content_type: &str, window: Window, blobs: usize) {
        if self.on {
            eprintln!(
                "{content_type} {} .. {}: {blobs} blob(s) listed; {} blob(s), {} event(s) written so far",
                times::rfc3339(window.start),
                times::rfc3339(window.end),
                self.blobs.get(),
                self.events.get()
            );
        }
    }
    fn blob_written(&self, _content_type: &str, events: usize) {
        self.blobs.set(self.blobs.get() + 1);
        self.events.set(self.events.get() + events as u64);
    }
    fn throttled(&self, status: u16, wait: Duration) {
        if self.on {
            let why = if status == 0 {
                "a connection failure".to_string()
            } else {
                format!("HTTP {status}")
            };
            eprintln!("{why}: waiting {:.1} s before retrying", wait.as_secs_f64());
        }
    }
}
