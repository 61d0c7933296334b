//! Classification throughput with a warm prefix cache and without it (every number through libphonenumber).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use numbering::Numbering;
use std::hint::black_box;

/// A realistic mix as a Japanese PBX trunk sees it: mostly domestic, some international, a few tricks.
fn workload() -> Vec<String> {
    let mut v = Vec::new();
    for i in 0..1000u32 {
        let x = i.wrapping_mul(2_654_435_761) % 10_000;
        v.push(match i % 10 {
            0..=3 => format!("03{:04}{:04}", x, i % 10_000),
            4 | 5 => format!("090{:04}{:04}", x, i % 10_000),
            6 => format!("0120{:06}", x),
            7 => format!("010442079{:06}", x),
            8 => format!("+1212555{:04}", x),
            _ => format!("#0102327{:07}", x),
        });
    }
    v
}

fn bench(c: &mut Criterion) {
    let numbers = workload();
    let mut g = c.benchmark_group("classify");
    g.throughput(Throughput::Elements(numbers.len() as u64));
    let cached = Numbering::japan_defaults();
    for n in &numbers {
        black_box(cached.classify(n));
    }
    g.bench_function("mixed_1000_cache_warm", |b| {
        b.iter(|| {
            for n in &numbers {
                black_box(cached.classify(black_box(n)));
            }
        })
    });
    let uncached = Numbering::japan_defaults().with_prefix_cache(false);
    g.bench_function("mixed_1000_no_cache", |b| {
        b.iter(|| {
            for n in &numbers {
                black_box(uncached.classify(black_box(n)));
            }
        })
    });
    let intl: Vec<String> = numbers
        .iter()
        .filter(|n| n.starts_with("010") || n.starts_with('+'))
        .cloned()
        .collect();
    g.throughput(Throughput::Elements(intl.len() as u64));
    g.bench_function("international_only_cache_warm", |b| {
        b.iter(|| {
            for n in &intl {
                black_box(cached.classify(black_box(n)));
            }
        })
    });
    g.bench_function("international_only_no_cache", |b| {
        b.iter(|| {
            for n in &intl {
                black_box(uncached.classify(black_box(n)));
            }
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
