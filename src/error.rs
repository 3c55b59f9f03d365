//! Every failure entra-token can report, classified once and mapped to the exit codes the README
//! documents (0 ok, 1 internal, 2 usage, 3 rejected by Entra, 4 network or protocol, 5 the API
//! answered non-2xx); clap's own parse errors are mapped here too. Nothing else in the crate
//! decides an exit code; nothing here writes to stdout.

use std::fmt;

/// The class of a failure; each class is one exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A bug: exit 1.
    Internal,
    /// Bad flags, missing input, unusable local file or config: exit 2. Nothing was sent.
    Usage,
    /// Entra answered with an OAuth error (or a redirect carried `error=`): exit 3.
    Rejected,
    /// Connection, TLS, timeout, retries exhausted, a reply that is not what was expected: exit 4.
    Network,
    /// `api` only: the called API answered non-2xx after retries: exit 5.
    Api,
}

impl Kind {
    pub(crate) fn exit_code(self) -> i32 {
        match self {
            Kind::Internal => 1,
            Kind::Usage => 2,
            Kind::Rejected => 3,
            Kind::Network => 4,
            Kind::Api => 5,
        }
    }
}

/// A user-facing error: a short message, optional causes and one hint.
#[derive(Debug)]
pub(crate) struct Error {
    pub(crate) kind: Kind,
    pub(crate) message: String,
    pub(crate) causes: Vec<String>,
    pub(crate) hint: Option<String>,
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            causes: Vec::new(),
            hint: None,
        }
    }
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }
    pub(crate) fn rejected(message: impl Into<String>) -> Self {
        Self::new(Kind::Rejected, message)
    }
    pub(crate) fn network(message: impl Into<String>) -> Self {
        Self::new(Kind::Network, message)
    }
    pub(crate) fn api(message: impl Into<String>) -> Self {
        Self::new(Kind::Api, message)
    }
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(Kind::Internal, message)
    }
    /// Adds a "caused by:" line (the lower-level reason).
    pub(crate) fn cause(mut self, cause: impl fmt::Display) -> Self {
        self.causes.push(cause.to_string());
        self
    }
    /// Sets the "hint:" line (what to do about it).
    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    pub(crate) fn exit_code(&self) -> i32 {
        self.kind.exit_code()
    }

    /// The text printed on stderr: `error: ...`, `caused by: ...`, `hint: ...`. Every line loses
    /// its control characters and escape sequences (a server's error text must not drive the
    /// terminal), then goes through the log redaction (it may echo a secret or a token), and only
    /// then is cut to a readable length (a hostile or broken input must not flood the terminal).
    pub(crate) fn render(&self) -> String {
        let line = |prefix: &str, text: &str| {
            format!(
                "{prefix}{}\n",
                shorten(&crate::log::redact_text(&crate::sanitize::line(text)))
            )
        };
        let mut out = line("error: ", &self.message);
        for c in &self.causes {
            out.push_str(&line("  caused by: ", c));
        }
        if let Some(h) = &self.hint {
            out.push_str(&line("  hint: ", h));
        }
        out
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// The emulator's failures keep their message, causes and hint; its kinds map onto ours.
impl From<entra_token_emulator::Error> for Error {
    fn from(e: entra_token_emulator::Error) -> Self {
        use entra_token_emulator::ErrorKind as Emulator;
        let kind = match e.kind {
            Emulator::Internal => Kind::Internal,
            Emulator::Usage => Kind::Usage,
            Emulator::Network => Kind::Network,
        };
        Error {
            kind,
            message: e.message,
            causes: e.causes,
            hint: e.hint,
        }
    }
}

/// The longest line an error prints.
const MAX_LINE: usize = 600;

/// Cuts `text` to [`MAX_LINE`] characters (saying how much was left out) and flattens newlines.
fn shorten(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    let count = flat.chars().count();
    if count <= MAX_LINE {
        return flat;
    }
    let kept: String = flat.chars().take(MAX_LINE).collect();
    format!("{kept}… ({} more characters)", count - MAX_LINE)
}

/// The exit code of a command line clap refused (2, as any usage error), or 0 for the `--help`
/// and `--version` it answered.
pub(crate) fn exit_code_of_parse(e: &clap::Error) -> i32 {
    if e.use_stderr() { Kind::Usage.exit_code() } else { 0 }
}

/// Formats an error with its whole `source()` chain on one line (reqwest/hyper errors hide the
/// useful part, e.g. "connection refused" or "invalid peer certificate", in the chain).
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut s = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let t = e.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = e.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_redacts_and_shortens() {
        let e = Error::rejected("x").cause("bad client_secret=s3cr3t! and eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.sig");
        let r = e.render();
        assert!(!r.contains("s3cr3t") && !r.contains("eyJzdWIi"), "{r}");
        let long = Error::usage("y".repeat(10_000)).render();
        assert!(long.len() < 800 && long.contains("more characters"), "{}", long.len());
    }

    #[test]
    fn render_strips_terminal_controls_before_redacting() {
        let e = Error::rejected("Entra rejected \x1b]0;pwned\x07the request\x1b[2J")
            .cause("AADSTS1\x1b]8;;https://evil.example/\x1b\\link\x1b]8;;\x1b\\ \u{9b}5A\r\x08");
        let r = e.render();
        assert!(!r.chars().any(|c| c.is_control() && c != '\n'), "{r:?}");
        assert!(
            r.contains("Entra rejected the request") && r.contains("AADSTS1link"),
            "{r}"
        );
        // a server that splits an echoed secret with an escape sequence still gets it redacted
        crate::log::register_secret("Split~Secret-Value-42");
        let r = Error::rejected("x").cause("echo Split\x1b[0m~Secret-Value-42").render();
        assert!(!r.contains("Split~Secret") && r.contains("[REDACTED]"), "{r}");
    }
}
