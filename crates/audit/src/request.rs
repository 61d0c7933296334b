//! The few SIP requests the audit sends, written out in full: REGISTER without Contact (a binding query that
//! never changes the real phone's registration, RFC 3261 §10.2.3), OPTIONS, and INVITE/CANCEL/ACK/BYE for
//! the guest-call check.

use crate::digest::random_token;
use crate::target::Target;
use crate::transport::Connection;

/// The identifiers of one request, to match its responses and build follow-ups (CANCEL, ACK).
#[derive(Debug, Clone)]
pub struct Dialog {
    pub call_id: String,
    pub from_tag: String,
    pub branch: String,
    pub cseq: u32,
}

impl Dialog {
    pub fn new() -> Dialog {
        Dialog {
            call_id: format!("{}@tollguard-audit", random_token(10)),
            from_tag: random_token(4),
            branch: format!("z9hG4bK{}", random_token(8)),
            cseq: 1,
        }
    }

    /// The next request in the same dialog: a new transaction.
    pub fn next(&mut self) {
        self.cseq += 1;
        self.branch = format!("z9hG4bK{}", random_token(8));
    }
}

impl Default for Dialog {
    fn default() -> Self {
        Dialog::new()
    }
}

/// What varies between the requests.
pub struct Request<'a> {
    pub method: &'a str,
    pub uri: String,
    pub from_user: &'a str,
    pub to_user: &'a str,
    pub authorization: Option<(&'a str, String)>,
    pub to_tag: Option<&'a str>,
    pub body: Option<(&'a str, String)>,
    /// `Some` for requests that open a dialog (INVITE): the Contact.
    pub contact: bool,
}

/// Request-URI of the PBX itself (REGISTER, OPTIONS).
pub fn pbx_uri(target: &Target, domain: Option<&str>) -> String {
    format!("sip:{}", domain.unwrap_or(&target.hostport()))
}

/// The request text.
pub fn write(c: &Connection, d: &Dialog, r: &Request<'_>, domain: Option<&str>) -> String {
    let host = domain.map_or_else(|| c.target.hostport(), str::to_owned);
    let local = c.local;
    let mut m = format!(
        "{method} {uri} SIP/2.0\r\n\
         Via: SIP/2.0/{tr} {local};branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{from}@{host}>;tag={tag}\r\n\
         To: <sip:{to}@{host}>{totag}\r\n\
         Call-ID: {cid}\r\n\
         CSeq: {cseq} {method}\r\n\
         User-Agent: tollguard-audit\r\n",
        method = r.method,
        uri = r.uri,
        tr = c.target.transport.via(),
        branch = d.branch,
        from = r.from_user,
        tag = d.from_tag,
        to = r.to_user,
        totag = r.to_tag.map(|t| format!(";tag={t}")).unwrap_or_default(),
        cid = d.call_id,
        cseq = d.cseq,
    );
    if r.contact {
        m.push_str(&format!(
            "Contact: <sip:{}@{local};transport={}>\r\n",
            r.from_user,
            c.target.transport.via().to_ascii_lowercase()
        ));
    }
    if let Some((name, value)) = &r.authorization {
        m.push_str(&format!("{name}: {value}\r\n"));
    }
    match &r.body {
        Some((ctype, body)) => m.push_str(&format!(
            "Content-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )),
        None => m.push_str("Content-Length: 0\r\n\r\n"),
    }
    m
}

/// A minimal SDP offer (an INVITE without one is refused by some PBXs before they look at authentication).
pub fn sdp_offer(c: &Connection) -> String {
    let ip = c.local.ip();
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    format!(
        "v=0\r\no=audit 1 1 IN {family} {ip}\r\ns=tollguard audit\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
         m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    )
}
