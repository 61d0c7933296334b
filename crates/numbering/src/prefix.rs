//! Longest-prefix lookup over E.164 digit prefixes, used by the risk lists and the rate tables.
//! A hash map keyed by (length, value) plus, per first four digits, a mask of the entry lengths that can match
//! there, so that a number with no entry under its start costs one array read instead of hash lookups.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::class::CACHE_KEY_DIGITS;

/// Multiply-rotate hasher for integer keys (keys are our own encoded digits, not attacker-chosen strings
/// in bulk, and the table is built once).
#[derive(Default, Clone, Copy)]
pub(crate) struct DigitHasher(u64);

impl Hasher for DigitHasher {
    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

pub(crate) type DigitMap<V> = HashMap<u64, V, BuildHasherDefault<DigitHasher>>;

/// Encodes up to 15 ASCII digits as one integer that also carries the length (so "01" ≠ "1").
pub(crate) fn encode(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 15 {
        return None;
    }
    let mut v: u64 = 0;
    for d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(d - b'0');
    }
    Some(v | ((digits.len() as u64) << 52))
}

/// A number prepared once for all the tables it is looked up in (the risk book consults up to five): its
/// first four digits, which select the lengths worth probing, and its digits as one integer, from which the
/// encoded prefix of a probed length is derived. Most numbers probe nothing, so no prefix is encoded up front.
#[derive(Clone, Copy)]
pub(crate) struct DigitKey {
    /// All digits considered, as one integer.
    value: u64,
    /// Number of digits considered (1 to 15).
    len: usize,
    /// Number of digits given (may exceed 15).
    given: usize,
    /// The first four digits as 0..=9999, when there are four.
    first4: Option<usize>,
    /// The first nine digits (or all when fewer) as one integer: the prefix cache's key.
    first9: u64,
}

