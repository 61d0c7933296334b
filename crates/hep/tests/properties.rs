//! Properties of the HEP codec: every packet a version can carry survives encode → decode unchanged, and
//! no input, however broken, makes the decoder or the stream framer panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hep::{Packet, Payload, PayloadKind, StreamFrame, Timestamp, Transport, Version};
use proptest::prelude::*;

/// Owned inputs a `Packet` borrows from.
#[derive(Debug, Clone)]
struct Parts {
    version: Version,
    v6: bool,
    src: ([u8; 16], u16),
    dst: ([u8; 16], u16),
    proto: u8,
    timestamp: Option<(u32, u32)>,
    capture_id: Option<u32>,
    auth_key: Option<Vec<u8>>,
    proto_type: u8,
    compressed: bool,
    payload: Vec<u8>,
    correlation_id: Option<Vec<u8>>,
}

fn addr(v6: bool, (bytes, port): ([u8; 16], u16)) -> SocketAddr {
    let ip: IpAddr = if v6 {
        Ipv6Addr::from(bytes).into()
    } else {
        Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).into()
    };
    SocketAddr::new(ip, port)
}

impl Parts {
    fn packet(&self) -> Packet<'_> {
        Packet {
            version: self.version,
            src: addr(self.v6, self.src),
            dst: addr(self.v6, self.dst),
            transport: Transport::from_ip_proto(self.proto),
            timestamp: self
                .timestamp
                .map(|(secs, micros)| Timestamp { secs, micros }),
            capture_id: self.capture_id,
            auth_key: self.auth_key.as_deref(),
            payload_kind: PayloadKind::from_proto_type(self.proto_type),
            payload: if self.compressed {
                Payload::Compressed(&self.payload)
            } else {
                Payload::Raw(&self.payload)
            },
            correlation_id: self.correlation_id.as_deref(),
        }
    }
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

fn v3_parts() -> impl Strategy<Value = Parts> {
    (
        any::<bool>(),
        any::<([u8; 16], u16)>(),
        any::<([u8; 16], u16)>(),
        any::<u8>(),
        proptest::option::of(any::<(u32, u32)>()),
        proptest::option::of(any::<u32>()),
        proptest::option::of(bytes(40)),
        any::<u8>(),
        any::<bool>(),
        bytes(1500),
        proptest::option::of(bytes(80)),
    )
        .prop_map(
            |(
                v6,
                src,
                dst,
                proto,
                timestamp,
                capture_id,
                auth_key,
                proto_type,
                compressed,
                payload,
                correlation_id,
            )| {
                Parts {
                    version: Version::V3,
                    v6,
                    src,
                    dst,
                    proto,
                    timestamp,
                    capture_id,
                    auth_key,
                    proto_type,
                    compressed,
                    payload,
                    correlation_id,
                }
            },
        )
}

/// v1/v2 carry SIP only, no auth key or correlation id; v2 always has a time header and a 16-bit capture id.
fn v12_parts() -> impl Strategy<Value = Parts> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<([u8; 16], u16)>(),
        any::<([u8; 16], u16)>(),
        any::<u8>(),
        any::<(u32, u32, u16)>(),
        bytes(1500),
    )
        .prop_map(
            |(v2, v6, src, dst, proto, (secs, micros, id), payload)| Parts {
                version: if v2 { Version::V2 } else { Version::V1 },
                v6,
                src,
                dst,
                proto,
                timestamp: v2.then_some((secs, micros)),
                capture_id: v2.then_some(u32::from(id)),
                auth_key: None,
                proto_type: 1,
                compressed: false,
                payload,
                correlation_id: None,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn v3_encode_then_decode_is_identity(parts in v3_parts()) {
        let packet = parts.packet();
        let mut wire = Vec::new();
        let n = hep::encode(&packet, &mut wire).unwrap();
        prop_assert_eq!(n, wire.len());
        prop_assert_eq!(hep::decode(&wire), Ok(packet));
        prop_assert_eq!(hep::stream_frame(&wire, hep::MAX_V3_PACKET), Ok(StreamFrame::Packet { len: n }));
    }

    #[test]
    fn v1_v2_encode_then_decode_is_identity(parts in v12_parts()) {
        let packet = parts.packet();
        let mut wire = Vec::new();
        hep::encode(&packet, &mut wire).unwrap();
        prop_assert_eq!(hep::decode(&wire), Ok(packet));
    }

    #[test]
    fn decode_of_arbitrary_bytes_never_panics(data in bytes(600)) {
        let _ = hep::decode(&data);
        let _ = hep::stream_frame(&data, 1024);
    }

    /// Arbitrary chunk soup behind a valid header reaches the chunk walker rather than the magic check.
    #[test]
    fn decode_of_arbitrary_chunks_never_panics(body in bytes(600), lie in any::<u16>(), honest in any::<bool>()) {
        let mut data = b"HEP3".to_vec();
        let len = if honest { u16::try_from(body.len() + 6).unwrap() } else { lie };
        data.extend_from_slice(&len.to_be_bytes());
        data.extend_from_slice(&body);
        if let Ok(p) = hep::decode(&data) {
            // Whatever decodes re-encodes to something that decodes the same.
            let mut again = Vec::new();
            hep::encode(&p, &mut again).unwrap();
            prop_assert_eq!(hep::decode(&again), Ok(p));
        }
    }

    /// Any single-byte corruption of a valid packet is either refused or decodes, never a panic.
    #[test]
    fn corrupting_one_byte_never_panics(parts in v3_parts(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut wire = Vec::new();
        hep::encode(&parts.packet(), &mut wire).unwrap();
        let i = at.index(wire.len());
        wire[i] = byte;
        let _ = hep::decode(&wire);
    }
}
