//! `decode [TOKEN|-]`: a JWT's header and claims as JSON on stdout, and a human line about its
//! expiry on stderr. It reads; it never verifies the signature, and says so.

use crate::cli::DecodeArgs;
use crate::error::{Error, Result};
use crate::input;
use crate::output;
use crate::protocol::jwt;
use crate::rt;
use serde_json::json;
use std::path::Path;
use std::time::Duration;

/// `timeout` bounds the wait for a token on stdin (`--timeout`): a pipe whose writer never
/// finishes is exit 2 at the deadline, not a hang.
pub(crate) fn run(args: &DecodeArgs, timeout: Duration) -> Result<()> {
    let raw = match args.token.as_deref() {
        Some(t) if t != "-" => t.to_string(),
        _ => {
            let bytes = input::read(Path::new("-"), "the token to decode", input::TOKEN_FILE_CAP, timeout)?;
            String::from_utf8(bytes).map_err(|_| Error::usage("the token on stdin is not UTF-8 text"))?
        }
    };
    let token = raw.trim();
    let token = token.strip_prefix("Authorization:").map(str::trim).unwrap_or(token);
    let token = token.strip_prefix("Bearer ").map(str::trim).unwrap_or(token);
    if token.is_empty() {
        return Err(Error::usage("no token given: pass it as an argument or on stdin"));
    }
    let d = jwt::decode(token).ok_or_else(|| {
        Error::usage("not a JWT: expected three dot-separated base64url parts with a JSON header and claims")
    })?;
    output::json_value(&json!({"header": d.header, "claims": d.claims}))?;
    let now = rt::now();
    let line = match jwt::claim_i64(&d.claims, "exp") {
        Some(exp) if exp > now => format!(
            "expires {} (in {})",
            output::rfc3339(exp, false),
            human_duration(exp.saturating_sub(now))
        ),
        Some(exp) => format!(
            "EXPIRED {} ({} ago)",
            output::rfc3339(exp, false),
            human_duration(now.saturating_sub(exp))
        ),
        None => "no exp claim".to_string(),
    };
    eprintln!("{line}; signature NOT verified (decode only reads the token)");
    Ok(())
}

fn human_duration(secs: i64) -> String {
    match secs {
        s if s < 90 => format!("{s} s"),
        s if s < 5400 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s if s < 100 * 365 * 86_400 => format!("{} days", s / 86_400),
        _ => "more than 100 years".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::human_duration;

    #[test]
    fn durations_of_any_size_read_sanely() {
        assert_eq!(human_duration(30), "30 s");
        assert_eq!(human_duration(7200), "2 h 0 min");
        assert_eq!(human_duration(i64::MAX), "more than 100 years");
        assert_eq!(
            human_duration(1_700_000_000i64.saturating_sub(i64::MIN)),
            "more than 100 years"
        );
    }
}
