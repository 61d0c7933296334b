//! Decode cost per packet: a HEPv3 INVITE of about 720 bytes as Kamailio `siptrace` sends it, and the same
//! message in HEP v2.
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

const INVITE: &[u8] = include_bytes!("../../sip/tests/fixtures/invite720.sip");

fn packet(version: hep::Version) -> Vec<u8> {
    let v3 = version == hep::Version::V3;
    let p = hep::Packet {
        version,
        src: "198.51.100.23:5060".parse().unwrap(),
        dst: "203.0.113.5:5060".parse().unwrap(),
        transport: hep::Transport::Udp,
        timestamp: Some(hep::Timestamp {
            secs: 1_700_000_000,
            micros: 123_456,
        }),
        capture_id: Some(2001),
        auth_key: v3.then_some(&b"myHep"[..]),
        payload_kind: hep::PayloadKind::Sip,
        payload: hep::Payload::Raw(INVITE),
        correlation_id: None,
    };
    let mut wire = Vec::new();
    hep::encode(&p, &mut wire).unwrap();
    wire
}

fn decode(c: &mut Criterion) {
    let v3 = packet(hep::Version::V3);
    let v2 = packet(hep::Version::V2);
    c.bench_function("hep decode v3 INVITE 720B", |b| {
        b.iter(|| black_box(hep::decode(black_box(&v3))).is_ok())
    });
    c.bench_function("hep decode v2 INVITE 720B", |b| {
        b.iter(|| black_box(hep::decode(black_box(&v2))).is_ok())
    });
}

criterion_group!(benches, decode);
criterion_main!(benches);
