//! Keys and bounded maps: every per-key state lives in a [`BoundedMap`] keyed by a seeded 64-bit hash of the key
//! (no string is built or cloned per event), capped in size, with idle expiry and eviction of the least recently
//! seen entries when a flood of new keys arrives. Also the [`CallLog`] that remembers recent call ids for alerts.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};

use crate::event::Millis;

/// Hashes keys with a seed, so that an attacker who does not know the seed cannot aim collisions at a map.
/// Deterministic for a given seed (the seed is part of the snapshot).
#[derive(Debug, Clone)]
pub struct KeyHasher {
    seed: u64,
    state: foldhash::fast::FixedState,
}

/// What a key is, mixed into its hash so that equal strings of different kinds never share an entry.
#[derive(Debug, Clone, Copy)]
#[repr(u8)]
pub enum KeyKind {
    Account = 1,
    Tenant = 2,
    Number = 3,
    Range = 4,
    Country = 5,
    Call = 6,
    Username = 7,
}

impl KeyHasher {
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            state: foldhash::fast::FixedState::with_seed(seed),
        }
    }
    pub fn seed(&self) -> u64 {
        self.seed
    }
    #[inline]
    pub fn one(&self, kind: KeyKind, a: &str) -> u64 {
        let mut h = self.state.build_hasher();
        h.write_u8(kind as u8);
        h.write(a.as_bytes());
        h.finish()
    }
    #[inline]
    pub fn two(&self, kind: KeyKind, a: &str, b: &str) -> u64 {
        let mut h = self.state.build_hasher();
        h.write_u8(kind as u8);
        h.write(a.as_bytes());
        h.write_u8(0xff);
        h.write(b.as_bytes());
        h.finish()
    }
    pub fn bytes(&self, kind: KeyKind, a: &[u8], b: u64) -> u64 {
        let mut h = self.state.build_hasher();
        h.write_u8(kind as u8);
        h.write(a);
        h.write_u64(b);
        h.finish()
    }
}

/// Keys are already hashes: the map must not hash them again.
#[derive(Default, Clone, Copy)]
pub struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdentityHasher>>;

/// A state that knows when it was last touched.
pub trait Idle {
    fn last_seen(&self) -> Millis;
}

/// A map with a hard cap on its number of entries: a [`SlabMap`] for callers that need no position hints.
#[derive(Debug, Clone)]
pub struct BoundedMap<V>(SlabMap<V>);

