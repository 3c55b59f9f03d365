//! The local Entra ID + Graph + Office 365 Management stand-in (a test double).

#[derive(clap::Args, Debug)]
pub struct EmulatorArgs {}

pub fn run(_args: EmulatorArgs) -> crate::error::Result<i32> {
    Err(crate::error::Error::internal("emulator not built yet"))
}
