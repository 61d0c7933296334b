//! Public value types of the numbering crate: destinations, classes, risk tiers, money and tariffs.

use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};

/// An E.164 number held inline (at most 15 digits, no allocation). `Display` prints `+<digits>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164 {
    len: u8,
    digits: [u8; 15],
}

impl E164 {
    /// Builds from ASCII digits without the `+`; `None` when empty, longer than 15 or not all digits.
    pub fn from_digits(digits: &str) -> Option<Self> {
        Self::from_digit_bytes(digits.as_bytes())
    }

    /// [`E164::from_digits`] of bytes.
    pub(crate) fn from_digit_bytes(b: &[u8]) -> Option<Self> {
        if b.is_empty() || b.len() > 15 || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut out = [0u8; 15];
        out.get_mut(..b.len())?.copy_from_slice(b);
        Some(Self {
            len: b.len() as u8,
            digits: out,
        })
    }

    /// `head` then `tail` as one number, `None` unless 1 to 15 digits together. The parts must be ASCII
    /// digits: they are what normalisation read, which keeps nothing else in a national or international
    /// reading (checked in debug builds). Copied by word moves: the parts are a few bytes long and a `memcpy`
    /// call costs more than the copy.
    #[inline]
    pub(crate) fn from_parts(head: &[u8], tail: &[u8]) -> Option<Self> {
        let len = head.len() + tail.len();
        if len == 0 || len > 15 {
            return None;
        }
        debug_assert!(head.iter().chain(tail).all(u8::is_ascii_digit));
        let mut digits = [0u8; 15];
        copy_short(digits.get_mut(..head.len())?, head);
        copy_short(digits.get_mut(head.len()..len)?, tail);
        Some(Self {
            len: len as u8,
            digits,
        })
    }

    /// The digits without `+`.
    pub fn digits(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(self.digit_bytes()).unwrap_or("")
    }

    /// The digits without `+`, as bytes (no UTF-8 check).
    pub(crate) fn digit_bytes(&self) -> &[u8] {
        self.digits.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

/// `dst.copy_from_slice(src)` for at most 16 bytes of equal length, by two overlapping fixed-size moves
/// (a `memcpy` call costs more than the copy).
#[inline]
fn copy_short(dst: &mut [u8], src: &[u8]) {
    fn both<const N: usize>(dst: &mut [u8], src: &[u8]) {
        if let (Some(d), Some(s)) = (dst.first_chunk_mut::<N>(), src.first_chunk::<N>()) {
            *d = *s;
        }
        if let (Some(d), Some(s)) = (dst.last_chunk_mut::<N>(), src.last_chunk::<N>()) {
            *d = *s;
        }
    }
    match src.len() {
        0 => {}
        1 => {
            if let (Some(d), Some(s)) = (dst.first_mut(), src.first()) {
                *d = *s;
            }
        }
        2..=3 => both::<2>(dst, src),
        4..=7 => both::<4>(dst, src),
        8..=16 => both::<8>(dst, src),
        _ => dst.copy_from_slice(src),
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.digits())
    }
}

impl Serialize for E164 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Debug for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E164(+{})", self.digits())
    }
}

/// A country or international network of the ITU E.164 plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Country {
    /// ISO 3166-1 alpha-2 code, or a pseudo code for international networks (e.g. "XS" for satellite).
    pub iso2: &'static str,
    /// English name ("Sierra Leone").
    pub name: &'static str,
    /// Country calling code (232 for Sierra Leone, 1 for NANP, 881 for GMSS).
    pub calling_code: u16,
}

/// Where a call goes, seen from the site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Scope {
    /// An emergency or protected service number: always allowed, by every rule and kill switch.
    Emergency,
    /// An extension or feature code of the PBX itself.
    Internal,
    /// A number in the site's own country.
    Domestic,
    /// A number in another country or an international network.
    International,
    /// Not understood.
    Unknown,
}

