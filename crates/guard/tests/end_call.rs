//! Calls the guard does not carry are ended through the end-call adapters: a kill switch over a call the
//! redirect server allowed comes out as an end for another system, and the Kamailio adapter finds the
//! dialog by Call-ID and ends it over JSON-RPC (here against a stand-in that speaks Kamailio's RPC shapes;
//! the real Kamailio is in crates/tollguard/tests/kamailio_e2e.rs).

mod common;
use common::*;

use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const REDIRECT: &str = r#"
[[listen]]
address = "127.0.0.1:5064"
role = "redirect"
[pbx]
address = "127.0.0.2:5070"
[trunk]
address = "127.0.0.3:5080"
[[tenant]]
name = "acme"
pbx_sources = ["127.0.0.2"]
"#;

#[test]
fn a_kill_switch_hands_calls_the_querier_carries_to_the_adapters() {
    let s = Settings::parse(REDIRECT, Path::new("t.toml")).unwrap();
    let numbering = Arc::new(Numbering::from_config(&s.numbering).unwrap());
    let engine = Engine::new(s.policy.clone(), numbering.clone());
    let mut core = Core::new(Arc::new(s), engine, numbering);
    let q = invite("0312345678", "201", "127.0.0.2:5071", "e1", "z9hG4bKe1");
    let mut out = Output::default();
    core.on_inbound(&inb(&q, "127.0.0.2:5071", 0), now(0), &mut out);
    assert!(text(&one(&mut out).0).starts_with("SIP/2.0 302"));
    let ks = engine::KillSwitch {
        id: 0,
        scope: BarScope::Tenant {
            tenant: "acme".into(),
        },
        classes: ClassSet::ALL_EXTERNAL,
        since: NIGHT,
        by: "operator".into(),
        why: "weekend attack".into(),
    };
    let mut out = Output::default();
    let ended = core.operator_kill_switch(&ks, now(1_000), &mut out);
    assert_eq!(ended, vec!["e1".to_owned()]);
    assert_eq!(out.end_elsewhere.len(), 1, "{:?}", out.end_elsewhere);
    let (c, tenant) = &out.end_elsewhere[0];
    assert_eq!((c.call_id.as_str(), tenant.as_str()), ("e1", "acme"));
    assert!(c.why.contains("weekend attack"));
    assert!(
        out.sends.is_empty(),
        "the guard sends no BYE for a call it does not carry"
    );
}

/// A stand-in for Kamailio's jsonrpcs over xhttp: `dlg.dlg_list` answers one dialog for Call-ID "k1",
/// `dlg.end_dlg` records what it was asked to end.
async fn fake_kamailio(ended: Arc<Mutex<Vec<serde_json::Value>>>) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/RPC", l.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let ended = ended.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let body = loop {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len: usize = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap())
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            break body.to_owned();
                        }
                    }
                };
                let req: serde_json::Value = serde_json::from_str(&body).unwrap();
                let result = match req["method"].as_str().unwrap() {
                    "dlg.dlg_list" if req["params"][0] == "k1" => {
                        serde_json::json!([{"h_entry": 1234, "h_id": 5678, "call-id": "k1"}])
                    }
                    "dlg.dlg_list" => serde_json::json!([]),
                    "dlg.end_dlg" => {
                        ended.lock().unwrap().push(req["params"].clone());
                        serde_json::json!("ok")
                    }
                    _ => serde_json::json!(null),
                };
                let reply =
                    serde_json::json!({"jsonrpc": "2.0", "result": result, "id": 1}).to_string();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                    reply.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    url
}

#[tokio::test]
async fn the_kamailio_adapter_finds_the_dialog_by_call_id_and_ends_it() {
    let ended = Arc::new(Mutex::new(Vec::new()));
    let url = fake_kamailio(ended.clone()).await;
    let client = reqwest::Client::new();
    let n = guard::end_call::end_in_kamailio(&client, &url, "k1")
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        ended.lock().unwrap().clone(),
        vec![serde_json::json!([1234, 5678])]
    );
    let e = guard::end_call::end_in_kamailio(&client, &url, "nope")
        .await
        .unwrap_err();
    assert!(e.contains("no dialog"), "{e}");
}