impl<V: Idle> BoundedMap<V> {
    pub fn new(cap: usize) -> Self {
        Self(SlabMap::new(cap))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Entries removed to make room since start.
    pub fn evicted(&self) -> u64 {
        self.0.evicted()
    }

    pub fn get(&self, key: u64) -> Option<&V> {
        self.0.get(key)
    }
    pub fn get_mut(&mut self, key: u64) -> Option<&mut V> {
        self.0.get_mut(key)
    }
    pub fn remove(&mut self, key: u64) -> Option<V> {
        self.0.remove(key)
    }

    /// The entry for `key`, made by `make` when absent (evicting an old entry first when full, see
    /// [`SlabMap::entry`]).
    pub fn entry(&mut self, key: u64, make: impl FnOnce() -> V) -> &mut V {
        self.0.entry(key, make).1
    }

    /// Drops entries idle for `ttl` or longer.
    pub fn expire(&mut self, now: Millis, ttl: Millis) -> usize {
        self.0.expire(now, ttl)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&u64, &V)> {
        self.0.iter()
    }

    /// Entries sorted by key, for a deterministic snapshot.
    pub fn to_sorted(&self) -> Vec<(u64, V)>
    where
        V: Clone,
    {
        self.0.to_sorted()
    }

    pub fn from_entries(cap: usize, entries: Vec<(u64, V)>) -> Self {
        Self(SlabMap::from_entries(cap, entries))
    }
}

/// A map with a hard cap on its number of entries, which live in a vector, found through a map from key to
/// position. The entry used last is found again without a hash probe (one tenant usually places most
/// calls), and a caller may keep an entry's position as a hint ([`SlabMap::get_mut_hinted`]): a hint is only
/// trusted when the entry there has the key, so a stale one costs a probe, never a wrong entry.
#[derive(Debug, Clone)]
pub struct SlabMap<V> {
    index: IdMap<usize>,
    slots: Vec<(u64, V)>,
    cap: usize,
    evicted: u64,
    /// Position of the entry used last (checked against the key before use).
    last: usize,
    /// Picks the entries an eviction compares (xorshift64: the same operations evict the same entries).
    sampler: u64,
}

/// Entries an eviction compares: it removes the least recently seen of this many, picked at random.
const EVICTION_SAMPLES: usize = 8;

impl<V: Idle> SlabMap<V> {
    pub fn new(cap: usize) -> Self {
        Self {
            index: IdMap::default(),
            slots: Vec::new(),
            cap: cap.max(8),
            evicted: 0,
            last: 0,
            sampler: 0x9E37_79B9_7F4A_7C15,
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }
    /// Entries removed to make room since start.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    #[inline]
    fn holds(&self, at: usize, key: u64) -> bool {
        self.slots.get(at).is_some_and(|e| e.0 == key)
    }

    /// The position of `key`, trying `hint` and the last entry used before the index.
    #[inline]
    fn position(&self, key: u64, hint: usize) -> Option<usize> {
        if self.holds(hint, key) {
            return Some(hint);
        }
        if self.holds(self.last, key) {
            return Some(self.last);
        }
        self.index.get(&key).copied()
    }

    pub fn get(&self, key: u64) -> Option<&V> {
        let at = self.position(key, usize::MAX)?;
        self.slots.get(at).map(|e| &e.1)
    }

    #[inline]
    pub fn get_mut(&mut self, key: u64) -> Option<&mut V> {
        self.get_mut_hinted(key, usize::MAX).map(|(_, v)| v)
    }

    /// The entry of `key` and its position, trying the position `hint` first.
    #[inline]
    pub fn get_mut_hinted(&mut self, key: u64, hint: usize) -> Option<(usize, &mut V)> {
        let at = self.position(key, hint)?;
        self.last = at;
        self.slots.get_mut(at).map(|e| (at, &mut e.1))
    }

    /// The entry for `key` and its position, made by `make` when absent. When the map is full, one entry makes
    /// room first: the least recently seen of [`EVICTION_SAMPLES`] picked at random (Redis's approximated LRU).
    /// An outsider who floods the map with new keys evicts mostly his own older ones, and a key seen recently
    /// goes only when every entry sampled with it is newer still. Evicting the exact oldest eighth at once, as
    /// before, was a pass over the whole map under the decision lock every `cap / 8` insertions: a millisecond
    /// or more at 100,000 entries, every 2.5 s at 5,000 new calls a second.
    #[inline]
    pub fn entry(&mut self, key: u64, make: impl FnOnce() -> V) -> (usize, &mut V) {
        if let Some(at) = self.position(key, usize::MAX)
            && at < self.slots.len()
        {
            self.last = at;
            return (at, &mut self.slots[at].1);
        }
        self.insert_new(key, make())
    }

    #[inline(never)]
    fn insert_new(&mut self, key: u64, v: V) -> (usize, &mut V) {
        if self.slots.len() >= self.cap {
            self.evict_one();
        }
        self.slots.push((key, v));
        let at = self.slots.len() - 1;
        self.index.insert(key, at);
        self.last = at;
        (at, &mut self.slots[at].1)
    }

    pub fn remove(&mut self, key: u64) -> Option<V> {
        let at = self.index.remove(&key)?;
        if at >= self.slots.len() {
            return None;
        }
        let (_, v) = self.slots.swap_remove(at);
        if let Some(moved) = self.slots.get(at).map(|e| e.0)
            && let Some(p) = self.index.get_mut(&moved)
        {
            *p = at;
        }
        Some(v)
    }

    /// Removes the least recently seen of [`EVICTION_SAMPLES`] entries picked at random (ties: the smaller key).
    fn evict_one(&mut self) {
        let n = self.slots.len() as u64;
        if n == 0 {
            return;
        }
        let mut oldest: Option<(Millis, u64)> = None;
        for _ in 0..EVICTION_SAMPLES {
            self.sampler ^= self.sampler << 13;
            self.sampler ^= self.sampler >> 7;
            self.sampler ^= self.sampler << 17;
            let (key, v) = &self.slots[(self.sampler % n) as usize];
            let seen = (v.last_seen(), *key);
            if oldest.is_none_or(|o| seen < o) {
                oldest = Some(seen);
            }
        }
        if let Some((_, key)) = oldest
            && self.remove(key).is_some()
        {
            self.evicted += 1;
        }
    }

    /// Drops entries idle for `ttl` or longer.
    pub fn expire(&mut self, now: Millis, ttl: Millis) -> usize {
        let idle: Vec<u64> = self
            .slots
            .iter()
            .filter(|(_, v)| now.saturating_sub(v.last_seen()) >= ttl)
            .map(|(k, _)| *k)
            .collect();
        for k in &idle {
            self.remove(*k);
        }
        idle.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&u64, &V)> {
        self.slots.iter().map(|(k, v)| (k, v))
    }

    /// Entries sorted by key, for a deterministic snapshot.
    pub fn to_sorted(&self) -> Vec<(u64, V)>
    where
        V: Clone,
    {
        let mut v = self.slots.clone();
        v.sort_unstable_by_key(|(k, _)| *k);
        v
    }

    pub fn from_entries(cap: usize, entries: Vec<(u64, V)>) -> Self {
        let mut m = Self::new(cap);
        for (k, v) in entries {
            m.entry(k, || v);
        }
        m
    }
}

/// Capacity of the call log.
pub const CALL_LOG: usize = 16_384;

/// Call ids up to this many bytes are kept inside their slot (Asterisk uniqueids, UUIDs and most SIP Call-IDs).
const INLINE_ID: usize = 46;

/// One remembered call id: short ids inline (recording one copies bytes into a slot next to the previous one),
/// longer ones in a string buffer that the slot keeps and reuses.
#[derive(Debug, Clone)]
struct Slot {
    seq: u64,
    len: u8,
    inline: [u8; INLINE_ID],
    long: String,
}

impl Default for Slot {
    fn default() -> Self {
        Slot {
            seq: 0,
            len: 0,
            inline: [0; INLINE_ID],
            long: String::new(),
        }
    }
}

impl Slot {
    fn set(&mut self, seq: u64, id: &str) {
        self.seq = seq;
        let b = id.as_bytes();
        let n = b.len();
        // Ids of 16 to 32 bytes (Asterisk uniqueids) are copied as two overlapping 16-byte blocks, without a
        // call to memcpy.
        if (16..=32).contains(&n)
            && let (Some(dst_lo), Some(src_lo)) = (self.inline.get_mut(..16), b.get(..16))
        {
            dst_lo.copy_from_slice(src_lo);
            if let (Some(dst_hi), Some(src_hi)) = (self.inline.get_mut(n - 16..n), b.get(n - 16..n))
            {
                dst_hi.copy_from_slice(src_hi);
            }
            self.len = n as u8;
            self.long.clear();
            return;
        }
        match self.inline.get_mut(..id.len()) {
            Some(dst) => {
                dst.copy_from_slice(id.as_bytes());
                self.len = id.len() as u8;
                self.long.clear();
            }
            None => {
                self.len = u8::MAX;
                self.long.clear();
                self.long.push_str(id);
            }
        }
    }

