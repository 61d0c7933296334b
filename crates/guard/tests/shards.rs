//! A running guard with four SIP shards and two UDP readers per listener (SO_REUSEPORT), on loopback: calls with different Call-IDs complete through it and
//! land on more than one shard; an operator's kill switch ends the calls held on every shard (BYE to both
//! sides) before the command returns; a ban decided on one shard drops the source's packets on all of them
//! (its requests carry Call-IDs of every shard), while its emergency call still passes.

#![cfg(target_os = "linux")]

use std::net::SocketAddr;

use engine::{BarScope, ClassSet, KillSwitch};

/// Long enough for anything on loopback; only reached when something is broken.
mod net;
use net::{Party, answer};
const SHARDS: usize = 4;
/// Calls placed: with four shards and Call-IDs hashed with random keys, all on one shard has a probability
/// of 4^-15.
const CALLS: usize = 16;

struct Running {
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    access: SocketAddr,
    pbx_side: SocketAddr,
    live: net::Live,
}

impl Running {
    async fn start(pbx: SocketAddr, carrier: SocketAddr) -> Running {
        let socks: Vec<std::net::UdpSocket> = (0..2)
            .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let ports: Vec<SocketAddr> = socks.iter().map(|s| s.local_addr().unwrap()).collect();
        drop(socks);
        let (access, pbx_side) = (ports[0], ports[1]);
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("tollguard.db");
        let cfg = format!(
            "[[listen]]\naddress = \"{access}\"\nrole = \"access\"\n\n\
[[listen]]\naddress = \"{pbx_side}\"\nrole = \"pbx\"\n\n\
[pbx]\naddress = \"{pbx}\"\n\n[trunk]\naddress = \"{carrier}\"\n\n\
[transport]\nshards = {SHARDS}\nudp_readers = 2\n\n[[tenant]]\nname = \"acme\"\n\n[store]\npath = \"{}\"\n",
            db.display()
        );
        let path = dir.path().join("guard.toml");
        std::fs::write(&path, cfg).unwrap();
        let live = net::Live::start(&path).await;
        Running {
            _dir: dir,
            db,
            access,
            pbx_side,
            live,
        }
    }

    async fn stop(self) {
        self.live.stop().await;
    }
}

fn call_id_of(m: &str) -> String {
    m.split("\r\n")
        .find_map(|l| l.strip_prefix("Call-ID: "))
        .unwrap_or("")
        .to_owned()
}

/// A request of extension 201.
fn request(method: &str, uri: &str, from: SocketAddr, call_id: &str, extra: &str) -> String {
    request_of("201", method, uri, from, call_id, extra)
}

