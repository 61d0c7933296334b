//! Tiny loop over the benchmark INVITE for instruction counting (deterministic under load):
//!
//!     CARGO_TARGET_DIR=/work/tgt/sipperf cargo build --release -p sip --example parse_loop
//!     valgrind --tool=callgrind /work/tgt/sipperf/release/examples/parse_loop 1000
//!     valgrind --tool=callgrind /work/tgt/sipperf/release/examples/parse_loop 2000
//!
//! (difference of the two totals / 1000 = instructions per message). The decode is the one of
//! bench/sip-compare (`decode_sip`): R-URI, every Via (branch, sent-by), From/To tags, Call-ID, CSeq,
//! Max-Forwards, Content-Length, Contact URIs, User-Agent.

use std::hint::black_box;

const INVITE: &[u8] = include_bytes!("../tests/fixtures/invite720.sip");

fn decode(buf: &[u8]) -> usize {
    let Ok(m) = sip::Message::parse(buf) else {
        return 0;
    };
    let mut acc = m.request_uri().map_or(0, |u| u.as_str().len());
    for v in m.via() {
        acc += v.branch().map_or(0, str::len) + v.sent_by().len();
    }
    acc += m.from_tag().map_or(0, str::len) + m.to_tag().map_or(0, str::len);
    acc += m.call_id().map_or(0, str::len);
    acc += m
        .cseq()
        .map_or(0, |c| c.seq as usize + c.method.as_str().len());
    acc += m.max_forwards().map_or(0, usize::from);
    acc += m.content_length().map_or(0, |c| c as usize);
    acc += m
        .contacts()
        .filter_map(|c| c.addr().map(|a| a.uri().as_str().len()))
        .sum::<usize>();
    acc += m.user_agent().map_or(0, str::len);
    acc
}

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
        acc = acc.wrapping_add(decode(black_box(INVITE)));
    }
    black_box(acc);
}
