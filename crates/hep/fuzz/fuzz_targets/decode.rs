//! HEP decoding and stream framing of arbitrary bytes. Invariants: no panic; whatever decodes re-encodes to
//! bytes that decode to the same packet; framing a stream in pieces cuts the same packets as framing it whole.
#![no_main]
use libfuzzer_sys::fuzz_target;

/// Packets framed from `data` read in pieces of `chunk` bytes, stopping at the first framing error.
fn frames(data: &[u8], chunk: usize) -> Vec<Vec<u8>> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            match hep::stream_frame(&buf, 4096) {
                Ok(hep::StreamFrame::Packet { len }) => {
                    assert!(len >= 6 && len <= buf.len());
                    out.push(buf[..len].to_vec());
                    buf.drain(..len);
                }
                Ok(hep::StreamFrame::NeedMore { at_least }) => {
                    assert!(at_least > buf.len() && at_least <= 4096);
                    break;
                }
                Err(_) => return out,
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = hep::decode(data) {
        let mut again = Vec::new();
        if hep::encode(&packet, &mut again).is_ok() {
            assert_eq!(
                hep::decode(&again),
                Ok(packet),
                "re-encoded packet decodes differently"
            );
        }
    }
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let whole = frames(rest, rest.len());
    let pieces = frames(rest, usize::from(first % 64) + 1);
    assert_eq!(whole, pieces, "framing must not depend on read boundaries");
    for packet in &whole {
        let _ = hep::decode(packet);
    }
});
