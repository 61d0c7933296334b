//! Packets as real senders put them on the wire, built byte by byte from the HEP specification and the
//! senders' packing code (Kamailio `siptrace` with `hep_mode_on=1`, `hep_version=3`; heplify and captagent
//! pack the same generic chunks in the same order), so the decoder is checked against an order and widths it
//! did not choose itself.

use std::net::SocketAddr;

use hep::{Payload, PayloadKind, StreamFrame, Timestamp, Transport, Version};

const INVITE: &[u8] = b"INVITE sip:00972599123456@203.0.113.5 SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.23:5060;branch=z9hG4bK-1\r\n\
From: <sip:1001@203.0.113.5>;tag=a1\r\nTo: <sip:00972599123456@203.0.113.5>\r\n\
Call-ID: 8c1f@198.51.100.23\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

/// The chunk header: vendor 0 (generic), type, length including these 6 bytes; all network order.
fn chunk_header(kind: u8, len: usize) -> [u8; 6] {
    let len = u16::try_from(len).unwrap().to_be_bytes();
    [0x00, 0x00, 0x00, kind, len[0], len[1]]
}

/// Kamailio `siptrace` (`hep_mode_on=1`, `hep_version=3`, `hep_capture_id=2001`, `auth_key="myHep"`,
/// `trace_mode` mirroring an INVITE it received over UDP from 198.51.100.23:5060 on 203.0.113.5:5060).
/// Its fixed `struct hep_generic` comes first (family, protocol, ports, time, protocol type, capture id),
/// then the two IPv4 address chunks, the auth key, and the payload last.
fn kamailio_siptrace_invite() -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(b"HEP3"); // magic
    p.extend_from_slice(&[0x00, 0x00]); // total length, patched below
    p.extend_from_slice(&chunk_header(1, 7)); // IP family: uint8
    p.push(2); //   AF_INET
    p.extend_from_slice(&chunk_header(2, 7)); // IP protocol id: uint8
    p.push(17); //   IPPROTO_UDP
    p.extend_from_slice(&chunk_header(7, 8)); // source port: uint16
    p.extend_from_slice(&[0x13, 0xc4]); //   5060
    p.extend_from_slice(&chunk_header(8, 8)); // destination port: uint16
    p.extend_from_slice(&[0x13, 0xc4]); //   5060
    p.extend_from_slice(&chunk_header(9, 10)); // timestamp seconds: uint32
    p.extend_from_slice(&[0x65, 0x53, 0xf1, 0x00]); //   1_700_000_000 = 0x6553F100
    p.extend_from_slice(&chunk_header(10, 10)); // timestamp microseconds: uint32
    p.extend_from_slice(&[0x00, 0x01, 0xe2, 0x40]); //   123_456 = 0x0001E240
    p.extend_from_slice(&chunk_header(11, 7)); // protocol type: uint8
    p.push(1); //   SIP
    p.extend_from_slice(&chunk_header(12, 10)); // capture agent id: uint32
    p.extend_from_slice(&[0x00, 0x00, 0x07, 0xd1]); //   2001
    p.extend_from_slice(&chunk_header(3, 10)); // IPv4 source address
    p.extend_from_slice(&[198, 51, 100, 23]);
    p.extend_from_slice(&chunk_header(4, 10)); // IPv4 destination address
    p.extend_from_slice(&[203, 0, 113, 5]);
    p.extend_from_slice(&chunk_header(14, 6 + 5)); // auth key: string, no terminator
    p.extend_from_slice(b"myHep");
    p.extend_from_slice(&chunk_header(15, 6 + INVITE.len())); // captured payload
    p.extend_from_slice(INVITE);
    let total = u16::try_from(p.len()).unwrap().to_be_bytes();
    p[4..6].copy_from_slice(&total);
    p
}

#[test]
fn kamailio_siptrace_hep3_invite_decodes() {
    let wire = kamailio_siptrace_invite();
    assert_eq!(
        wire.len(),
        6 + 7 + 7 + 8 + 8 + 10 + 10 + 7 + 10 + 10 + 10 + 11 + 6 + INVITE.len()
    );
    let p = hep::decode(&wire).unwrap();
    assert_eq!(p.version, Version::V3);
    assert_eq!(p.src, "198.51.100.23:5060".parse::<SocketAddr>().unwrap());
    assert_eq!(p.dst, "203.0.113.5:5060".parse::<SocketAddr>().unwrap());
    assert_eq!(p.transport, Transport::Udp);
    assert_eq!(
        p.timestamp,
        Some(Timestamp {
            secs: 1_700_000_000,
            micros: 123_456
        })
    );
    assert_eq!(p.capture_id, Some(2001));
    assert_eq!(p.auth_key, Some(&b"myHep"[..]));
    assert_eq!(p.payload_kind, PayloadKind::Sip);
    assert_eq!(p.payload, Payload::Raw(INVITE));
    assert_eq!(p.correlation_id, None);
    assert_eq!(p.sip(), Some(INVITE));
    // The payload borrows the datagram, it is not a copy.
    assert!(wire.as_ptr_range().contains(&p.sip().unwrap().as_ptr()));
    // The guard's own SIP parser takes it from there.
    assert_eq!(
        sip_request_line(p.sip().unwrap()),
        "INVITE sip:00972599123456@203.0.113.5 SIP/2.0"
    );
}

