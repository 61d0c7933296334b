//! Decoding of one HEP packet (v1, v2 or v3) out of a borrowed buffer. Every read goes through `get`, so a
//! short or lying packet is an error, never a panic; nothing is allocated.
//!
//! HEP v1/v2 layout (all as sent by Kamailio `siptrace` and captagent):
//!
//! | bytes | field |
//! | --- | --- |
//! | 0 | version, 1 or 2 |
//! | 1 | header length (16 for IPv4, 40 for IPv6); not trusted, see below |
//! | 2 | IP family: 2 (`AF_INET`) or 10 (`AF_INET6`, Linux) |
//! | 3 | IP protocol: 17 UDP, 6 TCP, 22 TLS (Kamailio), 132 SCTP |
//! | 4..6, 6..8 | source and destination port, network order |
//! | 8.. | source then destination address, 4 or 16 bytes each |
//! | then, v2 only | seconds (u32), microseconds (u32), capture id (u16), 2 bytes padding: 12 bytes, little-endian (the sender's host order: `struct hep_timehdr` copied from an x86 host; Kamailio's receiver reads them with `to_le`) |
//! | rest | the captured SIP message |
//!
//! The header length byte is ignored, as Kamailio's own receiver ignores it: some senders (sngrep) write the
//! packet's total length truncated to a byte there. The family decides the layout.
//!
//! HEPv3: `HEP3`, total length (u16, network order, header included), then chunks of vendor id (u16), type
//! id (u16), length (u16, the 6-byte chunk header included) and body. Chunks of vendor 0 are the generic
//! ones read here; other vendors' chunks and generic types not listed in [`decode_v3`] are skipped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::{Error, Packet, Payload, PayloadKind, Timestamp, Transport, Version};

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const V3_HEADER: usize = 6;
const CHUNK_HEADER: usize = 6;

/// Decodes exactly one HEP packet: `buf` is one UDP datagram, or one frame cut by [`crate::stream_frame`].
/// For HEPv3 the length field must equal `buf.len()`.
pub fn decode(buf: &[u8]) -> Result<Packet<'_>, Error> {
    match buf {
        [b'H', b'E', b'P', b'3', ..] => decode_v3(buf),
        [1, ..] => decode_v12(buf, Version::V1),
        [2, ..] => decode_v12(buf, Version::V2),
        [first, ..] => Err(Error::NotHep(*first)),
        [] => Err(Error::Truncated { needed: 1, have: 0 }),
    }
}

/// `N` bytes at `at`, or `Truncated`.
fn array<const N: usize>(buf: &[u8], at: usize) -> Result<[u8; N], Error> {
    let end = at.saturating_add(N);
    buf.get(at..end)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or(Error::Truncated {
            needed: end,
            have: buf.len(),
        })
}

fn decode_v12(buf: &[u8], version: Version) -> Result<Packet<'_>, Error> {
    let [_version, _header_len, family, proto, sp0, sp1, dp0, dp1] = array::<8>(buf, 0)?;
    let (src_ip, dst_ip, mut at): (IpAddr, IpAddr, usize) = match family {
        AF_INET => (
            Ipv4Addr::from(array::<4>(buf, 8)?).into(),
            Ipv4Addr::from(array::<4>(buf, 12)?).into(),
            16,
        ),
        AF_INET6 => (
            Ipv6Addr::from(array::<16>(buf, 8)?).into(),
            Ipv6Addr::from(array::<16>(buf, 24)?).into(),
            40,
        ),
        other => return Err(Error::UnknownFamily(other)),
    };
    let (timestamp, capture_id) = if version == Version::V2 {
        let [s0, s1, s2, s3, u0, u1, u2, u3, c0, c1, _, _] = array::<12>(buf, at)?;
        at += 12;
        (
            Some(Timestamp {
                secs: u32::from_le_bytes([s0, s1, s2, s3]),
                micros: u32::from_le_bytes([u0, u1, u2, u3]),
            }),
            Some(u32::from(u16::from_le_bytes([c0, c1]))),
        )
    } else {
        (None, None)
    };
    let payload = buf.get(at..).ok_or(Error::Truncated {
        needed: at,
        have: buf.len(),
    })?;
    Ok(Packet {
        version,
        src: SocketAddr::new(src_ip, u16::from_be_bytes([sp0, sp1])),
        dst: SocketAddr::new(dst_ip, u16::from_be_bytes([dp0, dp1])),
        transport: Transport::from_ip_proto(proto),
        timestamp,
        capture_id,
        auth_key: None,
        payload_kind: PayloadKind::Sip,
        payload: Payload::Raw(payload),
        correlation_id: None,
    })
}

