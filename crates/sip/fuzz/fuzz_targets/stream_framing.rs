//! Stream framing with arbitrary read boundaries. Invariants: every step makes progress or asks for more,
//! and a message framed from pieces equals the one framed from the whole buffer.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sip::{Frame, StreamFramer};

fn frames(data: &[u8], chunk: usize) -> Vec<Result<Vec<u8>, sip::ParseError>> {
    let mut f = StreamFramer::default();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            match f.next_frame(&buf) {
                Ok(Frame::KeepAlive { len }) => {
                    assert!(len > 0 && len <= buf.len());
                    buf.drain(..len);
                }
                Ok(Frame::Message { message, len }) => {
                    assert!(len > 0 && len <= buf.len());
                    out.push(Ok(message.as_bytes().to_vec()));
                    buf.drain(..len);
                }
                Ok(Frame::Incomplete) => break,
                Err(e) => {
                    out.push(Err(e));
                    return out;
                }
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let whole = frames(rest, rest.len());
    let pieces = frames(rest, usize::from(first % 64) + 1);
    let ok = |v: &Vec<Result<Vec<u8>, sip::ParseError>>| {
        v.iter()
            .filter_map(|r| r.as_ref().ok().cloned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ok(&whole),
        ok(&pieces),
        "framing must not depend on read boundaries"
    );
});
