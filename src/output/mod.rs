//! The only writer to stdout: token / header / json / env / exec-credential formats and JSON
//! documents (filtered by `--jq` in [`jq`]), and for `api` a body streamed as it arrives ([`Sink`]) or page items merged into
//! one document or written one per line ([`ItemWriter`]). A closed stdout (`| head`) is not an
//! error: writers report it so the caller can stop early.

pub(crate) mod jq;

use crate::error::{Error, Result};
use serde_json::json;
use serde_json::value::RawValue;
use std::io::Write;

/// How `get` and `redeem` print a token (`-o`). `pub`: the public `cli` argument types hold one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// The token and a newline
    Token,
    /// `Authorization: Bearer <token>`
    Header,
    /// az account get-access-token compatible JSON
    Json,
    /// `export ENTRA_ACCESS_TOKEN=...` lines for eval
    Env,
    /// Kubernetes client.authentication.k8s.io/v1 ExecCredential
    ExecCredential,
}

/// What `get`/`redeem` print.
pub(crate) struct TokenOutput<'a> {
    pub(crate) token: &'a str,
    pub(crate) expires_on: i64,
    pub(crate) tenant: Option<String>,
    pub(crate) token_type: &'a str,
    pub(crate) scope: Option<&'a str>,
    pub(crate) resource: Option<&'a str>,
    pub(crate) extra: Option<serde_json::Map<String, serde_json::Value>>,
}

pub(crate) fn token(format: OutputFormat, out: &TokenOutput) -> Result<()> {
    let text = match format {
        OutputFormat::Token => format!("{}\n", out.token),
        OutputFormat::Header => format!("Authorization: Bearer {}\n", out.token),
        OutputFormat::Json => format!("{}\n", serde_json::to_string_pretty(&token_json(out)).expect("json")),
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

/// The `-o json` document (az account get-access-token's shape).
fn token_json(out: &TokenOutput) -> serde_json::Value {
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
    v
}

/// `-o json --jq EXPR`: the `-o json` document through the filter. The document is
/// entra-token's own, so a filter that fails on it is a usage error (exit 2).
pub(crate) fn token_jq(filter: &jq::JqFilter, out: &TokenOutput) -> Result<()> {
    let mut text = Vec::new();
    filter
        .run_value(&token_json(out), &mut text)
        .map_err(|e| e.into_error(crate::error::Kind::Usage))?;
    write_stdout(&text)
}

/// Pretty JSON document + newline.
pub(crate) fn json_value(v: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(|e| Error::internal("could not render JSON").cause(e))?;
    write_stdout(format!("{text}\n").as_bytes())
}

pub(crate) fn text(s: &str) -> Result<()> {
    write_stdout(s.as_bytes())
}

/// Writes everything in one call; a broken pipe ends quietly (exit 0, as `cat | head` does).
pub(crate) fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(stdout_error(e)),
    }
}

/// A buffered stdout for bodies written piece by piece. `write` answers `false` once stdout is
/// closed (`| head`), so the caller stops fetching.
pub(crate) struct Sink {
    out: std::io::BufWriter<std::io::Stdout>,
    closed: bool,
}

impl Default for Sink {
    fn default() -> Self {
        Sink::stdout()
    }
}

impl Sink {
    pub(crate) fn stdout() -> Sink {
        Sink {
            out: std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout()),
            closed: false,
        }
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<bool> {
        if self.closed {
            return Ok(false);
        }
        let r = self.out.write_all(bytes);
        self.check(r)
    }

    pub(crate) fn flush(&mut self) -> Result<bool> {
        if self.closed {
            return Ok(false);
        }
        let r = self.out.flush();
        self.check(r)
    }

    fn check(&mut self, r: std::io::Result<()>) -> Result<bool> {
        match r {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(false)
            }
            Err(e) => Err(stdout_error(e)),
        }
    }
}

/// How `api --paginate` writes items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ItemFormat {
    /// One document: `{"value":[...]}` (Graph, ARM) or `[...]` (Management API), one item per
    /// line as received, or reindented with `pretty`.
    Merged { pretty: bool },
    /// One compact item per line.
    Ndjson,
}

