//! Shell completion scripts for bash, zsh, fish, PowerShell and elvish, as clap_complete
//! generates them with two corrections: bash's per-subcommand branches are renamed to match the
//! state names its dispatch loop computes (clap_complete escapes a hyphenated binary name
//! differently in the two places, so nothing after a subcommand would complete), and refused
//! flags (hidden ones, such as `--client-secret`) are never offered. Public, next to [`cli`], so
//! that the `completions` command and the release assets print the same scripts.
//!
//! [`cli`]: crate::cli

use clap_complete::Shell;

/// The name completion is registered for.
const BIN: &str = "entra-token";

/// The completion script for `shell`.
pub fn script(shell: Shell) -> String {
    let mut cmd = crate::cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN, &mut buf);
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    if shell == Shell::Bash {
        text = fix_bash_branch_names(&text);
    }
    if shell == Shell::Fish {
        text.push_str(&fish_positional_values(&cmd));
    }
    let refused = refused_longs(&cmd);
    drop_flags(shell, &text, &refused)
}

/// bash: the dispatch loop builds states such as `entra__token__subcmd__get` (the binary name
/// with `-` as `__`), while the `case` branches are spelt `entra__subcmd__token__subcmd__get`
/// (the binary name's `-` taken for a subcommand separator). The branches are renamed to the
/// loop's spelling; once clap_complete spells both alike this changes nothing.
fn fix_bash_branch_names(text: &str) -> String {
    let wrong = BIN.replace('-', "__subcmd__");
    let right = BIN.replace('-', "__");
    if wrong == right {
        return text.to_string();
    }
    text.replace(&wrong, &right)
}

/// fish: clap_complete writes completions for options only; a subcommand's positional argument
/// with a fixed set of values (`completions SHELL`) gets its values here.
fn fish_positional_values(cmd: &clap::Command) -> String {
    let fn_name = BIN.replace('-', "_");
    let mut out = String::new();
    for sub in cmd.get_subcommands() {
        for arg in sub.get_positionals() {
            let values: Vec<String> = arg
                .get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| v.get_name().to_string())
                .collect();
            if !values.is_empty() {
                out.push_str(&format!(
                    "complete -c {BIN} -n \"__fish_{fn_name}_using_subcommand {}\" -f -a \"{}\"\n",
                    sub.get_name(),
                    values.join(" ")
                ));
            }
        }
    }
    out
}

/// Long names of the flags that exist only to be refused (hidden from help), from the whole
/// command tree (global flags propagate to every subcommand).
fn refused_longs(cmd: &clap::Command) -> Vec<String> {
    let mut cmd = cmd.clone();
    cmd.build();
    let mut out = Vec::new();
    let mut stack = vec![&cmd];
    while let Some(c) = stack.pop() {
        for arg in c.get_arguments() {
            if let Some(long) = arg.get_long()
                && arg.is_hide_set()
                && !out.iter().any(|l| l == long)
            {
                out.push(long.to_string());
            }
        }
        stack.extend(c.get_subcommands());
    }
    out
}

/// Removes the offers of `longs` from a generated script: the word from bash's option lists, the
/// spec lines of zsh, fish, PowerShell and elvish. A flag whose name extends a refused one
/// (`--client-secret-file`) stays.
fn drop_flags(shell: Shell, text: &str, longs: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let offers = |long: &str| match shell {
            Shell::Zsh => {
                let t = line.trim_start();
                t.starts_with(&format!("'--{long}=")) || t.starts_with(&format!("'--{long}["))
            }
            Shell::Fish => line.starts_with("complete ") && line.contains(&format!(" -l {long} ")),
            Shell::PowerShell => line.contains(&format!("::new('--{long}',")),
            Shell::Elvish => line.trim_start().starts_with(&format!("cand --{long} ")),
            _ => false,
        };
        if longs.iter().any(|l| offers(l)) {
            continue;
        }
        if shell == Shell::Bash
            && line.trim_start().starts_with("opts=\"")
            && let (Some(open), Some(close)) = (line.find('"'), line.rfind('"'))
            && open < close
        {
            let words: Vec<&str> = line[open + 1..close]
                .split(' ')
                .filter(|w| !longs.iter().any(|l| w.strip_prefix("--") == Some(l.as_str())))
                .collect();
            out.push_str(&format!(
                "{}\"{}\"{}",
                &line[..open],
                words.join(" "),
                &line[close + 1..]
            ));
            continue;
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refused_flag_is_known() {
        let mut refused = refused_longs(&crate::cli::command());
        refused.sort();
        assert_eq!(refused, vec!["client-secret".to_string(), "code-verifier".to_string()]);
    }

    /// zsh's `_arguments` specs take a value name between `:`s inside a single-quoted word: a
    /// quote or a colon in one breaks the whole subcommand's completion.
    #[test]
    fn value_names_are_safe_in_completion_specs() {
        let mut cmd = crate::cli::command();
        cmd.build();
        let mut stack = vec![&cmd];
        while let Some(c) = stack.pop() {
            for arg in c.get_arguments() {
                for name in arg.get_value_names().unwrap_or_default() {
                    assert!(
                        !name.contains(['\'', '"', ':', '\\']),
                        "{} --{}: value name {name:?}",
                        c.get_name(),
                        arg.get_id()
                    );
                }
            }
            stack.extend(c.get_subcommands());
        }
    }

    /// Positionals with fixed values get fish completions only one level down (see
    /// [`fish_positional_values`]); one deeper would be silently missing.
    #[test]
    fn fixed_value_positionals_are_one_level_down() {
        let mut cmd = crate::cli::command();
        cmd.build();
        for sub in cmd.get_subcommands() {
            for deeper in sub.get_subcommands() {
                assert!(
                    deeper.get_positionals().all(|a| a.get_possible_values().is_empty()),
                    "{} {}: fish would not complete its positional's values",
                    sub.get_name(),
                    deeper.get_name()
                );
            }
        }
        assert!(script(Shell::Fish).contains("using_subcommand completions\" -f -a \"bash"));
    }

    #[test]
    fn bash_branches_match_the_states_the_loop_computes() {
        let text = script(Shell::Bash);
        let states: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("cmd=\""))
            .map(|l| l.trim_end_matches('"'))
            .filter(|s| !s.is_empty())
            .collect();
        assert!(states.contains(&"entra__token__subcmd__get"), "{states:?}");
        for state in &states {
            assert!(
                text.lines().any(|l| l.trim() == format!("{state})")),
                "no branch for {state}"
            );
        }
        assert!(!text.contains("entra__subcmd__token"));
    }

    #[test]
    fn no_shell_offers_the_refused_flag() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::PowerShell, Shell::Elvish] {
            let text = script(shell);
            assert!(text.contains("client-secret-file"), "{shell}: the file flag stays");
            let offered = text.lines().any(|l| match shell {
                Shell::Bash => {
                    l.trim_start().starts_with("opts=") && l.split(['"', ' ']).any(|w| w == "--client-secret")
                }
                Shell::Zsh => l.contains("'--client-secret=") || l.contains("'--client-secret["),
                Shell::Fish => l.starts_with("complete ") && l.contains(" -l client-secret "),
                Shell::PowerShell => l.contains("'--client-secret'"),
                _ => l.contains("cand --client-secret "),
            });
            assert!(!offered, "{shell} offers --client-secret");
        }
        // bash's option lists stay well-formed
        let bash = script(Shell::Bash);
        for l in bash.lines().filter(|l| l.trim_start().starts_with("opts=\"")) {
            assert!(l.trim_end().ends_with('"') && l.matches('"').count() == 2, "{l}");
        }
    }
}
