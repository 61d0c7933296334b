//! Reads `N` generated Asterisk Master.csv lines with `CdrReader::next_ref` (for instruction counts of the reader:
//! run once with `gen` only and once with `read`, e.g. under `perf stat -e instructions:u`, and subtract).
//!
//! `cargo run --release -p cdr --example asterisk_read -- read 200000`, or `-- file PATH` to time `next_ref` over a
//! Master.csv held in memory (best of 5 passes, ns per line).

use std::hint::black_box;

use cdr::{CdrFormat, CdrReader, ReadOptions};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().cloned().unwrap_or_else(|| "read".into());
    let lines: u64 = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(200_000);
    if mode == "file" {
        let path = args.get(1).cloned().unwrap_or_default();
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{path}: {e}");
                std::process::exit(1);
            }
        };
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = std::time::Instant::now();
            let (n, sum) = read(&data);
            let ns = t.elapsed().as_nanos() as f64 / n.max(1) as f64;
            best = best.min(ns);
            black_box(sum);
        }
        println!("{best:.0} ns/line ({:.2} M lines/s)", 1e3 / best);
        return;
    }
    let mut data = Vec::new();
    if let Err(e) = cdr::synth::write_bench_mix(1, lines, &mut data) {
        eprintln!("generate: {e}");
        std::process::exit(1);
    }
    if mode != "read" {
        black_box(&data);
        return;
    }
    let (n, secs) = read(&data);
    println!("{n} records, checksum {}", black_box(secs));
}

fn read(data: &[u8]) -> (u64, u64) {
    let Ok(mut reader) = CdrReader::new(data, ReadOptions::for_format(CdrFormat::AsteriskCsv))
    else {
        eprintln!("options");
        std::process::exit(1);
    };
    let (mut n, mut secs) = (0u64, 0u64);
    while let Some(item) = reader.next_ref() {
        if let Ok(r) = item {
            n += 1;
            secs += u64::from(r.billable_secs) + r.dialed.len() as u64 + r.start_ms() as u64;
        }
    }
    (n, secs)
}
