//! `sip`: the zero-copy SIP wire core of tollguard. Parses messages over a borrowed byte buffer without
//! copying or allocating, gives typed lazy views of the headers a toll-fraud guard decides on, frames TCP/TLS
//! streams, and edits messages for forwarding into a caller-provided buffer. No I/O, no async.
//!
//! ```
//! let buf = b"OPTIONS sip:100@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK1\r\n\
//! From: <sip:100@192.0.2.1>;tag=abc\r\nTo: <sip:100@192.0.2.1>\r\nCall-ID: x1\r\nCSeq: 1 OPTIONS\r\n\
//! Max-Forwards: 70\r\nUser-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n";
//! let msg = sip::Message::parse(buf).unwrap();
//! assert_eq!(msg.user_agent(), Some("friendly-scanner"));
//! assert_eq!(msg.top_via().unwrap().branch(), Some("z9hG4bK1"));
//! ```

#![forbid(unsafe_code)]

mod chars;
pub mod edit;
pub mod error;
pub mod framing;
pub mod header;
pub mod message;
pub mod uri;
pub mod value;

pub use edit::{Forward, ResponseBuilder};
pub use error::{Anomalies, Anomaly, ParseError, UriError, ValueError};
pub use framing::{Frame, StreamFramer};
pub use header::HeaderName;
pub use message::{
    DialogId, HEADER_CAPACITY, Header, Limits, MAX_MESSAGE, Message, RequestLine, StartLine,
    StatusLine, TransactionKey, is_keepalive,
};
pub use uri::{Host, Params, SipUri, TelUri, Uri, percent_decode};
pub use value::{Auth, AuthParams, CSeq, Contact, Method, NameAddr, Transport, Via};
