//! `--jq EXPR`: a jq filter, compiled once with the jaq implementation of the jq language
//! (`jaq-core`, `jaq-std`, `jaq-json`) and run on JSON results. Each output is one line: strings
//! raw, as `gh api --jq` prints them, everything else compact JSON. Input JSON is read through
//! serde_json (strict JSON, nesting depth limited), so a hostile body cannot exhaust the stack.
//! The caller decides what a failure means for the exit code ([`RunError`]).

use crate::error::{Error, Kind, Result};
use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars, data};
use jaq_json::Val;

type Data = data::JustLut<Val>;

/// jq's `@csv` and `@tsv`, which jaq's libraries leave to its command-line tool; written in jq
/// itself, as jq's manual specifies them (`@tsv` escapes `\\`, tab, newline and return).
const FORMAT_DEFS: &str = r#"
def @csv: if type != "array" then error("\(type) cannot be csv-formatted, only an array can be") end
  | map(if type == "string" then "\"" + (split("\"") | join("\"\"")) + "\""
        elif type == "number" or type == "boolean" then tojson
        elif type == "null" then ""
        else error("\(type) is not valid in a csv row") end)
  | join(",");
def @tsv: if type != "array" then error("\(type) cannot be tsv-formatted, only an array can be") end
  | map(if type == "string" then split("\\") | join("\\\\") | split("\t") | join("\\t")
          | split("\n") | join("\\n") | split("\r") | join("\\r")
        elif type == "number" or type == "boolean" then tojson
        elif type == "null" then ""
        else error("\(type) is not valid in a tsv row") end)
  | join("\t");
"#;

/// The most output one run of a filter may produce (a filter such as `repeat(.)` never ends).
pub(crate) const OUTPUT_CAP: usize = 256 * 1024 * 1024;

/// A compiled `--jq` filter.
pub(crate) struct JqFilter {
    filter: jaq_core::Filter<Data>,
}

/// Why a run produced no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RunError {
    /// The input is not a JSON document.
    NotJson(String),
    /// The filter raised an error (`error`, a type error, `halt_error`, too much output).
    Filter(String),
}

impl RunError {
    /// The user-facing error, of the class the caller chose (exit 5 for `api`, where the body was
    /// received; exit 2 for `get`, where the input is entra-token's own).
    pub(crate) fn into_error(self, kind: Kind) -> Error {
        match self {
            RunError::NotJson(why) => {
                Error::new(kind, "--jq: the result is not JSON, so the filter was not run").cause(why)
            }
            RunError::Filter(why) => Error::new(kind, format!("--jq: {why}")),
        }
    }
}

impl JqFilter {
    /// Parses and compiles `expr`; a syntax error or an unknown filter or variable is a usage
    /// error (exit 2) naming `--jq`, with jaq's description and the column.
    pub(crate) fn compile(expr: &str) -> Result<JqFilter> {
        let formats = jaq_core::load::parse(FORMAT_DEFS, |p| p.defs()).expect("the built-in @csv/@tsv parse");
        let defs = (jaq_core::defs().chain(jaq_std::defs()).chain(jaq_json::defs())).chain(formats);
        let funs = jaq_core::funs().chain(jaq_std::funs()).chain(jaq_json::funs());
        let arena = Arena::default();
        let modules = Loader::new(defs)
            .load(&arena, File { code: expr, path: () })
            .map_err(|errs| syntax_error(expr, load_messages(expr, errs)))?;
        let filter = Compiler::default().with_funs(funs).compile(modules).map_err(|errs| {
            let msgs = errs
                .into_iter()
                .flat_map(|(_, undefined)| undefined)
                .map(|(name, kind)| format!("undefined {} '{name}' at column {}", kind.as_str(), column(expr, name)))
                .collect();
            syntax_error(expr, msgs)
        })?;
        Ok(JqFilter { filter })
    }

    /// Runs the filter on one JSON text, appending one line per output to `out`. Nothing is
    /// appended when the run fails.
    pub(crate) fn run_json(&self, text: &[u8], out: &mut Vec<u8>) -> std::result::Result<(), RunError> {
        let value: Val = serde_json::from_slice(text).map_err(|e| RunError::NotJson(e.to_string()))?;
        self.run(value, out)
    }

