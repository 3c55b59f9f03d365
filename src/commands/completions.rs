//! `completions SHELL`: the completion script for bash, zsh, fish, powershell or elvish (built in
//! `completion`, which the release assets use too).

use crate::cli::CompletionsArgs;
use crate::error::Result;

pub(crate) fn run(args: &CompletionsArgs) -> Result<()> {
    crate::output::write_stdout(crate::completion::script(args.shell).as_bytes())
}
