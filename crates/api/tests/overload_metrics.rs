//! Overload in `/metrics`: a running guard whose inbound queue is as small as the configuration allows
//! (`[transport] inbound_queue = 8`, so OPTIONS are shed once 4 messages wait for the core) is flooded with
//! OPTIONS from the PBX until it sheds; the scrape shows `tollguard_guard_overload_shed_total{class="options"}`
//! above zero, and a call placed during the flood is still decided.

mod common;

use std::time::Duration;

use common::*;

const FLOOD_BURST: usize = 500;

fn options(n: usize, from: std::net::SocketAddr) -> String {
    format!(
        "OPTIONS sip:0312345678@127.0.0.3 SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bKov{n}\r\n\
Max-Forwards: 70\r\nFrom: <sip:201@127.0.0.2>;tag=ov{n}\r\nTo: <sip:0312345678@127.0.0.3>\r\n\
Call-ID: ov{n}\r\nCSeq: 1 OPTIONS\r\nUser-Agent: bench-flood\r\nContent-Length: 0\r\n\r\n"
    )
}

/// The `class="options"` count of the overload counter in a scrape (0 when absent).
fn shed_options(text: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix("tollguard_guard_overload_shed_total{class=\"options\"} "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_that_overloads_the_guard_shows_in_the_metrics() {
    let r = rig_with_extra(
        api::ApiConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Default::default()
        },
        "[transport]\ninbound_queue = 8\n",
    )
    .await;
    let from = r.pbx_a.local_addr().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut sent = 0;
    let text = loop {
        // Bursts until one outruns the core: the socket is read far faster than messages are handled.
        for _ in 0..FLOOD_BURST {
            let _ = r
                .pbx_a
                .send_to(options(sent, from).as_bytes(), r.guard_pbx_side)
                .await;
            sent += 1;
        }
        let text = r
            .raw("GET", "/metrics", Some(&r.admin), None)
            .await
            .text()
            .await
            .unwrap();
        if shed_options(&text) > 0 {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{sent} OPTIONS sent and none shed:\n{text}"
        );
    };
    assert!(
        text.contains("# TYPE tollguard_guard_overload_shed counter"),
        "{text}"
    );
    // Calls are shed only after OPTIONS and REGISTERs: a call placed now is decided (refused here: the
    // destination is premium-rate), not lost.
    r.invite_from(&r.pbx_a, "01023276123456", "205", "during-flood")
        .await;
    let answer = Rig::expect(&r.pbx_a, "SIP/2.0 403").await;
    assert!(answer.contains("during-flood"), "{answer}");
}
