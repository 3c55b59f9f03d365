//! End-to-end: `completions bash|zsh|fish` loaded into the real shells and driven the way a TAB
//! drives them: bash's registered function with COMP_WORDS/COMP_CWORD, zsh's completion system
//! in an interactive zsh on a pseudo-terminal (zpty) with `compadd` recording the matches, fish's
//! `complete -C`. Subcommands' flags and values complete after a subcommand (a hyphenated binary
//! name must not break that), and the refused `--client-secret` is never offered.

mod common;
use common::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What is typed before TAB, and what must (or must not) be offered.
struct Case {
    line: &'static str,
    /// Offered, among others.
    has: &'static [&'static str],
    /// When set: exactly these are offered.
    exactly: Option<&'static [&'static str]>,
}

const fn has(line: &'static str, has: &'static [&'static str]) -> Case {
    Case {
        line,
        has,
        exactly: None,
    }
}

const fn exactly(line: &'static str, words: &'static [&'static str]) -> Case {
    Case {
        line,
        has: words,
        exactly: Some(words),
    }
}

const OUTPUT_FORMATS: &[&str] = &["token", "header", "json", "env", "exec-credential"];

const CASES: &[Case] = &[
    has(
        "entra-token ",
        &["get", "api", "cache", "login", "consent-url", "completions"],
    ),
    // after a subcommand: its flags, and the values of its flags
    exactly("entra-token get --for", &["--force-refresh"]),
    has(
        "entra-token get --",
        &["--scope", "--output", "--min-validity", "--client-secret-file", "--jq"],
    ),
    exactly("entra-token get -o ", OUTPUT_FORMATS),
    exactly("entra-token get --output ", OUTPUT_FORMATS),
    exactly("entra-token get --cache ", &["auto", "keyring", "file", "none"]),
    exactly("entra-token get --assertion-alg ", &["ps256", "rs256"]),
    exactly("entra-token get --client-sec", &["--client-secret-file"]),
    exactly("entra-token api --pag", &["--paginate"]),
    exactly("entra-token api /v1.0/users -H x --nd", &["--ndjson"]),
    exactly("entra-token cache cl", &["clear"]),
    exactly("entra-token cache list -o ", &["text", "json"]),
    exactly("entra-token consent-url --li", &["--listen"]),
    // a positional's values (bash offers the global flags alongside)
    has(
        "entra-token completions ",
        &["bash", "elvish", "fish", "powershell", "zsh"],
    ),
];

/// `entra-token completions SHELL`, written where the shell will load it.
fn script(shell: &str, dir: &Path, file: &str) -> PathBuf {
    let r = Env::new().run(&["completions", shell]);
    r.ok();
    assert!(!r.stdout.is_empty());
    let path = dir.join(file);
    std::fs::write(&path, &r.stdout).unwrap();
    path
}

fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            runner_var("CI").is_none(),
            "CI must install {tool} (Debian package `{tool}`)"
        );
        eprintln!("skipped: {tool} is not installed");
    }
    found
}

/// Runs a shell in an empty home, with a hang guard; returns stdout's lines (up to a tab: fish
/// appends descriptions), or fails with stderr.
fn shell_lines(program: &str, args: &[&str], home: &Path) -> Vec<String> {
    let mut child = Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", runner_var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("TERM", "dumb")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("{program} {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| l.split('\t').next().unwrap_or("").trim_end().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn check(shell: &str, complete: impl Fn(&str) -> Vec<String>) {
    for case in CASES {
        let offered: BTreeSet<String> = complete(case.line).into_iter().collect();
        for want in case.has {
            assert!(
                offered.contains(*want),
                "{shell}: `{}<TAB>` does not offer {want}; offers {offered:?}",
                case.line
            );
        }
        if let Some(words) = case.exactly {
            let want: BTreeSet<String> = words.iter().map(|w| w.to_string()).collect();
            assert_eq!(offered, want, "{shell}: `{}<TAB>`", case.line);
        }
        assert!(
            !offered.contains("--client-secret"),
            "{shell}: `{}<TAB>` offers the refused --client-secret",
            case.line
        );
    }
}

/// Sources the script, finds the function it registered for `entra-token` (`complete -p`), and
/// calls it as bash's programmable completion does.
const BASH_DRIVER: &str = r#"
source "$1"; shift
spec=$(complete -p entra-token) || { echo "no completion registered for entra-token" >&2; exit 3; }
fn=${spec#* -F }; fn=${fn%% *}
COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()
"$fn" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"#;

#[test]
fn bash_completes_subcommand_flags_and_values() {
    if !have("bash") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = script("bash", dir.path(), "entra-token.bash");
    check("bash", |line| {
        let mut args = vec!["--norc", "--noprofile", "-c", BASH_DRIVER, "driver"];
        let file = file.to_str().unwrap();
        args.push(file);
        // "a b " is the words a, b and an empty word being completed
        let words: Vec<&str> = line.split(' ').collect();
        args.extend(words);
        shell_lines("bash", &args, dir.path())
    });
}

/// An interactive `zsh -f` on a pseudo-terminal (zpty) with the completion system loaded from
/// `$1` (which holds `_entra-token`, as installed in `$fpath`); `compadd` is wrapped to print each
/// match it adds. Types `$2` and TAB, and prints the matches. The markers are spelt with an empty
/// quote pair where they are typed, so the terminal's echo of a command never matches them.
const ZSH_DRIVER: &str = r#"
zmodload zsh/zpty || exit 3
dir=$1 line=$2
zpty cap zsh -f -i
zpty -w cap "PROMPT='' RPROMPT='' PS2=''; fpath=(${(q)dir} \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w cap "zstyle ':completion:*' insert-tab false; zstyle ':completion:*' list-grouped false"
zpty -w cap 'compadd() { if (( ${@[(I)-[OAD]]} )); then builtin compadd "$@"; return; fi; local -a __m; builtin compadd -A __m "$@"; (( $#__m )) && print -rl -- "<mat""ch>"${^__m}; builtin compadd "$@" }'
zpty -w cap '__captured() { print -r -- "<e""nd>"; exit }; comppostfuncs=(__captured)'
zpty -w cap "print -r -- '<rea''dy>'"
zpty -r cap out '*<ready>*' || exit 4
zpty -w -n cap "$line"$'\t'
zpty -r cap out '*<end>*' || exit 5
print -r -- "$out" | tr -d '\r' | sed -n 's/^.*<match>//p'
zpty -d cap
"#;

#[test]
fn zsh_completes_subcommand_flags_and_values() {
    if !have("zsh") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fpath = dir.path().join("site-functions");
    std::fs::create_dir_all(&fpath).unwrap();
    script("zsh", &fpath, "_entra-token");
    let driver = dir.path().join("driver.zsh");
    std::fs::write(&driver, ZSH_DRIVER).unwrap();
    check("zsh", |line| {
        shell_lines(
            "zsh",
            &["-f", driver.to_str().unwrap(), fpath.to_str().unwrap(), line],
            dir.path(),
        )
    });
}

#[test]
fn fish_completes_subcommand_flags_and_values() {
    if !have("fish") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = script("fish", dir.path(), "entra-token.fish");
    check("fish", |line| {
        shell_lines(
            "fish",
            &[
                "--no-config",
                "-c",
                "source $argv[1]; complete -C $argv[2]",
                file.to_str().unwrap(),
                line,
            ],
            dir.path(),
        )
    });
}
