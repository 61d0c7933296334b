//! Framing of HEPv3 on a byte stream (TCP, TLS): the length field in the packet header says where each
//! packet ends. HEP v1/v2 have no total length and are datagram-only, so a stream must start with `HEP3`.

use crate::Error;

/// The largest HEPv3 packet: its length field is 16 bits.
pub const MAX_V3_PACKET: usize = u16::MAX as usize;

/// What the front of a stream buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFrame {
    /// Not a whole packet yet: read until the buffer holds at least this many bytes, then ask again.
    NeedMore { at_least: usize },
    /// The first `len` bytes are one packet: pass `&buf[..len]` to [`crate::decode`] and drop them.
    Packet { len: usize },
}

/// Says how many bytes the packet at the front of `buf` needs, refusing any longer than `max` (at most
/// [`MAX_V3_PACKET`] can be declared) and anything that does not start with `HEP3`, as soon as the first
/// bytes show it, so a peer speaking something else is dropped without buffering.
pub fn stream_frame(buf: &[u8], max: usize) -> Result<StreamFrame, Error> {
    if !buf.iter().zip(b"HEP3").all(|(have, want)| have == want) {
        return Err(Error::NotHep(buf.first().copied().unwrap_or(0)));
    }
    let Some(&[_, _, _, _, l0, l1]) = buf.first_chunk::<6>() else {
        return Ok(StreamFrame::NeedMore { at_least: 6 });
    };
    let declared = usize::from(u16::from_be_bytes([l0, l1]));
    if declared < 6 {
        return Err(Error::HeaderLength { declared });
    }
    if declared > max {
        return Err(Error::TooLarge { len: declared, max });
    }
    if declared > buf.len() {
        return Ok(StreamFrame::NeedMore { at_least: declared });
    }
    Ok(StreamFrame::Packet { len: declared })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_by_the_length_field() {
        let mut stream = b"HEP3\x00\x08ab".to_vec();
        stream.extend_from_slice(b"HEP3\x00\x06");
        assert_eq!(
            stream_frame(&stream, 100),
            Ok(StreamFrame::Packet { len: 8 })
        );
        assert_eq!(
            stream_frame(&stream[8..], 100),
            Ok(StreamFrame::Packet { len: 6 })
        );
        assert_eq!(
            stream_frame(&stream[..7], 100),
            Ok(StreamFrame::NeedMore { at_least: 8 })
        );
        for cut in 0..6 {
            assert_eq!(
                stream_frame(&stream[..cut], 100),
                Ok(StreamFrame::NeedMore { at_least: 6 })
            );
        }
    }

    #[test]
    fn refuses_early_and_bounds_the_size() {
        assert_eq!(stream_frame(b"HX", 100), Err(Error::NotHep(b'H')));
        assert_eq!(stream_frame(b"\x02\x10", 100), Err(Error::NotHep(2)));
        assert_eq!(
            stream_frame(b"HEP3\xff\xff", 1500),
            Err(Error::TooLarge {
                len: 65535,
                max: 1500
            })
        );
        assert_eq!(
            stream_frame(b"HEP3\x00\x00", 1500),
            Err(Error::HeaderLength { declared: 0 })
        );
    }
}