/// The kind of number dialed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum NumberClass {
    Fixed,
    Mobile,
    /// A number that could be fixed or mobile (NANP).
    FixedOrMobile,
    TollFree,
    PremiumRate,
    SharedCost,
    Personal,
    Voip,
    Satellite,
    Pager,
    Uan,
    Emergency,
    /// Other short service numbers (directory, time, weather…).
    Service,
    Internal,
    Unknown,
}

/// Fraud risk of a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum RiskTier {
    Low,
    Medium,
    High,
    /// Known IRSF hot spots, premium and satellite ranges.
    Critical,
}

/// How the dial string was written. Decoration alone is normal (separators, an outside-line digit);
/// obfuscation (leading symbols, junk inside the digits, percent-encoding) is suspicious in itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DialFlags(pub u16);

impl DialFlags {
    pub const SEPARATORS: Self = Self(1 << 0);
    pub const OUTSIDE_LINE: Self = Self(1 << 1);
    pub const CARRIER_CODE: Self = Self(1 << 2);
    pub const CALLER_ID_PREFIX: Self = Self(1 << 3);
    pub const PERCENT_ENCODED: Self = Self(1 << 4);
    pub const LEADING_SYMBOL: Self = Self(1 << 5);
    pub const JUNK_CHARACTERS: Self = Self(1 << 6);
    pub const URI_FORM: Self = Self(1 << 7);
    pub const FEATURE_CODE: Self = Self(1 << 8);
    /// Dialed with another country's international prefix (`00`, `011`, `810`, `0011`, … after an optional
    /// outside-line digit, caller-ID prefix or carrier code) that the site's plan does not use: read as the
    /// call abroad it would be there. Raises the risk to at least high.
    pub const FOREIGN_PREFIX: Self = Self(1 << 9);
    /// The site's own country code followed by an international or carrier prefix (`+81 10 232…`): a PBX that
    /// turns `+81` into the trunk `0` dials `010 232…`. Read as that call abroad; raises the risk to at least
    /// high.
    pub const HIDDEN_INTERNATIONAL: Self = Self(1 << 10);
    /// A `phone-context` of another country (`tel:110;phone-context=+1`): read as that country's number, never
    /// as one of the site's (nor as the site's emergency number).
    pub const FOREIGN_CONTEXT: Self = Self(1 << 11);
    /// Not how the string was dialed but where its risk tier comes from: the destination country's own tier
    /// (the country risk table, or an international number on no list), not a number range's (user lists, the
    /// IRSF range blacklist, hot spots, premium and satellite ranges) nor a raise for how it was dialed. A
    /// policy's explicit `allow_countries` entry outranks such a tier. Not listed in [`DialFlags::names`].
    pub const COUNTRY_RISK: Self = Self(1 << 12);
    /// Set whenever the dial string was obfuscated (leading symbols, junk, percent-encoding).
    pub const OBFUSCATED: Self = Self(1 << 15);

    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
    pub fn insert(&mut self, other: Self) {
        self.0 |= other.0;
    }
    pub const fn is_obfuscated(self) -> bool {
        self.contains(Self::OBFUSCATED)
    }
    /// No flag of how the string was dialed ([`DialFlags::COUNTRY_RISK`] is about the risk, not the string).
    pub const fn is_empty(self) -> bool {
        self.0 & !Self::COUNTRY_RISK.0 == 0
    }
    /// Written with a prefix that leads abroad where the site's plan does not expect one
    /// ([`DialFlags::FOREIGN_PREFIX`] or [`DialFlags::HIDDEN_INTERNATIONAL`]): the risk is at least high.
    pub const fn has_suspicious_prefix(self) -> bool {
        self.0 & (Self::FOREIGN_PREFIX.0 | Self::HIDDEN_INTERNATIONAL.0) != 0
    }

