//! Making text a server wrote safe to print on a terminal: escape sequences (CSI such as clear
//! screen and cursor movement, OSC such as window titles and OSC 8 hyperlinks, DCS/SOS/PM/APC
//! strings, their 8-bit C1 forms), other C0 and C1 control characters (BEL, backspace, CR,
//! DEL, ...) and Unicode bidirectional overrides are removed. Applied to server-provided text
//! only: the tool's own line breaks are added around it by the caller. Must not redact (see
//! `redact`) or shorten.

/// What to do with a line feed in the server's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Newlines {
    /// Keep `\n` (a multi-line body in `-vv` output).
    Keep,
    /// Turn `\n` (and tabs) into a space (an error message printed on one line).
    Flatten,
}

const ESC: char = '\u{1b}';
const BEL: char = '\u{7}';
/// The 8-bit String Terminator.
const ST: char = '\u{9c}';

/// Unicode bidirectional embedding, override and isolate controls, which can make a terminal
/// show text in another order than it is (`U+202A..U+202E`, `U+2066..U+2069`), and the
/// invisible marks around them.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}')
}

/// Skips a control string's body (OSC, DCS, SOS, PM, APC) up to and including its terminator:
/// BEL (OSC only, as xterm accepts), `ESC \` or the 8-bit ST. An unterminated string runs to the
/// end of the text (a terminal would swallow the rest too).
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, bel_ends: bool) {
    while let Some(c) = chars.next() {
        match c {
            BEL if bel_ends => return,
            ST => return,
            ESC if chars.peek() == Some(&'\\') => {
                chars.next();
                return;
            }
            _ => {}
        }
    }
}

/// Skips a CSI sequence's parameters and intermediates up to and including its final byte
/// (`0x40..=0x7e`); any other character ends it without being consumed.
fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(&c) = chars.peek() {
        match c {
            '\u{30}'..='\u{3f}' | '\u{20}'..='\u{2f}' => {
                chars.next();
            }
            '\u{40}'..='\u{7e}' => {
                chars.next();
                return;
            }
            _ => return,
        }
    }
}

/// `text` without escape sequences, control characters or bidi overrides.
pub(crate) fn for_terminal(text: &str, newlines: Newlines) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' if newlines == Newlines::Keep => out.push('\n'),
            '\n' | '\t' => out.push(' '),
            ESC => match chars.next() {
                Some('[') => skip_csi(&mut chars),
                Some(']') => skip_string(&mut chars, true),
                Some('P' | 'X' | '^' | '_') => skip_string(&mut chars, false),
                // nF escape sequences: intermediates then a final byte (e.g. `ESC ( B`)
                Some('\u{20}'..='\u{2f}') => {
                    while chars.next_if(|c| ('\u{20}'..='\u{2f}').contains(c)).is_some() {}
                    chars.next_if(|c| ('\u{30}'..='\u{7e}').contains(c));
                }
                // two-character escapes (`ESC c` resets the terminal, `ESC 7`, ...)
                Some(_) | None => {}
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' => skip_string(&mut chars, true),
            '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars, false),
            c if c.is_control() => {}
            c if is_bidi_control(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// One line of server text for an error message or a summary.
pub(crate) fn line(text: &str) -> String {
    for_terminal(text, Newlines::Flatten)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has_controls(s: &str) -> bool {
        s.chars().any(|c| (c.is_control() && c != '\n') || is_bidi_control(c))
    }

    #[test]
    fn escape_sequences_are_removed() {
        let cases = [
            ("clear\x1b[2J\x1b[Hscreen", "clearscreen"),
            ("\x1b]0;pwned title\x07AADSTS7000215", "AADSTS7000215"),
            ("\x1b]2;title\x1b\\after", "after"),
            (
                "see \x1b]8;;https://evil.example/\x1b\\docs\x1b]8;;\x1b\\ now",
                "see docs now",
            ),
            ("red \x1b[31;1mtext\x1b[0m", "red text"),
            ("up\x1b[5Aand\x1b[10;20Hmoved", "upandmoved"),
            ("\x1bcreset", "reset"),
            ("charset \x1b(Bok", "charset ok"),
            ("dcs \x1bPq#0;2;0;0;0#0~~\x1b\\end", "dcs end"),
            ("8-bit \u{9b}2J csi and \u{9d}0;t\u{9c}osc", "8-bit  csi and osc"),
            ("unterminated \x1b]0;title forever", "unterminated "),
            ("trailing esc \x1b", "trailing esc "),
        ];
        for (input, want) in cases {
            let got = line(input);
            assert_eq!(got, want, "{input:?}");
            assert!(!has_controls(&got));
        }
    }

    #[test]
    fn control_characters_and_bidi_are_removed() {
        assert_eq!(line("a\x07b\x08c\rd\x7fe\u{85}f\0g"), "abcdefg");
        assert_eq!(line("user\u{202e}gnp.exe"), "usergnp.exe");
        assert_eq!(line("two\nlines\tand tab"), "two lines and tab");
        assert_eq!(for_terminal("two\r\nlines", Newlines::Keep), "two\nlines");
    }

    #[test]
    fn ordinary_text_is_untouched() {
        let text = "AADSTS700016: Application with identifier 'x' was not found in the directory 'Contoso' – ünïcode ✓ [brackets] 100%";
        assert_eq!(line(text), text);
    }
}
