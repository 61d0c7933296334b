//! Property tests: serialise-then-parse round trips, random mutations never panic, and forwarding edits keep
//! every byte they do not name.

use proptest::prelude::*;
use sip::{Forward, Frame, Message, StreamFramer};

#[derive(Debug, Clone)]
struct Parts {
    method: String,
    user: String,
    host: String,
    port: Option<u16>,
    branch: String,
    from_tag: String,
    display: String,
    call_id: String,
    cseq: u32,
    max_forwards: u8,
    compact: bool,
    upper: bool,
    fold_via: bool,
    body: Vec<u8>,
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,15}"
}

fn parts() -> impl Strategy<Value = Parts> {
    (
        (
            prop::sample::select(vec![
                "INVITE", "REGISTER", "OPTIONS", "BYE", "MESSAGE", "X-CUSTOM",
            ]),
            "[a-zA-Z0-9+][a-zA-Z0-9.()!~*'&=+$,;?/_-]{0,12}",
            "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,8}){0,3}",
            proptest::option::of(any::<u16>()),
            token(),
            token(),
        ),
        (
            "[ -!#-\\[\\]-~]{0,20}",
            "[A-Za-z0-9.!%*_+`'~()<>:/\\[\\]?{}-]{1,30}(@[a-z0-9.]{1,20})?",
            0u32..(1 << 31),
            any::<u8>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            proptest::collection::vec(any::<u8>(), 0..200),
        ),
    )
        .prop_map(
            |(
                (m, user, host, port, branch, from_tag),
                (display, call_id, cseq, mf, compact, upper, fold_via, body),
            )| Parts {
                method: m.to_string(),
                user,
                host,
                port,
                branch,
                from_tag,
                display,
                call_id,
                cseq,
                max_forwards: mf,
                compact,
                upper,
                fold_via,
                body,
            },
        )
}

fn serialise(p: &Parts) -> Vec<u8> {
    let name = |long: &str, short: &str| {
        let n = if p.compact && !short.is_empty() {
            short.to_string()
        } else {
            long.to_string()
        };
        if p.upper { n.to_ascii_uppercase() } else { n }
    };
    let port = p.port.map(|x| format!(":{x}")).unwrap_or_default();
    let via_sep = if p.fold_via { "\r\n  " } else { " " };
    let mut s = format!("{} sip:{}@{}{} SIP/2.0\r\n", p.method, p.user, p.host, port);
    s += &format!(
        "{}: SIP/2.0/UDP{via_sep}{}{};branch=z9hG4bK{}\r\n",
        name("Via", "v"),
        p.host,
        port,
        p.branch
    );
    s += &format!(
        "{}: \"{}\" <sip:a@{}>;tag={}\r\n",
        name("From", "f"),
        p.display,
        p.host,
        p.from_tag
    );
    s += &format!("{}: <sip:{}@{}>\r\n", name("To", "t"), p.user, p.host);
    s += &format!("{}: {}\r\n", name("Call-ID", "i"), p.call_id);
    s += &format!("{}: {} {}\r\n", name("CSeq", ""), p.cseq, p.method);
    s += &format!("{}: {}\r\n", name("Max-Forwards", ""), p.max_forwards);
    s += &format!("{}: {}\r\n\r\n", name("Content-Length", "l"), p.body.len());
    let mut out = s.into_bytes();
    out.extend_from_slice(&p.body);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn serialise_then_parse_round_trips(p in parts()) {
        let bytes = serialise(&p);
        let m = Message::parse(&bytes).map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&bytes))))?;
        prop_assert_eq!(m.method().unwrap().as_str(), p.method.as_str());
        let ruri = m.request_uri().unwrap();
        let sip = ruri.as_sip().unwrap();
        prop_assert_eq!(sip.user(), Some(p.user.as_str()));
        prop_assert_eq!(sip.host().as_str(), p.host.as_str());
        prop_assert_eq!(sip.port(), p.port);
        let branch = format!("z9hG4bK{}", p.branch);
        prop_assert_eq!(m.top_via().unwrap().branch(), Some(branch.as_str()));
        prop_assert_eq!(m.top_via().unwrap().port(), p.port);
        prop_assert_eq!(m.from_tag(), Some(p.from_tag.as_str()));
        prop_assert_eq!(m.from().unwrap().display_name(), Some(p.display.as_str()));
        prop_assert_eq!(m.call_id(), Some(p.call_id.as_str()));
        prop_assert_eq!(m.cseq().unwrap().seq, p.cseq);
        prop_assert_eq!(m.max_forwards(), Some(p.max_forwards));
        prop_assert_eq!(m.body(), &p.body[..]);
        // The same bytes framed from a stream give the same message.
        match StreamFramer::default().next_frame(&bytes) {
            Ok(Frame::Message { message, len }) => {
                prop_assert_eq!(len, bytes.len());
                prop_assert_eq!(message.call_id(), m.call_id());
            }
            other => prop_assert!(false, "stream framing: {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn random_mutations_never_panic(p in parts(), edits in proptest::collection::vec((any::<u16>(), any::<u8>(), 0u8..4), 1..12)) {
        let mut bytes = serialise(&p);
        for (at, byte, kind) in edits {
            let i = usize::from(at) % (bytes.len() + 1);
            match kind {
                0 if i < bytes.len() => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                2 if i < bytes.len() => { bytes.remove(i); }
                _ => bytes.truncate(i),
            }
        }
        if let Ok(m) = Message::parse(&bytes) {
            let _ = (m.via().count(), m.contacts().count(), m.authorization(), m.expires(), m.dialog_id());
            let mut out = Vec::new();
            let _ = Forward::new(&m).pop_via().push_via("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx").decrement_max_forwards().fix_content_length().write_to(&mut out);
        }
        let mut f = StreamFramer::default();
        let mut rest: &[u8] = &bytes;
        for _ in 0..8 {
            match f.next_frame(rest) {
                Ok(Frame::KeepAlive { len }) | Ok(Frame::Message { len, .. }) => rest = &rest[len..],
                _ => break,
            }
        }
    }

    #[test]
    fn forwarding_edits_keep_every_other_byte(p in parts()) {
        let bytes = serialise(&p);
        let m = Message::parse(&bytes).unwrap();
        let mut plain = Vec::new();
        Forward::new(&m).write_to(&mut plain).unwrap();
        prop_assert_eq!(&plain, &bytes);

        let via = "SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKproxy1";
        let rr = "<sip:192.0.2.1;lr>";
        let mut out = Vec::new();
        Forward::new(&m).push_via(via).record_route(rr).write_to(&mut out).unwrap();
        let inserted = format!("Via: {via}\r\nRecord-Route: {rr}\r\n");
        let sl = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
        prop_assert_eq!(&out[..sl], &bytes[..sl]);
        prop_assert_eq!(&out[sl..sl + inserted.len()], inserted.as_bytes());
        prop_assert_eq!(&out[sl + inserted.len()..], &bytes[sl..]);
        let again = Message::parse(&out).unwrap();
        prop_assert_eq!(again.via_count(), 2);
        prop_assert_eq!(again.record_routes().count(), 1);
    }
}
