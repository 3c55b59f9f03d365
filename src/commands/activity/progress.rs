//! The `activity` engine's progress reports on the shared progress line (`crate::progress`: one
//! updating line on stderr, only when it is a terminal and not under `-v`): windows listed, blobs
//! written, events written, blobs delivered before, and throttling waits.

use crate::activity::Progress;
use crate::activity::times::Window;
use crate::progress::Progress as Line;
use std::cell::Cell;
use std::time::Duration;

pub(super) struct StderrProgress {
    line: Line,
    windows: Cell<u64>,
    blobs: Cell<u64>,
    events: Cell<u64>,
    skipped: Cell<u64>,
}

impl StderrProgress {
    pub(super) fn new() -> StderrProgress {
        StderrProgress {
            line: Line::for_stderr(crate::log::verbosity()),
            windows: Cell::new(0),
            blobs: Cell::new(0),
            events: Cell::new(0),
            skipped: Cell::new(0),
        }
    }

    fn redraw(&self) {
        let mut counters = vec![
            ("windows", self.windows.get()),
            ("blobs", self.blobs.get()),
            ("events", self.events.get()),
        ];
        if self.skipped.get() > 0 {
            counters.push(("delivered before", self.skipped.get()));
        }
        self.line.update(&counters);
    }
}

impl Progress for StderrProgress {
    fn window_listed(&self, _content_type: &str, _window: Window, _blobs: usize) {
        self.windows.set(self.windows.get() + 1);
        self.redraw();
    }
    fn blob_written(&self, _content_type: &str, events: usize) {
        self.blobs.set(self.blobs.get() + 1);
        self.events.set(self.events.get() + events as u64);
        self.redraw();
    }
    fn blob_skipped(&self, _content_type: &str) {
        self.skipped.set(self.skipped.get() + 1);
        self.redraw();
    }
    fn throttled(&self, status: u16, wait: Duration) {
        self.line.waiting(status, wait);
    }
    fn warning(&self, message: &str) {
        // the line is cleared first, so the warning stands on a line of its own
        self.line.finish();
        crate::log::warn(message);
    }
}
