//! `tollguard ctl`: the operator API from a terminal. Being written.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct CtlArgs {}

pub fn run(_args: CtlArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("tollguard ctl is not built yet")
}
