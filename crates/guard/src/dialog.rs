//! Dialogs the guard carries: one [`Dialog`] per INVITE it forwarded, from the INVITE to its BYE, CANCEL,
//! failure or expiry. In-dialog requests are forwarded only along a tracked dialog (Call-ID and tags, from
//! one of its parties); the dialog also holds what is needed to feed answers and ends to the engine and to end
//! the call from the middle (BYE to both sides with each side's next CSeq, or CANCEL before an answer).
//!
//! Memory is bounded: at most `max` dialogs. An outsider can create early dialogs (INVITEs the PBX will
//! refuse), never answered ones, so eviction takes the oldest unanswered dialog first and an answered call
//! is only forgotten when the table holds nothing else.

use std::collections::{HashMap, VecDeque};

use engine::Millis;
use serde::{Deserialize, Serialize};

use crate::transport::Hop;

/// One call through the guard.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dialog {
    pub call_id: String,
    pub tenant: String,
    pub account: String,
    pub dialed: String,
    /// The engine decided this call (an outbound call on the trunk): its answer and end are fed to it.
    pub decided: bool,
    /// A call to an emergency number: never ended by a kill switch, passes bans.
    #[serde(default)]
    pub emergency: bool,
    /// Engine time of the INVITE and of the answer.
    pub started: Millis,
    pub answered: Option<Millis>,
    /// Wall time of the INVITE (for expiry).
    pub started_wall: Millis,
    /// Where the INVITE came from (the caller) and where it went (the callee).
    pub caller: Hop,
    pub callee: Hop,
    /// The caller's Contact URI, From and To (without tag) header values of the INVITE.
    pub caller_contact: String,
    pub from: String,
    pub to: String,
    /// The From-tag of the INVITE and the To-tag of the callee's answer (first 1xx/2xx with a tag).
    pub caller_tag: String,
    pub callee_tag: Option<String>,
    /// The callee's Contact URI and To header value (with its tag) from the 2xx.
    pub callee_contact: Option<String>,
    pub callee_to: Option<String>,
    /// CSeq number of the INVITE and the branch the guard used towards the callee.
    pub invite_cseq: u32,
    pub branch: String,
    /// The highest CSeq each side used in its requests: the guard's own BYE uses the next one.
    pub caller_cseq: u32,
    pub callee_cseq: Option<u32>,
    /// Request-URI the INVITE was forwarded with.
    pub request_uri: String,
    pub ended: bool,
    /// Ended by the guard (kill switch): a 2xx that crosses the guard's CANCEL is answered with ACK + BYE.
    #[serde(default)]
    pub killed: bool,
    /// Loaded from the store after a restart: the guard can end it, but has lost its transactions.
    #[serde(default)]
    pub restored: bool,
}

/// Which party of a dialog sent a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    Caller,
    Callee,
}

impl Dialog {
    /// The party whose tag the request carries in From (the sender), if the tags fit this dialog.
    pub fn party_of(&self, from_tag: &str, to_tag: &str) -> Option<Party> {
        let callee_ok = |t: &str| self.callee_tag.as_deref().is_none_or(|c| c == t);
        if from_tag == self.caller_tag && callee_ok(to_tag) {
            Some(Party::Caller)
        } else if to_tag == self.caller_tag && callee_ok(from_tag) {
            Some(Party::Callee)
        } else {
            None
        }
    }

    /// The hop of the other party.
    pub fn peer_of(&self, p: Party) -> Hop {
        match p {
            Party::Caller => self.callee,
            Party::Callee => self.caller,
        }
    }

    /// The hop of this party.
    pub fn hop_of(&self, p: Party) -> Hop {
        match p {
            Party::Caller => self.caller,
            Party::Callee => self.callee,
        }
    }

    /// Records the CSeq of a request a party sent.
    pub fn saw_cseq(&mut self, p: Party, cseq: u32) {
        match p {
            Party::Caller => self.caller_cseq = self.caller_cseq.max(cseq),
            Party::Callee => self.callee_cseq = Some(self.callee_cseq.unwrap_or(0).max(cseq)),
        }
    }
}

/// Dialogs looked at per expiry pass, at least (see [`Dialogs::expire`]).
const EXPIRE_SLICE: usize = 4096;
/// The long calls in progress are looked at in this many passes at most.
const LONG_SLICES: usize = 16;