const POW10: [u64; 16] = {
    let mut t = [1u64; 16];
    let mut i = 1;
    while i < 16 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

impl DigitKey {
    /// `None` when `digits` is empty or not all ASCII digits.
    pub fn new(digits: &[u8]) -> Option<Self> {
        if digits.is_empty() {
            return None;
        }
        let mut value = 0u64;
        let mut first4 = None;
        let mut first9 = 0;
        for (i, d) in digits.iter().enumerate() {
            let v = d.wrapping_sub(b'0');
            if v > 9 {
                return None;
            }
            if i < 15 {
                value = value * 10 + u64::from(v);
            }
            if i == 3 {
                first4 = Some(value as usize);
            }
            if i == CACHE_KEY_DIGITS - 1 {
                first9 = value;
            }
        }
        if digits.len() < CACHE_KEY_DIGITS {
            first9 = value;
        }
        Some(Self {
            value,
            len: digits.len().min(15),
            given: digits.len(),
            first4,
            first9,
        })
    }

    /// [`DigitKey::new`] of an E.164 number (1 to 15 digits; `None` otherwise): the same key, computed in
    /// three straight folds (first four digits, up to nine, the rest) instead of tests on every digit.
    pub fn of_e164(digits: &[u8]) -> Option<Self> {
        let given = digits.len();
        if given == 0 || given > 15 {
            return None;
        }
        let mut ok = true;
        let mut fold = |v: u64, part: &[u8]| {
            part.iter().fold(v, |v, d| {
                let x = d.wrapping_sub(b'0');
                ok &= x <= 9;
                v * 10 + u64::from(x)
            })
        };
        let (head, rest) = digits.split_at(given.min(4));
        let v4 = fold(0, head);
        let (mid, tail) = rest.split_at(rest.len().min(CACHE_KEY_DIGITS - 4));
        let v9 = fold(v4, mid);
        let value = fold(v9, tail);
        ok.then_some(Self {
            value,
            len: given,
            given,
            first4: (given >= 4).then_some(v4 as usize),
            first9: v9,
        })
    }

    /// The prefix cache's key of the number (see `PrefixCache`): a leading 1, the first nine digits, and the
    /// length in the low four bits. `None` for more than 15 digits (no E.164 number).
    pub fn cache_key(&self) -> Option<u64> {
        if self.given > 15 {
            return None;
        }
        let k = self.given.min(CACHE_KEY_DIGITS);
        let v = POW10.get(k)? + self.first9;
        Some(v << 4 | self.given as u64)
    }

    /// The first `n` digits (1 <= n <= len) encoded as by [`encode`].
    #[inline]
    fn prefix(&self, n: usize) -> u64 {
        let shift = POW10.get(self.len.saturating_sub(n)).copied().unwrap_or(1);
        (self.value / shift) | ((n as u64) << 52)
    }
}

/// Maps digit prefixes (1 to 15 digits) to values, answering the longest prefix of a number.
#[derive(Debug, Clone)]
pub(crate) struct PrefixTable<V> {
    map: DigitMap<V>,
    /// Bit n set when some entry has n digits (used for numbers shorter than four digits).
    lengths: u16,
    /// Per 4-digit start (0000..9999), bit n set when an entry of n digits is a prefix of, or begins with,
    /// that start: a lookup probes only lengths that can match under the number's own start, so most numbers
    /// probe nothing (empty until the first entry).
    by_first4: Vec<u16>,
}

impl<V> Default for PrefixTable<V> {
    fn default() -> Self {
        Self {
            map: DigitMap::default(),
            lengths: 0,
            by_first4: Vec::new(),
        }
    }
}

/// The 4-digit starts an entry can match under: its own start, or for an entry of fewer than four digits
/// every start that begins with it.
fn first4_range(digits: &[u8]) -> std::ops::Range<usize> {
    let n = digits.len().min(4);
    let head = digits
        .iter()
        .take(4)
        .fold(0usize, |a, d| a * 10 + usize::from(d.wrapping_sub(b'0')));
    let width = [10_000, 1000, 100, 10, 1][n];
    head * width..head * width + width
}

impl<V> PrefixTable<V> {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Inserts or replaces; `false` when the prefix is not 1 to 15 ASCII digits.
    pub fn insert(&mut self, prefix: &str, value: V) -> bool {
        let b = prefix.as_bytes();
        let Some(key) = encode(b) else {
            return false;
        };
        self.lengths |= 1 << b.len();
        if self.by_first4.is_empty() {
            self.by_first4 = vec![0; 10_000];
        }
        if let Some(masks) = self.by_first4.get_mut(first4_range(b)) {
            for mask in masks {
                *mask |= 1 << b.len();
            }
        }
        self.map.insert(key, value);
        true
    }

    /// Value stored for exactly this prefix.
    pub fn get_exact(&self, digits: &[u8]) -> Option<&V> {
        if self.map.is_empty() {
            return None;
        }
        self.map.get(&encode(digits)?)
    }

    /// Longest stored prefix of `digits` (ASCII digits) and its length.
    pub fn longest(&self, digits: &str) -> Option<(&V, usize)> {
        if self.map.is_empty() {
            return None;
        }
        self.longest_key(&DigitKey::new(digits.as_bytes())?)
    }

    /// Longest stored prefix of a number already turned into a [`DigitKey`], and its length.
    /// Inlined up to the mask test: most numbers have no entry under their start and leave here.
    #[inline]
    pub fn longest_key(&self, key: &DigitKey) -> Option<(&V, usize)> {
        let lengths = match key.first4 {
            Some(i) => self.by_first4.get(i).copied().unwrap_or(0),
            None => self.lengths,
        };
        // Lengths that exist and fit in the number.
        let fits = (2u32 << key.len.min(15)) - 1;
        let mask = lengths & fits as u16;
        if mask == 0 {
            return None;
        }
        self.probe(key, mask)
    }

    /// The hash probes of [`PrefixTable::longest_key`], longest length first.
    #[inline(never)]
    fn probe(&self, key: &DigitKey, mut mask: u16) -> Option<(&V, usize)> {
        while mask != 0 {
            let len = 15 - mask.leading_zeros() as usize;
            mask &= !(1 << len);
            if let Some(found) = self.map.get(&key.prefix(len)) {
                return Some((found, len));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins_and_lengths_are_distinct() {
        let mut t = PrefixTable::default();
        assert!(t.insert("232", 1));
        assert!(t.insert("23276", 2));
        assert!(t.insert("2327612345678", 3));
        assert!(!t.insert("23a", 9));
        assert!(!t.insert("", 9));
        assert_eq!(t.longest("23276999"), Some((&2, 5)));
        assert_eq!(t.longest("23277"), Some((&1, 3)));
        assert_eq!(t.longest("2327612345678"), Some((&3, 13)));
        assert_eq!(t.longest("23"), None);
        assert_eq!(t.longest("x232"), None);
        assert_eq!(t.get_exact(b"232"), Some(&1));
        assert_eq!(t.get_exact(b"0232"), None);
    }

    #[test]
    fn e164_key_is_the_general_key() {
        for n in [
            "1",
            "12",
            "123",
            "1234",
            "12345",
            "123456789",
            "1234567890",
            "81312345678",
            "999999999999999",
            "000000000000001",
            "2327612345",
        ] {
            let a = DigitKey::of_e164(n.as_bytes()).map(|k| (k.value, k.len, k.first4, k.first9));
            let b = DigitKey::new(n.as_bytes()).map(|k| (k.value, k.len, k.first4, k.first9));
            assert_eq!(a, b, "{n}");
            assert!(a.is_some());
        }
        for n in ["", "12a4", "1234567890123456", "+123"] {
            assert!(DigitKey::of_e164(n.as_bytes()).is_none(), "{n}");
        }
    }

    /// The per-start length masks never hide an entry: every lookup agrees with trying every prefix.
    #[test]
    fn masked_lookup_agrees_with_trying_every_prefix() {
        let entries = [
            "1",
            "12",
            "1212",
            "121255",
            "2",
            "232",
            "23276",
            "2327612345",
            "44",
            "4420",
            "442079",
            "7",
            "77",
            "881",
            "8816",
            "999999999999999",
            "0",
            "09",
        ];
        let mut t = PrefixTable::default();
        for (i, e) in entries.iter().enumerate() {
            assert!(t.insert(e, i));
        }
        let naive = |n: &str| {
            (1..=n.len().min(15))
                .rev()
                .find_map(|l| entries.iter().position(|e| *e == &n[..l]).map(|i| (i, l)))
        };
        let mut x = 0x1234_5678_9abc_def0u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = 1 + (x % 17) as usize;
            let digits: String = (0..len)
                .map(|i| char::from(b'0' + ((x >> (i * 3)) % 10) as u8))
                .collect();
            // Bias towards the stored starts so that hits are common.
            let n = match x % 4 {
                0 => digits,
                k => format!(
                    "{}{digits}",
                    entries[(x as usize / 7 + k as usize) % entries.len()]
                ),
            };
            let got = t.longest(&n).map(|(v, l)| (*v, l));
            assert_eq!(got, naive(&n), "{n}");
        }
    }
}
