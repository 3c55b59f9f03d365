//! Progress for long runs (`api --paginate`, and `activity`): one line on stderr, rewritten in
//! place — counters such as "pages 12 · items 5,400", and a note while a retry waits ("waiting
//! 3 s (throttled, HTTP 429)") — and cleared at the end, so stderr holds nothing of it afterwards.
//! Only when stderr is a terminal (never in a pipe, a file or CI logs) and not under `-v` (whose
//! log lines it would garble). stdout is never touched. Update it per page or per blob, not per
//! item: every update is one write.

use std::cell::RefCell;
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// The progress line of one run. Does nothing when disabled.
pub(crate) struct Progress {
    out: Option<RefCell<Box<dyn Write>>>,
    state: RefCell<State>,
}

#[derive(Default)]
struct State {
    /// Named counters in the order first set, e.g. `[("pages", 12), ("items", 5400)]`.
    counters: Vec<(&'static str, u64)>,
    /// Shown after the counters until the next counter update (a retry wait).
    note: Option<String>,
    /// Whether a line is on the screen (to be cleared).
    shown: bool,
}

impl Progress {
    /// On stderr when it is a terminal and `verbose` is 0 (`-v` logs go to stderr).
    pub(crate) fn for_stderr(verbose: u8) -> Progress {
        if std::io::stderr().is_terminal() && verbose == 0 {
            Progress::to(Box::new(std::io::stderr()))
        } else {
            Progress::disabled()
        }
    }

    /// A progress line that shows nothing.
    fn disabled() -> Progress {
        Progress {
            out: None,
            state: RefCell::new(State::default()),
        }
    }

    /// A progress line written to `out` (which is taken to be a terminal).
    fn to(out: Box<dyn Write>) -> Progress {
        Progress {
            out: Some(RefCell::new(out)),
            state: RefCell::new(State::default()),
        }
    }

    /// Sets several counters at once (one redraw) and clears the note.
    pub(crate) fn update(&self, counters: &[(&'static str, u64)]) {
        if self.out.is_none() {
            return;
        }
        {
            let mut s = self.state.borrow_mut();
            for (name, value) in counters {
                match s.counters.iter_mut().find(|(n, _)| n == name) {
                    Some(c) => c.1 = *value,
                    None => s.counters.push((name, *value)),
                }
            }
            s.note = None;
        }
        self.draw();
    }

    /// A retry is about to wait `wait` after `status` (0: the connection failed).
    pub(crate) fn waiting(&self, status: u16, wait: Duration) {
        if self.out.is_none() {
            return;
        }
        let why = match status {
            0 => "connection failed".to_string(),
            429 => "throttled, HTTP 429".to_string(),
            503 => "unavailable, HTTP 503".to_string(),
            s => format!("HTTP {s}"),
        };
        self.state.borrow_mut().note = Some(format!("waiting {} ({why})", seconds(wait)));
        self.draw();
    }

    /// Clears the line (also done when dropped).
    pub(crate) fn finish(&self) {
        let Some(out) = &self.out else {
            return;
        };
        let mut s = self.state.borrow_mut();
        if s.shown {
            let mut w = out.borrow_mut();
            let _ = w.write_all(b"\r\x1b[K");
            let _ = w.flush();
            s.shown = false;
        }
    }

    /// The text of the line as it stands.
    fn line(&self) -> String {
        let s = self.state.borrow();
        let mut parts: Vec<String> = s
            .counters
            .iter()
            .map(|(name, value)| format!("{name} {}", thousands(*value)))
            .collect();
        parts.extend(s.note.clone());
        parts.join(" · ")
    }

    fn draw(&self) {
        let Some(out) = &self.out else {
            return;
        };
        let text = self.line();
        let mut w = out.borrow_mut();
        // back to the start of the line, erase it, write the new text (no newline)
        let _ = write!(w, "\r\x1b[K{text}");
        let _ = w.flush();
        self.state.borrow_mut().shown = true;
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `5400` → `5,400`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `3 s`, `0.5 s`, `1.3 s`: whole seconds as such, else one decimal.
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if (s - s.round()).abs() < 0.05 {
        format!("{} s", s.round() as u64)
    } else {
        format!("{s:.1} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer whose bytes the test can read afterwards.
    #[derive(Clone, Default)]
    struct Screen(Arc<Mutex<Vec<u8>>>);

    impl Write for Screen {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Screen {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn one_line_rewritten_in_place_then_cleared() {
        let screen = Screen::default();
        let p = Progress::to(Box::new(screen.clone()));
        p.update(&[("pages", 1)]);
        p.update(&[("items", 999)]);
        assert_eq!(p.line(), "pages 1 · items 999");
        p.waiting(429, Duration::from_secs(3));
        assert_eq!(p.line(), "pages 1 · items 999 · waiting 3 s (throttled, HTTP 429)");
        p.update(&[("pages", 12), ("items", 5400)]);
        assert_eq!(p.line(), "pages 12 · items 5,400", "the note goes with the next update");
        p.waiting(0, Duration::from_millis(1300));
        assert!(
            p.line().ends_with("items 5,400 · waiting 1.3 s (connection failed)"),
            "{}",
            p.line()
        );
        drop(p);
        let text = screen.text();
        assert!(!text.contains('\n'), "never a new line: {text:?}");
        assert!(text.starts_with("\r\x1b[Kpages 1"), "{text:?}");
        assert!(text.contains("\r\x1b[Kpages 12 · items 5,400"), "{text:?}");
        assert!(text.ends_with("\r\x1b[K"), "cleared at the end: {text:?}");
        assert_eq!(text.matches("\r\x1b[K").count(), 6, "5 draws and 1 clear: {text:?}");
    }

    #[test]
    fn disabled_writes_nothing_and_nothing_is_cleared_when_nothing_was_shown() {
        let p = Progress::disabled();
        p.update(&[("pages", 1)]);
        p.waiting(503, Duration::from_secs(1));
        assert!(p.out.is_none());
        assert_eq!(p.line(), "");
        let screen = Screen::default();
        drop(Progress::to(Box::new(screen.clone())));
        assert_eq!(screen.text(), "");
    }

    #[test]
    fn numbers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(seconds(Duration::from_secs(3)), "3 s");
        assert_eq!(seconds(Duration::from_millis(500)), "0.5 s");
        assert_eq!(seconds(Duration::from_millis(100)), "0.1 s");
    }
}
