//! The only writer to stdout: token / header / json / env / exec-credential formats and JSON
//! documents. A closed stdout (`| head`) is not an error.

use crate::cli::OutputFormat;
use crate::error::{Error, Result};
use serde_json::json;
use std::io::Write;

/// What `get`/`redeem` print.
pub struct TokenOutput<'a> {
    pub token: &'a str,
    pub expires_on: i64,
    pub tenant: Option<String>,
    pub token_type: &'a str,
    pub scope: Option<&'a str>,
    pub resource: Option<&'a str>,
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

pub fn token(format: OutputFormat, out: &TokenOutput) -> Result<()> {
    let text = match format {
        OutputFormat::Token => format!("{}\n", out.token),
        OutputFormat::Header => format!("Authorization: Bearer {}\n", out.token),
        OutputFormat::Json => {
            let mut v = json!({
                "accessToken": out.token,
                "expiresOn": rfc3339(out.expires_on, true),
                "expires_on": out.expires_on,
                "tenant": out.tenant,
                "tokenType": out.token_type,
            });
            let obj = v.as_object_mut().expect("object");
            if let Some(s) = out.scope {
                obj.insert("scope".into(), json!(s));
            }
            if let Some(r) = out.resource {
                obj.insert("resource".into(), json!(r));
            }
            if let Some(extra) = &out.extra {
                for (k, val) in extra {
                    obj.insert(k.clone(), val.clone());
                }
            }
            format!("{}\n", serde_json::to_string_pretty(&v).expect("json"))
        }
        OutputFormat::Env => format!(
            "export ENTRA_ACCESS_TOKEN='{}'\nexport ENTRA_ACCESS_TOKEN_EXPIRES_ON='{}'\n",
            out.token, out.expires_on
        ),
        OutputFormat::ExecCredential => {
            let v = json!({
                "kind": "ExecCredential",
                "apiVersion": "client.authentication.k8s.io/v1",
                "spec": {"interactive": false},
                "status": {"expirationTimestamp": rfc3339(out.expires_on, false), "token": out.token},
            });
            format!("{}\n", serde_json::to_string(&v).expect("json"))
        }
    };
    write_stdout(text.as_bytes())
}

/// Pretty JSON document + newline.
pub fn json_value(v: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(|e| Error::internal("could not render JSON").cause(e))?;
    write_stdout(format!("{text}\n").as_bytes())
}

pub fn text(s: &str) -> Result<()> {
    write_stdout(s.as_bytes())
}

/// Writes everything in one call; a broken pipe ends quietly (exit 0, as `cat | head` does).
pub fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::internal("could not write to stdout").cause(e)),
    }
}

/// RFC 3339 for an epoch second, UTC: `2026-11-23T05:00:00+00:00` (or `...Z`).
pub fn rfc3339(epoch: i64, offset_form: bool) -> String {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    // civil-from-days (proleptic Gregorian), after H. Hinnant's public-domain algorithm
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    let zone = if offset_form { "+00:00" } else { "Z" };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{zone}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(0, false), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400, true), "2000-02-29T00:00:00+00:00");
        assert_eq!(rfc3339(1_795_000_000, false), "2026-11-18T11:06:40Z");
    }
}
