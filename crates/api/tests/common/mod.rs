//! A real guard (UDP listeners on loopback, two tenants, a store in a temporary folder) with the operator
//! API in front of it on a free loopback port, and the little SIP peers the tests need: two PBXs (tenant
//! "acme" sends from 127.0.0.2, tenant "beta" from 127.0.0.4) and a carrier on 127.0.0.3.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::net::UdpSocket;

pub struct Rig {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub admin: String,
    pub handle: guard::GuardHandle,
    pub store_path: PathBuf,
    pub pbx_a: UdpSocket,
    pub pbx_b: UdpSocket,
    pub carrier: UdpSocket,
    /// The guard's listener for the PBX side (where PBXs send their outbound calls).
    pub guard_pbx_side: SocketAddr,
    pub client: reqwest::Client,
    stop_api: Option<tokio::sync::oneshot::Sender<()>>,
    stop_guard: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(s) = self.stop_api.take() {
            let _ = s.send(());
        }
        if let Some(s) = self.stop_guard.take() {
            let _ = s.send(());
        }
    }
}

fn free_udp(ip: &str) -> u16 {
    std::net::UdpSocket::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn rig() -> Rig {
    rig_with(api::ApiConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    })
    .await
}

pub async fn rig_with(api_config: api::ApiConfig) -> Rig {
    rig_with_extra(api_config, "").await
}

