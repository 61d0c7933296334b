//! The running guard (`tollguard serve`, real UDP sockets on loopback, its store and API) sees a phone log in
//! with the Yealink default password and the PBX accept it: the `weak_password` alert and the account's kill
//! switch are stored and listed by `tollguard ctl`, so that an operator can lift it after the password change.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use audit::digest::{Algorithm, DigestParams};
use common::*;
use serde_json::Value;

/// Each header line of `msg` named `name` (case-insensitive), values only.
fn headers<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    msg.lines()
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
        .collect()
}

fn recv(sock: &UdpSocket) -> String {
    let mut buf = [0u8; 4096];
    let n = sock
        .recv(&mut buf)
        .expect("a message within the socket timeout");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn ctl_json(g: &Guard, token: &str, args: &[&str]) -> Value {
    let o = g.ctl(token, args);
    assert!(
        o.status.success(),
        "ctl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn an_accepted_vendor_default_login_is_alerted_and_barred_through_the_store() {
    let (ga, gp, pbx_port, car) = guard_ports();
    let extra = "[[tenant]]\nname = \"acme\"\npbx_sources = [\"127.0.0.2\"]\n\n[api]\nlisten = \"127.0.0.1:0\"\n";
    let g = Guard::start(&config(ga, gp, pbx_port, car, "udp", extra));
    let admin = g.admin_token();
    let pbx = UdpSocket::bind(("127.0.0.2", pbx_port)).unwrap();
    let phone = UdpSocket::bind("127.0.0.9:0").unwrap();
    for s in [&pbx, &phone] {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    let me = phone.local_addr().unwrap();

    let d = DigestParams {
        algorithm: Algorithm::Md5,
        username: "205".into(),
        realm: "asterisk".into(),
        nonce: "5f1e9a77".into(),
        method: "REGISTER".into(),
        uri: "sip:127.0.0.2".into(),
        qop: Some("auth".into()),
        nc: "00000001".into(),
        cnonce: "0a4f113b".into(),
        opaque: None,
    };
    let register = format!(
        "REGISTER sip:127.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKweak1;rport\r\nMax-Forwards: 70\r\n\
From: <sip:205@127.0.0.2>;tag=w1\r\nTo: <sip:205@127.0.0.2>\r\nCall-ID: weak-1\r\nCSeq: 2 REGISTER\r\n\
Contact: <sip:205@{me}>\r\nAuthorization: {}\r\nUser-Agent: Yealink SIP-T46S\r\nContent-Length: 0\r\n\r\n",
        d.authorization("admin")
    );
    phone
        .send_to(register.as_bytes(), ("127.0.0.1", ga))
        .unwrap();

    // The PBX accepts it.
    let req = recv(&pbx);
    assert!(req.starts_with("REGISTER "), "{req}");
    let mut ok = String::from("SIP/2.0 200 OK\r\n");
    for v in headers(&req, "Via") {
        ok.push_str(&format!("Via: {v}\r\n"));
    }
    for h in ["From", "To", "Call-ID", "CSeq", "Contact"] {
        let v = headers(&req, h).first().copied().unwrap_or_default();
        let v = if h == "To" {
            format!("{v};tag=pbx1")
        } else {
            v.to_owned()
        };
        ok.push_str(&format!("{h}: {v}\r\n"));
    }
    ok.push_str("Expires: 3600\r\nContent-Length: 0\r\n\r\n");
    let guard_pbx_side = headers(&req, "Via")
        .first()
        .and_then(|v| v.split_whitespace().nth(1))
        .and_then(|a| a.split(';').next())
        .map(str::to_owned)
        .expect("the guard's Via");
    pbx.send_to(ok.as_bytes(), guard_pbx_side.as_str()).unwrap();
    let back = recv(&phone);
    assert!(back.starts_with("SIP/2.0 200"), "{back}");

    // The alert and the kill switch reach the store and the API (the store writer runs in batches).
    let deadline = Instant::now() + Duration::from_secs(15);
    let (alert, switch) = loop {
        let alerts = ctl_json(
            &g,
            &admin,
            &["alerts", "--rule", "weak_password", "--format", "json"],
        );
        let switches = ctl_json(&g, &admin, &["kill-switch", "list", "--format", "json"]);
        let a = alerts.as_array().and_then(|a| a.first()).cloned();
        let s = switches.as_array().and_then(|s| s.first()).cloned();
        if let (Some(a), Some(s)) = (a, s) {
            break (a, s);
        }
        assert!(
            Instant::now() < deadline,
            "alerts {alerts:#}\nswitches {switches:#}\n{}",
            g.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(alert["tenant"], "acme");
    assert_eq!(alert["level"], "critical");
    let reason = alert["reason"].as_str().unwrap();
    assert!(
        reason.contains("ext 205 of acme logged in with a vendor-default password"),
        "{reason}"
    );
    assert!(reason.contains("barred until then"), "{reason}");
    let text = switch.to_string();
    assert!(
        text.contains("205") && text.contains("international"),
        "{switch:#}"
    );

    // An operator lifts it after the password change.
    let o = g.ctl(
        &admin,
        &[
            "kill-switch",
            "off",
            "--scope",
            "account:acme/205",
            "--why",
            "password changed",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let switches = ctl_json(&g, &admin, &["kill-switch", "list", "--format", "json"]);
    assert_eq!(switches.as_array().map(Vec::len), Some(0), "{switches:#}");
}
