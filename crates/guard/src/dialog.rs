//! Calls in progress as the guard sees them: one [`Dialog`] per outbound INVITE that the engine decided on,
//! from the INVITE to its BYE, CANCEL, failure or expiry. Holds what is needed to feed answers and ends to
//! the engine and to end the call from the middle (BYE to both sides, or CANCEL before an answer). Memory is
//! bounded: at most `max` dialogs, and dialogs that never end expire.

use std::collections::{HashMap, VecDeque};

use engine::Millis;

use crate::transport::Hop;

/// One call through the trunk.
#[derive(Debug, Clone)]
pub struct Dialog {
    pub call_id: String,
    pub tenant: String,
    pub account: String,
    pub dialed: String,
    /// Engine time of the INVITE and of the answer.
    pub started: Millis,
    pub answered: Option<Millis>,
    /// Wall time of the INVITE (for expiry).
    pub started_wall: Millis,
    /// Where the INVITE came from (the caller, normally the PBX) and where it went (the callee).
    pub caller: Hop,
    pub callee: Hop,
    /// The caller's Contact URI, From and To (without tag) header values of the INVITE.
    pub caller_contact: String,
    pub from: String,
    pub to: String,
    /// The callee's Contact URI and To header value (with its tag) from the 2xx.
    pub callee_contact: Option<String>,
    pub callee_to: Option<String>,
    /// CSeq number of the INVITE and the branch the guard used towards the callee.
    pub invite_cseq: u32,
    pub branch: String,
    /// Request-URI the INVITE was forwarded with.
    pub request_uri: String,
    pub ended: bool,
}

/// The bounded table of dialogs, by Call-ID.
#[derive(Debug)]
pub struct Dialogs {
    max: usize,
    by_call: HashMap<String, Dialog>,
    /// Call-IDs in order of creation, for expiry and eviction.
    order: VecDeque<(Millis, String)>,
    pub evicted: u64,
}

impl Dialogs {
    pub fn new(max: usize) -> Self {
        Dialogs {
            max: max.max(1),
            by_call: HashMap::new(),
            order: VecDeque::new(),
            evicted: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.by_call.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_call.is_empty()
    }

    /// Adds a dialog; when full, the oldest is forgotten (its end will never reach the engine, which expires
    /// lost calls itself). Returns the evicted dialog, if any.
    pub fn insert(&mut self, d: Dialog) -> Option<Dialog> {
        let mut evicted = None;
        while self.by_call.len() >= self.max {
            match self.order.pop_front() {
                Some((_, id)) => {
                    if let Some(old) = self.by_call.remove(&id) {
                        self.evicted += 1;
                        evicted = Some(old);
                    }
                }
                None => break,
            }
        }
        self.order.push_back((d.started_wall, d.call_id.clone()));
        self.by_call.insert(d.call_id.clone(), d);
        evicted
    }

    pub fn get(&self, call_id: &str) -> Option<&Dialog> {
        self.by_call.get(call_id)
    }

    pub fn get_mut(&mut self, call_id: &str) -> Option<&mut Dialog> {
        self.by_call.get_mut(call_id)
    }

    pub fn remove(&mut self, call_id: &str) -> Option<Dialog> {
        self.by_call.remove(call_id)
    }

    /// Removes dialogs that ended more than `linger` ago or started more than `max_age` ago (wall time);
    /// returns the ones that had not ended, so that the caller can tell the engine.
    pub fn expire(&mut self, wall: Millis, linger: Millis, max_age: Millis) -> Vec<Dialog> {
        let mut lost = Vec::new();
        let mut keep = VecDeque::with_capacity(self.order.len());
        while let Some((at, id)) = self.order.pop_front() {
            let Some(d) = self.by_call.get(&id) else {
                continue;
            };
            let age = wall.saturating_sub(at);
            if (d.ended && age >= linger) || age >= max_age {
                if let Some(d) = self.by_call.remove(&id)
                    && !d.ended
                {
                    lost.push(d);
                }
            } else {
                keep.push_back((at, id));
            }
        }
        self.order = keep;
        lost
    }

    /// Call-IDs of dialogs in progress.
    pub fn in_progress(&self) -> impl Iterator<Item = &Dialog> {
        self.by_call.values().filter(|d| !d.ended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TransportKind;

    fn hop() -> Hop {
        Hop {
            dest: "127.0.0.1:5060".parse().unwrap(),
            listener: 0,
            transport: TransportKind::Udp,
            conn: None,
        }
    }

    fn d(id: &str, wall: Millis) -> Dialog {
        Dialog {
            call_id: id.into(),
            tenant: String::new(),
            account: "201".into(),
            dialed: "0123".into(),
            started: wall,
            answered: None,
            started_wall: wall,
            caller: hop(),
            callee: hop(),
            caller_contact: "sip:a@127.0.0.1".into(),
            from: "<sip:201@x>;tag=1".into(),
            to: "<sip:0123@x>".into(),
            callee_contact: None,
            callee_to: None,
            invite_cseq: 1,
            branch: "z9hG4bKx".into(),
            request_uri: "sip:0123@x".into(),
            ended: false,
        }
    }

    #[test]
    fn bounded_and_expiring() {
        let mut t = Dialogs::new(2);
        assert!(t.insert(d("a", 0)).is_none());
        assert!(t.insert(d("b", 10)).is_none());
        assert_eq!(t.insert(d("c", 20)).map(|x| x.call_id), Some("a".into()));
        assert_eq!(t.len(), 2);
        assert_eq!(t.evicted, 1);
        if let Some(x) = t.get_mut("b") {
            x.ended = true;
        }
        // b ended long enough ago; c is still running and young.
        let lost = t.expire(1_000, 500, 10_000);
        assert!(lost.is_empty());
        assert!(t.get("b").is_none() && t.get("c").is_some());
        // c never ended: expires at max_age and is reported as lost.
        let lost = t.expire(20_000, 500, 10_000);
        assert_eq!(lost.len(), 1);
        assert!(t.is_empty());
    }
}
