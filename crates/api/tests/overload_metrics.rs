//! Overload in `/metrics`: a running guard whose datagrams may wait only 8 ms (`[transport] max_wait_ms = 8`,
//! so OPTIONS are shed once they waited 4 ms in the socket) is flooded with bursts of OPTIONS from the PBX
//! until it sheds; the scrape shows `tollguard_guard_overload_shed_total{class="options"}` above zero, and
//! a call placed during the flood is still decided (shedding goes by each datagram's own wait: a call that
//! finds the reader caught up is never shed for the OPTIONS before it).

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
        "[transport]\nmax_wait_ms = 8\n",
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
    // Calls are shed only after OPTIONS and REGISTERs, and only when they waited themselves: a call placed
    // now is decided (refused here: the destination is premium-rate), not lost. One that arrives while the
    // reader still works through the burst may be shed (answered 503, or not at all once the second's
    // answers are spent); the PBX tries again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for attempt in 0.. {
        let call_id = format!("during-flood-{attempt}");
        r.invite_from(&r.pbx_a, "01023276123456", "205", &call_id)
            .await;
        let answer = tokio::time::timeout(
            Duration::from_millis(500),
            Rig::expect(&r.pbx_a, "SIP/2.0 403"),
        )
        .await;
        if let Ok(a) = answer
            && a.contains(&call_id)
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no call decided after the flood ({attempt} tries)"
        );
    }
}
