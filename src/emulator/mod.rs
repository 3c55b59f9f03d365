//! Placeholder until the emulator branch is merged.

#[derive(clap::Args, Debug)]
pub struct EmulatorArgs {}

pub fn run(_args: EmulatorArgs) -> crate::error::Result<i32> {
    Err(crate::error::Error::internal("emulator not built yet"))
}
