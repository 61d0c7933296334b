//! The web check against an in-test administration page protected by HTTP Digest (RFC 7616, SHA-256 and
//! qop=auth, a fresh nonce per answer) on 127.0.0.8: the vendor login it takes is found and named.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use audit::digest::Challenge;
use audit::{CandidateLists, Severity, Target, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A page accepting `user`/`password`; the usernames of the logins it was sent, in order.
async fn digest_page(user: &'static str, password: &'static str) -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.8:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((mut s, _)) = l.accept().await {
            n += 1;
            let mut buf = vec![0u8; 8192];
            let len = s.read(&mut buf).await.unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..len]).into_owned();
            let auth = req
                .lines()
                .find_map(|l| l.strip_prefix("Authorization: "))
                .map(str::to_owned);
            let ok = auth.as_deref().and_then(fields).is_some_and(|a| {
                s2.lock().unwrap().push(a.0.clone());
                a.0 == user && {
                    let ch = Challenge::parse(&format!(
                        "Digest realm=\"admin\", nonce=\"{}\", qop=\"auth\", algorithm=SHA-256",
                        a.1
                    ))
                    .unwrap();
                    let mut p = ch.answer(user, "GET", &a.2);
                    p.cnonce = a.3.clone();
                    p.nc = a.4.clone();
                    p.response(password) == a.5
                }
            });
            let answer = if ok {
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_owned()
            } else {
                format!(
                    "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"admin\", nonce=\"nonce{n}\", \
                     qop=\"auth\", algorithm=SHA-256\r\nContent-Length: 0\r\n\r\n"
                )
            };
            let _ = s.write_all(answer.as_bytes()).await;
        }
    });
    (port, seen)
}

/// The fields of a digest Authorization the page checks: (username, nonce, uri, cnonce, nc, response).
type Fields = (String, String, String, String, String, String);

fn fields(v: &str) -> Option<Fields> {
    let a = sip::Auth::parse(v).ok()?;
    Some((
        a.username()?.to_owned(),
        a.nonce()?.to_owned(),
        a.uri()?.to_owned(),
        a.cnonce()?.to_owned(),
        a.nc()?.to_owned(),
        a.response()?.to_owned(),
    ))
}

#[tokio::test]
async fn a_digest_protected_admin_page_on_a_vendor_default_is_found() {
    let (port, seen) = digest_page("tech", "12345678").await;
    let target = Target::resolve("127.0.0.8:5060", Transport::Udp).unwrap();
    let lists = CandidateLists::shipped();
    let (ports, findings) =
        audit::web::probe_ports(&target, &[port], &lists, 1000.0, Duration::from_millis(500)).await;
    assert_eq!(ports[0].login.as_deref(), Some("digest"));
    assert_eq!(ports[0].default_login.as_deref(), Some("nec-installer"));
    let hit: Vec<_> = findings
        .iter()
        .filter(|f| f.kind == "web-default-login")
        .collect();
    assert_eq!(hit.len(), 1);
    assert_eq!(hit[0].severity, Severity::Critical);
    // Every vendor login before NEC's installer was tried once, in list order, and none after it.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.last().map(String::as_str), Some("tech"));
    assert_eq!(seen.len(), 6, "{seen:?}");
}
