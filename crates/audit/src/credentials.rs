//! The active credential audit: for each account of the user's own PBX, one at a time and paced, the
//! candidates attackers try first, each as a REGISTER without Contact answered to the PBX's digest challenge.
//! Stops an account at its first success, and at the first sign that the PBX locks it (an answer that differs
//! from its usual answer to a wrong password, or silence).

use std::time::Duration;

use serde::Serialize;

use crate::AuditError;
use crate::candidates::{Candidate, CandidateLists, Origin};
use crate::digest::Challenge;
use crate::pacer::Pacer;
use crate::request::{self, Dialog, Request};
use crate::target::{Target, Transport};
use crate::transport::{Connection, Response, TlsTrust};

/// What to audit and how gently.
#[derive(Debug, Clone)]
pub struct CredentialAudit {
    pub target: Target,
    pub accounts: Vec<String>,
    pub lists: CandidateLists,
    /// Attempts per second (each attempt is a challenge and an answer).
    pub rate: f64,
    /// SIP domain of the accounts when it is not the PBX's address.
    pub domain: Option<String>,
    pub trust: TlsTrust,
    /// How long to wait for each response.
    pub wait: Duration,
}

/// How an account stood up to the audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// A candidate logged in.
    Weak {
        entry_id: String,
        origin: Origin,
        source: String,
        #[serde(skip)]
        password: String,
    },
    /// Every candidate was refused.
    Resisted,
    /// The PBX started answering differently (or stopped answering): it locks the account; the audit
    /// stopped there.
    LockedOut { status: Option<u16> },
    /// The PBX says the account does not exist (and tells a scanner so).
    NoSuchAccount { status: u16 },
    /// The PBX did not challenge the REGISTER (answered with this status).
    NotChallenged { status: Option<u16> },
}

/// One account's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountResult {
    pub account: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Authenticated attempts sent.
    pub attempts: usize,
    /// The entries tried, in order.
    pub tried: Vec<String>,
}

impl CredentialAudit {
    /// Runs the audit, one account after the other.
    pub async fn run(&self) -> Result<Vec<AccountResult>, AuditError> {
        let mut conn = Connection::open(&self.target, &self.trust, self.wait).await?;
        let mut pacer = Pacer::new(self.rate);
        let mut out = Vec::with_capacity(self.accounts.len());
        for account in &self.accounts {
            let r = match self.account(&mut conn, &mut pacer, account).await {
                Ok(r) => r,
                // A PBX (or its fail2ban) closing the connection mid-account is locking us out: note it, and
                // carry on with the next account over a new connection.
                Err(AuditError::Closed(_) | AuditError::Io { .. })
                    if self.target.transport != Transport::Udp =>
                {
                    conn = Connection::open(&self.target, &self.trust, self.wait).await?;
                    AccountResult {
                        account: account.clone(),
                        outcome: Outcome::LockedOut { status: None },
                        attempts: 0,
                        tried: Vec::new(),
                    }
                }
                Err(e) => return Err(e),
            };
            tracing::info!(account, result = ?r.outcome, attempts = r.attempts, "account audited");
            out.push(r);
        }
        Ok(out)
    }

    async fn account(
        &self,
        conn: &mut Connection,
        pacer: &mut Pacer,
        account: &str,
    ) -> Result<AccountResult, AuditError> {
        let mut result = AccountResult {
            account: account.to_owned(),
            outcome: Outcome::Resisted,
            attempts: 0,
            tried: Vec::new(),
        };
        let mut usual: Usual = Usual::default();
        for cand in self.lists.for_account(account) {
            pacer.ready().await;
            match self
                .attempt(conn, account, &cand, &mut usual, &mut result)
                .await?
            {
                Step::Continue => {}
                Step::Stop(o) => {
                    result.outcome = o;
                    break;
                }
            }
        }
        Ok(result)
    }