    /// Every flag with its machine name and the words an admin reads.
    pub const ALL: [(Self, &'static str, &'static str); 13] = [
        (
            Self::SEPARATORS,
            "separators",
            "visual separators (spaces, dashes, dots, parentheses)",
        ),
        (
            Self::OUTSIDE_LINE,
            "outside_line",
            "an outside-line digit before the number",
        ),
        (
            Self::CARRIER_CODE,
            "carrier_code",
            "a carrier selection code (e.g. 0033)",
        ),
        (
            Self::CALLER_ID_PREFIX,
            "caller_id_prefix",
            "a caller-ID prefix (184/186)",
        ),
        (
            Self::PERCENT_ENCODED,
            "percent_encoded",
            "percent-encoded characters (e.g. %23 for #)",
        ),
        (
            Self::LEADING_SYMBOL,
            "leading_symbol",
            "a symbol (* or #) before the digits",
        ),
        (
            Self::JUNK_CHARACTERS,
            "junk_characters",
            "characters that are not digits inside or after the number",
        ),
        (Self::URI_FORM, "uri_form", "a tel: or sip: URI"),
        (
            Self::FEATURE_CODE,
            "feature_code",
            "a PBX feature code (e.g. *72 call forwarding)",
        ),
        (
            Self::FOREIGN_PREFIX,
            "foreign_prefix",
            "SUSPICIOUS: another country's international prefix (00, 011, 810, 0011...), not this site's: read as the call abroad it would be there",
        ),
        (
            Self::HIDDEN_INTERNATIONAL,
            "hidden_international",
            "SUSPICIOUS: an international or carrier prefix hidden after the site's own country code (+81 10...): read as the call abroad it dials",
        ),
        (
            Self::FOREIGN_CONTEXT,
            "foreign_context",
            "a phone-context of another country: read as that country's number, not the site's",
        ),
        (
            Self::OBFUSCATED,
            "obfuscated",
            "OBFUSCATED: written to slip past digit-prefix filters",
        ),
    ];

    /// Machine names of the flags set ("separators", "obfuscated", ...).
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::ALL
            .into_iter()
            .filter(move |(f, _, _)| self.contains(*f))
            .map(|(_, n, _)| n)
    }

    /// Admin-readable words for the flags set.
    pub fn descriptions(self) -> impl Iterator<Item = &'static str> {
        Self::ALL
            .into_iter()
            .filter(move |(f, _, _)| self.contains(*f))
            .map(|(_, _, d)| d)
    }
}

impl Serialize for DialFlags {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.names())
    }
}

/// One shared empty text, so that `Destination::unknown()` does not allocate.
fn empty_reason() -> Arc<str> {
    static EMPTY: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| Arc::from(""));
    EMPTY.clone()
}

fn serialize_str<S: Serializer>(s: &Arc<str>, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s)
}

/// The outcome of classifying a dial string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Destination {
    /// The number in E.164 form when it is a public number (not for extensions or unknown strings).
    pub e164: Option<E164>,
    pub country: Option<Country>,
    pub scope: Scope,
    pub class: NumberClass,
    pub risk: RiskTier,
    /// Why the risk tier was given, in words, with the list entry's source ("default list: tfps globalblacklist 2021-08-20").
    /// Shared text written once when the risk lists are loaded: cloning a `Destination` never copies it.
    /// Reads like a `&str` (`Deref`, `Display`); build one with `"words".into()` or `Arc::from(string)`.
    #[serde(serialize_with = "serialize_str")]
    pub risk_reason: Arc<str>,
    pub flags: DialFlags,
}

impl Destination {
    pub fn unknown() -> Self {
        Self {
            e164: None,
            country: None,
            scope: Scope::Unknown,
            class: NumberClass::Unknown,
            risk: RiskTier::Medium,
            risk_reason: empty_reason(),
            flags: DialFlags::default(),
        }
    }

    /// True when no rule and no kill switch may ever block this destination.
    pub fn is_emergency(&self) -> bool {
        self.scope == Scope::Emergency || self.class == NumberClass::Emergency
    }
}

