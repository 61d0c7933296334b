//! Fixed-work throughput probe: classifies the benchmark's mix N times and prints the CPU time used, so that
//! the figure stays meaningful on a machine shared with other jobs (wall-clock benches are not).
//! `cargo run --release -p numbering --example throughput -- [rounds] [nocache]`

use std::hint::black_box;

fn cpu_seconds() -> f64 {
    // /proc/self/stat fields 14 and 15: user and system time in clock ticks (100 Hz on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(2000);
    let nocache = args.next().is_some_and(|s| s == "nocache");
    let mut numbers = Vec::new();
    for i in 0..1000u32 {
        let x = i.wrapping_mul(2_654_435_761) % 10_000;
        numbers.push(match i % 10 {
            0..=3 => format!("03{:04}{:04}", x, i % 10_000),
            4 | 5 => format!("090{:04}{:04}", x, i % 10_000),
            6 => format!("0120{:06}", x),
            7 => format!("010442079{:06}", x),
            8 => format!("+1212555{:04}", x),
            _ => format!("#0102327{:07}", x),
        });
    }
    let n = numbering::Numbering::japan_defaults().with_prefix_cache(!nocache);
    for s in &numbers {
        black_box(n.classify(s));
    }
    let start = cpu_seconds();
    let mut count = 0u64;
    for _ in 0..rounds {
        for s in &numbers {
            black_box(n.classify(black_box(s)));
            count += 1;
        }
    }
    let cpu = cpu_seconds() - start;
    println!(
        "{} classifications, cache {}, {:.2} s CPU, {:.0} ns each, {:.2} M/s per core",
        count,
        if nocache { "off" } else { "warm" },
        cpu,
        cpu * 1e9 / count as f64,
        count as f64 / cpu / 1e6
    );
}