fn sip_request_line(msg: &[u8]) -> &str {
    let end = msg.windows(2).position(|w| w == b"\r\n").unwrap();
    std::str::from_utf8(&msg[..end]).unwrap()
}

/// Re-encoding writes the chunks in this crate's order; decoding both gives the same packet.
#[test]
fn reencoding_the_kamailio_packet_gives_the_same_packet() {
    let wire = kamailio_siptrace_invite();
    let p = hep::decode(&wire).unwrap();
    let mut again = Vec::new();
    let n = hep::encode(&p, &mut again).unwrap();
    assert_eq!(n, wire.len());
    assert_eq!(hep::decode(&again).unwrap(), p);
}

/// The same INVITE as Kamailio `siptrace` sends it with `hep_version=2`: fixed header, addresses, the time
/// header in the sender's (little-endian) byte order with a 16-bit capture id and two bytes of padding.
#[test]
fn kamailio_siptrace_hep2_invite_decodes() {
    let mut wire = vec![
        2,  // version
        16, // header length: hep_hdr (8) + hep_iphdr (8)
        2,  // AF_INET
        17, // IPPROTO_UDP
        0x13, 0xc4, // source port 5060
        0x13, 0xc4, // destination port 5060
        198, 51, 100, 23, // source address
        203, 0, 113, 5, // destination address
        0x00, 0xf1, 0x53, 0x65, // seconds 1_700_000_000, little-endian
        0x40, 0xe2, 0x01, 0x00, // microseconds 123_456, little-endian
        0xd1, 0x07, // capture id 2001, little-endian
        0x00, 0x00, // padding of struct hep_timehdr
    ];
    wire.extend_from_slice(INVITE);
    let p = hep::decode(&wire).unwrap();
    assert_eq!(p.version, Version::V2);
    assert_eq!(p.src, "198.51.100.23:5060".parse::<SocketAddr>().unwrap());
    assert_eq!(p.dst, "203.0.113.5:5060".parse::<SocketAddr>().unwrap());
    assert_eq!(
        p.timestamp,
        Some(Timestamp {
            secs: 1_700_000_000,
            micros: 123_456
        })
    );
    assert_eq!(p.capture_id, Some(2001));
    assert_eq!(p.auth_key, None);
    assert_eq!(p.sip(), Some(INVITE));
    let mut again = Vec::new();
    hep::encode(&p, &mut again).unwrap();
    assert_eq!(again, wire, "v2 encoding is byte-exact with Kamailio's");
}

/// heplify over TCP: packets back to back, read in arbitrary pieces.
#[test]
fn tcp_stream_of_packets_frames_and_decodes() {
    let one = kamailio_siptrace_invite();
    let stream: Vec<u8> = [one.as_slice(), one.as_slice(), one.as_slice()].concat();
    for piece in [1, 7, 100, stream.len()] {
        let mut buf = Vec::new();
        let mut decoded = 0;
        for part in stream.chunks(piece) {
            buf.extend_from_slice(part);
            while let StreamFrame::Packet { len } = hep::stream_frame(&buf, 4096).unwrap() {
                let p = hep::decode(&buf[..len]).unwrap();
                assert_eq!(p.sip(), Some(INVITE));
                decoded += 1;
                buf.drain(..len);
            }
        }
        assert_eq!(decoded, 3, "read in pieces of {piece}");
        assert!(buf.is_empty());
    }
}

#[test]
fn encode_refuses_what_the_version_cannot_carry() {
    let wire = kamailio_siptrace_invite();
    let mut p = hep::decode(&wire).unwrap();
    let mut out = b"kept".to_vec();
    p.version = Version::V2;
    assert_eq!(
        hep::encode(&p, &mut out),
        Err(hep::EncodeError::NotInVersion("auth key"))
    );
    assert_eq!(out, b"kept", "nothing written on error");
    p.version = Version::V3;
    p.dst = "[2001:db8::5]:5060".parse().unwrap();
    assert_eq!(
        hep::encode(&p, &mut out),
        Err(hep::EncodeError::MixedFamilies)
    );
    p.dst = "203.0.113.5:5060".parse().unwrap();
    let huge = vec![b'x'; 70_000];
    p.payload = Payload::Raw(&huge);
    assert!(matches!(
        hep::encode(&p, &mut out),
        Err(hep::EncodeError::TooLarge { .. })
    ));
    assert_eq!(out, b"kept");
}
