//! Writes a labelled Asterisk Master.csv from the scenario generator.
//!
//! `cargo run -p cdr --release --example synth -- --scenario weekend_pump --out /tmp/pump.csv [--seed 1]`
//! `cargo run -p cdr --release --example synth -- --scenario bench_mix --out /tmp/1m.csv --lines 1000000`

use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

use cdr::synth;

fn usage() -> ExitCode {
    eprintln!(
        "usage: synth --scenario NAME --out FILE [--lines N] [--seed S]\nscenarios: {}",
        synth::SCENARIOS.join(", ")
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut scenario, mut out, mut lines, mut seed) = (None, None, None, 1u64);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = it.next();
        match (a.as_str(), v) {
            ("--scenario", Some(v)) => scenario = Some(v.clone()),
            ("--out", Some(v)) => out = Some(v.clone()),
            ("--lines", Some(v)) => match v.parse::<u64>() {
                Ok(n) => lines = Some(n),
                Err(_) => return usage(),
            },
            ("--seed", Some(v)) => match v.parse::<u64>() {
                Ok(n) => seed = n,
                Err(_) => return usage(),
            },
            _ => return usage(),
        }
    }
    let (Some(scenario), Some(out)) = (scenario, out) else {
        return usage();
    };
    let file = match File::create(&out) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("cannot create {out}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let result = if scenario == "bench_mix" {
        synth::write_bench_mix(seed, lines.unwrap_or(1_000_000), &mut w)
    } else {
        match synth::scenario(&scenario, seed) {
            Some(mut calls) => {
                if let Some(n) = lines {
                    calls.truncate(usize::try_from(n).unwrap_or(usize::MAX));
                }
                let fraud = calls.iter().filter(|c| c.label.is_fraud()).count() as u64;
                synth::write_master_csv(&calls, &mut w).map(|()| (calls.len() as u64, fraud))
            }
            None => return usage(),
        }
    };
    match result.and_then(|r| w.flush().map(|()| r)) {
        Ok((n, fraud)) => {
            eprintln!("{out}: {n} CDR lines ({fraud} fraud), scenario {scenario}, seed {seed}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("writing {out}: {e}");
            ExitCode::FAILURE
        }
    }
}
