//! Quick regression benchmark (no peer crates): parse a ~720-byte INVITE with SDP and read the typed headers.
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

const INVITE: &[u8] = include_bytes!("../tests/fixtures/invite720.sip");

include!("common/guard_decode.rs");

fn parse_and_decode(c: &mut Criterion) {
    c.bench_function("sip parse+decode INVITE 720B", |b| {
        b.iter(|| black_box(decode_sip(black_box(INVITE))))
    });
}

criterion_group!(benches, parse_and_decode);
criterion_main!(benches);
