//! Process hardening: no core dumps (a dump would hold the client secret, passwords and tokens
//! in clear), and a child process (the browser `login` opens) that inherits none of the secret
//! variables of `env::VARIABLES`. Must not read the environment (that is `env`).

/// What [`disable_core_dumps`] managed to do.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct CoreDumps {
    /// `prctl(PR_SET_DUMPABLE, 0)` succeeded (Linux): no core dump, and other processes of the
    /// same user can no longer ptrace this one or read its `/proc/<pid>/mem` and `environ`.
    pub(crate) not_dumpable: bool,
    /// `RLIMIT_CORE` is now 0 (Unix).
    pub(crate) core_limit_zero: bool,
}

/// Turns core dumps off for this process, first thing at start: on Linux it is marked not
/// dumpable, and on every Unix the core size limit is set to 0 (soft and hard: a child or a
/// library cannot raise it again). Two system calls; a failure is not fatal.
pub(crate) fn disable_core_dumps() -> CoreDumps {
    #[allow(unused_mut)]
    let mut done = CoreDumps::default();
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        done.not_dumpable =
            rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable).is_ok();
    }
    #[cfg(unix)]
    {
        let zero = rustix::process::Rlimit {
            current: Some(0),
            maximum: Some(0),
        };
        done.core_limit_zero = rustix::process::setrlimit(rustix::process::Resource::Core, zero).is_ok();
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs in a child process (this test binary re-run with a filter) so the test process
    /// itself stays dumpable for debuggers.
    #[cfg(target_os = "linux")]
    #[test]
    #[allow(clippy::disallowed_methods)] // the marker of the child run, not configuration
    fn core_dumps_are_off_after_the_call() {
        if std::env::var_os("ENTRA_TOKEN_TEST_CORE_CHILD").is_some() {
            let done = disable_core_dumps();
            assert_eq!(
                done,
                CoreDumps {
                    not_dumpable: true,
                    core_limit_zero: true
                }
            );
            let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
            let core = limits.lines().find(|l| l.starts_with("Max core file size")).unwrap();
            assert!(core.split_whitespace().filter(|w| *w == "0").count() >= 2, "{core}");
            assert_eq!(
                rustix::process::dumpable_behavior().unwrap(),
                rustix::process::DumpableBehavior::NotDumpable
            );
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "hardening::tests::core_dumps_are_off_after_the_call",
                "--nocapture",
            ])
            .env("ENTRA_TOKEN_TEST_CORE_CHILD", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("1 passed"),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
