//! The trust model as a property: for random requests from outsiders (method, Route set, To-tag,
//! Request-URI host, listener, source), nothing reaches the trunk — only a decided call can, and outsiders
//! may not use the trunk-side listener — and nothing reaches an address that is neither a configured peer
//! nor the sender itself. For random requests from the PBX under a kill switch on every external class, a
//! new INVITE reaches the trunk only when `decide_call` allowed it (emergency and internal numbers), an
//! in-dialog one only inside a decided call, and a REFER never.

mod common;
use common::*;

use proptest::prelude::*;

const METHODS: &[&str] = &[
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "REGISTER",
    "OPTIONS",
    "REFER",
    "MESSAGE",
    "SUBSCRIBE",
    "NOTIFY",
    "UPDATE",
    "INFO",
    "PRACK",
];
const HOSTS: &[&str] = &[
    "127.0.0.3:5080",
    "192.0.2.99:5060",
    "127.0.0.2:5070",
    "127.0.0.1:5060",
    "127.0.0.1:5062",
    "example.net",
];
const USERS: &[&str] = &[
    "010232761234567",
    "110",
    "0312345678",
    "%23010232761234567",
    "9011972592123456",
    "205",
];
const OUTSIDERS: &[&str] = &[
    "203.0.113.66:5060",
    "198.51.100.7:5066",
    "[::ffff:203.0.113.9]:5060",
    "[2001:db8::1]:5060",
];

fn request(
    method: &str,
    user: &str,
    ruri: &str,
    routes: &[&str],
    to_tag: Option<u8>,
    n: usize,
    via: &str,
) -> String {
    let route = if routes.is_empty() {
        String::new()
    } else {
        format!(
            "Route: {}\r\n",
            routes
                .iter()
                .map(|r| format!("<sip:{r};lr>"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let tag = to_tag.map(|t| format!(";tag=t{t}")).unwrap_or_default();
    format!(
        "{method} sip:{user}@{ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {via};branch=z9hG4bKp{n}\r\n{route}Max-Forwards: 70\r\n\
From: <sip:205@example.net>;tag=f{n}\r\nTo: <sip:{user}@{ruri}>{tag}\r\nCall-ID: c{}\r\nCSeq: {} {method}\r\n\
Contact: <sip:205@{via}>\r\nUser-Agent: Yealink\r\nContent-Length: 0\r\n\r\n",
        n % 3,
        n + 1
    )
}

fn one_request() -> impl Strategy<Value = (usize, usize, usize, Vec<usize>, Option<u8>, usize)> {
    (
        0..METHODS.len(),
        0..USERS.len(),
        0..HOSTS.len(),
        prop::collection::vec(0..HOSTS.len(), 0..3),
        prop::option::of(0u8..3),
        0usize..2,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    #[test]
    fn outsiders_reach_only_the_pbx_and_themselves(
        reqs in prop::collection::vec((one_request(), 0..OUTSIDERS.len()), 1..8)
    ) {
        let mut c = core_with("");
        let pbx: SocketAddr = PBX.parse().unwrap();
        for (n, ((m, u, h, routes, tag, listener), src)) in reqs.into_iter().enumerate() {
            let routes: Vec<&str> = routes.into_iter().map(|i| HOSTS[i]).collect();
            let source = OUTSIDERS[src];
            let msg = request(METHODS[m], USERS[u], HOSTS[h], &routes, tag, n, "203.0.113.66:5060");
            let mut out = Output::default();
            c.on_inbound(&inb(&msg, source, listener), now(n as i64), &mut out);
            let from: SocketAddr = source.parse().unwrap();
            for s in &out.sends {
                prop_assert!(s.hop.dest == pbx || s.hop.dest == from,
                    "{} from {source} on listener {listener} went to {}", METHODS[m], s.hop.dest);
            }
        }
        prop_assert_eq!(c.stats.calls_decided, 0);
    }

    #[test]
    fn from_the_pbx_only_decided_calls_reach_the_trunk(
        reqs in prop::collection::vec(one_request(), 1..8)
    ) {
        let mut c = core_with("");
        c.engine_mut().set_kill_switch(BarScope::All, ClassSet::ALL_EXTERNAL, NIGHT, "test", "all barred");
        let carrier: SocketAddr = CARRIER.parse().unwrap();
        for (n, (m, u, h, routes, tag, _)) in reqs.into_iter().enumerate() {
            let routes: Vec<&str> = routes.into_iter().map(|i| HOSTS[i]).collect();
            let method = METHODS[m];
            let msg = request(method, USERS[u], HOSTS[h], &routes, tag, n, "127.0.0.2:5070");
            let mut out = Output::default();
            let (decided, blocked) = (c.stats.calls_decided, c.stats.calls_blocked);
            c.on_inbound(&inb(&msg, PBX, 1), now(n as i64), &mut out);
            let allowed_now = c.stats.calls_decided == decided + 1 && c.stats.calls_blocked == blocked;
            for s in out.sends.iter().filter(|s| s.hop.dest == carrier) {
                let sent = Message::parse(&s.data).unwrap();
                let call_id = sent.call_id().unwrap_or("").to_owned();
                let tracked = c.calls(None).iter().any(|k| k.call_id == call_id);
                let ok = match sent.method() {
                    Some(sip::Method::Invite) if sent.to_tag().is_none() => allowed_now,
                    Some(sip::Method::Invite) => tracked,
                    Some(sip::Method::Refer) => false,
                    Some(sip::Method::Ack | sip::Method::Cancel) => true,
                    Some(_) => tag.is_none(),
                    None => false,
                };
                prop_assert!(ok, "{method} to {} reached the carrier:\n{}", USERS[u], text(&s.data));
            }
        }
    }
}
