//! Property tests of the core: whatever arrives (random bytes, or valid requests and responses with bytes
//! flipped, cut or inserted), the core never panics, and anything it sends is a message `sip` can parse.

use std::path::Path;
use std::sync::Arc;

use engine::Engine;
use guard::config::TransportKind;
use guard::transport::Inbound;
use guard::{Core, Now, Output, Settings};
use numbering::Numbering;
use proptest::prelude::*;

const CONFIG: &str = "[[listen]]\naddress = \"127.0.0.1:5060\"\nrole = \"access\"\n[[listen]]\naddress = \"127.0.0.1:5062\"\nrole = \"pbx\"\n\
[pbx]\naddress = \"127.0.0.2:5070\"\n[trunk]\naddress = \"127.0.0.3:5080\"\n";

const SEEDS: &[&str] = &[
    "INVITE sip:01023276123456@example.net SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKa;rport\r\n\
Route: <sip:127.0.0.1:5062;lr>\r\nMax-Forwards: 70\r\nFrom: <sip:205@x>;tag=1\r\nTo: <sip:0102@x>\r\nCall-ID: c1\r\n\
CSeq: 1 INVITE\r\nContact: <sip:205@127.0.0.2:5070>\r\nP-Asserted-Identity: <sip:205@x>\r\nContent-Length: 4\r\n\r\nv=0\n",
    "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKtg0000000000000001, SIP/2.0/UDP 198.51.100.7:5066;branch=z9hG4bKb;received=198.51.100.7;rport=5066\r\n\
From: <sip:1@x>;tag=1\r\nTo: <sip:2@x>;tag=2\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContact: <sip:2@127.0.0.2>\r\nContent-Length: 0\r\n\r\n",
    "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7:5066;branch=z9hG4bKr\r\nMax-Forwards: 0\r\n\
From: <sip:201@x>;tag=r\r\nTo: <sip:201@x>\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\n\
Authorization: Digest username=\"201\", realm=\"x\", nonce=\"n\", uri=\"sip:x\", response=\"0\"\r\nContent-Length: 0\r\n\r\n",
];

fn core() -> Core {
    let s = Settings::parse(CONFIG, Path::new("p.toml")).unwrap();
    let n = Arc::new(Numbering::from_config(&s.numbering).unwrap());
    let e = Engine::new(s.policy.clone(), n.clone());
    Core::new(Arc::new(s), e, n)
}

fn feed(c: &mut Core, data: Vec<u8>, from: &str, listener: usize, t: i64) {
    let mut out = Output::default();
    let inb = Inbound {
        data,
        source: from.parse().unwrap(),
        listener,
        transport: TransportKind::Udp,
        conn: None,
        received: std::time::Instant::now(),
    };
    let now = Now {
        wall: 1_736_949_600_000 + t,
        engine: 1_736_949_600_000 + t,
    };
    c.on_inbound(&inb, now, &mut out);
    c.expire(now, &mut out);
    for s in &out.sends {
        assert!(
            sip::Message::parse(&s.data).is_ok(),
            "unparsable output: {}",
            String::from_utf8_lossy(&s.data)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600), listener in 0usize..3) {
        let mut c = core();
        feed(&mut c, data, "198.51.100.7:5066", listener, 0);
    }

    #[test]
    fn mutated_messages_never_panic(
        seed in 0usize..SEEDS.len(),
        edits in proptest::collection::vec((any::<u16>(), any::<u8>(), 0u8..3), 1..8),
        from_pbx in any::<bool>(),
    ) {
        let mut data = SEEDS[seed].as_bytes().to_vec();
        for (pos, byte, kind) in edits {
            if data.is_empty() { break; }
            let i = usize::from(pos) % data.len();
            match kind {
                0 => data[i] = byte,
                1 => { data.remove(i); }
                _ => data.insert(i, byte),
            }
        }
        let mut c = core();
        let (from, listener) = if from_pbx { ("127.0.0.2:5070", 1) } else { ("198.51.100.7:5066", 0) };
        // The same input twice: the retransmission paths too.
        feed(&mut c, data.clone(), from, listener, 0);
        feed(&mut c, data, from, listener, 600);
    }
}
