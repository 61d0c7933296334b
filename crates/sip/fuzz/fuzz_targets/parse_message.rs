//! Datagram parsing plus every typed accessor and the forwarding/response writers on whatever parses.
//! Invariant: a forward without edits reproduces the framed message byte for byte.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sip::{Forward, HeaderName, Message, ResponseBuilder};

fuzz_target!(|data: &[u8]| {
    let Ok(m) = Message::parse(data) else { return };
    let _ = (
        m.method(),
        m.request_uri(),
        m.status(),
        m.call_id(),
        m.cseq(),
        m.max_forwards(),
        m.dialog_id(),
    );
    let _ = m.transaction_key();
    for v in m.via() {
        let _ = (
            v.branch(),
            v.received(),
            v.rport(),
            v.sent_by(),
            v.host().ip(),
            v.ttl(),
        );
    }
    for c in m.contacts() {
        let _ = (c.expires(), c.addr().map(|a| (a.uri().user(), a.tag())));
    }
    let _ = m.routes().count() + m.record_routes().count();
    for a in m
        .auths(HeaderName::Authorization)
        .chain(m.auths(HeaderName::WwwAuthenticate))
        .flatten()
    {
        let _ = (
            a.username(),
            a.realm(),
            a.nonce(),
            a.response(),
            a.qop(),
            a.nc(),
            a.cnonce(),
        );
    }
    let _ = m.p_asserted_identity().count() + m.diversion().count();
    let _ = m.expires();
    if let Some(u) = m.request_uri().and_then(|u| u.as_sip().copied()) {
        let _ = (u.user_decoded(), u.host_port(), u.params().iter().count());
    }
    let mut out = Vec::new();
    Forward::new(&m).write_to(&mut out).expect("plain forward");
    assert_eq!(
        out,
        m.as_bytes(),
        "forward without edits must be byte-identical"
    );
    out.clear();
    let _ = Forward::new(&m)
        .pop_via()
        .push_via("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKfuzz")
        .record_route("<sip:192.0.2.1;lr>")
        .decrement_max_forwards()
        .fix_content_length()
        .write_to(&mut out);
    out.clear();
    if ResponseBuilder::new(&m, 403)
        .to_tag("t")
        .reason("fuzz")
        .write_to(&mut out)
        .is_ok()
    {
        Message::parse(&out).expect("our own response parses");
    }
});
