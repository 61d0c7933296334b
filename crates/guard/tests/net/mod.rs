#![allow(dead_code)]
//! A guard running on loopback sockets for the network tests: started from a configuration file, its control
//! handle, waiting on its status with a deadline, and a stop that waits for it to end.

use std::path::Path;
use std::time::Duration;

use guard::{Guard, GuardHandle, GuardStatus};
use tokio::sync::oneshot;
use tokio::time::Instant;

/// How long a network test waits for anything.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A started guard and what stops it.
pub struct Live {
    pub handle: GuardHandle,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Live {
    /// Starts the guard of this configuration file and runs it until [`Live::stop`].
    pub async fn start(config: &Path) -> Live {
        let guard = Guard::start(config).await.unwrap();
        let handle = guard.handle();
        let (stop, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(guard.run(async {
            let _ = stop_rx.await;
        }));
        Live {
            handle,
            stop: Some(stop),
            task,
        }
    }

    pub async fn status(&self) -> GuardStatus {
        self.handle.status().await.expect("the guard is running")
    }

    /// Waits until the guard's status satisfies `ok` (commands are served between batches of messages).
    pub async fn wait_status(&self, what: &str, ok: impl Fn(&GuardStatus) -> bool) -> GuardStatus {
        let deadline = Instant::now() + DEADLINE;
        let mut every = tokio::time::interval(Duration::from_millis(10));
        loop {
            let s = self.status().await;
            if ok(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "{what}: status is {s:?}");
            every.tick().await;
        }
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(DEADLINE, &mut self.task).await;
    }
}

/// A SIP party (phone, PBX, carrier, attacker) on a loopback address.
pub struct Party {
    pub sock: tokio::net::UdpSocket,
    pub addr: std::net::SocketAddr,
}

impl Party {
    pub async fn on(ip: &str) -> Party {
        let sock = tokio::net::UdpSocket::bind(format!("{ip}:0"))
            .await
            .unwrap();
        let addr = sock.local_addr().unwrap();
        Party { sock, addr }
    }

    pub async fn send(&self, text: &str, to: std::net::SocketAddr) {
        self.sock.send_to(text.as_bytes(), to).await.unwrap();
    }

    /// Datagrams until the first one `pick` accepts: (those before it, it, where it came from).
    pub async fn recv_until_from(
        &self,
        what: &str,
        pick: impl Fn(&str) -> bool,
    ) -> (Vec<String>, String, std::net::SocketAddr) {
        let deadline = Instant::now() + DEADLINE;
        let mut buf = vec![0u8; 65536];
        let mut before = Vec::new();
        loop {
            let (n, from) = tokio::time::timeout_at(deadline, self.sock.recv_from(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("{what}: it never arrived; got before: {before:#?}"))
                .unwrap();
            let got = String::from_utf8_lossy(&buf[..n]).into_owned();
            if pick(&got) {
                return (before, got, from);
            }
            before.push(got);
        }
    }

    /// Datagrams until the first one `pick` accepts: (those before it, it).
    pub async fn recv_until(
        &self,
        what: &str,
        pick: impl Fn(&str) -> bool,
    ) -> (Vec<String>, String) {
        let (before, got, _) = self.recv_until_from(what, pick).await;
        (before, got)
    }
}

/// A carrier's answer to a forwarded INVITE (the sip crate's `ResponseBuilder`: the request's Vias, From,
/// Call-ID and CSeq, its To with a tag), with a Contact.
pub fn answer(req: &str, code: u16, me: std::net::SocketAddr) -> String {
    let msg = sip::Message::parse(req.as_bytes()).expect("a forwarded request");
    let contact = format!("<sip:x@{me}>");
    let mut out = Vec::new();
    sip::ResponseBuilder::new(&msg, code)
        .to_tag("carrier1")
        .header("Contact", &contact)
        .write_to(&mut out)
        .expect("an answer");
    String::from_utf8(out).expect("ASCII")
}