/// Writes the items of successive pages as they arrive: the document's head when the first page
/// is known, each item, then the tail. Nothing is held beyond the page being written.
pub(crate) struct ItemWriter {
    sink: Sink,
    format: ItemFormat,
    /// `Some(true)`: a `{"value":[` document; `Some(false)`: a bare array; `None`: not begun.
    object: Option<bool>,
    items: u64,
    scratch: Vec<u8>,
}

impl ItemWriter {
    pub(crate) fn new(format: ItemFormat) -> ItemWriter {
        ItemWriter {
            sink: Sink::stdout(),
            format,
            object: None,
            items: 0,
            scratch: Vec::new(),
        }
    }

    pub(crate) fn items(&self) -> u64 {
        self.items
    }

    /// Opens the document: `{"@odata.context":…,"@odata.count":…,"value":[` when `object`, else
    /// `[` (nothing for NDJSON). `members` are raw JSON values kept from page 1.
    pub(crate) fn begin(&mut self, object: bool, members: &[(&str, &RawValue)]) -> Result<bool> {
        self.object = Some(object);
        let pretty = matches!(self.format, ItemFormat::Merged { pretty: true });
        let head = match self.format {
            ItemFormat::Ndjson => return Ok(true),
            ItemFormat::Merged { .. } if !object => "[".to_string(),
            ItemFormat::Merged { .. } => {
                let mut h = String::from("{");
                for (name, value) in members {
                    let name = serde_json::to_string(name).expect("a string");
                    if pretty {
                        h.push_str(&format!("\n  {name}: {},", value.get().trim()));
                    } else {
                        h.push_str(&format!("{name}:{},", value.get().trim()));
                    }
                }
                h.push_str(if pretty { "\n  \"value\": [" } else { "\"value\":[" });
                h
            }
        };
        self.sink.write(head.as_bytes())
    }

    pub(crate) fn item(&mut self, raw: &RawValue) -> Result<bool> {
        self.scratch.clear();
        match self.format {
            ItemFormat::Ndjson => {
                reformat_json(raw.get(), None, 0, &mut self.scratch);
                self.scratch.push(b'\n');
            }
            ItemFormat::Merged { pretty } => {
                self.scratch
                    .extend_from_slice(if self.items == 0 { b"\n" as &[u8] } else { b",\n" });
                let level = if self.object == Some(true) { 2 } else { 1 };
                if pretty {
                    self.scratch.extend(std::iter::repeat_n(b' ', level * 2));
                    reformat_json(raw.get(), Some(2), level, &mut self.scratch);
                } else {
                    self.scratch.extend_from_slice(raw.get().trim().as_bytes());
                }
            }
        }
        self.items += 1;
        let scratch = std::mem::take(&mut self.scratch);
        let open = self.sink.write(&scratch);
        self.scratch = scratch;
        open
    }

    /// A page's end: flushes so a reader sees items page by page.
    pub(crate) fn page_done(&mut self) -> Result<bool> {
        self.sink.flush()
    }

    /// Bytes written as they are (`--jq` results), outside any document.
    pub(crate) fn raw(&mut self, bytes: &[u8]) -> Result<bool> {
        self.sink.write(bytes)
    }

    /// Closes the document, adding `trailer` members (e.g. `@odata.deltaLink`) to an object.
    pub(crate) fn finish(&mut self, trailer: &[(&str, &str)]) -> Result<bool> {
        let pretty = matches!(self.format, ItemFormat::Merged { pretty: true });
        let tail = match (self.format, self.object) {
            (ItemFormat::Ndjson, _) | (_, None) => String::new(),
            (_, Some(false)) => "\n]\n".to_string(),
            (_, Some(true)) => {
                let mut t = String::from(if pretty { "\n  ]" } else { "\n]" });
                for (name, value) in trailer {
                    let (n, v) = (json!(name), json!(value));
                    t.push_str(&if pretty {
                        format!(",\n  {n}: {v}")
                    } else {
                        format!(",{n}:{v}")
                    });
                }
                t.push_str(if pretty { "\n}\n" } else { "}\n" });
                t
            }
        };
        self.sink.write(tail.as_bytes())?;
        self.sink.flush()
    }

