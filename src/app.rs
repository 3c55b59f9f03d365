//! Dispatch: parse the command line, take the environment snapshot, resolve settings, run the
//! subcommand, and print its error on stderr (its exit code comes from `error`).

use crate::cli::{Cli, Command};
use crate::commands;
use crate::env::Env;
use crate::error::{self, Error, Result};
use crate::settings::{self, Settings};
use std::ffi::OsString;

/// Runs entra-token with these arguments and returns the process exit code.
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> i32 {
    // A core dump would hold the client secret, passwords and tokens in clear (SECURITY.md).
    crate::hardening::disable_core_dumps();
    let parsed = crate::cli::command()
        .try_get_matches_from(args)
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return error::exit_code_of_parse(&e);
        }
    };
    crate::log::set_verbosity(cli.global.verbose);
    let env = Env::capture();
    if matches!(cli.command, Command::Login(_) | Command::ConsentUrl(_)) {
        // these may open a browser, which must not inherit the secrets (`env` keeps them)
        crate::env::remove_secret_variables_from_process();
    }
    match run(cli, &env) {
        Ok(code) => code,
        Err(e) => {
            eprint!("{}", e.render());
            e.exit_code()
        }
    }
}

fn run(cli: Cli, env: &Env) -> Result<i32> {
    let Cli { global, command } = cli;
    // Commands that need no settings (and must work with none configured).
    let command = match command {
        Command::Cert(c) => {
            let timeout = settings::file_timeout(&global);
            return commands::cert::run(&c, settings::password_variable(env)?, timeout).map(|_| 0);
        }
        Command::Completions(a) => return commands::completions::run(&a).map(|_| 0),
        Command::Decode(a) => return commands::decode::run(&a, settings::file_timeout(&global)).map(|_| 0),
        Command::Emulator(a) => {
            let hermetic = entra_token_emulator::Hermetic {
                remove: crate::env::hermetic_removals(),
            };
            return entra_token_emulator::run(a, &hermetic).map_err(Error::from);
        }
        other => other,
    };
    let settings = Settings::resolve(&global, env)?;
    settings.tls_roots.ensure_present()?;
    match command {
        Command::Get(a) => commands::get::run(&settings, &a),
        Command::Api(a) => commands::api::run(&settings, &a),
        Command::Activity(c) => commands::activity::run(&settings, &c),
        Command::Cache(c) => commands::cache::run(&global, &settings, &c),
        Command::ConsentUrl(a) => commands::consent::run(&settings, &a),
        Command::Redeem(a) => commands::redeem::run(&settings, &a),
        Command::Login(a) => commands::login::run(&settings, &a),
        Command::Logout(a) => commands::logout::run(&settings, &a),
        Command::Whoami(a) => commands::whoami::run(&settings, &a),
        Command::Cert(_) | Command::Completions(_) | Command::Decode(_) | Command::Emulator(_) => {
            unreachable!("handled above")
        }
    }
    .map(|_| 0)
}
