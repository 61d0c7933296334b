//! `hep`: the HEP (Homer Encapsulation Protocol) wire core of tollguard. Decodes and encodes the capture
//! packets that Kamailio `siptrace`/`sipcapture`, OpenSIPS `proto_hep`, FreeSWITCH, heplify and captagent send
//! to a Homer collector, so that tollguard can watch SIP passively, beside an existing SBC or PBX.
//!
//! Versions: HEPv3 (also called EEP: `HEP3`, a total length and a list of typed chunks, network byte order)
//! and the older fixed-header HEP v1/v2. Decoding borrows from the receive buffer ([`Packet`] holds slices of
//! it), allocates nothing, never panics, and checks every length before it reads. [`stream_frame`] frames
//! HEPv3 on TCP/TLS streams, bounded by a maximum size. No I/O, no async, no `unsafe`.
//!
//! Written here rather than taken from crates.io: the only crate there (`hep` 0.1.x, last release in
//! May 2021) is stale, copies every payload into a `String` (lossy for binary payloads), reads HEPv2 with
//! IPv4 only and has no encoder, no stream framing and no bound on what it accepts.
//!
//! ```
//! use std::net::SocketAddr;
//! let packet = hep::Packet {
//!     version: hep::Version::V3,
//!     src: "192.0.2.10:5060".parse::<SocketAddr>().unwrap(),
//!     dst: "198.51.100.1:5060".parse::<SocketAddr>().unwrap(),
//!     transport: hep::Transport::Udp,
//!     timestamp: Some(hep::Timestamp { secs: 1_700_000_000, micros: 42 }),
//!     capture_id: Some(2001),
//!     auth_key: Some(b"myHep"),
//!     payload_kind: hep::PayloadKind::Sip,
//!     payload: hep::Payload::Raw(b"OPTIONS sip:100@198.51.100.1 SIP/2.0\r\n\r\n"),
//!     correlation_id: None,
//! };
//! let mut wire = Vec::new();
//! hep::encode(&packet, &mut wire).unwrap();
//! let back = hep::decode(&wire).unwrap();
//! assert_eq!(back, packet);
//! assert_eq!(back.sip(), Some(&b"OPTIONS sip:100@198.51.100.1 SIP/2.0\r\n\r\n"[..]));
//! ```
#![forbid(unsafe_code)]

mod decode;
mod encode;
mod error;
mod stream;

pub use decode::decode;
pub use encode::encode;
pub use error::{EncodeError, Error};
pub use stream::{MAX_V3_PACKET, StreamFrame, stream_frame};

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

/// The HEP generation a packet was sent in (and is encoded in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// Fixed header without timestamp or capture id.
    V1,
    /// Fixed header followed by a timestamp and a 16-bit capture id.
    V2,
    /// `HEP3` chunks (EEP).
    V3,
}

/// The transport the captured message travelled on, from the IP protocol number the sender put in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// IP protocol 17.
    Udp,
    /// IP protocol 6.
    Tcp,
    /// IP protocol 22 (XNS IDP): the number Kamailio's `siptrace`/`sipcapture` use to mark TLS.
    Tls,
    /// IP protocol 132.
    Sctp,
    /// Any other IP protocol number, kept as sent.
    Other(u8),
}

impl Transport {
    /// The transport an IP protocol number stands for; every number maps to exactly one value.
    pub fn from_ip_proto(proto: u8) -> Self {
        match proto {
            17 => Self::Udp,
            6 => Self::Tcp,
            22 => Self::Tls,
            132 => Self::Sctp,
            other => Self::Other(other),
        }
    }

    /// The IP protocol number written on the wire.
    pub fn ip_proto(self) -> u8 {
        match self {
            Self::Udp => 17,
            Self::Tcp => 6,
            Self::Tls => 22,
            Self::Sctp => 132,
            Self::Other(other) => other,
        }
    }
}

/// What the payload is (HEPv3 chunk 11, "protocol type"). HEP v1/v2 carry SIP only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadKind {
    /// Protocol type 1.
    Sip,
    /// Anything else (5 RTCP, 32 QoS report, 100 log, ...), kept as sent.
    Other(u8),
}

impl PayloadKind {
    /// The kind a protocol type number stands for; every number maps to exactly one value.
    pub fn from_proto_type(proto_type: u8) -> Self {
        match proto_type {
            1 => Self::Sip,
            other => Self::Other(other),
        }
    }

    /// The protocol type number written on the wire.
    pub fn proto_type(self) -> u8 {
        match self {
            Self::Sip => 1,
            Self::Other(other) => other,
        }
    }
}

/// When the capture agent saw the message: seconds since the Unix epoch and a microsecond offset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp {
    pub secs: u32,
    /// Added to `secs`; normally below 1,000,000, but kept as sent.
    pub micros: u32,
}

impl Timestamp {
    /// The instant as a `SystemTime` (every `u32` pair fits).
    pub fn to_system_time(self) -> SystemTime {
        let since_epoch = Duration::from_secs(u64::from(self.secs))
            + Duration::from_micros(u64::from(self.micros));
        SystemTime::UNIX_EPOCH
            .checked_add(since_epoch)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

/// The captured bytes, borrowed from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Payload<'a> {
    /// HEPv3 chunk 15, or the payload of HEP v1/v2.
    Raw(&'a [u8]),
    /// HEPv3 chunk 16: compressed by the sender (gzip/deflate in practice); not inflated here.
    Compressed(&'a [u8]),
}

impl<'a> Payload<'a> {
    /// The bytes as carried, compressed or not.
    pub fn bytes(&self) -> &'a [u8] {
        match *self {
            Self::Raw(bytes) | Self::Compressed(bytes) => bytes,
        }
    }
}

/// One decoded HEP packet: where the captured message went, when, from which agent, and the message itself.
/// Borrows the auth key, payload and correlation id from the decoded buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Packet<'a> {
    pub version: Version,
    /// Source of the captured message (not of the HEP packet).
    pub src: SocketAddr,
    /// Destination of the captured message.
    pub dst: SocketAddr,
    pub transport: Transport,
    /// Always present in v2; in v3 when the sender included chunk 9 (chunk 10 defaults to 0); never in v1.
    pub timestamp: Option<Timestamp>,
    /// The capture agent's id (v2: 16 bits; v3 chunk 12: 32 bits, or 16 from old agents). Kept as read, as
    /// Homer reads it: agents that write `htons(id)` into the 32-bit chunk (sngrep, captagent) show `id << 16`.
    pub capture_id: Option<u32>,
    /// HEPv3 chunk 14, the shared password of the capture agent, as sent (no terminator is stripped).
    pub auth_key: Option<&'a [u8]>,
    pub payload_kind: PayloadKind,
    pub payload: Payload<'a>,
    /// HEPv3 chunk 17, e.g. the Call-ID an RTCP report or log line belongs to.
    pub correlation_id: Option<&'a [u8]>,
}

impl<'a> Packet<'a> {
    /// The SIP message when this packet carries one uncompressed, the case a SIP guard can parse directly.
    pub fn sip(&self) -> Option<&'a [u8]> {
        match (self.payload_kind, self.payload) {
            (PayloadKind::Sip, Payload::Raw(bytes)) => Some(bytes),
            _ => None,
        }
    }
}