    /// A reply that is not a collection, written alone: as received (or reindented with
    /// `pretty`), on one line for NDJSON.
    pub(crate) fn single(&mut self, body: &[u8]) -> Result<bool> {
        let text = String::from_utf8_lossy(body);
        let mut out = Vec::with_capacity(body.len() + 1);
        match self.format {
            ItemFormat::Ndjson => reformat_json(&text, None, 0, &mut out),
            ItemFormat::Merged { pretty: true } => reformat_json(&text, Some(2), 0, &mut out),
            ItemFormat::Merged { pretty: false } => out.extend_from_slice(text.trim_end().as_bytes()),
        }
        out.push(b'\n');
        self.sink.write(&out)?;
        self.sink.flush()
    }
}

/// Rewrites JSON text without parsing it into a map (so member order and number spelling are
/// kept): `indent: None` removes the whitespace between tokens (one line); `Some(n)` puts each
/// member and element on its own line, indented `n` spaces per level from `level`. The input is
/// assumed to be valid JSON; whitespace inside strings is never touched.
pub(crate) fn reformat_json(text: &str, indent: Option<usize>, level: usize, out: &mut Vec<u8>) {
    let bytes = text.trim().as_bytes();
    let mut depth = level;
    let mut i = 0;
    let newline = |out: &mut Vec<u8>, depth: usize| {
        if let Some(n) = indent {
            out.push(b'\n');
            out.extend(std::iter::repeat_n(b' ', depth * n));
        }
    };
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(bytes.len());
                out.extend_from_slice(&bytes[start..i]);
                continue;
            }
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b'{' | b'[' => {
                // an empty container stays on one line
                let close = if b == b'{' { b'}' } else { b']' };
                let mut j = i + 1;
                while j < bytes.len() && matches!(bytes[j], b' ' | b'\t' | b'\n' | b'\r') {
                    j += 1;
                }
                if bytes.get(j) == Some(&close) {
                    out.push(b);
                    out.push(close);
                    i = j + 1;
                    continue;
                }
                out.push(b);
                depth += 1;
                newline(out, depth);
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(out, depth);
                out.push(b);
            }
            b',' => {
                out.push(b);
                newline(out, depth);
            }
            b':' => {
                out.push(b);
                if indent.is_some() {
                    out.push(b' ');
                }
            }
            _ => out.push(b),
        }
        i += 1;
    }
}

/// RFC 3339 for an epoch second, UTC: `2026-11-23T05:00:00+00:00` (or `...Z`).
pub(crate) fn rfc3339(epoch: i64, offset_form: bool) -> String {
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

/// stdout could not take the result (a full disk, an I/O error): a local failure, exit 2 —
/// not a bug.
fn stdout_error(e: std::io::Error) -> Error {
    Error::usage("could not write the result to stdout").cause(e)
}

#[cfg(test)]
mod tests {
    use super::{reformat_json, rfc3339};

    fn re(text: &str, indent: Option<usize>) -> String {
        let mut out = Vec::new();
        reformat_json(text, indent, 0, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn reformat_keeps_order_strings_and_numbers() {
        let src = "{ \"b\" : 1.50, \"a\":[ 1 , {} , [] ],\n \"s\":\"x , { y\\\" :\" }";
        assert_eq!(re(src, None), r#"{"b":1.50,"a":[1,{},[]],"s":"x , { y\" :"}"#);
        assert_eq!(
            re(src, Some(2)),
            "{\n  \"b\": 1.50,\n  \"a\": [\n    1,\n    {},\n    []\n  ],\n  \"s\": \"x , { y\\\" :\"\n}"
        );
        let compact = re(src, None);
        let v1: serde_json::Value = serde_json::from_str(src).unwrap();
        let v2: serde_json::Value = serde_json::from_str(&compact).unwrap();
        assert_eq!(v1, v2);
    }

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(0, false), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400, true), "2000-02-29T00:00:00+00:00");
        assert_eq!(rfc3339(1_795_000_000, false), "2026-11-18T11:06:40Z");
    }
}
