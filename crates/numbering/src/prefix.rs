//! Longest-prefix lookup over E.164 digit prefixes, used by the risk lists and the rate tables.
//! A hash map keyed by (length, value) plus, per first four digits, a mask of the entry lengths that can match
//! there, so that a number with no entry under its start costs one array read instead of hash lookups.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::class::CACHE_KEY_DIGITS;
use crate::types::E164;

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

/// A number prepared once for all the tables it is looked up in (the risk book consults up to five, the rate
/// tables two): its first four digits, which select what a table holds under that start, and the digits
/// themselves, from which the encoded prefix of a probed length (rare) or the prefix cache's key is folded on
/// demand. Making one reads four bytes: most lookups need nothing more.
#[derive(Clone, Copy)]
pub(crate) struct DigitKey<'a> {
    /// ASCII digits (checked when made); may be more than 15, of which the first 15 are considered.
    digits: &'a [u8],
    /// The first four digits as 0..=9999, when there are four.
    first4: Option<usize>,
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

/// The decimal value of ASCII digits (at most 19, so that it fits; callers pass at most 15).
#[inline]
fn fold(digits: &[u8]) -> u64 {
    digits
        .iter()
        .fold(0, |v, d| v * 10 + u64::from(d.wrapping_sub(b'0')))
}

/// The first four digits of `b` as 0..=9999; `None` when shorter (the caller has checked they are digits).
#[inline]
fn first4_of(b: &[u8]) -> Option<usize> {
    match b {
        [a, b, c, d, ..] => Some(
            usize::from(a.wrapping_sub(b'0')) * 1000
                + usize::from(b.wrapping_sub(b'0')) * 100
                + usize::from(c.wrapping_sub(b'0')) * 10
                + usize::from(d.wrapping_sub(b'0')),
        ),
        _ => None,
    }
}

impl<'a> DigitKey<'a> {
    /// `None` when `digits` is empty or not all ASCII digits.
    pub fn new(digits: &'a [u8]) -> Option<Self> {
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(Self {
            digits,
            first4: first4_of(digits),
        })
    }

    /// The key of an E.164 number, whose digits are known to be 1 to 15 ASCII digits: no check.
    #[inline]
    pub fn of_e164(e: &'a E164) -> Self {
        let digits = e.digit_bytes();
        Self {
            digits,
            first4: first4_of(digits),
        }
    }

    /// Number of digits considered (1 to 15).
    #[inline]
    fn len(&self) -> usize {
        self.digits.len().min(15)
    }

    /// The prefix cache's key of the number (see `PrefixCache`): a leading 1, the first nine digits, and the
    /// length in the low four bits. `None` for more than 15 digits (no E.164 number).
    pub fn cache_key(&self) -> Option<u64> {
        let given = self.digits.len();
        if given > 15 {
            return None;
        }
        let k = given.min(CACHE_KEY_DIGITS);
        let v = POW10.get(k)? + fold(self.digits.get(..k)?);
        Some(v << 4 | given as u64)
    }

    /// The first `n` digits (1 <= n <= len) encoded as by [`encode`].
    #[inline]
    fn prefix(&self, n: usize) -> u64 {
        fold(self.digits.get(..n).unwrap_or(&[])) | ((n as u64) << 52)
    }
}

/// What a table holds under one 4-digit start.
#[derive(Debug, Clone, Copy, Default)]
struct Start {
    /// Bit n set when an entry of n > 4 digits begins with the start (its lengths are probed, longest first).
    long: u16,
    /// The longest entry of at most four digits that is a prefix of the start: (index + 1) << 3 | length,
    /// 0 for none. It answers every number under the start that no longer entry matches, without hashing.
    short: u32,
}

/// Maps digit prefixes (1 to 15 digits) to values, answering the longest prefix of a number.
#[derive(Debug, Clone)]
pub(crate) struct PrefixTable<V> {
    /// Encoded prefix → index into `values`.
    map: DigitMap<u32>,
    values: Vec<V>,
    /// Bit n set when some entry has n digits (used for numbers shorter than four digits).
    lengths: u16,
    /// Per 4-digit start (0000..9999): the entries that can match under it (empty until the first entry).
    by_first4: Vec<Start>,
}

