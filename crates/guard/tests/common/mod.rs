#![allow(dead_code, unused_imports)]
//! The proxy core without sockets, shared by the core and adversary tests: messages in, messages out. Addresses: guard access listener
//! 127.0.0.1:5060 (UDP), guard trunk-side listener 127.0.0.1:5062 (UDP, role pbx), PBX 127.0.0.2:5070,
//! carrier 127.0.0.3:5080, a phone 198.51.100.7:5066, a scanner 203.0.113.9:5099.

pub use std::net::SocketAddr;
pub use std::path::Path;
pub use std::sync::Arc;

pub use engine::{BarScope, ClassSet, Engine};
pub use guard::config::TransportKind;
pub use guard::transport::Inbound;
pub use guard::{Core, Now, Output, Persist, Settings};
pub use numbering::Numbering;
pub use sip::Message;

pub const CONFIG: &str = r#"
[[listen]]
address = "127.0.0.1:5060"
role = "access"
[[listen]]
address = "127.0.0.1:5062"
role = "pbx"
[pbx]
address = "127.0.0.2:5070"
[trunk]
address = "127.0.0.3:5080"
[[tenant]]
name = "acme"
"#;

pub const PHONE: &str = "198.51.100.7:5066";
pub const SCANNER: &str = "203.0.113.9:5099";
pub const PBX: &str = "127.0.0.2:5070";
pub const CARRIER: &str = "127.0.0.3:5080";
/// 2025-01-15 23:00 JST, a Wednesday night.
pub const NIGHT: i64 = 1_736_949_600_000;

pub fn core_with(extra: &str) -> Core {
    let s = Settings::parse(&format!("{extra}\n{CONFIG}"), Path::new("t.toml")).unwrap();
    let numbering = Arc::new(Numbering::from_config(&s.numbering).unwrap());
    let engine = Engine::new(s.policy.clone(), numbering.clone());
    Core::new(Arc::new(s), engine, numbering)
}

pub fn now(ms: i64) -> Now {
    Now {
        wall: NIGHT + ms,
        engine: NIGHT + ms,
    }
}

pub fn inb(data: &str, from: &str, listener: usize) -> Inbound {
    Inbound {
        data: data.as_bytes().to_vec(),
        source: from.parse().unwrap(),
        listener,
        transport: TransportKind::Udp,
        conn: None,
        received: std::time::Instant::now(),
    }
}

pub fn invite(
    ruri_user: &str,
    from_user: &str,
    via_host: &str,
    call_id: &str,
    branch: &str,
) -> String {
    format!(
        "INVITE sip:{ruri_user}@example.net SIP/2.0\r\n\
Via: SIP/2.0/UDP {via_host};branch={branch};rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:{from_user}@example.net>;tag=f{call_id}\r\n\
To: <sip:{ruri_user}@example.net>\r\n\
Call-ID: {call_id}\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:{from_user}@{via_host}>\r\n\
User-Agent: Yealink SIP-T46S\r\n\
Content-Length: 0\r\n\r\n"
    )
}

pub fn response_to(forwarded: &[u8], code: u16, to_tag: &str, contact: &str) -> String {
    let m = Message::parse(forwarded).unwrap();
    let mut s = format!("SIP/2.0 {code} Whatever\r\n");
    for v in m.header_all(sip::HeaderName::Via) {
        s.push_str(&format!("Via: {v}\r\n"));
    }
    s.push_str(&format!(
        "From: {}\r\nTo: {};tag={to_tag}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <{contact}>\r\nContent-Length: 0\r\n\r\n",
        m.header(sip::HeaderName::From).unwrap(),
        m.header(sip::HeaderName::To).unwrap(),
        m.call_id().unwrap(),
        m.header(sip::HeaderName::CSeq).unwrap(),
    ));
    s
}

pub fn one(out: &mut Output) -> (Vec<u8>, SocketAddr) {
    assert_eq!(
        out.sends.len(),
        1,
        "expected one message, got {:?}",
        out.sends
            .iter()
            .map(|s| String::from_utf8_lossy(&s.data).into_owned())
            .collect::<Vec<_>>()
    );
    let s = out.sends.remove(0);
    (s.data, s.hop.dest)
}

/// The INVITE forwarded (the other message must be our 100 Trying back to the sender).
pub fn forwarded_invite(out: &mut Output) -> (Vec<u8>, SocketAddr) {
    assert_eq!(out.sends.len(), 2, "expected 100 Trying and the INVITE");
    let trying = out
        .sends
        .iter()
        .position(|s| s.data.starts_with(b"SIP/2.0 100 "))
        .expect("100 Trying");
    out.sends.remove(trying);
    one(out)
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn register(user: &str, n: u32, with_auth: bool) -> String {
    let auth = if with_auth {
        format!(
            "Authorization: Digest username=\"{user}\", realm=\"pbx\", nonce=\"abc\", uri=\"sip:127.0.0.1\", response=\"00000000000000000000000000000000\"\r\n"
        )
    } else {
        String::new()
    };
    format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7:5066;branch=z9hG4bKr{user}x{n};rport\r\nMax-Forwards: 70\r\n\
From: <sip:{user}@127.0.0.1>;tag=r{n}\r\nTo: <sip:{user}@127.0.0.1>\r\nCall-ID: reg{user}{n}\r\nCSeq: {n} REGISTER\r\n\
Contact: <sip:{user}@198.51.100.7:5066>\r\n{auth}User-Agent: Zoiper\r\nContent-Length: 0\r\n\r\n"
    )
}
