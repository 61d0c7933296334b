//! What a scanner learns from the PBX without any password: which SIP ports and transports answer OPTIONS and
//! with which banner, whether REGISTER/OPTIONS answers tell existing extensions from unknown ones (the svwar
//! enumeration leak), whether an unauthenticated INVITE to an outside number is accepted (guest calls), and
//! which web ports answer and take a default login.

use std::time::Duration;

use serde::Serialize;

use crate::AuditError;
use crate::candidates::CandidateLists;
use crate::digest::random_token;
use crate::finding::{Finding, Severity};
use crate::request::{self, Dialog, Request};
use crate::target::{Target, Transport};
use crate::transport::{Connection, Response, TlsTrust};
use crate::web::{self, WebPort};

/// What to probe.
#[derive(Debug, Clone)]
pub struct ExposureAudit {
    pub target: Target,
    /// SIP ports and transports to ask OPTIONS on.
    pub sip_ports: Vec<(u16, Transport)>,
    /// Extensions compared with unknown names for the enumeration leak (a few suffice).
    pub extensions: Vec<String>,
    /// The outside number of the guest-call INVITE; `None` skips the check.
    pub guest_number: Option<String>,
    pub web_ports: Vec<u16>,
    pub lists: CandidateLists,
    pub rate: f64,
    pub domain: Option<String>,
    pub trust: TlsTrust,
    pub wait: Duration,
}

/// One SIP port's answer to OPTIONS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SipPort {
    pub port: u16,
    pub transport: Transport,
    pub status: Option<u16>,
    pub server: Option<String>,
}

/// The answers of one method to known and unknown user names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Enumeration {
    pub method: String,
    pub unknown_status: Option<u16>,
    pub extension_status: Vec<(String, Option<u16>)>,
    /// Extensions a scanner would see as existing (their answer differs from an unknown name's).
    pub revealed: Vec<String>,
}

/// Everything the exposure audit saw, and its findings.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExposureReport {
    pub sip: Vec<SipPort>,
    pub enumeration: Vec<Enumeration>,
    /// The first answer to the guest INVITE other than 100.
    pub guest_status: Option<u16>,
    pub web: Vec<WebPort>,
    pub findings: Vec<Finding>,
}

impl ExposureAudit {
    pub async fn run(&self) -> Result<ExposureReport, AuditError> {
        let mut rep = ExposureReport::default();
        for &(port, transport) in &self.sip_ports {
            let p = self.options(port, transport).await;
            rep.findings.extend(banner_findings(&self.target, &p));
            rep.sip.push(p);
        }
        if let Some(mut conn) = self.first_answering(&rep.sip).await {
            for method in ["REGISTER", "OPTIONS"] {
                let e = self.enumerate(&mut conn, method).await?;
                rep.findings.extend(enumeration_findings(&conn.target, &e));
                rep.enumeration.push(e);
            }
            if let Some(number) = &self.guest_number {
                rep.guest_status = self.guest_call(&mut conn, number).await?;
                rep.findings
                    .extend(guest_findings(&conn.target, number, rep.guest_status));
            }
        }
        let (w, f) = web::probe_ports(
            &self.target,
            &self.web_ports,
            &self.lists,
            self.rate,
            self.wait,
        )
        .await;
        rep.web = w;
        rep.findings.extend(f);
        Ok(rep)
    }

    async fn options(&self, port: u16, transport: Transport) -> SipPort {
        let t = self.target.with(port, transport);
        let mut p = SipPort {
            port,
            transport,
            status: None,
            server: None,
        };
        let Ok(mut conn) = Connection::open(&t, &self.trust, self.wait).await else {
            return p;
        };
        let d = Dialog::new();
        let r = self.request(
            &conn,
            &d,
            "OPTIONS",
            request::pbx_uri(&t, self.domain.as_deref()),
            "audit",
            "audit",
        );
        if let Ok(Some(resp)) = conn.transact(&r, &d.call_id, "OPTIONS", self.wait).await {
            p.status = Some(resp.status);
            p.server = resp.server;
        }
        p
    }

