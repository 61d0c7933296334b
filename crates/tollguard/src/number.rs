//! `tollguard number`: explain how a dialed string is classified and priced.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// What was dialed, as the PBX or phone sent it (e.g. 0102327612345, +23276123456, tel:+232…).
    pub dialed: String,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let numbering = numbering::Numbering::japan_defaults();
    let dest = numbering.classify(&args.dialed);
    println!("{dest:?}");
    Ok(ExitCode::SUCCESS)
}
