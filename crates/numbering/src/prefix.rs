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

/// Maps digit prefixes (1 to 15 digits) to values, answering the longest prefix of a number.
#[derive(Debug, Clone)]
pub(crate) struct PrefixTable<V> {
    map: DigitMap<V>,
    /// Bit n set when some entry has n digits.
    lengths: u16,
    /// Bit per 4-digit start (0000..9999) of entries with 4 or more digits.
    first4: Vec<u64>,
}

impl<V> Default for PrefixTable<V> {
    fn default() -> Self {
        Self {
            map: DigitMap::default(),
            lengths: 0,
            first4: vec![0; 10_000usize.div_ceil(64)],
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
        if let Some(i) = first4_index(b)
            && let Some(word) = self.first4.get_mut(i / 64)
        {
            *word |= 1 << (i % 64);
        }
        self.map.insert(key, value);
        true
    }

    /// Value stored for exactly this prefix.
    pub fn get_exact(&self, digits: &str) -> Option<&V> {
        self.map.get(&encode(digits.as_bytes())?)
    }

    /// Longest stored prefix of `digits` (ASCII digits) and its length.
    pub fn longest(&self, digits: &str) -> Option<(&V, usize)> {
        let b = digits.as_bytes();
        if self.map.is_empty() || b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let max = b.len().min(15);
        // Running values of every prefix, computed once.
        let mut values = [0u64; 16];
        let mut v = 0u64;
        for (i, d) in b.iter().take(max).enumerate() {
            v = v * 10 + u64::from(d - b'0');
            values[i + 1] = v;
        }
        let long_possible = first4_index(b)
            .and_then(|i| self.first4.get(i / 64).map(|w| w & (1 << (i % 64)) != 0))
            .unwrap_or(false);
        for len in (1..=max).rev() {
            if self.lengths & (1 << len) == 0 || (len >= 4 && !long_possible) {
                continue;
            }
            if let Some(found) = self.map.get(&(values[len] | ((len as u64) << 52))) {
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
