//! Why a HEP packet was refused or could not be written. Offsets count from the first byte of the packet.

use thiserror::Error;

/// Why [`crate::decode`] or [`crate::stream_frame`] refused the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Error {
    #[error("not a HEP packet: starts with byte {0:#04x}, expected 1, 2 or \"HEP3\"")]
    NotHep(u8),
    #[error("HEP packet truncated: {needed} bytes needed, {have} present")]
    Truncated { needed: usize, have: usize },
    #[error("HEPv3 length field says {declared} bytes but {actual} were given")]
    LengthMismatch { declared: usize, actual: usize },
    #[error("HEPv3 length field says {declared} bytes, less than its own 6-byte header")]
    HeaderLength { declared: usize },
    #[error("HEPv3 packet of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("HEPv3 chunk at offset {offset} has length {len}, outside 6..={room}")]
    ChunkOutOfBounds {
        offset: usize,
        len: u16,
        room: usize,
    },
    #[error("HEPv3 chunk type {chunk} has length {len}, expected {expected}")]
    ChunkLength {
        chunk: u16,
        len: u16,
        expected: &'static str,
    },
    #[error("HEPv3 generic chunk type 0 at offset {offset} is reserved")]
    ReservedChunk { offset: usize },
    #[error("HEPv3 chunk type {0} appears twice")]
    DuplicateChunk(u16),
    #[error("HEPv3 packet lacks the {0} chunk")]
    MissingChunk(&'static str),
    #[error("HEPv3 packet carries both a payload and a compressed payload")]
    TwoPayloads,
    #[error("HEP source and destination addresses are of different IP families")]
    MixedFamilies,
    #[error("HEPv3 packet carries both an IPv4 and an IPv6 {0} address")]
    TwoAddresses(&'static str),
    #[error("HEP IP family {family} does not match the addresses carried")]
    FamilyMismatch { family: u8 },
    #[error("HEP v1/v2 IP family {0} is neither 2 (IPv4) nor 10 (IPv6)")]
    UnknownFamily(u8),
}

/// Why [`crate::encode`] could not write a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EncodeError {
    #[error("HEPv3 packet would be {len} bytes, more than the 65535 its length field can say")]
    TooLarge { len: usize },
    #[error("HEP source and destination addresses are of different IP families")]
    MixedFamilies,
    #[error("HEP v1/v2 cannot carry the {0}")]
    NotInVersion(&'static str),
}
