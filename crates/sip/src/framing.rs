//! Framing of a TCP/TLS byte stream into messages: CRLF keep-alives (RFC 5626) are skipped, a message ends
//! at its Content-Length (required on a stream, and never ambiguous), and a partial read yields
//! `Incomplete` so that the caller appends the next read and calls again.

use crate::error::ParseError;
use crate::message::{Framing, Limits, MAX_MESSAGE, Message};

/// One step of stream framing.
// The message is large (its header index is inline) but boxing it would allocate per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Frame<'a> {
    /// A complete message; the caller drops `len` bytes from the front of its buffer after use.
    Message { message: Message<'a>, len: usize },
    /// `len` bytes of CR/LF keep-alive to drop (answer a double CRLF ping with a single CRLF pong).
    KeepAlive { len: usize },
    /// More bytes are needed.
    Incomplete,
}

/// Cuts a stream into messages. Keeps only how far it has already looked for the end of the headers, so
/// partial reads are not rescanned from the start.
#[derive(Debug, Clone, Default)]
pub struct StreamFramer {
    limits: Limits,
    scanned: usize,
}

impl StreamFramer {
    pub fn new(limits: Limits) -> Self {
        StreamFramer { limits, scanned: 0 }
    }

    /// Looks at the front of `buf` (everything received and not yet consumed). A returned error means the
    /// stream can no longer be framed: the connection must be closed.
    pub fn next_frame<'a>(&mut self, buf: &'a [u8]) -> Result<Frame<'a>, ParseError> {
        let ka = buf
            .iter()
            .take_while(|c| matches!(c, b'\r' | b'\n'))
            .count();
        if ka > 0 {
            self.scanned = 0;
            return Ok(Frame::KeepAlive { len: ka });
        }
        let max = self.limits.max_message.min(MAX_MESSAGE);
        let from = self.scanned.saturating_sub(3);
        let Some(p) = memchr::memmem::find(buf.get(from..).unwrap_or(&[]), b"\r\n\r\n") else {
            if buf.len() > max {
                return Err(ParseError::TooLarge {
                    len: buf.len(),
                    max,
                });
            }
            self.scanned = buf.len();
            return Ok(Frame::Incomplete);
        };
        let head_end = from + p + 4;
        if head_end > max {
            return Err(ParseError::TooLarge { len: head_end, max });
        }
        self.scanned = head_end.saturating_sub(4);
        let mut m = Message::parse_stream_head(&buf[..head_end], &self.limits)?;
        let cl = m.content_length().ok_or(ParseError::MissingContentLength)? as usize;
        let total = head_end + cl;
        if total > max {
            return Err(ParseError::TooLarge { len: total, max });
        }
        let Some(raw) = buf.get(..total) else {
            m.finish_check_stream()?;
            return Ok(Frame::Incomplete);
        };
        m.set_raw(raw);
        m.finish(Framing::Stream)?;
        self.scanned = 0;
        Ok(Frame::Message {
            message: m,
            len: total,
        })
    }
}

impl Message<'_> {
    /// Stream errors that do not need the body (conflicting Content-Length) are reported at once.
    fn finish_check_stream(&self) -> Result<(), ParseError> {
        if self
            .anomalies()
            .contains(crate::Anomaly::ConflictingContentLength)
        {
            return Err(ParseError::ConflictingContentLength);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(cl: &str, body: &str) -> String {
        format!(
            "MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\n\
Call-ID: c\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\n{cl}\r\n{body}"
        )
    }

    #[test]
    fn frames_keepalives_partial_reads_and_pipelined_messages() {
        let one = msg("Content-Length: 5\r\n", "hello");
        let stream = format!("\r\n\r\n{one}{one}");
        let bytes = stream.as_bytes();
        let mut f = StreamFramer::default();
        let mut buf: Vec<u8> = Vec::new();
        let mut got = Vec::new();
        // Feed 7 bytes at a time, as short TCP reads would.
        for chunk in bytes.chunks(7) {
            buf.extend_from_slice(chunk);
            loop {
                match f.next_frame(&buf).unwrap() {
                    Frame::KeepAlive { len } => {
                        buf.drain(..len);
                    }
                    Frame::Message { message, len } => {
                        got.push(message.body().to_vec());
                        buf.drain(..len);
                    }
                    Frame::Incomplete => break,
                }
            }
        }
        assert_eq!(got, vec![b"hello".to_vec(), b"hello".to_vec()]);
        assert!(buf.is_empty());
    }

    #[test]
    fn stream_errors() {
        let mut f = StreamFramer::default();
        let no_cl = msg("", "");
        assert_eq!(
            f.next_frame(no_cl.as_bytes()).unwrap_err(),
            ParseError::MissingContentLength
        );
        let two = msg("Content-Length: 5\r\nContent-Length: 3\r\n", "hello");
        assert_eq!(
            StreamFramer::default()
                .next_frame(two.as_bytes())
                .unwrap_err(),
            ParseError::ConflictingContentLength
        );
        let short = msg("Content-Length: 50\r\n", "hello");
        assert!(matches!(
            StreamFramer::default().next_frame(short.as_bytes()),
            Ok(Frame::Incomplete)
        ));
        let big = vec![b'A'; MAX_MESSAGE + 1];
        assert!(matches!(
            StreamFramer::default().next_frame(&big),
            Err(ParseError::TooLarge { .. })
        ));
    }
}