/// The bounded table of dialogs, by Call-ID. Decided calls (the trunk leg) and routing-only dialogs (phones,
/// inbound calls) live in two maps, so that a PBX that keeps the Call-ID from one leg to the next (a proxy
/// PBX) still has both legs tracked, and a new INVITE can never overwrite a decided call.
#[derive(Debug)]
pub struct Dialogs {
    max: usize,
    /// Boxed, and sized for `max` at start: a map that grows moves every entry at once, which would hold up
    /// every message queued behind it; a slot costs a pointer until it is used.
    legs: [HashMap<String, Box<Dialog>>; 2],
    /// Call-IDs in order of creation, for expiry and eviction.
    order: VecDeque<(Millis, String, bool)>,
    /// Calls still in progress after the linger time (long calls), looked at a slice at a time.
    long: VecDeque<(Millis, String, bool)>,
    /// Whether decided dialogs are persisted (a store is configured): else no change is recorded.
    persist: bool,
    /// Changed since the last [`Dialogs::take_changes`]: to persist.
    dirty: Vec<String>,
    gone: Vec<String>,
    pub evicted: u64,
}

fn leg(decided: bool) -> usize {
    usize::from(!decided)
}

impl Dialogs {
    /// A table of at most `max` dialogs; `persist`: record the changes of decided ones for the store.
    pub fn new(max: usize, persist: bool) -> Self {
        let max = max.max(1);
        Dialogs {
            max,
            legs: [HashMap::with_capacity(max), HashMap::with_capacity(max)],
            persist,
            order: VecDeque::new(),
            long: VecDeque::new(),
            dirty: Vec::new(),
            gone: Vec::new(),
            evicted: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.legs.iter().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a dialog; when full, the oldest unanswered (else the oldest) is forgotten. Returns it.
    pub fn insert(&mut self, d: Dialog) -> Option<Box<Dialog>> {
        let mut evicted = None;
        while self.len() >= self.max {
            let Some((id, decided)) = self.victim() else {
                break;
            };
            if let Some(old) = self.legs[leg(decided)].remove(&id) {
                self.evicted += 1;
                if decided && self.persist {
                    self.gone.push(id);
                }
                evicted = Some(old);
            }
        }
        self.order
            .push_back((d.started_wall, d.call_id.clone(), d.decided));
        if d.decided && self.persist {
            self.dirty.push(d.call_id.clone());
        }
        self.legs[leg(d.decided)].insert(d.call_id.clone(), Box::new(d));
        evicted
    }

    /// The dialog to forget when full: the oldest ended or unanswered one, else the oldest.
    fn victim(&mut self) -> Option<(String, bool)> {
        let early = |q: &VecDeque<(Millis, String, bool)>| {
            q.iter().position(|(_, id, decided)| {
                self.legs[leg(*decided)]
                    .get(id)
                    .is_some_and(|d| d.ended || d.answered.is_none())
            })
        };
        let (q, i) = match (early(&self.long), early(&self.order)) {
            (Some(i), _) => (&mut self.long, i),
            (None, Some(i)) => (&mut self.order, i),
            (None, None) if !self.long.is_empty() => (&mut self.long, 0),
            (None, None) => (&mut self.order, 0),
        };
        q.remove(i).map(|(_, id, decided)| (id, decided))
    }

    /// The decided call with this Call-ID.
    pub fn get(&self, call_id: &str) -> Option<&Dialog> {
        self.legs[0].get(call_id).map(|d| &**d)
    }

    /// The decided call to change: it is marked for persistence.
    pub fn get_mut(&mut self, call_id: &str) -> Option<&mut Dialog> {
        self.leg_mut(call_id, true)
    }

    /// Either leg with this Call-ID (decided first).
    pub fn leg_mut(&mut self, call_id: &str, decided: bool) -> Option<&mut Dialog> {
        let d = self.legs[leg(decided)].get_mut(call_id)?;
        if decided && self.persist {
            self.dirty.push(d.call_id.clone());
        }
        Some(d)
    }

    /// The leg whose tags these are, and the party that sent the request: `(decided, party)`.
    pub fn find(&self, call_id: &str, from_tag: &str, to_tag: &str) -> Option<(&Dialog, Party)> {
        self.legs
            .iter()
            .filter_map(|m| m.get(call_id))
            .find_map(|d| d.party_of(from_tag, to_tag).map(|p| (&**d, p)))
    }

    /// Whether a call with this Call-ID (either leg) dials an emergency number.
    pub fn is_emergency(&self, call_id: &str) -> bool {
        self.legs
            .iter()
            .filter_map(|m| m.get(call_id))
            .any(|d| d.emergency)
    }

    /// A dialog of this leg with this Call-ID still in progress.
    pub fn in_progress_with(&self, call_id: &str, decided: bool) -> bool {
        self.legs[leg(decided)]
            .get(call_id)
            .is_some_and(|d| !d.ended)
    }

    /// Removes dialogs that ended and started more than `linger` ago, or started more than `max_age` ago
    /// (wall time); returns the decided ones that had not ended, so that the caller can tell the engine.
    ///
    /// Called every few hundred milliseconds, it never walks every dialog: the dialogs old enough to go are
    /// taken in order of creation (each looked at once, at most [`EXPIRE_SLICE`] per call, more when that
    /// falls behind), and the long calls still in progress a slice at a time (a call that ends is removed
    /// within 1/[`LONG_SLICES`] of the passes, a call older than `max_age` likewise).
    pub fn expire(&mut self, wall: Millis, linger: Millis, max_age: Millis) -> Vec<Dialog> {
        let mut lost = Vec::new();
        let young = linger.min(max_age);
        let budget = EXPIRE_SLICE.max(self.order.len() / LONG_SLICES);
        for _ in 0..budget {
            match self.order.front() {
                Some((at, _, _)) if wall.saturating_sub(*at) >= young => {}
                _ => break,
            }
            let Some(e) = self.order.pop_front() else {
                break;
            };
            if let Some(e) = self.expire_one(e, wall, linger, max_age, &mut lost) {
                self.long.push_back(e);
            }
        }
        let slice = EXPIRE_SLICE.max(self.long.len() / LONG_SLICES);
        for _ in 0..slice.min(self.long.len()) {
            let Some(e) = self.long.pop_front() else {
                break;
            };
            if let Some(e) = self.expire_one(e, wall, linger, max_age, &mut lost) {
                self.long.push_back(e);
            }
        }
        lost
    }

    /// Removes one dialog if its time has come; else gives its entry back.
    fn expire_one(
        &mut self,
        (at, id, decided): (Millis, String, bool),
        wall: Millis,
        linger: Millis,
        max_age: Millis,
        lost: &mut Vec<Dialog>,
    ) -> Option<(Millis, String, bool)> {
        let map = &mut self.legs[leg(decided)];
        let d = map.get(&id)?;
        let age = wall.saturating_sub(at);
        if !((d.ended && age >= linger) || age >= max_age) {
            return Some((at, id, decided));
        }
        if let Some(d) = map.remove(&id) {
            if decided && self.persist {
                self.gone.push(id);
            }
            if !d.ended && decided {
                lost.push(*d);
            }
        }
        None
    }

    /// Decided calls in progress.
    pub fn in_progress(&self) -> impl Iterator<Item = &Dialog> {
        self.legs[0].values().map(|d| &**d).filter(|d| !d.ended)
    }

    /// Decided dialogs changed since the last call (as JSON, with their tenant) and the Call-IDs that are
    /// gone or ended: what the store must write. One batch per call.
    pub fn take_changes(&mut self) -> (Vec<(String, String, String)>, Vec<String>) {
        let mut ended: Vec<String> = std::mem::take(&mut self.gone);
        let mut up = Vec::new();
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for id in dirty {
            match self.legs[0].get(&id) {
                Some(d) if !d.ended => {
                    if let Ok(json) = serde_json::to_string(d) {
                        up.push((id, d.tenant.clone(), json));
                    }
                }
                Some(_) => ended.push(id),
                None => {}
            }
        }
        ended.sort_unstable();
        ended.dedup();
        (up, ended)
    }

    /// A decided dialog loaded from the store after a restart (its connections are gone: sends go by
    /// address). False when the text is not a dialog.
    pub fn restore(&mut self, json: &str) -> bool {
        let Ok(mut d) = serde_json::from_str::<Dialog>(json) else {
            return false;
        };
        d.restored = true;
        d.decided = true;
        d.caller.conn = None;
        d.callee.conn = None;
        self.order
            .push_back((d.started_wall, d.call_id.clone(), true));
        self.legs[0].insert(d.call_id.clone(), Box::new(d));
        true
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
            decided: true,
            emergency: false,
            started: wall,
            answered: None,
            started_wall: wall,
            caller: hop(),
            callee: hop(),
            caller_contact: "sip:a@127.0.0.1".into(),
            from: "<sip:201@x>;tag=1".into(),
            to: "<sip:0123@x>".into(),
            caller_tag: "1".into(),
            callee_tag: None,
            callee_contact: None,
            callee_to: None,
            invite_cseq: 1,
            branch: "z9hG4bKx".into(),
            caller_cseq: 1,
            callee_cseq: None,
            request_uri: "sip:0123@x".into(),
            ended: false,
            killed: false,
            restored: false,
        }
    }

    /// An expiry pass looks at a slice of the dialogs, never at all of them: 20,000 long calls that end are
    /// removed over a bounded number of passes, each removing at most a slice.
    #[test]
    fn expiry_looks_at_a_slice_of_the_dialogs_per_pass() {
        let n = 20_000;
        let mut t = Dialogs::new(n + 1, true);
        for i in 0..n {
            let mut x = d(&format!("c{i}"), 0);
            x.answered = Some(1);
            t.insert(x);
        }
        // Past the linger time, all still in progress: nothing goes.
        for _ in 0..8 {
            assert!(t.expire(1_000, 500, 1_000_000).is_empty());
        }
        assert_eq!(t.len(), n);
        for i in 0..n {
            if let Some(x) = t.get_mut(&format!("c{i}")) {
                x.ended = true;
            }
        }
        let mut passes = 0;
        while !t.is_empty() {
            let before = t.len();
            t.expire(2_000, 500, 1_000_000);
            assert!(before - t.len() <= 2 * EXPIRE_SLICE, "a slice per pass");
            passes += 1;
            assert!(passes <= 2 * LONG_SLICES, "every dialog is reached");
        }
    }

    #[test]
    fn bounded_and_expiring() {
        let mut t = Dialogs::new(2, true);
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

    #[test]
    fn a_flood_of_early_dialogs_never_evicts_an_answered_call() {
        let mut t = Dialogs::new(3, true);
        t.insert(d("real", 0));
        t.get_mut("real").unwrap().answered = Some(5);
        for i in 0..100 {
            t.insert(d(&format!("flood{i}"), 10 + i));
        }
        assert!(t.get("real").is_some(), "the answered call was evicted");
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn tags_name_the_party_and_strangers_get_none() {
        let mut x = d("a", 0);
        x.callee_tag = Some("2".into());
        assert_eq!(x.party_of("1", "2"), Some(Party::Caller));
        assert_eq!(x.party_of("2", "1"), Some(Party::Callee));
        assert_eq!(x.party_of("1", "9"), None);
        assert_eq!(x.party_of("9", "2"), None);
    }

    #[test]
    fn changes_are_batched_and_survive_a_round_trip() {
        let mut t = Dialogs::new(10, true);
        t.insert(d("a", 0));
        t.get_mut("a").unwrap().caller_cseq = 7;
        let (up, ended) = t.take_changes();
        assert_eq!(up.len(), 1, "one row however often it changed");
        assert!(ended.is_empty());
        let mut u = Dialogs::new(10, true);
        assert!(u.restore(&up[0].2));
        let r = u.get("a").unwrap();
        assert!(r.restored && r.caller_cseq == 7);
        t.get_mut("a").unwrap().ended = true;
        let (up, ended) = t.take_changes();
        assert!(up.is_empty());
        assert_eq!(ended, vec!["a".to_owned()]);
    }

    /// Without a store nothing is recorded: no list of changes grows, no call is serialized on the core.
    #[test]
    fn without_a_store_no_change_is_recorded() {
        let mut t = Dialogs::new(10, false);
        t.insert(d("a", 0));
        t.get_mut("a").unwrap().ended = true;
        let _ = t.expire(100_000, 1, 1_000_000);
        assert!(t.is_empty());
        let (up, ended) = t.take_changes();
        assert!(up.is_empty() && ended.is_empty());
        assert!(t.dirty.is_empty() && t.gone.is_empty());
    }
}
