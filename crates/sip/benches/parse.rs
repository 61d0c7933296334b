//! Quick regression benchmark (no peer crates): parse a ~720-byte INVITE with SDP and read the typed headers.
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

const INVITE: &[u8] = include_bytes!("../tests/fixtures/invite720.sip");

fn parse_and_decode(c: &mut Criterion) {
    c.bench_function("sip parse+decode INVITE 720B", |b| {
        b.iter(|| {
            let m = sip::Message::parse(black_box(INVITE)).unwrap();
            let mut acc = 0usize;
            acc += m.request_uri().map_or(0, |u| u.as_str().len());
            for v in m.via() {
                acc += v.branch().map_or(0, str::len) + v.sent_by().len();
            }
            acc += m.from_tag().map_or(0, str::len) + m.to_tag().map_or(0, str::len);
            acc += m.call_id().map_or(0, str::len);
            acc += m.cseq().map_or(0, |c| c.seq as usize);
            acc += m.max_forwards().map_or(0, usize::from);
            acc += m.content_length().map_or(0, |c| c as usize);
            acc += m.contacts().count();
            acc += m.user_agent().map_or(0, str::len);
            black_box(acc)
        })
    });
}

criterion_group!(benches, parse_and_decode);
criterion_main!(benches);
