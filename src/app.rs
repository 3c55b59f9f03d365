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
    match command {
        Command::Cert(c) => commands::cert::run(&c).map(|_| 0),
        Command::Completions(a) => commands::completions::run(&a).map(|_| 0),
        Command::Decode(a) => commands::decode::run(&a).map(|_| 0),
        Command::Emulator(a) => crate::emulator::run(a),
        Command::Cache(c) => {
            let settings = Settings::resolve(&global)?;
            commands::cache::run(&global, &settings, &c).map(|_| 0)
        }
        Command::Get(a) => {
            let settings = Settings::resolve(&global)?;
            commands::get::run(&settings, &a).map(|_| 0)
        }
        Command::ConsentUrl(a) => {
            let settings = Settings::resolve(&global)?;
            commands::consent::run(&settings, &a).map(|_| 0)
        }
        Command::Redeem(a) => {
            let settings = Settings::resolve(&global)?;
            commands::redeem::run(&settings, &a).map(|_| 0)
        }
        Command::Login(a) => {
            let settings = Settings::resolve(&global)?;
            commands::login::run(&settings, &a).map(|_| 0)
        }
        Command::Logout(a) => {
            let settings = Settings::resolve(&global)?;
            commands::user::logout(&settings, &a).map(|_| 0)
        }
        Command::Api(a) => {
            let settings = Settings::resolve(&global)?;
            commands::api::run(&settings, &a).map(|_| 0)
        }
    }
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
