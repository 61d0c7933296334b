//! A phone on TLS reaches a PBX on UDP through the running guard (service, sockets, TLS handshake): the
//! request arrives at the PBX with the guard's `SIP/2.0/TLS`-bridged Via and a double Record-Route, and the
//! PBX's answer goes back over the phone's TLS connection. Bad TLS files are reported by the configuration.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use guard::{Guard, Settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;

fn free_tcp() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn a_tls_phone_reaches_a_udp_pbx_and_gets_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::write(dir.path().join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
    let pbx = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    let pbx_addr = pbx.local_addr().unwrap();
    let (tls_port, udp_port) = (free_tcp(), free_tcp());
    let cfg = format!(
        "[[listen]]\naddress = \"127.0.0.1:{tls_port}\"\ntransport = \"tls\"\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n\n\
[[listen]]\naddress = \"127.0.0.1:{udp_port}\"\ntransport = \"udp\"\n\n[pbx]\naddress = \"{pbx_addr}\"\n"
    );
    let path = dir.path().join("guard.toml");
    std::fs::write(&path, cfg).unwrap();
    let guard = Guard::start(&path).await.unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(guard.run(async {
        let _ = stop_rx.await;
    }));

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(("127.0.0.1", tls_port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = TlsConnector::from(Arc::new(client))
        .connect(name, tcp)
        .await
        .unwrap();
    let me = "198.51.100.7:5061";
    let invite = format!(
        "INVITE sip:201@example.net SIP/2.0\r\nVia: SIP/2.0/TLS {me};branch=z9hG4bKtls1\r\nMax-Forwards: 70\r\n\
From: <sip:100@example.net>;tag=t1\r\nTo: <sip:201@example.net>\r\nCall-ID: tls1\r\nCSeq: 1 INVITE\r\n\
Contact: <sips:100@{me}>\r\nContent-Length: 0\r\n\r\n"
    );
    tls.write_all(invite.as_bytes()).await.unwrap();

    let mut buf = vec![0u8; 65536];
    let (n, from) = tokio::time::timeout(Duration::from_secs(10), pbx.recv_from(&mut buf))
        .await
        .expect("the INVITE reaches the PBX")
        .unwrap();
    let got = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        got.starts_with("INVITE sip:201@example.net SIP/2.0"),
        "{got}"
    );
    assert!(
        got.contains(&format!("Via: SIP/2.0/UDP 127.0.0.1:{udp_port};branch=")),
        "{got}"
    );
    assert!(
        got.contains(&format!(
            "Record-Route: <sip:127.0.0.1:{udp_port};transport=udp;lr>, <sip:127.0.0.1:{tls_port};transport=tls;lr>"
        )),
        "{got}"
    );
    // The PBX answers 200 with the Vias it got.
    let m = sip::Message::parse(&buf[..n]).unwrap();
    let mut ok = String::from("SIP/2.0 200 OK\r\n");
    for v in m.header_all(sip::HeaderName::Via) {
        ok.push_str(&format!("Via: {v}\r\n"));
    }
    ok.push_str("From: <sip:100@example.net>;tag=t1\r\nTo: <sip:201@example.net>;tag=p1\r\nCall-ID: tls1\r\n\
CSeq: 1 INVITE\r\nContact: <sip:201@127.0.0.2>\r\nContent-Length: 0\r\n\r\n");
    pbx.send_to(ok.as_bytes(), from).await.unwrap();

    // Over the TLS connection: 100 Trying from the guard, then the PBX's 200.
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains("SIP/2.0 200 OK") {
        let n = tokio::time::timeout_at(deadline, tls.read(&mut buf))
            .await
            .expect("the 200 comes back over TLS")
            .unwrap();
        assert!(n > 0, "connection closed; got {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.contains("SIP/2.0 100 Trying"), "{seen}");
    assert!(
        seen.contains("Via: SIP/2.0/TLS 198.51.100.7:5061;branch=z9hG4bKtls1"),
        "{seen}"
    );
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), running).await;
}

#[test]
fn tls_listener_errors_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("g.toml");
    let text = "[[listen]]\naddress = \"127.0.0.1:5061\"\ntransport = \"tls\"\n\n[pbx]\naddress = \"127.0.0.2:5060\"\n";
    let e = Settings::parse(text, &p).unwrap_err().to_string();
    assert!(e.contains("tls_cert") && e.contains("g.toml:2:"), "{e}");
    let text = "[[listen]]\naddress = \"127.0.0.1:5061\"\ntransport = \"tls\"\ntls_cert = \"none.pem\"\ntls_key = \"none.pem\"\n\n[pbx]\naddress = \"127.0.0.2:5060\"\n";
    let e = Settings::parse(text, &p).unwrap_err().to_string();
    assert!(
        e.contains("cannot read certificates") && e.contains("g.toml:4:"),
        "{e}"
    );
    let text = "[[listen]]\naddress = \"127.0.0.1:5060\"\n\n[pbx]\naddress = \"127.0.0.2:5060\"\ntransport = \"tls\"\n";
    let e = Settings::parse(text, Path::new("h.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not supported yet"), "{e}");
}