/// The generic chunks seen so far; each may appear once.
#[derive(Default)]
struct Chunks<'a> {
    family: Option<u8>,
    proto: Option<u8>,
    src4: Option<Ipv4Addr>,
    dst4: Option<Ipv4Addr>,
    src6: Option<Ipv6Addr>,
    dst6: Option<Ipv6Addr>,
    src_port: Option<u16>,
    dst_port: Option<u16>,
    secs: Option<u32>,
    micros: Option<u32>,
    proto_type: Option<u8>,
    capture_id: Option<u32>,
    auth_key: Option<&'a [u8]>,
    payload: Option<&'a [u8]>,
    compressed: Option<&'a [u8]>,
    correlation_id: Option<&'a [u8]>,
}

fn once<T>(slot: &mut Option<T>, chunk: u16, value: T) -> Result<(), Error> {
    if slot.is_some() {
        return Err(Error::DuplicateChunk(chunk));
    }
    *slot = Some(value);
    Ok(())
}

/// The body of a fixed-size chunk.
fn fixed<const N: usize>(
    chunk: u16,
    body: &[u8],
    expected: &'static str,
) -> Result<[u8; N], Error> {
    <[u8; N]>::try_from(body).map_err(|_| Error::ChunkLength {
        chunk,
        len: u16::try_from(body.len() + CHUNK_HEADER).unwrap_or(u16::MAX),
        expected,
    })
}

/// Reads HEPv3. Generic chunk types read: 1 IP family, 2 IP protocol, 3/4 IPv4 source/destination, 5/6 IPv6
/// source/destination, 7/8 ports, 9/10 timestamp seconds/microseconds, 11 protocol type, 12 capture agent id,
/// 14 auth key, 15 payload, 16 compressed payload, 17 correlation id. Required: addresses, ports, IP
/// protocol, protocol type and one payload.
fn decode_v3(buf: &[u8]) -> Result<Packet<'_>, Error> {
    let [_, _, _, _, l0, l1] = array::<V3_HEADER>(buf, 0)?;
    let declared = usize::from(u16::from_be_bytes([l0, l1]));
    if declared < V3_HEADER {
        return Err(Error::HeaderLength { declared });
    }
    if declared > buf.len() {
        return Err(Error::Truncated {
            needed: declared,
            have: buf.len(),
        });
    }
    if declared < buf.len() {
        return Err(Error::LengthMismatch {
            declared,
            actual: buf.len(),
        });
    }
    let mut c = Chunks::default();
    let mut at = V3_HEADER;
    while at < declared {
        let [v0, v1, t0, t1, n0, n1] = array::<CHUNK_HEADER>(buf, at)?;
        let vendor = u16::from_be_bytes([v0, v1]);
        let kind = u16::from_be_bytes([t0, t1]);
        let len = u16::from_be_bytes([n0, n1]);
        let room = declared - at;
        if usize::from(len) < CHUNK_HEADER || usize::from(len) > room {
            return Err(Error::ChunkOutOfBounds {
                offset: at,
                len,
                room,
            });
        }
        let body = buf
            .get(at + CHUNK_HEADER..at + usize::from(len))
            .ok_or(Error::Truncated {
                needed: at + usize::from(len),
                have: buf.len(),
            })?;
        let offset = at;
        at += usize::from(len);
        if vendor != 0 {
            continue;
        }
        match kind {
            0 => return Err(Error::ReservedChunk { offset }),
            1 => once(
                &mut c.family,
                kind,
                u8::from_be_bytes(fixed(kind, body, "7")?),
            )?,
            2 => once(
                &mut c.proto,
                kind,
                u8::from_be_bytes(fixed(kind, body, "7")?),
            )?,
            3 => once(
                &mut c.src4,
                kind,
                Ipv4Addr::from(fixed::<4>(kind, body, "10")?),
            )?,
            4 => once(
                &mut c.dst4,
                kind,
                Ipv4Addr::from(fixed::<4>(kind, body, "10")?),
            )?,
            5 => once(
                &mut c.src6,
                kind,
                Ipv6Addr::from(fixed::<16>(kind, body, "22")?),
            )?,
            6 => once(
                &mut c.dst6,
                kind,
                Ipv6Addr::from(fixed::<16>(kind, body, "22")?),
            )?,
            7 => once(
                &mut c.src_port,
                kind,
                u16::from_be_bytes(fixed(kind, body, "8")?),
            )?,
            8 => once(
                &mut c.dst_port,
                kind,
                u16::from_be_bytes(fixed(kind, body, "8")?),
            )?,
            9 => once(
                &mut c.secs,
                kind,
                u32::from_be_bytes(fixed(kind, body, "10")?),
            )?,
            10 => once(
                &mut c.micros,
                kind,
                u32::from_be_bytes(fixed(kind, body, "10")?),
            )?,
            11 => once(
                &mut c.proto_type,
                kind,
                u8::from_be_bytes(fixed(kind, body, "7")?),
            )?,
            // Old agents (captagent 4, early heplify) sent a 16-bit capture id; accept both widths.
            12 => {
                let id = match *body {
                    [a, b] => u32::from(u16::from_be_bytes([a, b])),
                    _ => u32::from_be_bytes(fixed(kind, body, "8 or 10")?),
                };
                once(&mut c.capture_id, kind, id)?;
            }
            14 => once(&mut c.auth_key, kind, body)?,
            15 => once(&mut c.payload, kind, body)?,
            16 => once(&mut c.compressed, kind, body)?,
            17 => once(&mut c.correlation_id, kind, body)?,
            _ => {}
        }
    }
    finish_v3(c)
}