    /// One candidate: REGISTER, challenge, REGISTER with credentials.
    async fn attempt(
        &self,
        conn: &mut Connection,
        account: &str,
        cand: &Candidate,
        usual: &mut Usual,
        result: &mut AccountResult,
    ) -> Result<Step, AuditError> {
        let uri = request::pbx_uri(&self.target, self.domain.as_deref());
        let mut d = Dialog::new();
        let first = self.register(conn, &d, &uri, account, None).await?;
        let challenge = match first.as_ref().map(|r| r.status) {
            Some(401) | Some(407) => first.as_ref().and_then(challenge_of),
            Some(404) | Some(604) if result.attempts == 0 => {
                return Ok(Step::Stop(Outcome::NoSuchAccount {
                    status: first.map_or(404, |r| r.status),
                }));
            }
            status if result.attempts == 0 => {
                return Ok(Step::Stop(Outcome::NotChallenged { status }));
            }
            status => return Ok(Step::Stop(Outcome::LockedOut { status })),
        };
        let Some((header, ch)) = challenge else {
            return Ok(Step::Stop(Outcome::NotChallenged {
                status: first.map(|r| r.status),
            }));
        };
        d.next();
        let auth = ch
            .answer(account, "REGISTER", &uri)
            .authorization(&cand.password);
        result.attempts += 1;
        result.tried.push(cand.id.clone());
        let answer = self
            .register(conn, &d, &uri, account, Some((header, auth)))
            .await?;
        Ok(match answer.map(|r| r.status) {
            Some(s) if (200..300).contains(&s) => Step::Stop(Outcome::Weak {
                entry_id: cand.id.clone(),
                origin: cand.origin,
                source: cand.source.clone(),
                password: cand.password.clone(),
            }),
            status if usual.is_usual(status) => Step::Continue,
            status => Step::Stop(Outcome::LockedOut { status }),
        })
    }

    async fn register(
        &self,
        conn: &mut Connection,
        d: &Dialog,
        uri: &str,
        account: &str,
        authorization: Option<(&'static str, String)>,
    ) -> Result<Option<Response>, AuditError> {
        let r = Request {
            method: "REGISTER",
            uri: uri.to_owned(),
            from_user: account,
            to_user: account,
            authorization: authorization.as_ref().map(|(n, v)| (*n, v.clone())),
            to_tag: None,
            body: None,
            contact: false,
        };
        let text = request::write(conn, d, &r, self.domain.as_deref());
        conn.transact(&text, &d.call_id, "REGISTER", self.wait)
            .await
    }
}

enum Step {
    Continue,
    Stop(Outcome),
}

/// The PBX's usual answer to a wrong password (401/407 re-challenge, or 403 on PBXs such as Asterisk), learnt
/// from the first failure; anything else afterwards means the account is being locked.
#[derive(Debug, Default)]
struct Usual(Option<u16>);

impl Usual {
    fn is_usual(&mut self, status: Option<u16>) -> bool {
        match (self.0, status) {
            (_, None) => false,
            (None, Some(s)) if matches!(s, 401 | 403 | 407) => {
                self.0 = Some(s);
                true
            }
            (None, Some(_)) => false,
            (Some(u), Some(s)) => u == s,
        }
    }
}

/// The header to answer with and the best challenge of a 401/407.
fn challenge_of(r: &Response) -> Option<(&'static str, Challenge)> {
    if r.status == 407 {
        Challenge::best(r.proxy_authenticate.iter().map(String::as_str))
            .map(|c| ("Proxy-Authorization", c))
    } else {
        Challenge::best(r.www_authenticate.iter().map(String::as_str)).map(|c| ("Authorization", c))
    }
}

/// Expands "200-299", "201,205,300-310" into account names, keeping leading zeros ("0200-0202").
pub fn parse_extensions(spec: &str) -> Result<Vec<String>, AuditError> {
    let bad = || AuditError::BadExtensions(spec.to_owned());
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (x, y): (u64, u64) = (
                    a.trim().parse().map_err(|_| bad())?,
                    b.trim().parse().map_err(|_| bad())?,
                );
                if y < x || y - x > 10_000 {
                    return Err(bad());
                }
                let width = a.trim().len();
                out.extend((x..=y).map(|n| format!("{n:0width$}")));
            }
            None if part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c)) =>
            {
                out.push(part.to_owned())
            }
            None => return Err(bad()),
        }
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_ranges() {
        assert_eq!(
            parse_extensions("200-202").unwrap(),
            vec!["200", "201", "202"]
        );
        assert_eq!(
            parse_extensions("0200-0201, 305").unwrap(),
            vec!["0200", "0201", "305"]
        );
        assert!(parse_extensions("9-1").is_err());
        assert!(parse_extensions("").is_err());
        assert!(parse_extensions("20 0").is_err());
    }

    #[test]
    fn usual_failure_is_learnt_then_a_different_answer_is_a_lockout() {
        let mut u = Usual::default();
        assert!(u.is_usual(Some(401)));
        assert!(u.is_usual(Some(401)));
        assert!(!u.is_usual(Some(403)));
        let mut asterisk = Usual::default();
        assert!(asterisk.is_usual(Some(403)));
        assert!(!asterisk.is_usual(Some(503)));
        assert!(!Usual::default().is_usual(None));
    }
}
