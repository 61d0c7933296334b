//! Tiny loop over the benchmark INVITE for instruction counting (deterministic under load):
//!
//!     CARGO_TARGET_DIR=/work/tgt/sipperf cargo build --release -p sip --example parse_loop
//!     valgrind --tool=callgrind /work/tgt/sipperf/release/examples/parse_loop 1000
//!     valgrind --tool=callgrind /work/tgt/sipperf/release/examples/parse_loop 2000
//!
//! (difference of the two totals / 1000 = instructions per message). The decode is benches/common/guard_decode.rs,
//! the same as the criterion bench and bench/sip-compare.

use std::hint::black_box;

const INVITE: &[u8] = include_bytes!("../tests/fixtures/invite720.sip");

include!("../benches/common/guard_decode.rs");

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    if n == 0 {
        // `parse_loop 0`: sizes of what a parse returns (moved on every return).
        println!(
            "Message {} B, NameAddr {} B, Uri {} B, Via {} B",
            std::mem::size_of::<sip::Message<'_>>(),
            std::mem::size_of::<sip::NameAddr<'_>>(),
            std::mem::size_of::<sip::Uri<'_>>(),
            std::mem::size_of::<sip::Via<'_>>()
        );
    }
    let mut acc = 0usize;
    for _ in 0..n {
        acc = acc.wrapping_add(decode_sip(black_box(INVITE)));
    }
    black_box(acc);
}
