//! Throughput of the Asterisk Master.csv reader (lines/s) on generator output (the benchmark mix).

use std::hint::black_box;

use cdr::{CdrFormat, CdrReader, ReadOptions};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const LINES: u64 = 200_000;

fn bench(c: &mut Criterion) {
    let mut data = Vec::new();
    cdr::synth::write_bench_mix(1, LINES, &mut data).expect("generate");
    let mut group = c.benchmark_group("asterisk_master_csv");
    group.throughput(Throughput::Elements(LINES));
    group.sample_size(20);
    group.bench_function("next_ref (borrowed)", |b| {
        b.iter(|| {
            let mut reader =
                CdrReader::new(&data[..], ReadOptions::for_format(CdrFormat::AsteriskCsv))
                    .expect("opts");
            let mut secs = 0u64;
            while let Some(item) = reader.next_ref() {
                if let Ok(r) = item {
                    secs += u64::from(r.billable_secs) + r.dialed.len() as u64;
                }
            }
            black_box(secs)
        })
    });
    group.bench_function("iterator (owned)", |b| {
        b.iter(|| {
            let reader = CdrReader::new(&data[..], ReadOptions::for_format(CdrFormat::AsteriskCsv))
                .expect("opts");
            black_box(
                reader
                    .filter_map(Result::ok)
                    .map(|r| u64::from(r.billable_secs))
                    .sum::<u64>(),
            )
        })
    });
    group.bench_function("auto-detect + next_ref", |b| {
        b.iter(|| {
            let mut reader = CdrReader::new(&data[..], ReadOptions::default()).expect("opts");
            let mut n = 0u64;
            while let Some(item) = reader.next_ref() {
                n += u64::from(item.is_ok());
            }
            black_box(n)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