/// An ISO 4217 currency code ("JPY").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(pub [u8; 3]);

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Currency {
    pub const JPY: Self = Self(*b"JPY");
    pub const USD: Self = Self(*b"USD");
    pub const EUR: Self = Self(*b"EUR");

    /// Parses a three-letter ISO 4217 code (case-insensitive); `None` for anything else.
    pub fn parse(code: &str) -> Option<Self> {
        let b = code.trim().as_bytes();
        if b.len() != 3 || !b.iter().all(u8::is_ascii_alphabetic) {
            return None;
        }
        Some(Self([
            b[0].to_ascii_uppercase(),
            b[1].to_ascii_uppercase(),
            b[2].to_ascii_uppercase(),
        ]))
    }
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

/// An amount of money in thousandths of the currency's unit (exact integer arithmetic, deterministic sums).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Money {
    pub millis: i64,
    pub currency: Currency,
}

impl Money {
    pub const fn zero(currency: Currency) -> Self {
        Self {
            millis: 0,
            currency,
        }
    }
    /// From whole units and thousandths ("175.5" is `from_millis(175_500, ..)`).
    pub const fn from_millis(millis: i64, currency: Currency) -> Self {
        Self { millis, currency }
    }
    pub const fn from_units(units: i64, currency: Currency) -> Self {
        Self {
            millis: units.saturating_mul(1000),
            currency,
        }
    }
    /// Whole units, rounded half up ("175 JPY").
    pub fn units_rounded(&self) -> i64 {
        (self.millis + 500).div_euclid(1000)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.units_rounded(), self.currency.as_str())
    }
}

/// Billable seconds of a call lasting `seconds` charged `first_increment`/`next_increment` ("30/6"): nothing for
/// an unanswered (0 s) call, otherwise the first increment and then whole following increments, as carriers
/// bill. An increment of 0 counts as 1.
pub fn billable_seconds(first_increment: u32, next_increment: u32, seconds: u32) -> u64 {
    if seconds == 0 {
        return 0;
    }
    let first = u64::from(first_increment.max(1));
    let next = u64::from(next_increment.max(1));
    let s = u64::from(seconds);
    if s <= first {
        first
    } else {
        first + (s - first).div_ceil(next) * next
    }
}

/// The one billing formula: what a call of `seconds` costs in thousandths of the currency — `setup_millis` plus
/// `per_minute_millis` a minute over its [`billable_seconds`], rounded half up to the thousandth (integer
/// arithmetic, no floats); nothing for an unanswered (0 s) call. [`Tariff::cost`] and the engine's rates both
/// use it, so an alert's money and a report's agree to the thousandth.
pub fn call_cost_millis(
    per_minute_millis: i64,
    setup_millis: i64,
    first_increment: u32,
    next_increment: u32,
    seconds: u32,
) -> i64 {
    if seconds == 0 {
        return 0;
    }
    let billable = i128::from(billable_seconds(first_increment, next_increment, seconds));
    let usage = (i128::from(per_minute_millis) * billable * 2 + 60) / 120;
    i64::try_from(usage + i128::from(setup_millis)).unwrap_or(i64::MAX)
}

impl Tariff {
    /// Billable seconds of a call lasting `seconds` under this tariff (see [`billable_seconds`]).
    pub fn billable_seconds(&self, seconds: u32) -> u64 {
        billable_seconds(self.first_increment, self.next_increment, seconds)
    }

    /// What a call of `seconds` costs (setup fee included for an answered call; 0 s means not answered), by
    /// [`call_cost_millis`].
    pub fn cost(&self, seconds: u32) -> Money {
        Money {
            millis: call_cost_millis(
                self.per_minute.millis,
                self.setup.millis,
                self.first_increment,
                self.next_increment,
                seconds,
            ),
            currency: self.per_minute.currency,
        }
    }
}

/// Where a tariff came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum TariffSource {
    /// The embedded default table: an estimate, not a carrier's price.
    DefaultEstimate,
    /// A user-supplied rate table, with file and line.
    User { file: String, line: u64 },
}

/// One line of a rate table: a prefix of E.164 digits and how calls to it are charged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tariff {
    /// E.164 digits without `+` ("232" or "23276").
    pub prefix: String,
    pub name: String,
    pub per_minute: Money,
    /// Charged once per answered call.
    pub setup: Money,
    /// First billing increment in seconds (60 in "60/60", 30 in "30/6").
    pub first_increment: u32,
    /// Following increments in seconds.
    pub next_increment: u32,
    pub source: TariffSource,
}