fn finish_v3(c: Chunks<'_>) -> Result<Packet<'_>, Error> {
    let src_ip = address(c.src4, c.src6, "source")?;
    let dst_ip = address(c.dst4, c.dst6, "destination")?;
    if src_ip.is_ipv4() != dst_ip.is_ipv4() {
        return Err(Error::MixedFamilies);
    }
    // Only the Linux numbers are checked: a BSD sender's AF_INET6 (24, 28 or 30) is not an error.
    match c.family {
        Some(family @ AF_INET) if !src_ip.is_ipv4() => {
            return Err(Error::FamilyMismatch { family });
        }
        Some(family @ AF_INET6) if !src_ip.is_ipv6() => {
            return Err(Error::FamilyMismatch { family });
        }
        _ => {}
    }
    let payload = match (c.payload, c.compressed) {
        (Some(raw), None) => Payload::Raw(raw),
        (None, Some(compressed)) => Payload::Compressed(compressed),
        (Some(_), Some(_)) => return Err(Error::TwoPayloads),
        (None, None) => return Err(Error::MissingChunk("payload (15 or 16)")),
    };
    Ok(Packet {
        version: Version::V3,
        src: SocketAddr::new(
            src_ip,
            c.src_port.ok_or(Error::MissingChunk("source port (7)"))?,
        ),
        dst: SocketAddr::new(
            dst_ip,
            c.dst_port
                .ok_or(Error::MissingChunk("destination port (8)"))?,
        ),
        transport: Transport::from_ip_proto(
            c.proto.ok_or(Error::MissingChunk("IP protocol id (2)"))?,
        ),
        timestamp: c.secs.map(|secs| Timestamp {
            secs,
            micros: c.micros.unwrap_or(0),
        }),
        capture_id: c.capture_id,
        auth_key: c.auth_key,
        payload_kind: PayloadKind::from_proto_type(
            c.proto_type
                .ok_or(Error::MissingChunk("protocol type (11)"))?,
        ),
        payload,
        correlation_id: c.correlation_id,
    })
}

fn address(
    v4: Option<Ipv4Addr>,
    v6: Option<Ipv6Addr>,
    which: &'static str,
) -> Result<IpAddr, Error> {
    match (v4, v6) {
        (Some(v4), None) => Ok(v4.into()),
        (None, Some(v6)) => Ok(v6.into()),
        (Some(_), Some(_)) => Err(Error::TwoAddresses(which)),
        (None, None) => Err(Error::MissingChunk(if which == "source" {
            "source address (3 or 5)"
        } else {
            "destination address (4 or 6)"
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A HEPv3 packet from chunks given as (type, body), vendor 0.
    fn v3(chunks: &[(u16, &[u8])]) -> Vec<u8> {
        let mut out = b"HEP3\0\0".to_vec();
        for (kind, body) in chunks {
            out.extend_from_slice(&0u16.to_be_bytes());
            out.extend_from_slice(&kind.to_be_bytes());
            out.extend_from_slice(&u16::try_from(body.len() + 6).unwrap().to_be_bytes());
            out.extend_from_slice(body);
        }
        let len = u16::try_from(out.len()).unwrap().to_be_bytes();
        out[4..6].copy_from_slice(&len);
        out
    }

    const MINIMAL: &[(u16, &[u8])] = &[
        (2, &[17]),
        (3, &[192, 0, 2, 1]),
        (4, &[192, 0, 2, 2]),
        (7, &[0x13, 0xc4]),
        (8, &[0x13, 0xc5]),
        (11, &[1]),
        (15, b"BYE"),
    ];

    #[test]
    fn minimal_v3_packet_decodes() {
        let wire = v3(MINIMAL);
        let p = decode(&wire).unwrap();
        assert_eq!(p.src, "192.0.2.1:5060".parse().unwrap());
        assert_eq!(p.dst, "192.0.2.2:5061".parse().unwrap());
        assert_eq!(p.transport, Transport::Udp);
        assert_eq!(p.timestamp, None);
        assert_eq!(p.capture_id, None);
        assert_eq!(p.sip(), Some(&b"BYE"[..]));
    }

    #[test]
    fn every_required_chunk_is_required() {
        for (skip, (dropped, _)) in MINIMAL.iter().enumerate() {
            let chunks: Vec<_> = MINIMAL
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, c)| *c)
                .collect();
            assert!(
                matches!(decode(&v3(&chunks)), Err(Error::MissingChunk(_))),
                "chunk {dropped} dropped"
            );
        }
    }

    #[test]
    fn vendor_and_unknown_chunks_are_skipped() {
        let mut chunks = MINIMAL.to_vec();
        chunks.push((13, &[0, 30])); // keep-alive timer
        chunks.push((0x20, b"tag")); // tags, not read here
        let mut wire = v3(&chunks);
        // A vendor chunk (vendor 0x0003, type 0) even though type 0 is reserved for vendor 0.
        wire.extend_from_slice(&[0, 3, 0, 0, 0, 8, 0xde, 0xad]);
        let len = u16::try_from(wire.len()).unwrap().to_be_bytes();
        wire[4..6].copy_from_slice(&len);
        assert_eq!(decode(&wire).unwrap().sip(), Some(&b"BYE"[..]));
    }

    #[test]
    fn reserved_duplicate_and_misfit_chunks_are_refused() {
        let mut chunks = MINIMAL.to_vec();
        chunks.push((0, &[]));
        assert!(matches!(
            decode(&v3(&chunks)),
            Err(Error::ReservedChunk { .. })
        ));

        let mut chunks = MINIMAL.to_vec();
        chunks.push((15, b"INVITE"));
        assert_eq!(decode(&v3(&chunks)), Err(Error::DuplicateChunk(15)));

        let mut chunks = MINIMAL.to_vec();
        chunks[1] = (3, &[192, 0, 2]);
        assert_eq!(
            decode(&v3(&chunks)),
            Err(Error::ChunkLength {
                chunk: 3,
                len: 9,
                expected: "10"
            })
        );

        let mut chunks = MINIMAL.to_vec();
        chunks.push((16, b"\x1f\x8b"));
        assert_eq!(decode(&v3(&chunks)), Err(Error::TwoPayloads));

        let mut chunks = MINIMAL.to_vec();
        chunks.push((6, &[0; 16]));
        assert_eq!(
            decode(&v3(&chunks)),
            Err(Error::TwoAddresses("destination"))
        );

        let mut chunks = MINIMAL.to_vec();
        chunks[2] = (6, &[0; 16]);
        assert_eq!(decode(&v3(&chunks)), Err(Error::MixedFamilies));

        let mut chunks = MINIMAL.to_vec();
        chunks.push((1, &[AF_INET6]));
        assert_eq!(
            decode(&v3(&chunks)),
            Err(Error::FamilyMismatch { family: AF_INET6 })
        );
    }

    #[test]
    fn lengths_are_checked_against_the_buffer() {
        let wire = v3(MINIMAL);
        // Short by one: the length field promises more than there is.
        assert_eq!(
            decode(&wire[..wire.len() - 1]),
            Err(Error::Truncated {
                needed: wire.len(),
                have: wire.len() - 1
            })
        );
        // Trailing garbage after the declared length.
        let mut long = wire.clone();
        long.push(0);
        assert_eq!(
            decode(&long),
            Err(Error::LengthMismatch {
                declared: wire.len(),
                actual: wire.len() + 1
            })
        );
        // A length field below the header size.
        assert_eq!(
            decode(b"HEP3\x00\x05"),
            Err(Error::HeaderLength { declared: 5 })
        );
        // A chunk that claims to run past the packet.
        let mut bad = wire.clone();
        let last_chunk_len_at = wire.len() - 3 - 2;
        bad[last_chunk_len_at..last_chunk_len_at + 2].copy_from_slice(&100u16.to_be_bytes());
        assert!(matches!(
            decode(&bad),
            Err(Error::ChunkOutOfBounds { len: 100, .. })
        ));
        // A chunk length below the chunk header: would loop forever if accepted.
        bad[last_chunk_len_at..last_chunk_len_at + 2].copy_from_slice(&0u16.to_be_bytes());
        assert!(matches!(
            decode(&bad),
            Err(Error::ChunkOutOfBounds { len: 0, .. })
        ));
        // A partial chunk header at the end.
        let mut tail = wire.clone();
        tail.extend_from_slice(&[0, 0, 0]);
        let len = u16::try_from(tail.len()).unwrap().to_be_bytes();
        tail[4..6].copy_from_slice(&len);
        assert!(matches!(decode(&tail), Err(Error::Truncated { .. })));
    }

    #[test]
    fn hep_v2_ipv6_reads_little_endian_time() {
        let mut wire = vec![2, 40, AF_INET6, 6, 0x13, 0xc4, 0x13, 0xc4];
        wire.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        wire.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        wire.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        wire.extend_from_slice(&999_999u32.to_le_bytes());
        wire.extend_from_slice(&7u16.to_le_bytes());
        wire.extend_from_slice(&[0, 0]);
        wire.extend_from_slice(b"ACK sip:x SIP/2.0\r\n\r\n");
        let p = decode(&wire).unwrap();
        assert_eq!(p.version, Version::V2);
        assert_eq!(p.src, "[::1]:5060".parse().unwrap());
        assert_eq!(p.dst, "[2001:db8::1]:5060".parse().unwrap());
        assert_eq!(p.transport, Transport::Tcp);
        assert_eq!(
            p.timestamp,
            Some(Timestamp {
                secs: 1_700_000_000,
                micros: 999_999
            })
        );
        assert_eq!(p.capture_id, Some(7));
        assert_eq!(p.sip(), Some(&b"ACK sip:x SIP/2.0\r\n\r\n"[..]));
        // Every proper prefix short of the payload is truncated, never a panic.
        for cut in 0..40 + 12 {
            assert!(
                matches!(decode(&wire[..cut]), Err(Error::Truncated { .. })),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn hep_v1_has_no_time_header() {
        let mut wire = vec![
            1, 16, AF_INET, 17, 0x13, 0xc4, 0x13, 0xc4, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        wire.extend_from_slice(b"OPTIONS");
        let p = decode(&wire).unwrap();
        assert_eq!(p.version, Version::V1);
        assert_eq!(p.timestamp, None);
        assert_eq!(p.sip(), Some(&b"OPTIONS"[..]));
    }

    #[test]
    fn unknown_version_and_family_are_refused() {
        assert_eq!(decode(b""), Err(Error::Truncated { needed: 1, have: 0 }));
        assert_eq!(decode(b"INVITE"), Err(Error::NotHep(b'I')));
        assert_eq!(decode(b"\x03"), Err(Error::NotHep(3)));
        assert_eq!(
            decode(&[2, 16, 7, 17, 0, 0, 0, 0, 1, 2, 3, 4]),
            Err(Error::UnknownFamily(7))
        );
    }
}