    /// A connection to the first SIP port that answered (the target's own first).
    async fn first_answering(&self, ports: &[SipPort]) -> Option<Connection> {
        let p = ports.iter().find(|p| p.status.is_some())?;
        Connection::open(
            &self.target.with(p.port, p.transport),
            &self.trust,
            self.wait,
        )
        .await
        .ok()
    }

    fn request(
        &self,
        conn: &Connection,
        d: &Dialog,
        method: &str,
        uri: String,
        from: &str,
        to: &str,
    ) -> String {
        let r = Request {
            method,
            uri,
            from_user: from,
            to_user: to,
            authorization: None,
            to_tag: None,
            body: None,
            contact: false,
        };
        request::write(conn, d, &r, self.domain.as_deref())
    }

    /// Asks about each extension and an unknown name the same way.
    async fn enumerate(
        &self,
        conn: &mut Connection,
        method: &str,
    ) -> Result<Enumeration, AuditError> {
        // Digits only, like an extension, so that a dial-plan pattern cannot tell it apart by shape.
        let unknown = format!("9{}", digits(7));
        let unknown_status = self.ask(conn, method, &unknown).await?;
        let mut extension_status = Vec::new();
        for ext in self.extensions.iter().take(10) {
            extension_status.push((ext.clone(), self.ask(conn, method, ext).await?));
        }
        let revealed = extension_status
            .iter()
            .filter(|(_, s)| s.is_some() && *s != unknown_status)
            .map(|(e, _)| e.clone())
            .collect();
        Ok(Enumeration {
            method: method.to_owned(),
            unknown_status,
            extension_status,
            revealed,
        })
    }

    async fn ask(
        &self,
        conn: &mut Connection,
        method: &str,
        user: &str,
    ) -> Result<Option<u16>, AuditError> {
        let d = Dialog::new();
        let host = self
            .domain
            .clone()
            .unwrap_or_else(|| conn.target.hostport());
        let uri = if method == "REGISTER" {
            format!("sip:{host}")
        } else {
            format!("sip:{user}@{host}")
        };
        let r = self.request(conn, &d, method, uri, user, user);
        Ok(conn
            .transact(&r, &d.call_id, method, self.wait)
            .await?
            .map(|r| r.status))
    }

    /// INVITE to an outside number without credentials; ends whatever it started at once.
    async fn guest_call(
        &self,
        conn: &mut Connection,
        number: &str,
    ) -> Result<Option<u16>, AuditError> {
        let mut d = Dialog::new();
        let host = self
            .domain
            .clone()
            .unwrap_or_else(|| conn.target.hostport());
        let r = Request {
            method: "INVITE",
            uri: format!("sip:{number}@{host}"),
            from_user: "anonymous",
            to_user: number,
            authorization: None,
            to_tag: None,
            body: Some(("application/sdp", request::sdp_offer(conn))),
            contact: true,
        };
        let invite = request::write(conn, &d, &r, self.domain.as_deref());
        let first = conn
            .transact(&invite, &d.call_id, "INVITE", self.wait)
            .await?;
        let Some(resp) = first else { return Ok(None) };
        self.end_guest_call(conn, &mut d, &r, &resp).await?;
        Ok(Some(resp.status))
    }

    /// CANCEL a ringing call, ACK (and BYE) an answered one, ACK a refusal.
    async fn end_guest_call(
        &self,
        conn: &mut Connection,
        d: &mut Dialog,
        invite: &Request<'_>,
        resp: &Response,
    ) -> Result<(), AuditError> {
        let tag = resp.to.as_deref().and_then(to_tag);
        match resp.status {
            s if s < 200 => {
                let cancel = self.follow(conn, d, invite, "CANCEL", None);
                conn.transact(&cancel, &d.call_id, "CANCEL", self.wait)
                    .await?;
                // The INVITE's final answer (487) is acknowledged on the INVITE's transaction.
                if let Some(fin) = conn.receive(&d.call_id, "INVITE", self.wait).await? {
                    let t = fin.to.as_deref().and_then(to_tag);
                    let ack = self.follow(conn, d, invite, "ACK", t.as_deref());
                    conn.send(&ack).await?;
                }
            }
            s if s < 300 => {
                d.next();
                let ack = self.follow(conn, d, invite, "ACK", tag.as_deref());
                conn.send(&ack).await?;
                d.next();
                let bye = self.follow(conn, d, invite, "BYE", tag.as_deref());
                conn.transact(&bye, &d.call_id, "BYE", self.wait).await?;
            }
            _ => {
                let ack = self.follow(conn, d, invite, "ACK", tag.as_deref());
                conn.send(&ack).await?;
            }
        }
        Ok(())
    }

