//! Writes fuzz seeds for `crates/hep/fuzz` into the folder given as the only argument (used by
//! `scripts/fuzz-smoke.sh`): HEPv3 over IPv4 and IPv6 (plain and compressed payload), HEP v2 and v1, each
//! alone (the decode path) and as a two-packet stream behind a control byte (the framing path).
use std::net::SocketAddr;
use std::path::PathBuf;

use hep::{Packet, Payload, PayloadKind, Timestamp, Transport, Version};

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(std::env::args_os().nth(1).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "usage: seeds DIR")
    })?);
    let v4 = |s: &str| s.parse::<SocketAddr>().expect("literal address");
    let base = Packet {
        version: Version::V3,
        src: v4("198.51.100.23:5060"),
        dst: v4("203.0.113.5:5060"),
        transport: Transport::Udp,
        timestamp: Some(Timestamp {
            secs: 1_700_000_000,
            micros: 123_456,
        }),
        capture_id: Some(2001),
        auth_key: Some(b"myHep"),
        payload_kind: PayloadKind::Sip,
        payload: Payload::Raw(b"BYE sip:1001@203.0.113.5 SIP/2.0\r\nCall-ID: x\r\n\r\n"),
        correlation_id: None,
    };
    let seeds = [
        ("v3-ipv4", base),
        (
            "v3-ipv6-compressed",
            Packet {
                src: v4("[2001:db8::17]:5061"),
                dst: v4("[2001:db8::5]:5061"),
                transport: Transport::Tls,
                payload: Payload::Compressed(b"\x1f\x8b\x08\x00"),
                correlation_id: Some(b"8c1f@198.51.100.23"),
                ..base
            },
        ),
        (
            "v3-rtcp",
            Packet {
                payload_kind: PayloadKind::Other(5),
                payload: Payload::Raw(b"{\"type\":200}"),
                ..base
            },
        ),
        (
            "v2",
            Packet {
                version: Version::V2,
                auth_key: None,
                ..base
            },
        ),
        (
            "v1",
            Packet {
                version: Version::V1,
                auth_key: None,
                timestamp: None,
                capture_id: None,
                ..base
            },
        ),
    ];
    for (name, packet) in seeds {
        let mut wire = Vec::new();
        hep::encode(&packet, &mut wire).map_err(std::io::Error::other)?;
        std::fs::write(dir.join(format!("seed-{name}")), &wire)?;
        if packet.version == Version::V3 {
            // Control byte 7: the stream is framed in pieces of 8 bytes.
            let stream = [&[7u8][..], &wire, &wire].concat();
            std::fs::write(dir.join(format!("seed-stream-{name}")), stream)?;
        }
    }
    Ok(())
}
