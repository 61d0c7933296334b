//! Number class and country of an E.164 number: explicit rules for Japan and the international networks,
//! libphonenumber metadata (the `phonenumber` crate) for the rest, behind a bounded lock-free prefix cache.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::countries::{self, COUNTRIES, SUB_PREFIXES};
use crate::types::{Country, NumberClass};

/// Japanese domestic classes by national significant number (after the trunk 0). Explicit because these
/// are the ranges the site's own fraud and billing rules talk about.
pub(crate) fn japan_class(national: &str) -> NumberClass {
    japan_class_bytes(national.as_bytes())
}

/// [`japan_class`] of the national digits as bytes.
fn japan_class_bytes(n: &[u8]) -> NumberClass {
    let starts = |p: &str| n.starts_with(p.as_bytes());
    if starts("120") || starts("800") {
        NumberClass::TollFree
    } else if starts("570") {
        // Navi-dial: one national number, caller pays a higher shared rate.
        NumberClass::SharedCost
    } else if starts("990") {
        NumberClass::PremiumRate
    } else if starts("180") {
        // Telephone information / mass-calling services.
        NumberClass::Service
    } else if starts("50") {
        NumberClass::Voip
    } else if starts("70") || starts("80") || starts("90") {
        NumberClass::Mobile
    } else if starts("20") {
        NumberClass::Pager
    } else if starts("60") {
        NumberClass::Personal
    } else if matches!(n.first(), Some(b'1'..=b'9')) && (8..=10).contains(&n.len()) {
        NumberClass::Fixed
    } else {
        NumberClass::Unknown
    }
}

/// Answers of [`JAPAN_BY_START`] beyond the classes (which are indexes into [`CLASSES`]).
const JP_FIXED_BY_LENGTH: u8 = 0xFE;

/// [`japan_class_bytes`] of a national number by its first three digits, `a * 100 + b * 10 + c`: the class,
/// or [`JP_FIXED_BY_LENGTH`] where the answer is fixed for 8 to 10 digits and unknown otherwise. Written from
/// the same rules at compile time; `japanese_start_table_agrees_with_the_rules` checks every start and length.
const JAPAN_BY_START: [u8; 1000] = {
    let mut t = [0u8; 1000];
    let mut i = 0;
    while i < 1000 {
        let (a, b) = (i / 100, i / 10 % 10);
        let class = if i == 120 || i == 800 {
            NumberClass::TollFree
        } else if i == 570 {
            NumberClass::SharedCost
        } else if i == 990 {
            NumberClass::PremiumRate
        } else if i == 180 {
            NumberClass::Service
        } else if a == 5 && b == 0 {
            NumberClass::Voip
        } else if (a == 7 || a == 8 || a == 9) && b == 0 {
            NumberClass::Mobile
        } else if a == 2 && b == 0 {
            NumberClass::Pager
        } else if a == 6 && b == 0 {
            NumberClass::Personal
        } else if a >= 1 {
            t[i] = JP_FIXED_BY_LENGTH;
            i += 1;
            continue;
        } else {
            NumberClass::Unknown
        };
        t[i] = class as u8;
        i += 1;
    }
    t
};

/// [`japan_class_bytes`] with one table read for national numbers of three digits or more (all but a few).
#[inline]
pub(crate) fn japan_class_fast(n: &[u8]) -> NumberClass {
    if let [a, b, c, ..] = n {
        let (a, b, c) = (
            a.wrapping_sub(b'0'),
            b.wrapping_sub(b'0'),
            c.wrapping_sub(b'0'),
        );
        if a < 10 && b < 10 && c < 10 {
            let i = usize::from(a) * 100 + usize::from(b) * 10 + usize::from(c);
            match JAPAN_BY_START.get(i).copied() {
                Some(JP_FIXED_BY_LENGTH) => {
                    return if (8..=10).contains(&n.len()) {
                        NumberClass::Fixed
                    } else {
                        NumberClass::Unknown
                    };
                }
                Some(x) => {
                    if let Some(class) = CLASSES.get(usize::from(x)) {
                        return *class;
                    }
                }
                None => {}
            }
        }
    }
    japan_class_bytes(n)
}