/// The rig with more of the guard's configuration (`extra`: TOML sections, e.g. `[transport]`).
pub async fn rig_with_extra(mut api_config: api::ApiConfig, extra: &str) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let pbx_a = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    let pbx_b = UdpSocket::bind("127.0.0.4:0").await.unwrap();
    let carrier = UdpSocket::bind("127.0.0.3:0").await.unwrap();
    let (access, pbx_side) = (free_udp("127.0.0.1"), free_udp("127.0.0.1"));
    let store_path = dir.path().join("guard.db");
    let config = format!(
        r#"
[[listen]]
address = "127.0.0.1:{access}"
role = "access"

[[listen]]
address = "127.0.0.1:{pbx_side}"
role = "pbx"

[pbx]
address = "{pbx}"

[trunk]
address = "{carrier}"

[[tenant]]
name = "acme"
pbx_sources = ["127.0.0.2/32"]

[[tenant]]
name = "beta"
pbx_sources = ["127.0.0.4/32"]

[store]
path = "{store}"

[api]
listen = "127.0.0.1:0"

{extra}
"#,
        pbx = pbx_a.local_addr().unwrap(),
        carrier = carrier.local_addr().unwrap(),
        store = store_path.display(),
    );
    let config_path = dir.path().join("tollguard.toml");
    std::fs::write(&config_path, config).unwrap();
    api_config.config_path = Some(config_path.clone());
    let guard = guard::Guard::start(&config_path).await.unwrap();
    let handle = guard.handle();
    let (stop_guard, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(guard.run(async move {
        let _ = rx.await;
    }));
    let admin = api::bootstrap_admin(&api_config, &store_path)
        .unwrap()
        .expect("a first admin token");
    let bound = api::bind(api_config, handle.clone(), store_path.clone())
        .await
        .unwrap();
    // The guard decides at the top of its loop whether anyone listens to its events: one command makes it
    // look again now that the API has subscribed (see the report: the guard should check per batch).
    handle.status().await.unwrap();
    let url = format!("http://{}", bound.local_addr());
    let (stop_api, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(bound.run(async move {
        let _ = rx.await;
    }));
    Rig {
        dir,
        url,
        admin,
        handle,
        store_path,
        pbx_a,
        pbx_b,
        carrier,
        guard_pbx_side: format!("127.0.0.1:{pbx_side}").parse().unwrap(),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
        stop_api: Some(stop_api),
        stop_guard: Some(stop_guard),
    }
}

impl Rig {
    /// Stops the guard (the API keeps running): what a querier sees when tollguard's core is gone.
    pub async fn stop_guard(&mut self) {
        if let Some(s) = self.stop_guard.take() {
            let _ = s.send(());
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.handle.status().await.is_ok() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the guard did not stop"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn store(&self) -> store::Store {
        store::Store::open(&self.store_path).unwrap()
    }

    /// A request with a token; returns status and JSON body (Null when empty or not JSON).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let r = self.raw(method, path, token, body).await;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or_default())
    }

    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let mut rb = self.client.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{path}", self.url),
        );
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        rb.send().await.unwrap()
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, serde_json::Value) {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn post(
        &self,
        path: &str,
        token: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        self.call("POST", path, Some(token), Some(body)).await
    }

    /// A new token made by the admin.
    pub async fn token(&self, role: &str, tenants: Option<&[&str]>) -> String {
        let (s, b) = self
            .post(
                "/api/v1/tokens",
                &self.admin,
                serde_json::json!({"role": role, "tenants": tenants, "label": format!("{role} test")}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        b["token"].as_str().unwrap().to_owned()
    }

    /// Sends an outbound INVITE from a PBX through the guard.
    pub async fn invite_from(&self, pbx: &UdpSocket, dialed: &str, from: &str, call_id: &str) {
        let me = pbx.local_addr().unwrap();
        let msg = format!(
            "INVITE sip:{dialed}@example.net SIP/2.0\r\n\
Via: SIP/2.0/UDP {me};branch=z9hG4bK{call_id};rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:{from}@example.net>;tag=f{call_id}\r\n\
To: <sip:{dialed}@example.net>\r\n\
Call-ID: {call_id}\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:{from}@{me}>\r\n\
User-Agent: Yealink SIP-T46S\r\n\
Content-Length: 0\r\n\r\n"
        );
        pbx.send_to(msg.as_bytes(), self.guard_pbx_side)
            .await
            .unwrap();
    }

    /// Receives on a socket until a message starting with `prefix` arrives (deadline 10 s).
    pub async fn expect(sock: &UdpSocket, prefix: &str) -> String {
        let mut buf = vec![0u8; 65_536];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let r = tokio::time::timeout_at(deadline, sock.recv_from(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("no message starting with {prefix:?} within 10 s"))
                .unwrap();
            let text = String::from_utf8_lossy(&buf[..r.0]).into_owned();
            if text.starts_with(prefix) {
                return text;
            }
        }
    }

    /// Puts a call of `pbx`'s tenant in progress: INVITE through the guard to the carrier, answered 200.
    pub async fn call_in_progress(&self, pbx: &UdpSocket, call_id: &str) {
        self.invite_from(pbx, "0312345678", "205", call_id).await;
        let inv = Self::expect(&self.carrier, "INVITE ").await;
        let ok = answer(&inv, 200, "car1");
        self.carrier
            .send_to(ok.as_bytes(), self.guard_pbx_side)
            .await
            .unwrap();
        Self::expect(pbx, "SIP/2.0 200").await;
    }
}

/// A response to a request, copying its Via, From, To, Call-ID and CSeq.
pub fn answer(req: &str, code: u16, to_tag: &str) -> String {
    let mut s = format!("SIP/2.0 {code} OK\r\n");
    for line in req.split("\r\n") {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("via:")
            || lower.starts_with("from:")
            || lower.starts_with("call-id:")
            || lower.starts_with("cseq:")
        {
            s.push_str(line);
            s.push_str("\r\n");
        } else if lower.starts_with("to:") {
            s.push_str(&format!("{line};tag={to_tag}\r\n"));
        }
    }
    s.push_str("Contact: <sip:0312345678@127.0.0.3>\r\nContent-Length: 0\r\n\r\n");
    s
}

/// A decision as the engine would make it, for alerts written straight into the store.
pub fn decision(rule: &str, reason: &str) -> engine::Decision {
    engine::Decision {
        at: 1_737_208_800_000,
        rule: rule.parse().expect("a rule name"),
        level: engine::Level::Critical,
        action: engine::Action::Block { sip_status: 403 },
        shadow: false,
        subject: engine::Subject::Account {
            tenant: "x".into(),
            account: "205".into(),
        },
        country: None,
        call: None,
        measured: 12,
        threshold: 10,
        unit: engine::Unit::Calls,
        window_secs: 60,
        call_id: Some("c1".into()),
        calls: ["c1"].into_iter().collect(),
        at_stake: None,
        reason: reason.into(),
    }
}