    fn id(&self) -> &str {
        if self.len == u8::MAX {
            return &self.long;
        }
        // The bytes were copied from a &str whole, so they are UTF-8; the check never fails.
        self.inline
            .get(..usize::from(self.len))
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }
}

/// A ring of the most recent call ids, addressed by sequence number. Once warm, recording a call id copies
/// bytes and never allocates. Serialised as before slots went inline: `{"slots": [[seq, "id"], …], "next_seq"}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "CallLogWire", into = "CallLogWire")]
pub struct CallLog {
    slots: Vec<Slot>,
    next_seq: u64,
}

/// The call log as snapshots store it.
#[derive(Clone, Serialize, Deserialize)]
struct CallLogWire {
    slots: Vec<(u64, String)>,
    next_seq: u64,
}

impl From<CallLog> for CallLogWire {
    fn from(l: CallLog) -> Self {
        CallLogWire {
            slots: l.slots.iter().map(|s| (s.seq, s.id().to_owned())).collect(),
            next_seq: l.next_seq,
        }
    }
}

impl From<CallLogWire> for CallLog {
    fn from(w: CallLogWire) -> Self {
        let slots = w
            .slots
            .iter()
            .map(|(seq, id)| {
                let mut s = Slot::default();
                s.set(*seq, id);
                s
            })
            .collect();
        CallLog {
            slots,
            next_seq: w.next_seq,
        }
    }
}

impl CallLog {
    /// Records a call id, returning its sequence number (never 0).
    #[inline]
    pub fn record(&mut self, call_id: &str) -> u64 {
        self.next_seq += 1;
        let seq = self.next_seq;
        let i = (seq % CALL_LOG as u64) as usize;
        if self.slots.len() < CALL_LOG {
            self.slots.resize_with(CALL_LOG, Slot::default);
        }
        if let Some(slot) = self.slots.get_mut(i) {
            slot.set(seq, call_id);
        }
        seq
    }

