//! Temporary entry point used while the emulator is developed on its own branch.
use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}
#[derive(clap::Subcommand)]
enum Cmd {
    Emulator(entra_token::emulator::EmulatorArgs),
}

fn main() {
    let cli = Cli::parse();
    let Cmd::Emulator(args) = cli.cmd;
    match entra_token::emulator::run(args) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprint!("{}", e.render());
            std::process::exit(e.exit_code())
        }
    }
}
