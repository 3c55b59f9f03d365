//! `Secret<T>`: the only type secrets, passwords, assertions, codes, PKCE verifiers and tokens
//! travel in. `{:?}` prints a marker, there is no `Display`, and `expose()` is the one way out, so
//! logging a struct that holds one is safe by construction. The value is zeroized on drop.

use std::fmt;
use zeroize::Zeroize;

pub(crate) struct Secret<T: Zeroize>(T);

impl<T: Zeroize> Secret<T> {
    pub(crate) fn new(value: T) -> Self {
        Secret(value)
    }
    /// The secret value. Every call site is a place where a secret leaves its box: keep them few.
    pub(crate) fn expose(&self) -> &T {
        &self.0
    }
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

impl<T: Zeroize + Clone> Clone for Secret<T> {
    fn clone(&self) -> Self {
        Secret(self.0.clone())
    }
}

impl From<String> for Secret<String> {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("hunter2".to_string());
        assert_eq!(format!("{s:?}"), "Secret([REDACTED])");
        assert_eq!(s.expose(), "hunter2");
    }
}