    /// The call id of a sequence number, if still remembered.
    pub fn get(&self, seq: u64) -> Option<&str> {
        let slot = self.slots.get((seq % CALL_LOG as u64) as usize)?;
        (slot.seq == seq && seq != 0).then_some(slot.id())
    }

    pub fn ids(&self, seqs: impl Iterator<Item = u64>) -> crate::CallIds {
        seqs.filter_map(|s| self.get(s)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct S(Millis);
    impl Idle for S {
        fn last_seen(&self) -> Millis {
            self.0
        }
    }

    #[test]
    fn map_never_exceeds_cap_and_evicts_oldest() {
        let mut m = BoundedMap::new(64);
        m.entry(u64::MAX, || S(1_000_000)); // a recent key
        for i in 0..10_000u64 {
            m.entry(i, || S(i as i64));
            assert!(m.len() <= 64);
        }
        // The most recent keys survive.
        assert!(m.get(9_999).is_some());
        assert!(m.get(0).is_none());
        assert!(m.get(u64::MAX).is_some());
        assert!(m.evicted() > 9_000);
    }

    /// A full map makes room for a new key by evicting one entry, not a slice of the map at once (a pass over
    /// all of it), and the one it evicts is an old one: of 1,000 entries, 100 new keys evict old entries, and
    /// the newer half is all but untouched.
    #[test]
    fn a_full_map_evicts_one_old_entry_per_new_key() {
        let mut m = BoundedMap::new(1_000);
        for i in 0..1_000u64 {
            m.entry(i, || S(i as i64));
        }
        m.entry(5_000, || S(2_000));
        assert_eq!(m.len(), 1_000, "one entry evicted for one new key");
        assert_eq!(m.evicted(), 1);
        for i in 1..100u64 {
            m.entry(5_000 + i, || S(2_000));
        }
        assert_eq!(m.evicted(), 100);
        let newer_half_kept = (500..1_000u64).filter(|k| m.get(*k).is_some()).count();
        assert!(
            newer_half_kept >= 495,
            "{newer_half_kept} of the newer 500 kept"
        );
        let oldest_tenth_kept = (0..100u64).filter(|k| m.get(*k).is_some()).count();
        assert!(
            oldest_tenth_kept < 80,
            "{oldest_tenth_kept} of the oldest 100 kept"
        );
    }

    #[test]
    fn map_expires_idle_entries() {
        let mut m = BoundedMap::new(100);
        m.entry(1, || S(0));
        m.entry(2, || S(50));
        assert_eq!(m.expire(100, 60), 1);
        assert!(m.get(2).is_some());
    }

    #[test]
    fn call_log_remembers_recent_ids_only() {
        let mut l = CallLog::default();
        let first = l.record("a");
        assert_eq!(l.get(first), Some("a"));
        for i in 0..CALL_LOG {
            l.record(&i.to_string());
        }
        assert_eq!(l.get(first), None);
        assert_eq!(l.get(0), None);
    }

    #[test]
    fn call_log_keeps_short_and_long_ids_and_reuses_slots() {
        let mut l = CallLog::default();
        let long = "x".repeat(INLINE_ID + 1);
        let exact = "y".repeat(INLINE_ID);
        let (i17, i32, i33) = ("1".repeat(17), "2".repeat(32), "3".repeat(33));
        let ids = [
            "",
            "1748822416.28114",
            "é-ü@host",
            "1748822416.281145",
            "a3f1c2d4-5e6f-4a7b-8c9d-0e1f2a3b@host",
            i17.as_str(),
            i32.as_str(),
            i33.as_str(),
            exact.as_str(),
            long.as_str(),
        ];
        let seqs: Vec<u64> = ids.iter().map(|id| l.record(id)).collect();
        for (seq, id) in seqs.iter().zip(ids) {
            assert_eq!(l.get(*seq), Some(id));
        }
        // A slot that held a long id, then a short one (and the other way round), returns the latest.
        for round in 0..3 {
            for (k, id) in ids.iter().enumerate() {
                let id = if round % 2 == 0 {
                    ids[ids.len() - 1 - k]
                } else {
                    id
                };
                let seq = l.record(id);
                assert_eq!(l.get(seq), Some(id));
                for _ in 0..CALL_LOG - 1 {
                    l.record("z");
                }
                assert_eq!(l.get(seq), Some(id));
                l.record("w");
                assert_eq!(l.get(seq), None);
            }
        }
    }

    #[test]
    fn call_log_serialises_as_sequence_and_id_pairs() {
        let mut l = CallLog::default();
        assert_eq!(
            serde_json::to_string(&l).unwrap(),
            r#"{"slots":[],"next_seq":0}"#
        );
        let long = "L".repeat(100);
        l.record("a");
        l.record(&long);
        let v: serde_json::Value = serde_json::to_value(&l).unwrap();
        let slots = v["slots"].as_array().unwrap();
        assert_eq!(slots.len(), CALL_LOG);
        assert_eq!(slots[1], serde_json::json!([1, "a"]));
        assert_eq!(slots[2], serde_json::json!([2, long]));
        assert_eq!(slots[3], serde_json::json!([0, ""]));
        assert_eq!(v["next_seq"], 2);
        // What older snapshots hold reads back the same.
        let back: CallLog = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(back.get(1), Some("a"));
        assert_eq!(back.get(2), Some(long.as_str()));
        assert_eq!(serde_json::to_value(&back).unwrap(), v);
        let old: CallLog =
            serde_json::from_str(r#"{"slots":[[0,""],[1,"b"]],"next_seq":1}"#).unwrap();
        assert_eq!(old.get(1), Some("b"));
    }

    #[test]
    fn hashes_differ_by_kind_and_seed() {
        let h = KeyHasher::new(1);
        assert_ne!(
            h.one(KeyKind::Account, "205"),
            h.one(KeyKind::Number, "205")
        );
        assert_ne!(
            h.two(KeyKind::Account, "a", "bc"),
            h.two(KeyKind::Account, "ab", "c")
        );
        assert_ne!(
            h.one(KeyKind::Account, "205"),
            KeyHasher::new(2).one(KeyKind::Account, "205")
        );
        assert_eq!(
            h.one(KeyKind::Account, "205"),
            KeyHasher::new(1).one(KeyKind::Account, "205")
        );
    }

    #[derive(Clone, Debug, PartialEq)]
    struct T(Millis, u32);
    impl Idle for T {
        fn last_seen(&self) -> Millis {
            self.0
        }
    }

    proptest::proptest! {
        /// The slab map keeps exactly what the bounded map keeps (same entries, evictions and expiries), whatever
        /// the hints: stale, right or out of range.
        #[test]
        fn slab_map_keeps_what_the_bounded_map_keeps(
            ops in proptest::collection::vec((0u8..5, 0u64..40, 0usize..48), 1..400),
            cap in 8usize..24,
        ) {
            let mut b: BoundedMap<T> = BoundedMap::new(cap);
            let mut s: SlabMap<T> = SlabMap::new(cap);
            let mut now: Millis = 0;
            for (n, (op, key, hint)) in ops.into_iter().enumerate() {
                now += 7;
                let tag = n as u32;
                match op {
                    0 | 1 => {
                        let x = b.entry(key, || T(now, tag));
                        x.0 = now;
                        let (at, y) = s.entry(key, || T(now, tag));
                        y.0 = now;
                        proptest::prop_assert_eq!(s.get_mut_hinted(key, at).map(|(p, _)| p), Some(at));
                    }
                    2 => {
                        let x = b.get_mut(key).map(|v| {
                            v.1 += 1;
                            v.clone()
                        });
                        let y = s.get_mut_hinted(key, hint).map(|(_, v)| {
                            v.1 += 1;
                            v.clone()
                        });
                        proptest::prop_assert_eq!(x, y);
                    }
                    3 => proptest::prop_assert_eq!(b.remove(key), s.remove(key)),
                    _ => proptest::prop_assert_eq!(b.expire(now, 90), s.expire(now, 90)),
                }
                proptest::prop_assert_eq!(b.len(), s.len());
                proptest::prop_assert_eq!(b.evicted(), s.evicted());
                proptest::prop_assert_eq!(b.get(key), s.get(key));
                proptest::prop_assert_eq!(b.to_sorted(), s.to_sorted());
            }
        }
    }
}
