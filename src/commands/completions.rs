//! `completions SHELL`: the completion script for bash, zsh, fish, powershell or elvish.

use crate::cli::{Cli, CompletionsArgs};
use crate::error::Result;
use clap::CommandFactory;

pub(crate) fn run(args: &CompletionsArgs) -> Result<()> {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "entra-token", &mut buf);
    crate::output::write_stdout(&buf)
}
