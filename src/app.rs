//! Dispatch: parse the command line, resolve settings, run the subcommand, and turn its error
//! into stderr text and an exit code (the only place that does).

use crate::cli::{Cli, Command};
use crate::commands;
use crate::error::{Error, Result};
use crate::settings::Settings;
use clap::Parser;
use std::ffi::OsString;

/// Runs entra-token with these arguments and returns the process exit code.
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    crate::log::set_verbosity(cli.global.verbose);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprint!("{}", e.render());
            e.exit_code()
        }
    }
}

pub fn run(cli: Cli) -> Result<i32> {
    let Cli { global, command } = cli;
    // Commands that need no settings (and must work with none configured).
    let command = match command {
        Command::Cert(c) => return commands::cert::run(&c).map(|_| 0),
        Command::Completions(a) => return commands::completions::run(&a).map(|_| 0),
        Command::Decode(a) => return commands::decode::run(&a).map(|_| 0),
        Command::Emulator(a) => return entra_token_emulator::run(a).map_err(Error::from),
        other => other,
    };
    let settings = Settings::resolve(&global)?;
    match command {
        Command::Get(a) => commands::get::run(&settings, &a),
        Command::Api(a) => commands::api::run(&settings, &a),
        Command::Cache(c) => commands::cache::run(&global, &settings, &c),
        Command::ConsentUrl(a) => commands::consent::run(&settings, &a),
        Command::Redeem(a) => commands::redeem::run(&settings, &a),
        Command::Login(a) => commands::login::run(&settings, &a),
        Command::Logout(a) => commands::user::logout(&settings, &a),
        Command::Cert(_) | Command::Completions(_) | Command::Decode(_) | Command::Emulator(_) => {
            unreachable!("handled above")
        }
    }
    .map(|_| 0)
}

/// Runs a future on a current-thread runtime built only now (never on --help or a cache hit).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::internal("could not start the async runtime").cause(e))
        .expect("tokio runtime")
        .block_on(f)
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
