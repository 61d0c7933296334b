//! What the SIP shards share: the one decision owner (the [`Decider`]: engine, ban table, tenants, kill
//! switches) and the state that is not keyed by Call-ID (phones registered through the guard, the PBX's
//! learned challenges, weak-login checks, the refusal budget). Each sits behind its own lock, taken for one
//! call and never across I/O; what a call into the decider produces comes back as effects to the shard that
//! made it. Dialogs and transactions are not here: they belong to the shard their Call-ID hashes to
//! ([`Shared::shard_of`]).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use engine::{Engine, Millis};
use numbering::Numbering;
use parking_lot::Mutex;

use super::{challenge, weak};
use crate::config::Settings;
use crate::transport::Hop;
use decide::Decider;

/// State of the guard that every shard reads and writes, one lock per kind.
pub struct Shared {
    pub(super) decider: Mutex<Decider>,
    /// Registered phones reachable through the guard (Path): contact → the flow it registered over.
    pub(super) registrations: Mutex<HashMap<String, (Hop, Millis)>>,
    /// The PBX's answers to logins, learned so that unknown users look like wrong passwords.
    pub(super) challenges: Mutex<challenge::Templates>,
    /// Accounts whose accepted login was tested against the weak-password lists lately.
    pub(super) weak_checks: Mutex<weak::WeakChecks>,
    /// Refusals sent to sources that may not use a listener, this second (then silent drops).
    pub(super) refusals: Mutex<(Millis, u32)>,
    /// Keyed with random keys at start: To tags, branches, nonces, and the shard of a Call-ID (an attacker
    /// who chooses Call-IDs cannot aim them all at one shard).
    pub(super) hasher: std::hash::RandomState,
    shards: usize,
}

impl Shared {
    /// The decision owner for `shards` SIP shards (at least one).
    pub fn new(
        settings: &Settings,
        engine: Engine,
        numbering: Arc<Numbering>,
        shards: usize,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            decider: Mutex::new(Decider::new(
                Arc::new(settings.decide_config()),
                engine,
                numbering,
            )),
            registrations: Mutex::new(HashMap::new()),
            challenges: Mutex::new(challenge::Templates::default()),
            weak_checks: Mutex::new(weak::WeakChecks::default()),
            refusals: Mutex::new((0, 0)),
            hasher: std::hash::RandomState::new(),
            shards: shards.max(1),
        })
    }

    /// How many SIP shards there are.
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// The shard that owns the transactions and dialogs of this Call-ID.
    pub fn shard_of(&self, call_id: &[u8]) -> usize {
        if self.shards == 1 {
            return 0;
        }
        let n = u64::try_from(self.shards).unwrap_or(1);
        usize::try_from(self.hasher.hash_one(call_id) % n).unwrap_or(0)
    }

    /// The shard a received message goes to: the one of its Call-ID, shard 0 when it has none (shard 0
    /// rejects it like any malformed message).
    pub fn shard_of_message(&self, data: &[u8]) -> usize {
        if self.shards == 1 {
            return 0;
        }
        sip_call_id(data).map_or(0, |id| self.shard_of(id))
    }

    /// The decision layer, locked for one call.
    pub fn decider(&self) -> parking_lot::MutexGuard<'_, Decider> {
        self.decider.lock()
    }
}

/// The Call-ID of a SIP message (or of the SIP inside a HEP packet), found by a scan of its header lines
/// without parsing: the value of the first `Call-ID:` or `i:` line (any case), without the blanks around
/// it, as the parser reads it.
pub fn sip_call_id(data: &[u8]) -> Option<&[u8]> {
    let mut at = 0;
    while let Some(nl) = data.get(at..)?.iter().position(|&b| b == b'\n') {
        let line = data.get(at + nl + 1..)?;
        at += nl + 1;
        let name_len = if line.len() > 7 && line[..7].eq_ignore_ascii_case(b"call-id") {
            7
        } else if line.first().is_some_and(|b| b.eq_ignore_ascii_case(&b'i')) {
            1
        } else {
            continue;
        };
        let rest = &line[name_len..];
        let colon = rest.iter().position(|&b| b != b' ' && b != b'\t');
        let Some(c) = colon.filter(|&c| rest.get(c) == Some(&b':')) else {
            continue;
        };
        let value = &rest[c + 1..];
        let end = value
            .iter()
            .position(|&b| b == b'\r' || b == b'\n')
            .unwrap_or(value.len());
        let v = value[..end].trim_ascii();
        return (!v.is_empty()).then_some(v);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_call_id_is_found_in_long_and_compact_form_as_the_parser_reads_it() {
        let long = b"INVITE sip:1@x SIP/2.0\r\nVia: SIP/2.0/UDP a\r\nCALL-ID :  abc@host \r\nCSeq: 1 INVITE\r\n\r\n";
        let compact = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a\r\ni:abc@host\r\n\r\n";
        assert_eq!(sip_call_id(long), Some(&b"abc@host"[..]));
        assert_eq!(sip_call_id(compact), Some(&b"abc@host"[..]));
        let parsed = sip::Message::parse(long).unwrap();
        assert_eq!(parsed.call_id().map(str::as_bytes), sip_call_id(long));
        // Headers that only start like it are not it.
        let other = b"OPTIONS sip:x SIP/2.0\r\nIn-Reply-To: zzz\r\nCall-Info: <x>\r\n\r\n";
        assert_eq!(sip_call_id(other), None);
        assert_eq!(sip_call_id(b"garbage"), None);
        assert_eq!(sip_call_id(b"X\r\ni:"), None);
    }
}
