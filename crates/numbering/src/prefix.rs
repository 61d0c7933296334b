//! Longest-prefix lookup over E.164 digit prefixes, used by the risk lists and the rate tables.
//! A hash map keyed by (length, value) plus a mask of the lengths present and a bitmap of the first four digits
//! of long entries, so that a miss costs a handful of cheap probes instead of fifteen hash lookups.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

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

/// The encoded values of every prefix of a number, computed once and shared by all the tables a number is
/// looked up in (the risk book consults up to five).
#[derive(Clone, Copy)]
pub(crate) struct DigitKey {
    /// `values[n]`: the first n digits encoded as by [`encode`].
    values: [u64; 16],
    /// Number of digits considered (at most 15).
    len: usize,
    /// The first four digits as 0..=9999, when there are four.
    first4: Option<usize>,
}

impl DigitKey {
    /// `None` when `digits` is empty or not all ASCII digits.
    pub fn new(digits: &str) -> Option<Self> {
        let b = digits.as_bytes();
        if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let len = b.len().min(15);
        let mut values = [0u64; 16];
        let mut v = 0u64;
        for (i, d) in b.iter().take(len).enumerate() {
            v = v * 10 + u64::from(d - b'0');
            values[i + 1] = v | ((i as u64 + 1) << 52);
        }
        Some(Self {
            values,
            len,
            first4: first4_index(b),
        })
    }
}

/// Maps digit prefixes (1 to 15 digits) to values, answering the longest prefix of a number.
#[derive(Debug, Clone)]
pub(crate) struct PrefixTable<V> {
    map: DigitMap<V>,
    /// Bit n set when some entry has n digits (n < 4 are the only lengths probed without `by_first4`).
    lengths: u16,
    /// Per 4-digit start (0000..9999), bit n set when an entry of n >= 4 digits begins with it: a lookup probes
    /// only lengths that exist under the number's own start (empty until the first long entry).
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

fn first4_index(digits: &[u8]) -> Option<usize> {
    let head = digits.get(..4)?;
    Some(
        head.iter()
            .fold(0usize, |a, d| a * 10 + usize::from(d.wrapping_sub(b'0'))),
    )
}

/// Lengths below four, probed for every number.
const SHORT_LENGTHS: u16 = 0b1110;

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
        if let Some(i) = first4_index(b) {
            if self.by_first4.is_empty() {
                self.by_first4 = vec![0; 10_000];
            }
            if let Some(mask) = self.by_first4.get_mut(i) {
                *mask |= 1 << b.len();
            }
        }
        self.map.insert(key, value);
        true
    }

    /// Value stored for exactly this prefix.
    pub fn get_exact(&self, digits: &str) -> Option<&V> {
        if self.map.is_empty() {
            return None;
        }
        self.map.get(&encode(digits.as_bytes())?)
    }

    /// Longest stored prefix of `digits` (ASCII digits) and its length.
    pub fn longest(&self, digits: &str) -> Option<(&V, usize)> {
        if self.map.is_empty() {
            return None;
        }
        self.longest_key(&DigitKey::new(digits)?)
    }

    /// Longest stored prefix of a number already turned into a [`DigitKey`], and its length.
    pub fn longest_key(&self, key: &DigitKey) -> Option<(&V, usize)> {
        if self.map.is_empty() {
            return None;
        }
        let long = key
            .first4
            .and_then(|i| self.by_first4.get(i))
            .copied()
            .unwrap_or(0);
        // Lengths that exist and fit in the number, longest first.
        let fits = if key.len >= 15 {
            u16::MAX
        } else {
            (1u16 << (key.len + 1)) - 1
        };
        let mut mask = ((self.lengths & SHORT_LENGTHS) | long) & fits;
        while mask != 0 {
            let len = 15 - mask.leading_zeros() as usize;
            mask &= !(1 << len);
            if let Some(found) = key.values.get(len).and_then(|k| self.map.get(k)) {
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
        assert_eq!(t.get_exact("232"), Some(&1));
        assert_eq!(t.get_exact("0232"), None);
    }
}