    /// Runs the filter on a value already in memory (e.g. `get -o json`'s document).
    pub(crate) fn run_value(&self, value: &serde_json::Value, out: &mut Vec<u8>) -> std::result::Result<(), RunError> {
        let value: Val = serde_json::from_value(value.clone()).map_err(|e| RunError::NotJson(e.to_string()))?;
        self.run(value, out)
    }

    fn run(&self, input: Val, out: &mut Vec<u8>) -> std::result::Result<(), RunError> {
        let start = out.len();
        let ctx = Ctx::<Data>::new(&self.filter.lut, Vars::new([]));
        let fail = |out: &mut Vec<u8>, why: String| {
            out.truncate(start);
            Err(RunError::Filter(why))
        };
        for result in self.filter.id.run((ctx, input)) {
            let value = match result {
                Ok(v) => v,
                Err(exn) => match exn.get_err() {
                    Ok(err) => return fail(out, error_text(err.into_val())),
                    // `halt` ends the filter quietly; `halt_error` ends it with a failure
                    Err(exn) => match exn.get_halt() {
                        Ok(0) => break,
                        Ok(code) => return fail(out, format!("the filter halted with status {code}")),
                        Err(_) => return fail(out, "the filter raised an exception".into()),
                    },
                },
            };
            write_line(&value, out);
            if out.len() - start > OUTPUT_CAP {
                return fail(
                    out,
                    format!("the filter's output exceeds {} MiB", OUTPUT_CAP / (1024 * 1024)),
                );
            }
        }
        Ok(())
    }
}

/// An error's value as jq prints it: a string raw, anything else as JSON.
fn error_text(value: Val) -> String {
    match value {
        Val::TStr(s) | Val::BStr(s) => String::from_utf8_lossy(&s).into_owned(),
        other => other.to_string(),
    }
}

/// One output line: a string raw (its bytes as they are), anything else as compact JSON.
fn write_line(value: &Val, out: &mut Vec<u8>) {
    match value {
        Val::TStr(s) | Val::BStr(s) => out.extend_from_slice(s),
        other => {
            jaq_json::write::write(out, &jaq_json::write::Pp::default(), 0, other).expect("writing to memory succeeds")
        }
    }
    out.push(b'\n');
}

/// The usage error for a filter that does not compile.
fn syntax_error(expr: &str, messages: Vec<String>) -> Error {
    let mut err = Error::usage(format!("--jq: the filter '{expr}' is not valid jq"));
    for m in messages {
        err = err.cause(m);
    }
    err.hint("jq syntax, e.g. --jq '.value[].displayName' (strings are printed without quotes)")
}

/// jaq's lexer and parser errors, each with its column in `expr`.
fn load_messages(expr: &str, errs: jaq_core::load::Errors<&str, ()>) -> Vec<String> {
    use jaq_core::load::Error;
    let mut out = Vec::new();
    for (_, err) in errs {
        match err {
            Error::Io(items) => out.extend(items.into_iter().map(|(path, why)| format!("{path}: {why}"))),
            Error::Lex(items) => {
                out.extend(items.into_iter().map(|(expected, found)| {
                    format!("expected {} at column {}", expected.as_str(), column(expr, found))
                }))
            }
            Error::Parse(items) => out.extend(items.into_iter().map(|(expected, found)| {
                let near = if found.is_empty() {
                    "the end".to_string()
                } else {
                    format!("'{found}'")
                };
                format!(
                    "expected {} but found {near} at column {}",
                    expected.as_str(),
                    column(expr, found)
                )
            })),
        }
    }
    out
}

