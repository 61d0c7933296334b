//! The floor under the decision benchmarks: a UDP responder that does no work. It answers every datagram
//! with `SIP/2.0 302` followed by the datagram's own lines, which is enough for `decide_load redirect` to
//! count an allowed call. Pinned where tollguard would run, it shows what the box itself (scheduler,
//! virtual CPU wake-ups, the host's steal, the generator) adds to the latency of a query and its answer.
//!
//! Run: `taskset -c 0 cargo run --release -p tollguard --example udp_floor -- 127.0.0.1:27070`, then
//! `taskset -c 1 decide_load redirect 127.0.0.1:27070 5000 10` (bench/decide/run.sh does both with
//! `FRONTS=floor`).

use std::net::UdpSocket;

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:27070".into());
    let sock = UdpSocket::bind(&addr)?;
    let mut buf = vec![0u8; 65_535];
    let mut answer = Vec::with_capacity(65_535);
    loop {
        let (n, from) = sock.recv_from(&mut buf)?;
        let rest = buf[..n]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(&buf[..0], |i| &buf[i + 1..n]);
        answer.clear();
        answer.extend_from_slice(b"SIP/2.0 302 Moved Temporarily\r\n");
        answer.extend_from_slice(rest);
        sock.send_to(&answer, from)?;
    }
}