fn request_of(
    user: &str,
    method: &str,
    uri: &str,
    from: SocketAddr,
    call_id: &str,
    extra: &str,
) -> String {
    format!(
        "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bK{call_id};rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:{user}@example.net>;tag=f{call_id}\r\nTo: <{uri}>\r\nCall-ID: {call_id}\r\n\
CSeq: 1 {method}\r\nContact: <sip:{user}@{from}>\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

#[tokio::test]
async fn calls_spread_over_the_shards_and_a_kill_switch_ends_them_on_every_shard() {
    let (pbx, carrier) = (Party::on("127.0.0.2").await, Party::on("127.0.0.3").await);
    let g = Running::start(pbx.addr, carrier.addr).await;

    // The PBX places calls with different Call-IDs (of different extensions: an account may hold only a
    // few calls at once); the carrier answers each; the PBX gets each 200.
    for i in 0..CALLS {
        let id = format!("sharded-{i}");
        let ext = format!("{}", 200 + i);
        let uri = "sip:0312345678@example.net";
        let invite = request_of(&ext, "INVITE", uri, pbx.addr, &id, "");
        pbx.send(&invite, g.pbx_side).await;
        let (_, fwd, from) = carrier
            .recv_until_from("the INVITE at the carrier", |m| {
                m.starts_with("INVITE ") && call_id_of(m) == id
            })
            .await;
        carrier.send(&answer(&fwd, 200, carrier.addr), from).await;
        pbx.recv_until("the 200 at the PBX", |m| {
            m.starts_with("SIP/2.0 200") && call_id_of(m) == id
        })
        .await;
    }
    let s = g
        .live
        .wait_status("every call in progress", |s| s.calls_in_progress == CALLS)
        .await;
    assert_eq!(s.calls_per_shard.len(), SHARDS, "{s:?}");
    let busy = s.calls_per_shard.iter().filter(|n| **n > 0).count();
    assert!(
        busy > 1,
        "the calls must spread over the shards: {:?}",
        s.calls_per_shard
    );
    assert_eq!(s.stats.calls_decided, CALLS as u64, "{:?}", s.stats);
    assert_eq!(g.live.handle.calls(None).await.unwrap().len(), CALLS);

    // An operator bars acme: every call on every shard ends, its BYEs sent before the command returns.
    let store = store::Store::open(&g.db).unwrap();
    store
        .put_kill_switch(&KillSwitch {
            id: 0,
            scope: BarScope::Tenant {
                tenant: "acme".into(),
            },
            classes: ClassSet::ALL_EXTERNAL,
            since: 0,
            by: "token:ops1".into(),
            why: "PBX compromised".into(),
        })
        .unwrap();
    let report = g.live.handle.sync_store().await.unwrap();
    assert_eq!(report.kill_switches_set, 1);
    let mut ended = report.calls_ended.clone();
    ended.sort();
    let mut placed: Vec<String> = (0..CALLS).map(|i| format!("sharded-{i}")).collect();
    placed.sort();
    assert_eq!(ended, placed, "every shard ended its calls");
    for (side, who) in [(&carrier, "carrier"), (&pbx, "PBX")] {
        let mut byes = std::collections::BTreeSet::new();
        while byes.len() < CALLS {
            let (_, bye) = side
                .recv_until(&format!("a BYE at the {who}"), |m| m.starts_with("BYE "))
                .await;
            byes.insert(call_id_of(&bye));
        }
        assert_eq!(byes.into_iter().collect::<Vec<_>>(), placed, "{who}");
    }
    assert!(g.live.handle.calls(None).await.unwrap().is_empty());

    // Barred: a new international call is refused; an emergency call still passes.
    let m = request(
        "INVITE",
        "sip:01023276123456@example.net",
        pbx.addr,
        "barred",
        "",
    );
    pbx.send(&m, g.pbx_side).await;
    pbx.recv_until("the refusal at the PBX", |m| {
        m.starts_with("SIP/2.0 4") && call_id_of(m) == "barred"
    })
    .await;
    let m = request("INVITE", "sip:110@example.net", pbx.addr, "em-110", "");
    pbx.send(&m, g.pbx_side).await;
    carrier
        .recv_until("the 110 call at the carrier", |m| {
            m.starts_with("INVITE sip:110@") && call_id_of(m) == "em-110"
        })
        .await;
    g.stop().await;
}

#[tokio::test]
async fn a_ban_decided_on_one_shard_drops_the_source_on_every_shard() {
    let (pbx, carrier) = (Party::on("127.0.0.2").await, Party::on("127.0.0.3").await);
    let g = Running::start(pbx.addr, carrier.addr).await;
    let scanner = Party::on("127.0.0.9").await;
    let scan = request(
        "OPTIONS",
        "sip:100@example.net",
        scanner.addr,
        "scan-0",
        "User-Agent: friendly-scanner\r\n",
    );
    scanner.send(&scan, g.access).await;
    g.live
        .wait_status("the scanner is banned", |s| {
            s.stats.scanners_banned == 1 && s.bans_active == 1
        })
        .await;

    // Its later requests carry Call-IDs that hash to every shard: each shard drops them.
    const AFTER: u64 = 24;
    for i in 0..AFTER {
        let m = request(
            "REGISTER",
            "sip:example.net",
            scanner.addr,
            &format!("after-ban-{i}"),
            "",
        );
        scanner.send(&m, g.access).await;
    }
    g.live
        .wait_status("every later request dropped", |s| {
            s.stats.dropped_banned == AFTER
        })
        .await;
    // Every one was dropped (counted): none reached the PBX. Its emergency call passes the ban.
    let m = request(
        "INVITE",
        "sip:110@example.net",
        scanner.addr,
        "em-banned",
        "",
    );
    scanner.send(&m, g.access).await;
    let (before, _) = pbx
        .recv_until("the banned source's 110 call at the PBX", |m| {
            call_id_of(m) == "em-banned"
        })
        .await;
    let ids: Vec<String> = before.iter().map(|m| call_id_of(m)).collect();
    assert!(
        ids.iter().all(|id| !id.starts_with("after-ban")),
        "a banned request passed: {ids:?}"
    );
    assert_eq!(g.live.status().await.stats.emergency_from_banned, 1);
    g.stop().await;
}