/// The 1-based column (in characters) where `part`, a slice of `expr`, starts; the end when it
/// is not a slice of `expr`.
fn column(expr: &str, part: &str) -> usize {
    let base = expr.as_ptr() as usize;
    let at = part.as_ptr() as usize;
    let offset = if at >= base && at <= base + expr.len() {
        at - base
    } else {
        expr.len()
    };
    expr.get(..offset).map_or(offset, |s| s.chars().count()) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(expr: &str, input: &str) -> std::result::Result<String, RunError> {
        let f = JqFilter::compile(expr).unwrap_or_else(|e| panic!("{expr}: {}", e.render()));
        let mut out = Vec::new();
        f.run_json(input.as_bytes(), &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn one_output_per_line_strings_raw() {
        let doc =
            r#"{"value":[{"id":"1","displayName":"Adele Vance","n":1},{"id":"2","displayName":"Alex \"W\"","n":2.5}]}"#;
        assert_eq!(run(".value[].displayName", doc).unwrap(), "Adele Vance\nAlex \"W\"\n");
        assert_eq!(run(".value[].n", doc).unwrap(), "1\n2.5\n");
        assert_eq!(
            run(".value[0]", doc).unwrap(),
            "{\"id\":\"1\",\"displayName\":\"Adele Vance\",\"n\":1}\n"
        );
        assert_eq!(run(".value | length", doc).unwrap(), "2\n");
        assert_eq!(run("[.value[].id]", doc).unwrap(), "[\"1\",\"2\"]\n");
        assert_eq!(run(".missing", doc).unwrap(), "null\n");
        assert_eq!(run("empty", doc).unwrap(), "");
        // the standard library is there: map, select, test (regex), @csv, todate
        assert_eq!(
            run(r#"[.value[] | select(.displayName | test("^Ad")) | .id] | @csv"#, doc).unwrap(),
            "\"1\"\n"
        );
        assert_eq!(run("0 | todate", "null").unwrap(), "1970-01-01T00:00:00Z\n");
        assert_eq!(
            run("@csv, @tsv", r#"[1, "a\"b,c", null, true, "t\tn\nb\\"]"#).unwrap(),
            "1,\"a\"\"b,c\",,true,\"t\tn\nb\\\"\n1\ta\"b,c\t\ttrue\tt\\tn\\nb\\\\\n"
        );
        assert!(run("@csv", r#"[{}]"#).is_err());
        assert_eq!(run("@base64, @uri, @sh", r#""a b""#).unwrap(), "YSBi\na%20b\n'a b'\n");
        // big integers and member order survive
        assert_eq!(
            run(".", r#"{"b":1,"a":18446744073709551615}"#).unwrap(),
            "{\"b\":1,\"a\":18446744073709551615}\n"
        );
    }

    #[test]
    fn runtime_errors_and_non_json_are_reported_and_write_nothing() {
        let err = run(".a[0]", r#"{"a":1}"#).unwrap_err();
        assert!(
            matches!(&err, RunError::Filter(m) if m.contains("cannot index")),
            "{err:?}"
        );
        let err = run(r#".a, error("boom")"#, r#"{"a":1}"#).unwrap_err();
        assert_eq!(err, RunError::Filter("boom".into()), "earlier outputs are dropped");
        assert!(matches!(run(".", "<html>"), Err(RunError::NotJson(_))));
        assert!(matches!(run(".", "{} {}"), Err(RunError::NotJson(_))));
        // nesting far deeper than any API answer: refused, not a stack overflow
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(run(".", &deep), Err(RunError::NotJson(_))));
        let e = RunError::Filter("x".into()).into_error(Kind::Api);
        assert_eq!(e.exit_code(), 5);
        assert_eq!(RunError::NotJson("x".into()).into_error(Kind::Usage).exit_code(), 2);
    }

    #[test]
    fn halt_and_endless_output() {
        assert_eq!(run("1, halt, 2", "null").unwrap(), "1\n");
        assert!(matches!(run(r#""bye" | halt_error(3)"#, "null"), Err(RunError::Filter(m)) if m.contains('3')));
        let big = format!("\"{}\"", "x".repeat(1024 * 1024));
        assert!(matches!(run("repeat(.)", &big), Err(RunError::Filter(m)) if m.contains("exceeds")));
    }

    #[test]
    fn syntax_errors_name_the_flag_and_the_column() {
        for (expr, needle) in [
            (".value[", "column"),
            (".a |", "column"),
            ("nosuchfilter", "undefined filter 'nosuchfilter' at column 1"),
            (".a | $x", "undefined variable '$x' at column 6"),
            (r#""abc"#, "expected closing quote"),
            ("include \"x\"; .", "module loading not supported"),
        ] {
            let err = JqFilter::compile(expr)
                .err()
                .unwrap_or_else(|| panic!("{expr} compiled"));
            assert_eq!(err.exit_code(), 2);
            let text = err.render();
            assert!(text.contains("--jq"), "{text}");
            assert!(text.contains(needle), "{expr}: {text}");
        }
    }

    #[test]
    fn runs_on_values() {
        let f = JqFilter::compile(".expiresOn").unwrap();
        let mut out = Vec::new();
        f.run_value(&serde_json::json!({"expiresOn": "2030-01-01T00:00:00+00:00"}), &mut out)
            .unwrap();
        assert_eq!(out, b"2030-01-01T00:00:00+00:00\n");
    }
}
