//! The emulator's own failures (a flag it cannot use, a port it cannot bind, a CA file it cannot
//! write, a runtime that will not start), classified by kind. The emulator decides no exit codes
//! and prints no errors: whoever runs it renders the error and maps the kind to its exit code.

use std::fmt;

/// The class of a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A bug or a broken environment (no async runtime, no OS randomness).
    Internal,
    /// Bad flags or an unusable local file; nothing was served.
    Usage,
    /// The listening socket could not be set up.
    Network,
}

/// A failure with a short message, optional causes and one hint.
#[derive(Debug)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    /// Lower-level reasons, outermost first.
    pub causes: Vec<String>,
    /// What to do about it.
    pub hint: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            causes: Vec::new(),
            hint: None,
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message)
    }
    pub fn network(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Network, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    /// Adds a lower-level reason.
    pub fn cause(mut self, cause: impl fmt::Display) -> Self {
        self.causes.push(cause.to_string());
        self
    }
    /// Sets the hint (what to do about it).
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
