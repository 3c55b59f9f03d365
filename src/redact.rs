//! Finding a known secret in text a server sent back, in every spelling a server may echo it:
//! raw, percent-encoded (Python's `quote` and `quote_plus`, JavaScript's `encodeURIComponent`,
//! form encoding: `%20` or `+` for a space, upper- or lower-case hex, any mix of encoded and
//! plain characters) and JSON-escaped (`\"`, `\\`, `\/`, `\n`, `\uXXXX` in either case,
//! surrogate pairs). Redaction runs on the whole text before any cut, so no prefix of a secret
//! survives a cut; text that was already cut elsewhere can also lose a secret's prefix at its
//! very end. Must not decide what is secret: callers pass the values.

/// The replacement for a secret.
pub(crate) const REDACTED: &str = "[REDACTED]";

/// Values shorter than this are not redacted as free text: they would blank ordinary words
/// (the same rule as the log's known-secret list).
pub(crate) const MIN_SECRET_CHARS: usize = 8;

/// A trailing fragment of at least this many characters of a secret is removed from text that
/// was cut elsewhere ([`Redactor::redact_cut`]).
pub(crate) const MIN_TAIL_CHARS: usize = 4;

/// A set of secret values to remove from text.
#[derive(Debug, Default, Clone)]
pub(crate) struct Redactor {
    secrets: Vec<Vec<char>>,
}

impl Redactor {
    /// A redactor for these values (those shorter than [`MIN_SECRET_CHARS`] are ignored).
    pub(crate) fn new<S: AsRef<str>>(secrets: impl IntoIterator<Item = S>) -> Redactor {
        let mut r = Redactor::default();
        for s in secrets {
            r.add(s.as_ref());
        }
        r
    }