    /// A request in the guest INVITE's dialog (CANCEL and non-2xx ACK keep the INVITE's branch and CSeq).
    fn follow(
        &self,
        conn: &Connection,
        d: &Dialog,
        invite: &Request<'_>,
        method: &str,
        tag: Option<&str>,
    ) -> String {
        let r = Request {
            method,
            uri: invite.uri.clone(),
            from_user: invite.from_user,
            to_user: invite.to_user,
            authorization: None,
            to_tag: tag,
            body: None,
            contact: false,
        };
        request::write(conn, d, &r, self.domain.as_deref())
    }
}

fn to_tag(to: &str) -> Option<String> {
    to.split(';')
        .skip(1)
        .find_map(|p| p.trim().strip_prefix("tag="))
        .map(str::to_owned)
}

fn digits(n: usize) -> String {
    random_token(n)
        .bytes()
        .take(n)
        .map(|b| char::from(b'0' + b % 10))
        .collect()
}

fn banner_findings(target: &Target, p: &SipPort) -> Vec<Finding> {
    let loc = format!(
        "{}:{}/{}",
        target.addr.ip(),
        p.port,
        p.transport.via().to_ascii_lowercase()
    );
    let Some(status) = p.status else {
        return Vec::new();
    };
    let mut f = vec![Finding::new(
        "sip-port-open",
        Severity::Info,
        &loc,
        format!("SIP answers OPTIONS ({status})"),
        "every SIP scanner on the internet finds this port within hours",
        "accept SIP only from your carrier and your phones' networks (firewall, or the PBX's ACLs)",
    )];
    if let Some(s) = p
        .server
        .as_deref()
        .filter(|s| s.chars().any(|c| c.is_ascii_digit()))
    {
        f.push(Finding::new(
            "version-disclosure",
            Severity::Warning,
            &loc,
            format!("the PBX names its software and version: {s:?}"),
            "scanners choose targets and exploits by the Server/User-Agent banner",
            "hide the version (Asterisk: useragent=PBX and sdpowner; Kamailio: server_signature=no; \
             FreeSWITCH: user-agent-string)",
        ));
    }
    f
}

fn enumeration_findings(target: &Target, e: &Enumeration) -> Vec<Finding> {
    if e.revealed.is_empty() {
        return Vec::new();
    }
    let fmt = |s: Option<u16>| s.map_or("no answer".to_owned(), |s| s.to_string());
    let known = e
        .extension_status
        .iter()
        .find(|(x, _)| e.revealed.contains(x))
        .map(|(_, s)| fmt(*s))
        .unwrap_or_default();
    vec![Finding::new(
        "enumeration-leak",
        Severity::Warning,
        format!("{}/{}", target.hostport(), e.method),
        format!(
            "{} answers {known} for existing extensions and {} for unknown ones: {} revealed",
            e.method,
            fmt(e.unknown_status),
            e.revealed.join(", ")
        ),
        "a scanner (svwar) lists your extensions in minutes and then guesses only their passwords",
        "answer the same for every name (Asterisk: alwaysauthreject=yes, pjsip: default since 13; \
         Kamailio: challenge before looking the user up)",
    )]
}

fn guest_findings(target: &Target, number: &str, status: Option<u16>) -> Vec<Finding> {
    match status {
        Some(s) if s < 300 => vec![Finding::new(
            "guest-call",
            Severity::Critical,
            format!("{}/INVITE", target.hostport()),
            format!("an INVITE to the outside number {number} without credentials got {s}"),
            "anyone on the internet can place calls through this PBX: the 2015 bill with no password to guess",
            "route unauthenticated calls only to your own extensions (Asterisk: allowguest=no, an anonymous \
             endpoint in a context that reaches no trunk)",
        )],
        _ => Vec::new(),
    }
}