/// Classes of the international networks, which libphonenumber barely describes.
fn network_class(e164: &str, code: u16) -> Option<NumberClass> {
    let starts = |p: &str| e164.starts_with(p);
    Some(match code {
        800 => NumberClass::TollFree,
        808 => NumberClass::SharedCost,
        870 | 881 => NumberClass::Satellite,
        // Emsat and Thuraya are satellite; the other 882 networks are maritime, aviation and global carriers.
        882 if starts("88213") || starts("88216") => NumberClass::Satellite,
        882 => NumberClass::Mobile,
        // 883 is mostly iNum and carrier VoIP ranges.
        883 => NumberClass::Voip,
        878 => NumberClass::Personal,
        979 => NumberClass::PremiumRate,
        888 | 991 => NumberClass::Unknown,
        _ => return None,
    })
}

/// libphonenumber's metadata, the very file the `phonenumber` crate builds its database from (see
/// data/README.md). The crate's own database parses the patterns of all ~250 regions at its first use: ~600 M
/// instructions (0.15–0.2 s), paid by the first foreign number of a backtest and by the first foreign INVITE a
/// guard sees. One small database per calling code, built at the first number of that code, costs ~1/250 of it.
const METADATA_XML: &str = include_str!("../data/PhoneNumberMetadata.xml");

/// Byte ranges of the `<territory …>…</territory>` elements of [`METADATA_XML`], by calling code.
fn territories() -> &'static HashMap<u16, Vec<Range<usize>>> {
    static INDEX: OnceLock<HashMap<u16, Vec<Range<usize>>>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut index: HashMap<u16, Vec<Range<usize>>> = HashMap::new();
        let xml = METADATA_XML;
        let mut at = 0;
        while let Some(found) = xml.get(at..).and_then(|rest| rest.find("<territory ")) {
            let start = at + found;
            let Some(end) = xml
                .get(start..)
                .and_then(|rest| rest.find("</territory>"))
                .map(|e| start + e + "</territory>".len())
            else {
                break;
            };
            let tag_end = xml.get(start..end).and_then(|t| t.find('>')).unwrap_or(0);
            let code = xml
                .get(start..start + tag_end)
                .and_then(|tag| tag.split("countryCode=\"").nth(1))
                .and_then(|v| v.split('"').next())
                .and_then(|v| v.parse::<u16>().ok());
            if let Some(code) = code {
                index.entry(code).or_default().push(start..end);
            }
            at = end;
        }
        index
    })
}

/// Builds every calling code's database now (what the first number of each code would otherwise pay, on the
/// thread that classifies it). Returns how many codes have one.
pub fn prepare_all_countries() -> usize {
    let mut codes: Vec<u16> = territories().keys().copied().collect();
    codes.sort_unstable();
    codes
        .into_iter()
        .filter(|c| database_for(*c).is_some())
        .count()
}

/// The libphonenumber database of one calling code's territories, built at its first use.
fn database_for(code: u16) -> Option<&'static phonenumber::metadata::Database> {
    static BY_CODE: [OnceLock<Option<phonenumber::metadata::Database>>; 1000] =
        [const { OnceLock::new() }; 1000];
    BY_CODE
        .get(usize::from(code))?
        .get_or_init(|| {
            let ranges = territories().get(&code)?;
            let mut xml = String::from("<phoneNumberMetadata><territories>");
            for r in ranges {
                xml.push_str(METADATA_XML.get(r.clone())?);
            }
            xml.push_str("</territories></phoneNumberMetadata>");
            phonenumber::metadata::Database::parse(&xml).ok()
        })
        .as_ref()
}

