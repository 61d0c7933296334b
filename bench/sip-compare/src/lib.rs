//! The message and the decode routine shared by the comparison benchmark and its sanity test: a typical
//! ~720-byte desk-phone INVITE with SDP (the same fixture as crates/sip/benches), decoded the way a guard
//! needs it (R-URI, every Via branch and sent-by, From/To tags, Call-ID, CSeq, Max-Forwards,
//! Content-Length, Contact, User-Agent), through `sip`, `rsipstack` and `sipx-sip`.

pub const INVITE: &[u8] = include_bytes!("../../../crates/sip/tests/fixtures/invite720.sip");

/// What each parser must extract; summed into a number so that nothing is optimised away.
pub fn digest(parts: &[usize]) -> usize {
    parts
        .iter()
        .fold(0usize, |a, &b| a.wrapping_mul(31).wrapping_add(b))
}

// `decode_sip`: the guard's decode, one copy for this comparison and the sip crate's own bench and example.
include!("../../../crates/sip/benches/common/guard_decode.rs");

pub fn decode_rsipstack(buf: &[u8]) -> usize {
    use rsipstack::sip::prelude::*;
    use rsipstack::sip::{Header, SipMessage};
    let msg = SipMessage::try_from(buf).expect("rsipstack parses");
    let SipMessage::Request(req) = msg else {
        panic!("request")
    };
    let mut acc = req.uri.to_string().len();
    for h in req.headers.iter() {
        if let Header::Via(v) = h {
            let t = v.typed().expect("via");
            acc += t.branch().map_or(0, |b| b.to_string().len())
                + t.uri.host_with_port.to_string().len();
        }
    }
    acc += req
        .from_header()
        .expect("from")
        .tag()
        .expect("tag")
        .map_or(0, |t| t.value().len());
    acc += req
        .to_header()
        .expect("to")
        .tag()
        .expect("tag")
        .map_or(0, |t| t.value().len());
    acc += req.call_id_header().expect("call-id").value().len();
    let c = req.cseq_header().expect("cseq").typed().expect("cseq");
    acc += c.seq as usize + c.method.to_string().len();
    acc += req
        .max_forwards_header()
        .expect("mf")
        .value()
        .trim()
        .parse::<usize>()
        .expect("mf number");
    for h in req.headers.iter() {
        if let Header::ContentLength(l) = h {
            acc += l.value().trim().parse::<usize>().expect("cl");
        }
    }
    acc += req
        .typed_contact_headers()
        .expect("contact")
        .iter()
        .map(|c| c.uri.to_string().len())
        .sum::<usize>();
    acc += req.user_agent_header().map_or(0, |u| u.value().len());
    acc
}

pub fn decode_sipx(buf: &bytes::Bytes) -> usize {
    use sipx_sip::headers::{
        CSeq, CallId, ContactValue, ContentLength, From, MaxForwards, To, Via,
    };
    let msg =
        sipx_sip::parse_datagram(buf.clone(), &sipx_sip::Limits::default()).expect("sipx parses");
    let req = msg.as_request().expect("request");
    let h = msg.headers();
    let mut acc = req.uri.to_string().len();
    for v in h.typed_all::<Via>() {
        let v = v.expect("via");
        acc += v.branch().map_or(0, <[u8]>::len) + v.host.to_string().len();
    }
    acc += h
        .typed::<From>()
        .expect("from")
        .expect("from")
        .tag()
        .map_or(0, <[u8]>::len);
    acc += h
        .typed::<To>()
        .expect("to")
        .expect("to")
        .tag()
        .map_or(0, <[u8]>::len);
    acc += h
        .typed::<CallId>()
        .expect("call-id")
        .expect("call-id")
        .0
        .len();
    let c = h.typed::<CSeq>().expect("cseq").expect("cseq");
    acc += c.sequence as usize + c.method.to_string().len();
    acc += usize::from(h.typed::<MaxForwards>().expect("mf").expect("mf").0);
    acc += h.typed::<ContentLength>().expect("cl").expect("cl").0 as usize;
    for c in h.typed_all::<ContactValue>() {
        if let ContactValue::Address(a) = c.expect("contact") {
            acc += a.uri.to_string().len();
        }
    }
    acc += h
        .get(&sipx_sip::HeaderName::UserAgent)
        .map_or(0, |u| u.value().len());
    acc
}

#[cfg(test)]
mod tests {
    #[test]
    fn all_three_decode_the_same_message() {
        let b = bytes::Bytes::from_static(super::INVITE);
        assert!(super::decode_sip(super::INVITE) > 0);
        assert!(super::decode_rsipstack(super::INVITE) > 0);
        assert!(super::decode_sipx(&b) > 0);
    }
}
