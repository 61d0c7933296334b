//! Reads Asterisk Master.csv lines with `CdrReader::next_ref`, for instruction counts and timings of the reader.
//!
//! - `read N` / `gen N`: generate `N` bench-mix lines and read them (`gen` only generates: run both under
//!   `perf stat -e instructions:u` and subtract).
//! - `file PATH [PASSES]`: time `next_ref` over a Master.csv held in memory (best of `PASSES` passes, default 5;
//!   ns per line). Under callgrind use `PASSES` = 1 and divide `next_ref`'s inclusive count by the line count.
//! - `digest PATH`: a hash of every field of every record (and `extension_from_channel` of its channel) and every
//!   line error (their `Debug` text), read twice
//!   (from memory and through a 4 KiB `BufReader`, so that lines cut by the buffer's end take the copying path),
//!   format auto-detected: compare the output of two builds to check that they read a file identically.
//! - `dump PATH`: the `Debug` text of every record and line error, one a line (to diff two builds' reading).
//! - `ext PATH`: calls `extension_from_channel` on every record's channel (callgrind: its count per call).
//!
//! `cargo run --release -p cdr --example asterisk_read -- file cdr_1000000.csv`

use std::hint::black_box;
use std::io::BufRead;

use cdr::{CdrFormat, CdrReader, ReadOptions};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().cloned().unwrap_or_else(|| "read".into());
    if matches!(mode.as_str(), "file" | "digest" | "dump" | "ext") {
        let path = args.get(1).cloned().unwrap_or_default();
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{path}: {e}");
                std::process::exit(1);
            }
        };
        match mode.as_str() {
            "digest" => digest(&data),
            "dump" => dump(&data),
            "ext" => ext(&data),
            _ => {
                let passes: u32 = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(5);
                time_file(&data, passes);
            }
        }
        return;
    }
    let lines: u64 = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(200_000);
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

fn time_file(data: &[u8], passes: u32) {
    let mut best = f64::MAX;
    for _ in 0..passes.max(1) {
        let t = std::time::Instant::now();
        let (n, sum) = read(data);
        let ns = t.elapsed().as_nanos() as f64 / n.max(1) as f64;
        best = best.min(ns);
        black_box(sum);
    }
    println!("{best:.0} ns/line ({:.2} M lines/s)", 1e3 / best);
}

fn asterisk_reader(data: &[u8]) -> CdrReader<&[u8]> {
    match CdrReader::new(data, ReadOptions::for_format(CdrFormat::AsteriskCsv)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("options: {e}");
            std::process::exit(1);
        }
    }
}

fn read(data: &[u8]) -> (u64, u64) {
    let mut reader = asterisk_reader(data);
    let (mut n, mut secs) = (0u64, 0u64);
    while let Some(item) = reader.next_ref() {
        if let Ok(r) = item {
            n += 1;
            secs += u64::from(r.billable_secs) + r.dialed.len() as u64 + r.start_ms() as u64;
        }
    }
    (n, secs)
}

/// FNV-1a, 64 bits: stable across builds and Rust versions.
struct Fnv(u64);

impl std::fmt::Write for Fnv {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        for &b in s.as_bytes() {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Ok(())
    }
}

fn digest_of<R: BufRead>(mut reader: CdrReader<R>) -> (u64, u64, u64) {
    use std::fmt::Write as _;
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    let (mut records, mut errors) = (0u64, 0u64);
    while let Some(item) = reader.next_ref() {
        match &item {
            Ok(_) => records += 1,
            Err(_) => errors += 1,
        }
        let _ = writeln!(h, "{item:?}");
        if let Ok(r) = &item {
            let _ = writeln!(h, "{:?}", cdr::extension_from_channel(r.channel));
        }
    }
    (h.0, records, errors)
}

fn open<R: BufRead>(input: R) -> CdrReader<R> {
    match CdrReader::new(input, ReadOptions::default()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("options: {e}");
            std::process::exit(1);
        }
    }
}

fn digest(data: &[u8]) {
    let (h, records, errors) = digest_of(open(data));
    println!("in memory: {h:016x} ({records} records, {errors} errors)");
    let (h, records, errors) = digest_of(open(std::io::BufReader::with_capacity(4096, data)));
    println!("4 KiB buffer: {h:016x} ({records} records, {errors} errors)");
}

fn ext(data: &[u8]) {
    let mut reader = asterisk_reader(data);
    let mut channels: Vec<String> = Vec::new();
    while let Some(item) = reader.next_ref() {
        if let Ok(r) = item {
            channels.push(r.channel.to_owned());
        }
    }
    let mut n = 0usize;
    for c in &channels {
        n += cdr::extension_from_channel(black_box(c)).map_or(0, str::len);
    }
    println!("{} channels, {n} extension bytes", channels.len());
}

fn dump(data: &[u8]) {
    let mut reader = open(data);
    while let Some(item) = reader.next_ref() {
        println!("{item:?}");
    }
}