fn from_phonenumber(e164: &str, code: u16) -> NumberClass {
    use phonenumber::Type;
    let Some(db) = database_for(code) else {
        return NumberClass::Unknown;
    };
    let Ok(number) = phonenumber::parse_with(db, None, format!("+{e164}")) else {
        return NumberClass::Unknown;
    };
    match number.number_type(db) {
        Type::FixedLine => NumberClass::Fixed,
        Type::Mobile => NumberClass::Mobile,
        Type::FixedLineOrMobile => NumberClass::FixedOrMobile,
        Type::TollFree => NumberClass::TollFree,
        Type::PremiumRate => NumberClass::PremiumRate,
        Type::SharedCost => NumberClass::SharedCost,
        Type::PersonalNumber => NumberClass::Personal,
        Type::Voip => NumberClass::Voip,
        Type::Pager => NumberClass::Pager,
        Type::Uan => NumberClass::Uan,
        Type::Emergency => NumberClass::Emergency,
        Type::Voicemail | Type::ShortCode | Type::StandardRate | Type::Carrier => {
            NumberClass::Service
        }
        Type::NoInternational | Type::Unknown => NumberClass::Unknown,
    }
}

/// Class and country of E.164 digits, computed from scratch (no cache).
pub(crate) fn classify_uncached(e164: &str) -> (NumberClass, Option<Country>) {
    let Some((code, cc_len)) = countries::calling_code(e164) else {
        return (NumberClass::Unknown, None);
    };
    let country = countries::country_of(e164);
    let class = if code == 81 {
        japan_class(e164.get(cc_len..).unwrap_or(""))
    } else if let Some(c) = network_class(e164, code) {
        c
    } else {
        from_phonenumber(e164, code)
    };
    // libphonenumber's emergency type describes short numbers; a full E.164 number is never one.
    let class = if class == NumberClass::Emergency {
        NumberClass::Unknown
    } else {
        class
    };
    (class, country)
}

/// Every class in declaration order (`CLASSES[c as usize] == c`, checked by `class_table_is_in_declaration_order`).
const CLASSES: [NumberClass; 15] = [
    NumberClass::Fixed,
    NumberClass::Mobile,
    NumberClass::FixedOrMobile,
    NumberClass::TollFree,
    NumberClass::PremiumRate,
    NumberClass::SharedCost,
    NumberClass::Personal,
    NumberClass::Voip,
    NumberClass::Satellite,
    NumberClass::Pager,
    NumberClass::Uan,
    NumberClass::Emergency,
    NumberClass::Service,
    NumberClass::Internal,
    NumberClass::Unknown,
];

fn class_index(c: NumberClass) -> u64 {
    CLASSES.iter().position(|x| *x == c).unwrap_or(14) as u64
}

/// Japan, as `countries::country_by_code(81)` gives it (without the index lookup).
#[inline]
fn japan() -> Option<Country> {
    Some(Country {
        iso2: "JP",
        name: "Japan",
        calling_code: 81,
    })
}

/// Region index: rows of COUNTRIES, then rows of SUB_PREFIXES; 1023 means none.
fn region_index(c: Option<Country>) -> u64 {
    let Some(c) = c else { return 1023 };
    if let Some(i) = COUNTRIES
        .iter()
        .position(|r| r.0 == c.calling_code && r.1 == c.iso2 && r.2 == c.name)
    {
        return i as u64;
    }
    SUB_PREFIXES
        .iter()
        .position(|r| r.1 == c.iso2 && r.2 == c.name)
        .map(|i| (i + COUNTRIES.len()) as u64)
        .unwrap_or(1023)
}

/// The region of a cache entry; `e164` gives the calling code of a territory sharing one (rows of SUB_PREFIXES
/// do not carry it), so the code is only looked up for those.
fn region_from_index(i: u64, e164: &[u8]) -> Option<Country> {
    let i = usize::try_from(i).ok()?;
    if let Some(r) = COUNTRIES.get(i) {
        return Some(Country {
            iso2: r.1,
            name: r.2,
            calling_code: r.0,
        });
    }
    let r = SUB_PREFIXES.get(i.checked_sub(COUNTRIES.len())?)?;
    Some(Country {
        iso2: r.1,
        name: r.2,
        calling_code: countries::calling_code_bytes(e164).map_or(0, |c| c.0),
    })
}

