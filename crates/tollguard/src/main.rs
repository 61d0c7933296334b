//! The tollguard binary: the command line wiring the crates together.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod number;

/// tollguard stops toll fraud on IP telephony.
#[derive(Debug, Parser)]
#[command(name = "tollguard", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Explain a dialed number: E.164 form, country, class, risk tier and price.
    Number(number::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Number(args) => number::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("tollguard: {err:#}");
            ExitCode::from(2)
        }
    }
}
