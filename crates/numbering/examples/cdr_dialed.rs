//! Classifies the dialed column of an Asterisk CDR file the way a backtest does: every line once, nearly
//! every number new (so the prefix cache helps little), then prices each destination. The dialed strings
//! are read into memory first, so that a profile of this run is the classification and nothing else.
//! `cargo run --release -p numbering --example cdr_dialed -- <cdr.csv> [classify|both|dump]`
//! (`dump` prints every destination and its tariff, one line each, to compare two builds with `diff`.)
//!
//! A first pass with a throwaway `Numbering` (`warm_one`) builds what is built once per process (the
//! per-calling-code libphonenumber databases, lookup indexes), so that the measured pass (`classify_one`,
//! with a fresh instance and so an empty prefix cache) is the steady state of a long run.
//! For instructions per call: `valgrind --tool=callgrind target/release/examples/cdr_dialed f.csv both`,
//! then `callgrind_annotate --inclusive=yes` and divide the lines of `classify_one` and `tariff_one` by the
//! number of numbers.

use std::hint::black_box;

use numbering::{Destination, Numbering, Tariff};

/// The third field of a CDR line (`dst`), without its quotes. Asterisk quotes every text field; the first
/// three (accountcode, src, dst) hold no commas.
fn dialed(line: &str) -> Option<&str> {
    let field = line.split(',').nth(2)?;
    Some(field.trim_matches('"'))
}

#[inline(never)]
fn warm_one(n: &Numbering, s: &str) -> numbering::RiskTier {
    n.classify(s).risk
}

#[inline(never)]
fn classify_one(n: &Numbering, s: &str) -> Destination {
    n.classify(s)
}

#[inline(never)]
fn tariff_one<'a>(n: &'a Numbering, d: &Destination) -> Option<&'a Tariff> {
    n.tariff(d)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: cdr_dialed <cdr.csv> [classify|both|dump]");
        std::process::exit(2);
    };
    let mode = args.next().unwrap_or_else(|| "both".into());
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {path}: {e}");
            std::process::exit(1);
        }
    };
    let numbers: Vec<String> = text
        .lines()
        .filter_map(dialed)
        .map(str::to_string)
        .collect();
    drop(text);
    if mode == "dump" {
        use std::io::Write;
        let n = Numbering::japan_defaults();
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for s in &numbers {
            let d = n.classify(s);
            let t = n.tariff(&d).map(|t| (&t.prefix, &t.name, n.cost(&d, 95)));
            if writeln!(out, "{s}\t{d:?}\t{t:?}").is_err() {
                std::process::exit(1);
            }
        }
        return;
    }
    let warm = Numbering::japan_defaults();
    for s in &numbers {
        black_box(warm_one(&warm, black_box(s)));
    }
    drop(warm);
    let n = Numbering::japan_defaults();
    let start = std::time::Instant::now();
    let mut priced = 0usize;
    let mut dests = Vec::with_capacity(if mode == "classify" { 0 } else { numbers.len() });
    for s in &numbers {
        let d = classify_one(&n, black_box(s));
        if mode == "classify" {
            black_box(d);
        } else {
            dests.push(d);
        }
    }
    let classified = start.elapsed();
    if mode != "classify" {
        for d in &dests {
            priced += usize::from(black_box(tariff_one(&n, black_box(d))).is_some());
        }
    }
    let total = start.elapsed();
    println!(
        "{} numbers, {} priced; classify {:.0} ns each, tariff {:.0} ns each (wall)",
        numbers.len(),
        priced,
        classified.as_nanos() as f64 / numbers.len().max(1) as f64,
        (total - classified).as_nanos() as f64 / numbers.len().max(1) as f64,
    );
}