/// Digits of the number that decide its class and country: calling code plus the leading national digits
/// (area codes, mobile ranges and the shared-code splits all live there).
pub const CACHE_KEY_DIGITS: usize = 9;
/// Entries per bucket: a bucket is one 32-byte aligned group, so a lookup touches one cache line.
const WAYS: usize = 4;
const BUCKETS: usize = 1 << 12;
const VALID: u64 = 1 << 63;

/// One set of the cache: `WAYS` self-describing entries (each carries its own key, so a torn bucket is harmless).
#[repr(align(32))]
struct Bucket([AtomicU64; WAYS]);

/// A 4-way set-associative cache of (leading digits, length) → (class, country): fixed size (128 KiB),
/// lock-free, shared by all threads. Set-associative rather than direct-mapped because two hot prefixes that
/// hash to the same slot would otherwise evict each other on every call and pay libphonenumber (~5 µs) each
/// time; with four ways a miss on a warm working set of a few thousand prefixes is practically never a conflict.
pub(crate) struct PrefixCache {
    buckets: Box<[Bucket]>,
}

impl std::fmt::Debug for PrefixCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrefixCache({} entries)", self.buckets.len() * WAYS)
    }
}

impl PrefixCache {
    pub fn new() -> Self {
        Self {
            buckets: (0..BUCKETS)
                .map(|_| Bucket(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
        }
    }

    #[cfg(test)]
    fn key(b: &[u8]) -> Option<u64> {
        if b.is_empty() || b.len() > 15 {
            return None;
        }
        let mut v: u64 = 1;
        for d in b.iter().take(CACHE_KEY_DIGITS) {
            v = v * 10 + u64::from(d.wrapping_sub(b'0'));
        }
        Some(v << 4 | b.len() as u64)
    }

    /// Class and country of E.164 digits, from the cache or computed and remembered.
    #[cfg(test)]
    pub fn classify(&self, e164: &[u8]) -> (NumberClass, Option<Country>) {
        let key = crate::prefix::DigitKey::new(e164);
        self.classify_keyed(e164, key.as_ref())
    }

    /// [`PrefixCache::classify`] of digits whose [`DigitKey`](crate::prefix::DigitKey) is already made
    /// (`None`: not 1 to 15 digits); the cache key is folded from it only for numbers that use the cache.
    #[inline]
    pub fn classify_keyed(
        &self,
        e164: &[u8],
        key: Option<&crate::prefix::DigitKey<'_>>,
    ) -> (NumberClass, Option<Country>) {
        // Japan's classes are a table read: cheaper than a lookup, and caching them would fill the cache
        // with Japanese mobiles, which share no nine-digit prefixes (97 of 100 bench numbers missed it). +81 is
        // no shared code, so its country is Japan whatever follows.
        if let [b'8', b'1', national @ ..] = e164 {
            return (japan_class_fast(national), japan());
        }
        self.classify_cached(e164, key)
    }

    /// [`PrefixCache::classify_keyed`] of a number outside Japan.
    fn classify_cached(
        &self,
        e164: &[u8],
        key: Option<&crate::prefix::DigitKey<'_>>,
    ) -> (NumberClass, Option<Country>) {
        let uncached = || classify_uncached(std::str::from_utf8(e164).unwrap_or(""));
        let Some(key) = key.and_then(|k| k.cache_key()) else {
            return uncached();
        };
        // key < 2^36: fits above the 14 bits of value.
        let h = key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let Some(bucket) = self.buckets.get((h >> 52) as usize % BUCKETS) else {
            return uncached();
        };
        let mut seen = [0u64; WAYS];
        for (slot, seen) in bucket.0.iter().zip(seen.iter_mut()) {
            let entry = slot.load(Ordering::Relaxed);
            if entry & VALID != 0 && (entry & !VALID) >> 14 == key {
                let class = CLASSES
                    .get((entry & 0xF) as usize)
                    .copied()
                    .unwrap_or(NumberClass::Unknown);
                return (class, region_from_index((entry >> 4) & 0x3FF, e164));
            }
            *seen = entry;
        }
        let (class, country) = uncached();
        let value = VALID | key << 14 | region_index(country) << 4 | class_index(class);
        // An empty way if there is one, else a victim chosen from the bucket's contents and the key, so that
        // no fixed pair of prefixes keeps evicting each other.
        let victim = seen.iter().position(|e| e & VALID == 0).unwrap_or_else(|| {
            let mix = seen.iter().fold(h, |a, e| a ^ e);
            (mix.wrapping_mul(0xD6E8_FEB8_6659_FD93) >> 62) as usize % WAYS
        });
        if let Some(slot) = bucket.0.get(victim) {
            slot.store(value, Ordering::Relaxed);
        }
        (class, country)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_sharing_a_bucket_do_not_evict_each_other() {
        let cache = PrefixCache::new();
        let bucket_of = |n: &str| {
            PrefixCache::key(n.as_bytes())
                .map(|k| (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 52) as usize % BUCKETS)
        };
        // Four different German numbers (different cache keys) that land in one bucket.
        let first = "4930123456";
        let mut same: Vec<String> = vec![first.to_string()];
        let mut i = 0u64;
        while same.len() < WAYS {
            i += 1;
            let n = format!("49{}", 301_234_560 + i * 1000);
            if bucket_of(&n) == bucket_of(first) {
                same.push(n);
            }
        }
        let answers: Vec<_> = same.iter().map(|n| cache.classify(n.as_bytes())).collect();
        for _ in 0..3 {
            for (n, a) in same.iter().zip(&answers) {
                assert_eq!(&cache.classify(n.as_bytes()), a, "{n}");
            }
        }
        // A direct-mapped cache would miss on every lookup above; here every key is still present.
        let bucket = bucket_of(first).and_then(|b| cache.buckets.get(b));
        let keys: Vec<u64> = same
            .iter()
            .filter_map(|n| PrefixCache::key(n.as_bytes()))
            .collect();
        let held = bucket
            .map(|b| {
                b.0.iter()
                    .map(|s| (s.load(Ordering::Relaxed) & !VALID) >> 14)
                    .filter(|k| keys.contains(k))
                    .count()
            })
            .unwrap_or(0);
        assert_eq!(held, WAYS);
    }

    #[test]
    fn digit_key_gives_the_cache_key() {
        for n in [
            "1",
            "12",
            "81312345678",
            "812",
            "123456789",
            "1234567890",
            "999999999999999",
            "2327612345",
            "000000000",
            "0000000001",
        ] {
            let key = crate::prefix::DigitKey::new(n.as_bytes()).and_then(|k| k.cache_key());
            assert_eq!(key, PrefixCache::key(n.as_bytes()), "{n}");
        }
        let long = crate::prefix::DigitKey::new(b"1234567890123456");
        assert_eq!(long.and_then(|k| k.cache_key()), None);
    }

    #[test]
    fn japanese_classes() {
        for (n, c) in [
            ("120123456", NumberClass::TollFree),
            ("800123456", NumberClass::TollFree),
            ("570123456", NumberClass::SharedCost),
            ("990123456", NumberClass::PremiumRate),
            ("5012345678", NumberClass::Voip),
            ("7012345678", NumberClass::Mobile),
            ("8012345678", NumberClass::Mobile),
            ("9012345678", NumberClass::Mobile),
            ("2012345678", NumberClass::Pager),
            ("180123456", NumberClass::Service),
            ("312345678", NumberClass::Fixed),
            ("662345678", NumberClass::Fixed),
        ] {
            assert_eq!(japan_class(n), c, "{n}");
        }
    }

    #[test]
    fn class_table_is_in_declaration_order() {
        for (i, c) in CLASSES.iter().enumerate() {
            assert_eq!(*c as usize, i, "{c:?}");
        }
        assert_eq!(japan(), countries::country_by_code(81));
    }

    /// The start table gives what the rules give, for every national start of 0 to 4 digits (leading zeros
    /// included), at every length from 0 to 15, whatever digits follow; and for starts that are not digits.
    #[test]
    fn japanese_start_table_agrees_with_the_rules() {
        let mut checked = 0;
        for width in 0..=4u32 {
            for start in 0..10u32.pow(width) {
                let head = if width == 0 {
                    String::new()
                } else {
                    format!("{start:0w$}", w = width as usize)
                };
                for fill in ['0', '1', '5', '9'] {
                    for len in head.len()..=15 {
                        let mut n = head.clone();
                        while n.len() < len {
                            n.push(fill);
                        }
                        assert_eq!(
                            japan_class_fast(n.as_bytes()),
                            japan_class_bytes(n.as_bytes()),
                            "{n}"
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 500_000, "{checked}");
        for n in ["*12345678", "1#2345678", "12:345678", "9/0123456", "", "x"] {
            assert_eq!(
                japan_class_fast(n.as_bytes()),
                japan_class_bytes(n.as_bytes()),
                "{n}"
            );
        }
    }

    /// The class as the `phonenumber` crate's own full database gives it (what `from_phonenumber` did before).
    fn class_by_full_database(e164: &str) -> Option<phonenumber::Type> {
        let db = &phonenumber::metadata::DATABASE;
        phonenumber::parse_with(db, None, format!("+{e164}"))
            .ok()
            .map(|n| n.number_type(db))
    }

    #[test]
    fn per_code_databases_classify_as_the_full_database() {
        // Every territory's example numbers (one per type), and neighbours of each: one digit changed, one
        // dropped, one added. A difference means data/PhoneNumberMetadata.xml is not the crate's data.
        let index = territories();
        assert!(index.len() > 200, "{} calling codes", index.len());
        let mut checked = 0;
        for (code, ranges) in index {
            let mut numbers = Vec::new();
            for r in ranges {
                let text = &METADATA_XML[r.clone()];
                for piece in text.split("<exampleNumber>").skip(1) {
                    if let Some(national) = piece.split('<').next() {
                        numbers.push(format!("{code}{national}"));
                    }
                }
            }
            for n in numbers.clone() {
                let last = n.as_bytes()[n.len() - 1];
                let other = if last == b'9' {
                    '0'
                } else {
                    char::from(last + 1)
                };
                numbers.push(format!("{}{other}", &n[..n.len() - 1]));
                numbers.push(n[..n.len() - 1].to_string());
                numbers.push(format!("{n}5"));
            }
            for n in &numbers {
                let full = class_by_full_database(n);
                let per_code = database_for(*code).and_then(|db| {
                    phonenumber::parse_with(db, None, format!("+{n}"))
                        .ok()
                        .map(|p| p.number_type(db))
                });
                assert_eq!(
                    per_code.map(|t| format!("{t:?}")),
                    full.map(|t| format!("{t:?}")),
                    "+{n}"
                );
                checked += 1;
            }
        }
        assert!(checked > 3_000, "{checked} numbers");
    }

    #[test]
    fn japanese_numbers_skip_the_cache_with_the_same_answer() {
        let cache = PrefixCache::new();
        // Every national start of 1 to 4 digits, at every national length from 1 to 13.
        for start in 0..10_000u32 {
            for len in 1..=13usize {
                let mut national = format!("{start}");
                if national.len() > len {
                    continue;
                }
                while national.len() < len {
                    national.push('7');
                }
                let n = format!("81{national}");
                assert_eq!(cache.classify(n.as_bytes()), classify_uncached(&n), "{n}");
            }
        }
        assert_eq!(cache.classify(b"81"), classify_uncached("81"));
        // None of them took a place in the cache.
        let used = cache
            .buckets
            .iter()
            .flat_map(|b| b.0.iter())
            .filter(|e| e.load(Ordering::Relaxed) != 0)
            .count();
        assert_eq!(used, 0);
    }

    #[test]
    fn cache_gives_the_same_answer_as_uncached() {
        let cache = PrefixCache::new();
        for n in [
            "23276123456",
            "14165550123",
            "441481712345",
            "7701123456",
            "12125550123",
            "8816123456789",
        ] {
            let a = classify_uncached(n);
            assert_eq!(cache.classify(n.as_bytes()), a, "{n} miss");
            assert_eq!(cache.classify(n.as_bytes()), a, "{n} hit");
        }
    }
}