    /// Adds a value (ignored when shorter than [`MIN_SECRET_CHARS`] or already known).
    pub(crate) fn add(&mut self, secret: &str) {
        let chars: Vec<char> = secret.chars().collect();
        if chars.len() >= MIN_SECRET_CHARS && !self.secrets.contains(&chars) {
            self.secrets.push(chars);
        }
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every occurrence of every secret, in any echoed spelling, replaced by
    /// [`REDACTED`].
    pub(crate) fn redact(&self, text: &str) -> String {
        self.run(text, false)
    }

    /// Like [`Redactor::redact`], for text that was already cut (a reply's first bytes): a
    /// secret's beginning of at least [`MIN_TAIL_CHARS`] characters at the very end is removed too.
    pub(crate) fn redact_cut(&self, text: &str) -> String {
        self.run(text, true)
    }

    fn run(&self, text: &str, tail: bool) -> String {
        if self.secrets.is_empty() {
            return text.to_string();
        }
        let bytes = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let mut i = 0;
        while i < bytes.len() {
            let end = self.secrets.iter().filter_map(|s| match_at(bytes, i, s, tail)).max();
            match end {
                Some(end) if end > i => {
                    out.push_str(REDACTED);
                    i = end;
                }
                _ => {
                    // copy one whole character (a match can only start at a character boundary)
                    let ch = text[i..].chars().next().expect("i is a char boundary");
                    out.push(ch);
                    i += ch.len_utf8();
                }
            }
        }
        out
    }
}

/// Redacts `secrets` in `text`, then cuts the result to `max_chars` characters (saying how many
/// were left out): the order that keeps every part of a secret out of the cut.
#[cfg(test)]
pub(crate) fn redact_then_cut(redactor: &Redactor, text: &str, max_chars: usize) -> String {
    let clean = redactor.redact(text);
    let count = clean.chars().count();
    if count <= max_chars {
        return clean;
    }
    let kept: String = clean.chars().take(max_chars).collect();
    format!("{kept}… ({} more characters)", count - max_chars)
}

fn hex_val(b: u8) -> Option<u32> {
    (b as char).to_digit(16)
}

/// `%XX` at `at` (either case) → the byte.
fn percent_byte(text: &[u8], at: usize) -> Option<u8> {
    if text.get(at) != Some(&b'%') {
        return None;
    }
    let hi = hex_val(*text.get(at + 1)?)?;
    let lo = hex_val(*text.get(at + 2)?)?;
    Some((hi * 16 + lo) as u8)
}

/// `\uXXXX` at `at` (either case) → the code unit.
fn json_unit(text: &[u8], at: usize) -> Option<u32> {
    if text.get(at) != Some(&b'\\') || text.get(at + 1) != Some(&b'u') {
        return None;
    }
    let mut v = 0;
    for k in 0..4 {
        v = v * 16 + hex_val(*text.get(at + 2 + k)?)?;
    }
    Some(v)
}

/// The text positions just after each way `c` can be spelled at `at`.
fn spellings(text: &[u8], at: usize, c: char, ends: &mut Vec<usize>) {
    let mut buf = [0u8; 4];
    let raw = c.encode_utf8(&mut buf).as_bytes();
    // raw
    if text.get(at..at + raw.len()) == Some(raw) {
        ends.push(at + raw.len());
    }
    // percent-encoded, byte by byte (each byte may also be plain for multi-byte characters
    // only in the all-encoded form; servers encode whole characters)
    let mut p = at;
    let mut ok = true;
    for &b in raw {
        match percent_byte(text, p) {
            Some(x) if x == b => p += 3,
            _ => {
                ok = false;
                break;
            }
        }
    }
    if ok {
        ends.push(p);
    }
    // form encoding of a space
    if c == ' ' && text.get(at) == Some(&b'+') {
        ends.push(at + 1);
    }
    // JSON escapes
    if text.get(at) == Some(&b'\\') {
        let short = match c {
            '"' => Some(b'"'),
            '\\' => Some(b'\\'),
            '/' => Some(b'/'),
            '\n' => Some(b'n'),
            '\r' => Some(b'r'),
            '\t' => Some(b't'),
            '\u{8}' => Some(b'b'),
            '\u{c}' => Some(b'f'),
            _ => None,
        };
        if short.is_some() && text.get(at + 1).copied() == short {
            ends.push(at + 2);
        }
        let mut units = [0u16; 2];
        let units = c.encode_utf16(&mut units);
        let mut q = at;
        let mut ok = true;
        for &u in units.iter() {
            match json_unit(text, q) {
                Some(v) if v == u32::from(u) => q += 6,
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            ends.push(q);
        }
    }
}

/// Where a spelling of `secret` that starts at `at` ends (the longest), if one does. With
/// `tail`, a match of at least [`MIN_TAIL_CHARS`] characters that runs into the end of the
/// text counts.
fn match_at(text: &[u8], at: usize, secret: &[char], tail: bool) -> Option<usize> {
    // fast path: no spelling of the first character starts with this byte
    let first = *secret.first()?;
    let b = *text.get(at)?;
    let mut buf = [0u8; 4];
    if b != first.encode_utf8(&mut buf).as_bytes()[0] && b != b'%' && b != b'\\' && !(first == ' ' && b == b'+') {
        return None;
    }
    let mut states = vec![at];
    let mut next = Vec::new();
    for (n, &c) in secret.iter().enumerate() {
        next.clear();
        for &s in &states {
            spellings(text, s, c, &mut next);
        }
        next.sort_unstable();
        next.dedup();
        if next.is_empty() {
            // ran out of text in the middle of the secret?
            let at_end = states.iter().any(|&s| s >= text.len());
            return (tail && at_end && n >= MIN_TAIL_CHARS).then_some(text.len());
        }
        std::mem::swap(&mut states, &mut next);
    }
    states.into_iter().max()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "Ab1~x/y+z=q w\"é";

    /// Python's `urllib.parse.quote(s, safe=safe)` for the characters used here.
    fn quote(s: &str, safe: &str, plus: bool, lower: bool) -> String {
        let mut out = String::new();
        for b in s.bytes() {
            let c = b as char;
            if c.is_ascii_alphanumeric() || "_.-~".contains(c) || safe.contains(c) {
                out.push(c);
            } else if plus && c == ' ' {
                out.push('+');
            } else if lower {
                out.push_str(&format!("%{b:02x}"));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    fn all_echoes(secret: &str) -> Vec<String> {
        let json = serde_json::to_string(secret).unwrap();
        let json = json[1..json.len() - 1].to_string();
        let ascii_json = |lower: bool| -> String {
            secret
                .chars()
                .map(|c| match c {
                    '"' => "\\\"".to_string(),
                    '/' => "\\/".to_string(),
                    c if c.is_ascii() => c.to_string(),
                    c => c
                        .encode_utf16(&mut [0; 2])
                        .iter()
                        .map(|u| {
                            if lower {
                                format!("\\u{u:04x}")
                            } else {
                                format!("\\u{u:04X}")
                            }
                        })
                        .collect(),
                })
                .collect()
        };
        let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        vec![
            secret.to_string(),
            quote(secret, "/", false, false), // quote()
            quote(secret, "", false, false),  // quote(safe='')
            quote(secret, "", true, false),   // quote_plus()
            quote(secret, "", true, true),    // lower-case hex
            form,
            json,
            ascii_json(false), // Python json.dumps (ensure_ascii), PHP json_encode
            ascii_json(true),
        ]
    }

    #[test]
    fn every_echoed_spelling_is_removed() {
        let r = Redactor::new([SECRET]);
        for echo in all_echoes(SECRET) {
            let text = format!("invalid client_secret '{echo}' for app x");
            let out = r.redact(&text);
            assert_eq!(out, "invalid client_secret '[REDACTED]' for app x", "echo {echo}");
        }
    }

    #[test]
    fn spellings_printed_by_python() {
        // urllib.parse.quote / quote_plus / quote(safe='') and json.dumps of SECRET
        let r = Redactor::new([SECRET]);
        for echo in [
            "Ab1~x/y%2Bz%3Dq%20w%22%C3%A9",
            "Ab1~x%2Fy%2Bz%3Dq+w%22%C3%A9",
            "Ab1~x%2Fy%2Bz%3Dq%20w%22%C3%A9",
            r#"Ab1~x/y+z=q w\"\u00e9"#,
        ] {
            assert_eq!(r.redact(&format!("<{echo}>")), "<[REDACTED]>", "{echo}");
        }
    }

    #[test]
    fn mixed_and_repeated_occurrences() {
        let r = Redactor::new(["s3cr3t-value", "other~secret!"]);
        let t = "a s3cr3t-value b s3cr3t%2Dvalue c other%7Esecret%21 d s3cr3t-valu";
        assert_eq!(
            r.redact(t),
            "a [REDACTED] b [REDACTED] c [REDACTED] d s3cr3t-valu",
            "an incomplete copy is not a secret in uncut text"
        );
        assert_eq!(r.redact_cut(t), "a [REDACTED] b [REDACTED] c [REDACTED] d [REDACTED]");
        // a prefix shorter than MIN_TAIL_CHARS at the end is kept
        assert_eq!(r.redact_cut("x s3c"), "x s3c");
    }

    #[test]
    fn a_literal_percent_in_the_secret_is_matched_in_both_spellings() {
        let r = Redactor::new(["100%41sure"]);
        assert_eq!(r.redact("x 100%41sure y"), "x [REDACTED] y");
        assert_eq!(r.redact("x 100%2541sure y"), "x [REDACTED] y");
        assert_eq!(
            r.redact("x 100Asure y"),
            "x 100Asure y",
            "a decoded %41 is another value"
        );
    }

    #[test]
    fn short_values_and_empty_sets_change_nothing() {
        let r = Redactor::new(["short", ""]);
        assert!(r.is_empty());
        assert_eq!(r.redact("a short text"), "a short text");
        assert_eq!(Redactor::default().redact("ünïcode ✓"), "ünïcode ✓");
    }

    #[test]
    fn redaction_happens_before_the_cut() {
        let secret = "Zz9!Zz9!Zz9!Zz9!";
        let r = Redactor::new([secret]);
        let text = format!("{}{}", "x".repeat(10), quote(secret, "", true, false));
        let out = redact_then_cut(&r, &text, 14);
        assert!(!out.contains("Zz9"), "{out}");
        assert!(out.starts_with("xxxxxxxxxx[RED"), "{out}");
        assert_eq!(redact_then_cut(&r, "short", 14), "short");
    }

    #[test]
    fn non_ascii_text_around_matches_is_kept() {
        let r = Redactor::new(["geheimnis-123"]);
        assert_eq!(r.redact("ä geheimnis-123 ö ✓"), "ä [REDACTED] ö ✓");
    }
}