impl<V> Default for PrefixTable<V> {
    fn default() -> Self {
        Self {
            map: DigitMap::default(),
            values: Vec::new(),
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

    /// Inserts or replaces; `false` when the prefix is not 1 to 15 ASCII digits (or the table is full).
    pub fn insert(&mut self, prefix: &str, value: V) -> bool {
        let b = prefix.as_bytes();
        let Some(key) = encode(b) else {
            return false;
        };
        if let Some(&i) = self.map.get(&key) {
            if let Some(slot) = self.values.get_mut(i as usize) {
                *slot = value;
            }
            return true;
        }
        let i = self.values.len();
        // Index and length share a u32 in `Start::short`.
        let Some(short) = u32::try_from(i + 1)
            .ok()
            .filter(|x| *x < 1 << 28)
            .map(|x| x << 3 | b.len() as u32)
        else {
            return false;
        };
        self.values.push(value);
        self.map.insert(key, i as u32);
        self.lengths |= 1 << b.len();
        if self.by_first4.is_empty() {
            self.by_first4 = vec![Start::default(); 10_000];
        }
        if let Some(starts) = self.by_first4.get_mut(first4_range(b)) {
            for start in starts {
                if b.len() > 4 {
                    start.long |= 1 << b.len();
                } else if start.short & 7 < b.len() as u32 {
                    // Two different entries of one length cannot both be prefixes of one start.
                    start.short = short;
                }
            }
        }
        true
    }

    /// Value stored for exactly this prefix.
    pub fn get_exact(&self, digits: &[u8]) -> Option<&V> {
        if self.map.is_empty() {
            return None;
        }
        let i = *self.map.get(&encode(digits)?)?;
        self.values.get(i as usize)
    }

    /// Longest stored prefix of `digits` (ASCII digits) and its length.
    pub fn longest(&self, digits: &str) -> Option<(&V, usize)> {
        if self.map.is_empty() {
            return None;
        }
        self.longest_key(&DigitKey::new(digits.as_bytes())?)
    }

    /// Longest stored prefix of a number already turned into a [`DigitKey`], and its length.
    /// Inlined up to the per-start read: most numbers have no entry longer than four digits under their start
    /// and are answered there.
    #[inline]
    pub fn longest_key(&self, key: &DigitKey<'_>) -> Option<(&V, usize)> {
        let Some(i) = key.first4 else {
            // Fewer than four digits: probe every length that exists and fits.
            let fits = (2u32 << key.len()) - 1;
            let mask = self.lengths & fits as u16;
            return if mask == 0 {
                None
            } else {
                self.probe(key, mask)
            };
        };
        let start = self.by_first4.get(i).copied().unwrap_or_default();
        if start.long != 0 {
            let fits = (2u32 << key.len()) - 1;
            let mask = start.long & fits as u16;
            if mask != 0
                && let Some(found) = self.probe(key, mask)
            {
                return Some(found);
            }
        }
        if start.short == 0 {
            return None;
        }
        let value = self.values.get((start.short >> 3) as usize - 1)?;
        Some((value, (start.short & 7) as usize))
    }

    /// The hash probes of [`PrefixTable::longest_key`], longest length first.
    #[inline(never)]
    fn probe(&self, key: &DigitKey<'_>, mut mask: u16) -> Option<(&V, usize)> {
        while mask != 0 {
            let len = 15 - mask.leading_zeros() as usize;
            mask &= !(1 << len);
            if let Some(&i) = self.map.get(&key.prefix(len)) {
                return Some((self.values.get(i as usize)?, len));
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
            let e = E164::from_digits(n);
            assert!(e.is_some(), "{n}");
            let Some(e) = e else { continue };
            let a = DigitKey::of_e164(&e);
            let b = DigitKey::new(n.as_bytes());
            assert_eq!(
                Some((a.digits, a.first4)),
                b.map(|b| (b.digits, b.first4)),
                "{n}"
            );
            assert_eq!(a.len(), n.len());
            for l in 1..=n.len() {
                assert_eq!(Some(a.prefix(l)), encode(&n.as_bytes()[..l]), "{n} {l}");
            }
        }
        for n in ["", "12a4", "+123"] {
            assert!(DigitKey::new(n.as_bytes()).is_none(), "{n}");
        }
        // More than 15 digits: the first 15 are considered.
        let long = DigitKey::new(b"1234567890123456");
        assert_eq!(long.map(|k| k.len()), Some(15));
        assert_eq!(long.map(|k| k.prefix(15)), encode(b"123456789012345"));
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
        // Replacing a value keeps its place, for the hash probes and the per-start answer alike.
        assert!(t.insert("232", 100));
        assert!(t.insert("2327612345", 101));
        assert_eq!(t.len(), entries.len());
        assert_eq!(t.longest("23299").map(|(v, l)| (*v, l)), Some((100, 3)));
        assert_eq!(
            t.longest("232761234567").map(|(v, l)| (*v, l)),
            Some((101, 10))
        );
        assert_eq!(t.get_exact(b"232"), Some(&100));
    }
}
