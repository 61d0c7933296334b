//! `tollguard demo`: the 2015 incident replayed live against a real guard. Being written.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

pub fn run(_args: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("tollguard demo is not built yet")
}
