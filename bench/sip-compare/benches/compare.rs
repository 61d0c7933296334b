//! Parse + typed decode of a ~720-byte INVITE: `sip` against `rsipstack` and `sipx-sip`, in the same run.
//! Run: cd bench/sip-compare && cargo bench
use criterion::{Criterion, criterion_group, criterion_main};
use sip_compare::{INVITE, decode_rsipstack, decode_sip, decode_sipx};
use std::hint::black_box;

fn compare(c: &mut Criterion) {
    let mut g = c.benchmark_group("invite720_parse_decode");
    g.bench_function("sip", |b| b.iter(|| decode_sip(black_box(INVITE))));
    g.bench_function("rsipstack", |b| {
        b.iter(|| decode_rsipstack(black_box(INVITE)))
    });
    let bytes = bytes::Bytes::from_static(INVITE);
    g.bench_function("sipx-sip", |b| b.iter(|| decode_sipx(black_box(&bytes))));
    g.finish();
}

criterion_group!(benches, compare);
criterion_main!(benches);