/// The site's dial plan: how people at this site dial out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DialPlan {
    /// ISO 3166-1 alpha-2 of the site ("JP").
    pub country: String,
    /// Calling code of the site's country (81 for Japan).
    pub calling_code: u16,
    /// International prefix ("010" in Japan, "011" NANP, "00" most of the world).
    pub international_prefix: String,
    /// Further prefixes the site's network also reads as international (e.g. "00" where the PBX or carrier
    /// accepts it besides "010"): read like `international_prefix`, without a flag. Empty by default.
    pub other_international_prefixes: Vec<String>,
    /// Other countries' international prefixes ("00", "011", "810", "0011"…; `x` stands for any digit) that
    /// the site's network does not use. A number dialed with one (after an optional outside-line digit,
    /// caller-ID prefix or carrier code) is read as the call abroad it would be there and flagged
    /// [`DialFlags::FOREIGN_PREFIX`], unless the digits are a real national number of the site. Default:
    /// [`crate::FOREIGN_INTERNATIONAL_PREFIXES`] less the site's own prefixes and carrier codes.
    pub foreign_prefixes: Vec<String>,
    /// Trunk prefix for national numbers ("0" in Japan).
    pub trunk_prefix: String,
    /// Digit dialed first to get an outside line, if the PBX uses one ("0" or "9").
    pub outside_line: Option<String>,
    /// Carrier selection codes that may precede the international or national number.
    pub carrier_codes: Vec<String>,
    /// Caller-ID prefixes ("184", "186" in Japan).
    pub caller_id_prefixes: Vec<String>,
    /// Lengths of internal extensions (e.g. 3..=4 digits).
    pub extension_lengths: std::ops::RangeInclusive<u8>,
}

impl DialPlan {
    /// A Japanese site: 010 international, 0 trunk, common carrier codes (fixed-line carriers' selection
    /// codes and the mobile carriers' international services: au 005345, SoftBank 0046, docomo WORLD CALL
    /// 009130), 184/186, every other country's international prefix flagged.
    pub fn japan() -> Self {
        let mut plan = Self {
            country: "JP".into(),
            calling_code: 81,
            international_prefix: "010".into(),
            other_international_prefixes: Vec::new(),
            foreign_prefixes: Vec::new(),
            trunk_prefix: "0".into(),
            outside_line: None,
            carrier_codes: [
                "0033", "0036", "0037", "0038", "0039", "0041", "0061", "0063", "0088", "001",
                "0091", "005345", "0046", "009130",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            caller_id_prefixes: vec!["184".into(), "186".into()],
            extension_lengths: 2..=4,
        };
        plan.foreign_prefixes = crate::normalise::default_foreign_prefixes(&plan);
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_copies_copy() {
        for n in 0..=20usize {
            let src: Vec<u8> = (0..n as u8).map(|i| i * 7 + 1).collect();
            let mut dst = vec![0u8; n];
            copy_short(&mut dst, &src);
            assert_eq!(dst, src, "{n}");
        }
    }

    #[test]
    fn parts_make_the_number_of_their_digits() {
        for (head, tail) in [
            ("81", "9012345678"),
            ("", "23276123456"),
            ("1", ""),
            ("232", "761234567890"),
            ("81", "0123456789012"),
            ("", "999999999999999"),
        ] {
            let joined = format!("{head}{tail}");
            assert_eq!(
                E164::from_parts(head.as_bytes(), tail.as_bytes()),
                E164::from_digits(&joined),
                "{joined}"
            );
            assert!(E164::from_digits(&joined).is_some(), "{joined}");
        }
        for (head, tail) in [("", ""), ("81", "90123456789012"), ("", "1234567890123456")] {
            assert_eq!(
                E164::from_parts(head.as_bytes(), tail.as_bytes()),
                None,
                "{head} {tail}"
            );
        }
    }
}
