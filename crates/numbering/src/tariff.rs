//! Rate tables: CSV of (prefix, name, price per minute, currency, billing increment, setup fee), longest-prefix
//! match on E.164 digits, and the embedded JPY estimates used until the site loads its carrier's table.

use crate::error::NumberingError;
use crate::prefix::{DigitKey, PrefixTable};
use crate::types::{Currency, Money, Tariff, TariffSource};

const DEFAULT_JPY: &str = include_str!("../data/tariffs_jpy_estimates.csv");

/// Parses a decimal price ("175", "17.6", "0.125") into thousandths, exactly (no floating point).
pub fn parse_price(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() && frac.is_empty() || frac.len() > 3 {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let w: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut f: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..3 {
        f *= 10;
    }
    let v = w.checked_mul(1000)?.checked_add(f)?;
    Some(if neg { -v } else { v })
}

/// A rate table with longest-prefix lookup. The `*` line, if any, is the fallback for international calls.
#[derive(Debug, Clone, Default)]
pub struct RateTable {
    tariffs: Vec<Tariff>,
    index: PrefixTable<usize>,
    fallback: Option<usize>,
}

impl RateTable {
    /// The embedded JPY estimates.
    pub fn default_jpy() -> Self {
        // The embedded table is part of the crate and tested; an error here is a broken build, not input.
        Self::parse(DEFAULT_JPY, None).unwrap_or_default()
    }

    /// Parses a user's table; `source` is the file name used in errors and in each tariff's source.
    pub fn from_csv(text: &str, source: &str) -> Result<Self, NumberingError> {
        Self::parse(text, Some(source))
    }

    fn parse(text: &str, source: Option<&str>) -> Result<Self, NumberingError> {
        let mut table = Self::default();
        let file = source.unwrap_or("embedded default tariffs");
        for (i, line) in text.lines().enumerate() {
            let line_no = i as u64 + 1;
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let f: Vec<&str> = t.split(',').map(str::trim).collect();
            if f.first().is_some_and(|x| x.eq_ignore_ascii_case("prefix")) {
                continue;
            }
            let bad = |why: String| NumberingError::Table {
                file: file.to_string(),
                line: line_no,
                why,
            };
            if f.len() < 4 || f.len() > 6 {
                return Err(bad(
                    "expected prefix,name,per_minute,currency[,increment[,setup]]".into(),
                ));
            }
            let prefix = f[0].strip_prefix('+').unwrap_or(f[0]);
            let catch_all = prefix == "*";
            if !catch_all
                && (prefix.is_empty()
                    || prefix.len() > 15
                    || !prefix.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(bad(format!(
                    "prefix '{}' is not 1-15 digits (or * for any international)",
                    f[0]
                )));
            }
            let currency = Currency::parse(f[3])
                .ok_or_else(|| bad(format!("currency '{}' is not a 3-letter code", f[3])))?;
            let per_minute = parse_price(f[2]).filter(|p| *p >= 0).ok_or_else(|| {
                bad(format!(
                    "price per minute '{}' is not a non-negative number",
                    f[2]
                ))
            })?;
            let (first, next) = match f.get(4).filter(|s| !s.is_empty()) {
                None => (60, 60),
                Some(inc) => {
                    let (a, b) = inc.split_once('/').unwrap_or((inc, inc));
                    match (a.trim().parse::<u32>(), b.trim().parse::<u32>()) {
                        (Ok(a), Ok(b)) if a > 0 && b > 0 => (a, b),
                        _ => {
                            return Err(bad(format!(
                                "billing increment '{inc}' is not like 60/60 or 30/6"
                            )));
                        }
                    }
                }
            };
            let setup = match f.get(5).filter(|s| !s.is_empty()) {
                None => 0,
                Some(s) => parse_price(s)
                    .filter(|p| *p >= 0)
                    .ok_or_else(|| bad(format!("setup fee '{s}' is not a non-negative number")))?,
            };
            let tariff = Tariff {
                prefix: if catch_all {
                    String::new()
                } else {
                    prefix.to_string()
                },
                name: f[1].to_string(),
                per_minute: Money::from_millis(per_minute, currency),
                setup: Money::from_millis(setup, currency),
                first_increment: first,
                next_increment: next,
                source: match source {
                    None => TariffSource::DefaultEstimate,
                    Some(s) => TariffSource::User {
                        file: s.to_string(),
                        line: line_no,
                    },
                },
            };
            let idx = table.tariffs.len();
            table.tariffs.push(tariff);
            if catch_all {
                table.fallback = Some(idx);
            } else {
                table.index.insert(prefix, idx);
            }
        }
        Ok(table)
    }

    pub fn len(&self) -> usize {
        self.tariffs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tariffs.is_empty()
    }

    /// Longest-prefix tariff for E.164 digits; the `*` fallback applies only when `international`.
    pub fn lookup(&self, e164: &str, international: bool) -> Option<&Tariff> {
        let found = self.index.longest(e164).map(|(i, _)| *i);
        self.found_or_fallback(found, international)
    }

    /// [`RateTable::lookup`] of a number already known to be E.164 digits (its key computed the quick way).
    pub(crate) fn lookup_e164(
        &self,
        key: Option<&DigitKey<'_>>,
        international: bool,
    ) -> Option<&Tariff> {
        let found = key.and_then(|k| self.index.longest_key(k)).map(|(i, _)| *i);
        self.found_or_fallback(found, international)
    }

    fn found_or_fallback(&self, found: Option<usize>, international: bool) -> Option<&Tariff> {
        if let Some(i) = found {
            return self.tariffs.get(i);
        }
        if international {
            return self.fallback.and_then(|i| self.tariffs.get(i));
        }
        None
    }

    /// Exact-prefix match only (no fallback): used to let a user's table override defaults.
    pub fn lookup_prefix(&self, e164: &str) -> Option<(&Tariff, usize)> {
        let (i, len) = self.index.longest(e164)?;
        Some((self.tariffs.get(*i)?, len))
    }

    pub fn fallback(&self) -> Option<&Tariff> {
        self.fallback.and_then(|i| self.tariffs.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_parse_exactly() {
        assert_eq!(parse_price("175"), Some(175_000));
        assert_eq!(parse_price("17.6"), Some(17_600));
        assert_eq!(parse_price("0.125"), Some(125));
        assert_eq!(parse_price(".5"), Some(500));
        assert_eq!(parse_price("1.2345"), None);
        assert_eq!(parse_price("abc"), None);
        assert_eq!(parse_price(""), None);
    }

    #[test]
    fn default_table_loads_and_prices_sierra_leone_like_the_2015_bills() {
        let t = RateTable::default_jpy();
        assert!(t.len() > 30);
        let sl = t
            .lookup("23276123456", true)
            .map(|t| t.cost(32).units_rounded());
        assert_eq!(sl, Some(175));
        let unknown = t
            .lookup("99912345", true)
            .map(|t| t.per_minute.units_rounded());
        assert_eq!(unknown, Some(200));
        assert!(t.lookup("99912345", false).is_none());
        assert_eq!(
            t.lookup("81312345678", false).map(|t| t.source.clone()),
            Some(TariffSource::DefaultEstimate)
        );
    }

    #[test]
    fn increments_and_setup_fee() {
        let t = RateTable::from_csv(
            "prefix,name,per_minute,currency,increment,setup\n44,UK,12,GBP,30/6,0.5\n",
            "r.csv",
        );
        let t = t.unwrap_or_default();
        let uk = t.lookup("442071234567", true);
        assert!(uk.is_some());
        if let Some(uk) = uk {
            assert_eq!(uk.billable_seconds(1), 30);
            assert_eq!(uk.billable_seconds(31), 36);
            assert_eq!(uk.cost(0).millis, 0);
            // 36 s at 12/min = 7.2, plus 0.5 setup.
            assert_eq!(uk.cost(31).millis, 7_700);
            assert_eq!(
                uk.source,
                TariffSource::User {
                    file: "r.csv".into(),
                    line: 2
                }
            );
        }
        let err = RateTable::from_csv("44,UK,12,GBP,x/6\n", "r.csv")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("r.csv:1: billing increment 'x/6' is not like 60/60 or 30/6")
        );
    }
}
