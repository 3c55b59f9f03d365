//! The `entra-token` binary: parse, run, print the error, exit with its code (see `app`).

fn main() {
    let code = entra_token::app::main_with_args(std::env::args_os());
    std::process::exit(code);
}
