//! Encoding of a [`Packet`] in the version it names, for tests and for a siptrace-like sender. Writes exactly
//! what [`crate::decode`] reads back: `decode(encode(p)) == p` for every packet the version can carry.

use std::net::{IpAddr, SocketAddr};

use crate::{EncodeError, Packet, Payload, PayloadKind, Version};

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// Appends `packet` to `out` and returns the number of bytes written; on error `out` is left as it was.
///
/// HEPv3 chunks are written in the order 1, 2, 3/5, 4/6, 7, 8, 9, 10 (when there is a timestamp), 11, 12
/// (when there is a capture id), 14, 17 (when present), then 15 or 16. HEP v1/v2 cannot carry an auth key,
/// a correlation id, a compressed or non-SIP payload or a capture id above 65535; v1 has no timestamp or
/// capture id; v2 writes a missing timestamp or capture id as zero.
pub fn encode(packet: &Packet<'_>, out: &mut Vec<u8>) -> Result<usize, EncodeError> {
    if packet.src.is_ipv4() != packet.dst.is_ipv4() {
        return Err(EncodeError::MixedFamilies);
    }
    let start = out.len();
    let written = match packet.version {
        Version::V3 => encode_v3(packet, out),
        Version::V1 | Version::V2 => encode_v12(packet, out),
    };
    match written {
        Ok(()) => Ok(out.len() - start),
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

fn chunk(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    // Callers check the total fits in u16 before writing, so every chunk does too.
    let len = u16::try_from(body.len() + 6).unwrap_or(u16::MAX);
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
}

fn encode_v3(p: &Packet<'_>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let addr_chunks = if p.src.is_ipv4() { 2 * 10 } else { 2 * 22 };
    let optional = |present: bool, len: usize| if present { len } else { 0 };
    let total = 6
        + 7
        + 7
        + addr_chunks
        + 8
        + 8
        + optional(p.timestamp.is_some(), 20)
        + 7
        + optional(p.capture_id.is_some(), 10)
        + p.auth_key.map_or(0, |k| 6 + k.len())
        + p.correlation_id.map_or(0, |c| 6 + c.len())
        + 6
        + p.payload.bytes().len();
    let total16 = u16::try_from(total).map_err(|_| EncodeError::TooLarge { len: total })?;
    out.reserve(total);
    out.extend_from_slice(b"HEP3");
    out.extend_from_slice(&total16.to_be_bytes());
    let family = if p.src.is_ipv4() { AF_INET } else { AF_INET6 };
    chunk(out, 1, &[family]);
    chunk(out, 2, &[p.transport.ip_proto()]);
    for (kind, addr) in [(3, p.src), (4, p.dst)] {
        match addr.ip() {
            IpAddr::V4(ip) => chunk(out, kind, &ip.octets()),
            IpAddr::V6(ip) => chunk(out, kind + 2, &ip.octets()),
        }
    }
    chunk(out, 7, &p.src.port().to_be_bytes());
    chunk(out, 8, &p.dst.port().to_be_bytes());
    if let Some(ts) = p.timestamp {
        chunk(out, 9, &ts.secs.to_be_bytes());
        chunk(out, 10, &ts.micros.to_be_bytes());
    }
    chunk(out, 11, &[p.payload_kind.proto_type()]);
    if let Some(id) = p.capture_id {
        chunk(out, 12, &id.to_be_bytes());
    }
    if let Some(key) = p.auth_key {
        chunk(out, 14, key);
    }
    if let Some(id) = p.correlation_id {
        chunk(out, 17, id);
    }
    match p.payload {
        Payload::Raw(bytes) => chunk(out, 15, bytes),
        Payload::Compressed(bytes) => chunk(out, 16, bytes),
    }
    Ok(())
}

fn encode_v12(p: &Packet<'_>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let not = |what| Err(EncodeError::NotInVersion(what));
    if p.auth_key.is_some() {
        return not("auth key");
    }
    if p.correlation_id.is_some() {
        return not("correlation id");
    }
    if p.payload_kind != PayloadKind::Sip {
        return not("non-SIP payload");
    }
    let Payload::Raw(payload) = p.payload else {
        return not("compressed payload");
    };
    if p.version == Version::V1 && p.timestamp.is_some() {
        return not("timestamp (v1)");
    }
    if p.version == Version::V1 && p.capture_id.is_some() {
        return not("capture id (v1)");
    }
    let capture_id = match p.capture_id.map(u16::try_from) {
        None => 0,
        Some(Ok(id)) => id,
        Some(Err(_)) => return not("32-bit capture id"),
    };
    let (family, header_len) = match p.src {
        SocketAddr::V4(_) => (AF_INET, 16),
        SocketAddr::V6(_) => (AF_INET6, 40),
    };
    let version = if p.version == Version::V1 { 1 } else { 2 };
    out.extend_from_slice(&[version, header_len, family, p.transport.ip_proto()]);
    out.extend_from_slice(&p.src.port().to_be_bytes());
    out.extend_from_slice(&p.dst.port().to_be_bytes());
    for addr in [p.src, p.dst] {
        match addr.ip() {
            IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
            IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
        }
    }
    if p.version == Version::V2 {
        let ts = p.timestamp.unwrap_or_default();
        out.extend_from_slice(&ts.secs.to_le_bytes());
        out.extend_from_slice(&ts.micros.to_le_bytes());
        out.extend_from_slice(&capture_id.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
    }
    out.extend_from_slice(payload);
    Ok(())
}
