//! The project's CDR scenario generator: labelled Asterisk `Master.csv` traffic of a small Japanese office, a
//! call centre, a late-night international caller, an office calling its suppliers abroad and one with a
//! supplier in a high-risk country, with the attacks tollguard must stop mixed in.
//!
//! Deterministic: the same seed gives the same calls, byte for byte (a SplitMix64 PRNG lives here; no `rand`).
//! Every call carries its ground truth ([`Label`]), both in the API and in the `userfield` column (`legit` or
//! `fraud:<scenario>`), so that a backtest can be scored against it. Calls come sorted by end time, as Asterisk
//! appends them to `Master.csv` at hangup. Times are Asia/Tokyo; the base week is Monday 2025-06-02, chosen
//! because June has no Japanese public holiday (`bench_mix` runs longer and ignores holidays).
//!
//! Dial plan: domestic numbers dialed with the trunk prefix (`0312345678`, `09012345678`), international with
//! Japan's `010` prefix (`0101212xxxxxxx` for New York, `010232…` for Sierra Leone). Extensions are PJSIP
//! endpoints with no accountcode (the FreePBX default), so the account is the extension from the channel.

use std::io::{self, Write};

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeZone, Utc, Weekday};

use crate::record::{CallRecord, Disposition};
use crate::write::AsteriskCsvWriter;

/// Ground truth of a generated call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Label {
    /// Normal traffic: must never be blocked.
    Legit,
    /// Part of an attack; the scenario's name.
    Fraud(&'static str),
}

impl Label {
    /// `legit` or `fraud:<scenario>`: what goes into the userfield column.
    pub fn as_userfield(self) -> String {
        match self {
            Label::Legit => "legit".to_owned(),
            Label::Fraud(s) => format!("fraud:{s}"),
        }
    }

    /// Reads a userfield written by this generator back (`None` for anything else).
    pub fn from_userfield(s: &str) -> Option<Label> {
        if s == "legit" {
            return Some(Label::Legit);
        }
        let name = s.strip_prefix("fraud:")?;
        SCENARIOS
            .iter()
            .find(|n| **n == name)
            .map(|n| Label::Fraud(n))
    }

    /// True for attack traffic.
    pub fn is_fraud(self) -> bool {
        matches!(self, Label::Fraud(_))
    }
}

/// A generated call and its ground truth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynthCall {
    pub record: CallRecord,
    pub label: Label,
}

/// Names accepted by [`scenario`] (and `--scenario` of the `synth` example).
pub const SCENARIOS: [&str; 13] = [
    "office",
    "call_centre",
    "night_international",
    "weekend_pump",
    "night_drip",
    "range_walk",
    "business_hours_attack",
    "obfuscated",
    "bench_mix",
    "suppliers_abroad",
    "high_risk_supplier",
    "night_pump_allowed_country",
    "spread_night_pump",
];

/// The calls of a named scenario (`bench_mix` gives 100,000 calls here; use [`write_bench_mix`] for more).
pub fn scenario(name: &str, seed: u64) -> Option<Vec<SynthCall>> {
    Some(match name {
        "office" => office_weeks(seed, 4),
        "call_centre" => call_centre(seed, 5),
        "night_international" => night_international(seed, 4),
        "weekend_pump" => weekend_pump(seed),
        "night_drip" => night_drip(seed),
        "range_walk" => range_walk(seed),
        "business_hours_attack" => business_hours_attack(seed),
        "obfuscated" => obfuscated(seed),
        "night_pump_allowed_country" => night_pump_allowed_country(seed),
        "spread_night_pump" => spread_night_pump(seed),
        "bench_mix" => {
            let mut out = Vec::new();
            let mut g = Generator::new(seed);
            let mut week = 0;
            while out.len() < 100_000 {
                out.extend(g.bench_week(week));
                week += 1;
            }
            out.truncate(100_000);
            out
        }
        "suppliers_abroad" => suppliers_abroad(seed, 8),
        "high_risk_supplier" => high_risk_supplier(seed, 8),
        _ => return None,
    })
}

/// SplitMix64: tiny, fast, good enough for traffic shapes, and stable across platforms and releases.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u32, hi: u32) -> u32 {
        if hi <= lo {
            return lo;
        }
        lo + (self.next_u64() % u64::from(hi - lo + 1)) as u32
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            return None;
        }
        items.get((self.next_u64() % items.len() as u64) as usize)
    }

    /// Roughly log-normal seconds with the given median, clamped: call lengths are like that.
    pub fn talk_secs(&mut self, median: f64, lo: u32, hi: u32) -> u32 {
        // Sum of uniforms ≈ normal; sigma ~0.9 in log space.
        let n: f64 = (0..4).map(|_| self.unit()).sum::<f64>() - 2.0;
        let v = median * (n * 1.55).exp();
        (v.round() as u32).clamp(lo, hi)
    }
}

fn jst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600)
        .unwrap_or(FixedOffset::east_opt(0).unwrap_or_else(|| unreachable!()))
}

/// The base Monday of every scenario.
pub fn base_monday() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 6, 2).unwrap_or_default()
}

/// A Tokyo wall-clock time on `day` plus `secs` seconds after midnight (may run past midnight).
fn at(day: NaiveDate, secs: u32) -> DateTime<Utc> {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    let local = jst()
        .from_local_datetime(&midnight)
        .single()
        .unwrap_or_else(|| jst().from_utc_datetime(&midnight));
    local.with_timezone(&Utc) + Duration::seconds(i64::from(secs))
}

const fn hms(h: u32, m: u32, s: u32) -> u32 {
    h * 3600 + m * 60 + s
}

/// How a generated call went.
#[derive(Clone, Copy, Debug)]
struct Outcome {
    ring: u32,
    talk: Option<u32>,
    disposition: Disposition,
}

impl Outcome {
    fn answered(ring: u32, talk: u32) -> Outcome {
        Outcome {
            ring,
            talk: Some(talk),
            disposition: Disposition::Answered,
        }
    }
    fn not_answered(ring: u32, disposition: Disposition) -> Outcome {
        Outcome {
            ring,
            talk: None,
            disposition,
        }
    }
}

const OFFICE_NAMES: [&str; 10] = [
    "Sato",
    "Suzuki",
    "Takahashi",
    "Kobayashi",
    "Tanaka",
    "Watanabe",
    "Yamada",
    "Nakamura",
    "Ito",
    "Kato",
];
const AREA_CODES: [&str; 6] = ["03", "03", "03", "045", "06", "052"];
const MOBILE_PREFIXES: [&str; 3] = ["090", "080", "070"];

/// Deterministic traffic generator shared by the scenarios.
pub struct Generator {
    rng: Rng,
    counter: u64,
}

impl Generator {
    pub fn new(seed: u64) -> Generator {
        Generator {
            rng: Rng::new(seed),
            counter: 0,
        }
    }

    fn domestic_fixed(&mut self) -> String {
        let area = self.rng.pick(&AREA_CODES).copied().unwrap_or("03");
        let digits = 10 - area.len();
        let mut s = area.to_owned();
        for _ in 0..digits {
            s.push(char::from(b'0' + self.rng.range(0, 9) as u8));
        }
        s
    }

    fn mobile(&mut self) -> String {
        let mut s = self
            .rng
            .pick(&MOBILE_PREFIXES)
            .copied()
            .unwrap_or("090")
            .to_owned();
        for _ in 0..8 {
            s.push(char::from(b'0' + self.rng.range(0, 9) as u8));
        }
        s
    }

    fn digits(&mut self, prefix: &str, n: usize) -> String {
        let mut s = prefix.to_owned();
        for _ in 0..n {
            s.push(char::from(b'0' + self.rng.range(0, 9) as u8));
        }
        s
    }

    /// One call from extension `ext` (PJSIP endpoint) to `dialed` starting at `start`.
    // Private builder: every argument is one column of the CDR, grouping them would only hide that.
    #[allow(clippy::too_many_arguments)]
    fn call(
        &mut self,
        ext: &str,
        name: &str,
        dialed: &str,
        start: DateTime<Utc>,
        outcome: Outcome,
        label: Label,
        accountcode: Option<&str>,
    ) -> SynthCall {
        self.counter += 2;
        let uniqueid = format!("{}.{}", start.timestamp(), self.counter);
        let internal = dialed.len() == 3 && dialed.bytes().all(|b| b.is_ascii_digit());
        let answer = outcome
            .talk
            .map(|_| start + Duration::seconds(i64::from(outcome.ring)));
        let end = start + Duration::seconds(i64::from(outcome.ring + outcome.talk.unwrap_or(0)));
        let mut r = CallRecord::empty(0, start);
        r.call_id = uniqueid.clone();
        r.linked_id = uniqueid;
        r.answer = answer;
        r.end = end;
        r.duration_secs = outcome.ring + outcome.talk.unwrap_or(0);
        r.billable_secs = outcome.talk.unwrap_or(0);
        r.caller = ext.to_owned();
        r.caller_name = name.to_owned();
        r.dialed = dialed.to_owned();
        r.account = accountcode.unwrap_or(ext).to_owned();
        r.disposition = outcome.disposition;
        r.context = "from-internal".to_owned();
        r.channel = format!("PJSIP/{ext}-{:08x}", self.counter);
        r.last_app = "Dial".to_owned();
        if internal {
            r.dst_channel = format!("PJSIP/{dialed}-{:08x}", self.counter + 1);
            r.last_data = format!("PJSIP/{dialed},20");
        } else {
            if outcome.disposition != Disposition::Failed {
                r.dst_channel = format!("PJSIP/ntt-trunk-{:08x}", self.counter + 1);
            }
            r.last_data = format!("PJSIP/{dialed}@ntt-trunk,60,T");
        }
        r.hangup_cause = outcome.disposition.as_asterisk().to_owned();
        r.userfield = label.as_userfield();
        SynthCall { record: r, label }
    }

    /// An inbound call from the trunk to an extension.
    fn inbound(
        &mut self,
        ext: &str,
        from: &str,
        start: DateTime<Utc>,
        outcome: Outcome,
    ) -> SynthCall {
        let mut c = self.call("ntt-trunk", "", ext, start, outcome, Label::Legit, None);
        c.record.caller = from.to_owned();
        c.record.caller_name = String::new();
        c.record.context = "from-trunk".to_owned();
        c.record.dst_channel = format!("PJSIP/{ext}-{:08x}", self.counter + 1);
        c.record.last_data = format!("PJSIP/{ext},20");
        c
    }

    fn office_outcome(&mut self) -> Outcome {
        let x = self.rng.unit();
        let ring = self.rng.range(3, 18);
        if x < 0.75 {
            Outcome::answered(ring, self.rng.talk_secs(100.0, 5, 3600))
        } else if x < 0.92 {
            Outcome::not_answered(self.rng.range(15, 40), Disposition::NoAnswer)
        } else if x < 0.97 {
            Outcome::not_answered(self.rng.range(2, 5), Disposition::Busy)
        } else {
            Outcome::not_answered(self.rng.range(0, 2), Disposition::Failed)
        }
    }

    /// A weekday of the small office: extensions 201–210, 09:00–18:00, fewer calls at lunch.
    pub fn office_day(&mut self, day: NaiveDate, contacts: &[Vec<String>]) -> Vec<SynthCall> {
        let mut out = Vec::new();
        if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            return out;
        }
        for (i, name) in OFFICE_NAMES.iter().enumerate() {
            let ext = format!("{}", 201 + i);
            let n = self.rng.range(4, 14);
            for _ in 0..n {
                let mut t = self.rng.range(hms(9, 0, 0), hms(17, 55, 0));
                if (hms(12, 0, 0)..hms(13, 0, 0)).contains(&t) {
                    t = self.rng.range(hms(9, 0, 0), hms(17, 55, 0));
                }
                let start = at(day, t);
                let x = self.rng.unit();
                let dialed = if x < 0.12 {
                    format!("{}", 201 + self.rng.range(0, 9))
                } else if x < 0.17 {
                    self.digits("0120", 6)
                } else if x < 0.70 {
                    let list = contacts.get(i).map(Vec::as_slice).unwrap_or(&[]);
                    match self.rng.pick(list) {
                        Some(n) => n.clone(),
                        None => self.domestic_fixed(),
                    }
                } else if x < 0.85 {
                    self.domestic_fixed()
                } else {
                    self.mobile()
                };
                let outcome = self.office_outcome();
                out.push(self.call(&ext, name, &dialed, start, outcome, Label::Legit, None));
            }
            // Inbound calls to this extension.
            for _ in 0..self.rng.range(1, 5) {
                let start = at(day, self.rng.range(hms(9, 0, 0), hms(17, 55, 0)));
                let from = if self.rng.chance(0.5) {
                    self.domestic_fixed()
                } else {
                    self.mobile()
                };
                let outcome = self.office_outcome();
                out.push(self.inbound(&ext, &from, start, outcome));
            }
        }
        out
    }

    /// Each office extension's regular contacts (customers and suppliers it calls again and again).
    pub fn office_contacts(&mut self) -> Vec<Vec<String>> {
        (0..OFFICE_NAMES.len())
            .map(|_| {
                (0..15)
                    .map(|_| {
                        if self.rng.chance(0.6) {
                            self.domestic_fixed()
                        } else {
                            self.mobile()
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// A day of the outbound call centre: agents 301–340 with accountcode `callcentre`, 09:00–20:00 Monday to
    /// Saturday, a new short call every one to four minutes per agent, mostly to numbers called once.
    pub fn call_centre_day(&mut self, day: NaiveDate, agents: u32) -> Vec<SynthCall> {
        let mut out = Vec::new();
        if day.weekday() == Weekday::Sun {
            return out;
        }
        for a in 0..agents {
            let ext = format!("{}", 301 + a);
            let mut t = hms(9, 0, 0) + self.rng.range(0, 600);
            let stop = hms(20, 0, 0);
            while t < stop {
                let dialed = if self.rng.chance(0.7) {
                    self.mobile()
                } else {
                    self.domestic_fixed()
                };
                let x = self.rng.unit();
                let outcome = if x < 0.40 {
                    Outcome::answered(self.rng.range(4, 15), self.rng.talk_secs(45.0, 8, 900))
                } else if x < 0.85 {
                    Outcome::not_answered(self.rng.range(20, 30), Disposition::NoAnswer)
                } else if x < 0.95 {
                    Outcome::not_answered(self.rng.range(2, 6), Disposition::Busy)
                } else {
                    Outcome::not_answered(self.rng.range(0, 2), Disposition::Failed)
                };
                let start = at(day, t);
                let len = outcome.ring + outcome.talk.unwrap_or(0);
                out.push(self.call(
                    &ext,
                    "Agent",
                    &dialed,
                    start,
                    outcome,
                    Label::Legit,
                    Some("callcentre"),
                ));
                t += len + self.rng.range(15, 120);
            }
        }
        out
    }

    /// Extension 207 (Yamada, sales for the US market) calls New York and San Francisco at night, every weekday.
    pub fn night_international_day(
        &mut self,
        day: NaiveDate,
        us_contacts: &[String],
    ) -> Vec<SynthCall> {
        let mut out = Vec::new();
        if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            return out;
        }
        for _ in 0..self.rng.range(1, 4) {
            let start = at(day, self.rng.range(hms(22, 0, 0), hms(25, 30, 0)));
            let dialed = self
                .rng
                .pick(us_contacts)
                .cloned()
                .unwrap_or_else(|| self.digits("0101212", 7));
            let outcome = if self.rng.chance(0.85) {
                Outcome::answered(self.rng.range(8, 25), self.rng.talk_secs(900.0, 120, 2700))
            } else {
                Outcome::not_answered(self.rng.range(25, 45), Disposition::NoAnswer)
            };
            out.push(self.call("207", "Yamada", &dialed, start, outcome, Label::Legit, None));
        }
        out
    }

    fn us_contacts(&mut self) -> Vec<String> {
        (0..6)
            .map(|i| {
                if i < 4 {
                    self.digits("0101212", 7)
                } else {
                    self.digits("0101415", 7)
                }
            })
            .collect()
    }

    /// The 2015 pattern: from Friday 19:30 a hijacked extension runs `channels` calls at once, ~30 s each
    /// (±2 s), to Sierra Leone (+232) numbers, until Monday 06:00. About 10,000 calls with 4 channels.
    pub fn pump(
        &mut self,
        ext: &str,
        name: &str,
        (from, until): (DateTime<Utc>, DateTime<Utc>),
        channels: u32,
        prefix: &[&str],
        label: Label,
    ) -> Vec<SynthCall> {
        let numbers: Vec<String> = (0..40)
            .map(|i| {
                let range = ["76", "77", "78", "30", "33"][i % 5];
                self.digits(&format!("010232{range}"), 6)
            })
            .collect();
        let mut out = Vec::new();
        for c in 0..channels {
            let mut t = from + Duration::seconds(i64::from(c * 7 + self.rng.range(0, 20)));
            while t < until {
                let number = self.rng.pick(&numbers).cloned().unwrap_or_default();
                let dialed = match self.rng.pick(prefix) {
                    Some(p) => format!("{p}{number}"),
                    None => number,
                };
                let outcome = if self.rng.chance(0.92) {
                    Outcome::answered(self.rng.range(2, 6), self.rng.range(28, 32))
                } else if self.rng.chance(0.5) {
                    Outcome::not_answered(self.rng.range(20, 30), Disposition::NoAnswer)
                } else {
                    Outcome::not_answered(self.rng.range(0, 2), Disposition::Failed)
                };
                let len = outcome.ring + outcome.talk.unwrap_or(0);
                out.push(self.call(ext, name, &dialed, t, outcome, label, None));
                t += Duration::seconds(i64::from(len + self.rng.range(20, 70)));
            }
        }
        out
    }

    /// A slow drip: one to three long calls a night between 01:00 and 04:30 to premium and satellite ranges.
    pub fn drip(
        &mut self,
        ext: &str,
        name: &str,
        first_night: NaiveDate,
        nights: u32,
    ) -> Vec<SynthCall> {
        let mut out = Vec::new();
        for n in 0..nights {
            let day = first_night + Duration::days(i64::from(n));
            for _ in 0..self.rng.range(1, 3) {
                let start = at(day, self.rng.range(hms(1, 0, 0), hms(4, 30, 0)));
                let dialed = match self.rng.range(0, 3) {
                    0 => self.digits("0108816", 8),  // Iridium +881 6
                    1 => self.digits("01088216", 8), // Thuraya +882 16
                    2 => self.digits("01037190", 6), // Latvia premium +371 90
                    _ => self.digits("010535", 7),   // Cuba mobile +53 5
                };
                let outcome = Outcome::answered(self.rng.range(3, 10), self.rng.range(180, 600));
                out.push(self.call(
                    ext,
                    name,
                    &dialed,
                    start,
                    outcome,
                    Label::Fraud("night_drip"),
                    None,
                ));
            }
        }
        out
    }

    /// A range walk: `count` attempts to consecutive numbers under one Sierra Leone prefix, seconds apart.
    pub fn range_walk(
        &mut self,
        ext: &str,
        name: &str,
        from: DateTime<Utc>,
        count: u32,
    ) -> Vec<SynthCall> {
        let mut out = Vec::new();
        let mut t = from;
        let base = 123_400u32;
        for i in 0..count {
            let dialed = format!("01023276{:06}", base + i);
            let x = self.rng.unit();
            let outcome = if x < 0.80 {
                Outcome::not_answered(self.rng.range(1, 3), Disposition::Failed)
            } else if x < 0.95 {
                Outcome::not_answered(self.rng.range(15, 30), Disposition::NoAnswer)
            } else {
                Outcome::answered(self.rng.range(2, 5), self.rng.range(5, 20))
            };
            let len = outcome.ring + outcome.talk.unwrap_or(0);
            out.push(self.call(
                ext,
                name,
                &dialed,
                t,
                outcome,
                Label::Fraud("range_walk"),
                None,
            ));
            t += Duration::seconds(i64::from(len + self.rng.range(2, 12)));
        }
        out
    }

    /// An attack in office hours from a hijacked extension whose owner keeps working: two channels to Cuba,
    /// Somalia and Guinea, 10:00–15:00.
    pub fn business_hours_attack(
        &mut self,
        ext: &str,
        name: &str,
        day: NaiveDate,
    ) -> Vec<SynthCall> {
        let mut out = Vec::new();
        for c in 0..2u32 {
            let mut t = hms(10, 0, 0) + c * 40;
            while t < hms(15, 0, 0) {
                let dialed = match self.rng.range(0, 2) {
                    0 => self.digits("01053", 8),
                    1 => self.digits("010252", 8),
                    _ => self.digits("010224", 9),
                };
                let outcome = if self.rng.chance(0.85) {
                    Outcome::answered(self.rng.range(3, 10), self.rng.range(40, 200))
                } else {
                    Outcome::not_answered(self.rng.range(15, 30), Disposition::NoAnswer)
                };
                let len = outcome.ring + outcome.talk.unwrap_or(0);
                out.push(self.call(
                    ext,
                    name,
                    &dialed,
                    at(day, t),
                    outcome,
                    Label::Fraud("business_hours_attack"),
                    None,
                ));
                t += len + self.rng.range(20, 60);
            }
        }
        out
    }

    /// Suppliers abroad called by day: extensions 202 and 205 call a few numbers in `country` (dialed with
    /// `010` and the calling code) once or twice each weekday between 09:30 and 17:30, for minutes at a time.
    pub fn supplier_day(&mut self, day: NaiveDate, suppliers: &[String]) -> Vec<SynthCall> {
        let mut out = Vec::new();
        if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            return out;
        }
        for (ext, name) in [("202", "Suzuki"), ("205", "Tanaka")] {
            for _ in 0..self.rng.range(1, 2) {
                let start = at(day, self.rng.range(hms(9, 30, 0), hms(17, 30, 0)));
                let dialed = self.rng.pick(suppliers).cloned().unwrap_or_default();
                let outcome = if self.rng.chance(0.85) {
                    Outcome::answered(self.rng.range(5, 20), self.rng.talk_secs(300.0, 40, 1800))
                } else {
                    Outcome::not_answered(self.rng.range(20, 40), Disposition::NoAnswer)
                };
                out.push(self.call(ext, name, &dialed, start, outcome, Label::Legit, None));
            }
        }
        out
    }

    /// Numbers under a calling code, dialed with Japan's `010` (`010` `86` `21` …): `n` of them, each a
    /// national significant number of `len` digits starting with one of `leads`.
    pub fn foreign_numbers(
        &mut self,
        cc: &str,
        leads: &[&str],
        len: usize,
        n: usize,
    ) -> Vec<String> {
        (0..n)
            .map(|i| {
                let lead = leads.get(i % leads.len().max(1)).copied().unwrap_or("");
                let rest = len.saturating_sub(lead.len());
                self.digits(&format!("010{cc}{lead}"), rest)
            })
            .collect()
    }

    /// A pump at night from hijacked extensions: each of `exts` runs `channels` calls at once from `from` to
    /// `until`, each call answered for `talk` seconds (a range: IRSF ranges answer with a recording of about
    /// half a minute) to one of `numbers`, then `gap` seconds before the next.
    #[allow(clippy::too_many_arguments)]
    pub fn night_pump(
        &mut self,
        exts: &[&str],
        (from, until): (DateTime<Utc>, DateTime<Utc>),
        channels: u32,
        numbers: &[String],
        talk: (u32, u32),
        gap: (u32, u32),
        label: Label,
    ) -> Vec<SynthCall> {
        let mut out = Vec::new();
        for ext in exts {
            for c in 0..channels {
                let spread = gap.1.max(1);
                let mut t = from + Duration::seconds(i64::from(c * 7 + self.rng.range(0, spread)));
                while t < until {
                    let dialed = self.rng.pick(numbers).cloned().unwrap_or_default();
                    let outcome = if self.rng.chance(0.9) {
                        Outcome::answered(self.rng.range(3, 8), self.rng.range(talk.0, talk.1))
                    } else {
                        Outcome::not_answered(self.rng.range(20, 30), Disposition::NoAnswer)
                    };
                    let len = outcome.ring + outcome.talk.unwrap_or(0);
                    out.push(self.call(ext, "", &dialed, t, outcome, label, None));
                    t += Duration::seconds(i64::from(len + self.rng.range(gap.0, gap.1)));
                }
            }
        }
        out
    }

    /// One week of the benchmark mix: office, a 60-agent call centre, the night caller, and one attack per week
    /// in rotation.
    pub fn bench_week(&mut self, week: u32) -> Vec<SynthCall> {
        let monday = base_monday() + Duration::weeks(i64::from(week));
        let contacts = self.office_contacts();
        let us = self.us_contacts();
        let mut out = Vec::new();
        for d in 0..7 {
            let day = monday + Duration::days(d);
            out.extend(self.office_day(day, &contacts));
            out.extend(self.call_centre_day(day, 60));
            out.extend(self.night_international_day(day, &us));
        }
        let friday = monday + Duration::days(4);
        match week % 4 {
            0 => out.extend(self.pump(
                "204",
                "Kobayashi",
                (
                    at(friday, hms(19, 30, 0)),
                    at(friday + Duration::days(3), hms(6, 0, 0)),
                ),
                4,
                &[""],
                Label::Fraud("weekend_pump"),
            )),
            1 => out.extend(self.drip("209", "Nakamura", monday + Duration::days(1), 5)),
            2 => {
                out.extend(self.range_walk(
                    "206",
                    "Watanabe",
                    at(monday + Duration::days(1), hms(2, 0, 0)),
                    300,
                ));
                out.extend(self.business_hours_attack(
                    "203",
                    "Takahashi",
                    monday + Duration::days(2),
                ));
            }
            _ => out.extend(self.pump(
                "208",
                "Kato",
                (
                    at(friday + Duration::days(1), hms(22, 0, 0)),
                    at(friday + Duration::days(2), hms(2, 0, 0)),
                ),
                2,
                &["#", "*"],
                Label::Fraud("obfuscated"),
            )),
        }
        sort_by_end(&mut out);
        out
    }
}

fn sort_by_end(calls: &mut [SynthCall]) {
    calls.sort_by_key(|c| (c.record.end, c.record.start));
}

fn finish(mut calls: Vec<SynthCall>) -> Vec<SynthCall> {
    sort_by_end(&mut calls);
    for (i, c) in calls.iter_mut().enumerate() {
        c.record.line = i as u64 + 1;
    }
    calls
}

fn office_span(g: &mut Generator, weeks: u32) -> Vec<SynthCall> {
    let contacts = g.office_contacts();
    let mut out = Vec::new();
    for d in 0..(weeks * 7) {
        out.extend(g.office_day(base_monday() + Duration::days(i64::from(d)), &contacts));
    }
    out
}

/// A small Japanese office's normal weeks (extensions 201–210), starting Monday 2025-06-02.
pub fn office_weeks(seed: u64, weeks: u32) -> Vec<SynthCall> {
    let mut g = Generator::new(seed);
    finish(office_span(&mut g, weeks))
}

/// A busy outbound call centre (40 agents, ~10,000 short calls a day): must not be blocked.
pub fn call_centre(seed: u64, days: u32) -> Vec<SynthCall> {
    let mut g = Generator::new(seed);
    let mut out = Vec::new();
    for d in 0..days {
        out.extend(g.call_centre_day(base_monday() + Duration::days(i64::from(d)), 40));
    }
    finish(out)
}

/// The office plus extension 207 calling the US (+1) every weeknight: legitimate international at night.
pub fn night_international(seed: u64, weeks: u32) -> Vec<SynthCall> {
    let mut g = Generator::new(seed);
    let mut out = office_span(&mut g, weeks);
    let us = g.us_contacts();
    for d in 0..(weeks * 7) {
        out.extend(g.night_international_day(base_monday() + Duration::days(i64::from(d)), &us));
    }
    finish(out)
}

/// Two office weeks with the 2015 weekend pump: extension 204 hijacked from Friday 2025-06-06 19:30 to Monday
/// 06:00, four calls at once, ~30 s each, to +232 (dialed `010232…`): about 10,000 calls.
pub fn weekend_pump(seed: u64) -> Vec<SynthCall> {
    let mut g = Generator::new(seed);
    let mut out = office_span(&mut g, 2);
    let friday = base_monday() + Duration::days(4);
    out.extend(g.pump(
        "204",
        "Kobayashi",
        (
            at(friday, hms(19, 30, 0)),
            at(friday + Duration::days(3), hms(6, 0, 0)),
        ),
        4,
        &[""],
        Label::Fraud("weekend_pump"),
    ));
    finish(out)
}

/// Two office weeks with a slow drip from extension 209: a few long night calls to satellite/premium ranges.
pub fn night_drip(seed: u64) -> Vec<SynthCall> {
    let mut g = Generator::new(seed);
    let mut out = office_span(&mut g, 2);
    out.extend(g.drip("209", "Nakamura", base_monday() + Duration::days(1), 12));
    finish(out)
}

/// One office week with a sequential range walk from extension 206 on Tuesday 02:00 (300 consecutive numbers).
pub fn range_walk(seed: u64) -> Vec<SynthCall> {
    let mut g = Generator::new(seed);
    let mut out = office_span(&mut g, 1);
    out.extend(g.range_walk(
        "206",
        "Watanabe",
        at(base_monday() + Duration::days(1), hms(2, 0, 0)),
        300,
    ));
    finish(out)
}

/// One office week; on Wednesday 10:00–15:00 extension 203 is abused while its owner keeps making normal calls.
pub fn business_hours_attack(seed: u64) -> Vec<SynthCall> {
    let mut g = Generator::new(seed);
    let mut out = office_span(&mut g, 1);
    out.extend(g.business_hours_attack("203", "Takahashi", base_monday() + Duration::days(2)));
    finish(out)
}

/// One office week plus a Saturday-night pump from extension 208 with obfuscated dial strings (`#010232…`,
/// `*010232…`).
pub fn obfuscated(seed: u64) -> Vec<SynthCall> {
    let mut g = Generator::new(seed);
    let mut out = office_span(&mut g, 1);
    let saturday = base_monday() + Duration::days(5);
    out.extend(g.pump(
        "208",
        "Kato",
        (
            at(saturday, hms(22, 0, 0)),
            at(saturday + Duration::days(1), hms(2, 0, 0)),
        ),
        2,
        &["#", "*"],
        Label::Fraud("obfuscated"),
    ));
    finish(out)
}

/// Suppliers abroad, by extension: (extension, name, the dial prefixes of its suppliers' numbers after Japan's
/// `010`, digits after the prefix). Purchasing calls China and Vietnam, the engineers Korea and Germany, sales
/// the US: a small Tokyo trading office.
const SUPPLIERS: [(&str, &str, &str, usize); 7] = [
    ("203", "Takahashi", "8621", 8),  // Shanghai
    ("203", "Takahashi", "86755", 8), // Shenzhen
    ("203", "Takahashi", "8428", 8),  // Ho Chi Minh City
    ("205", "Tanaka", "822", 8),      // Seoul
    ("206", "Watanabe", "4989", 7),   // Munich
    ("207", "Yamada", "1212", 7),     // New York
    ("207", "Yamada", "1415", 7),     // San Francisco
];

impl Generator {
    /// Each supplier line's few regular numbers (the same people are called week after week).
    fn supplier_book(&mut self) -> Vec<(&'static str, &'static str, Vec<String>)> {
        SUPPLIERS
            .iter()
            .map(|&(ext, name, prefix, n)| {
                let numbers = (0..3)
                    .map(|_| self.digits(&format!("010{prefix}"), n))
                    .collect();
                (ext, name, numbers)
            })
            .collect()
    }

    /// A weekday's calls to suppliers abroad: two to six in all, 09:30–17:30, business-length conversations.
    fn supplier_book_day(
        &mut self,
        day: NaiveDate,
        book: &[(&'static str, &'static str, Vec<String>)],
    ) -> Vec<SynthCall> {
        let mut out = Vec::new();
        if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            return out;
        }
        for _ in 0..self.rng.range(2, 6) {
            let Some((ext, name, numbers)) = self.rng.pick(book).cloned() else {
                break;
            };
            let Some(dialed) = self.rng.pick(&numbers).cloned() else {
                continue;
            };
            let start = at(day, self.rng.range(hms(9, 30, 0), hms(17, 30, 0)));
            let outcome = if self.rng.chance(0.8) {
                Outcome::answered(self.rng.range(5, 20), self.rng.talk_secs(300.0, 30, 2400))
            } else {
                Outcome::not_answered(self.rng.range(20, 40), Disposition::NoAnswer)
            };
            out.push(self.call(ext, name, &dialed, start, outcome, Label::Legit, None));
        }
        out
    }
}

/// The office for `weeks` weeks, calling its suppliers in China, Vietnam, Korea, Germany and the US a few times
/// each weekday in business hours: routine international traffic that a policy without those countries refuses,
/// and that is no fraud.
pub fn suppliers_abroad(seed: u64, weeks: u32) -> Vec<SynthCall> {
    let mut g = Generator::new(seed);
    let mut out = office_span(&mut g, weeks);
    let book = g.supplier_book();
    for d in 0..(weeks * 7) {
        out.extend(g.supplier_book_day(base_monday() + Duration::days(i64::from(d)), &book));
    }
    finish(out)
}

/// [`suppliers_abroad`] with the 2015 weekend pump on its last weekend: extension 204 hijacked from Friday 19:30
/// to Sunday 23:59, four channels of ~30 s calls to Sierra Leone. The attack starts after weeks of routine
/// supplier calls, which must not be taken for its beginning.
pub fn suppliers_abroad_then_pump(seed: u64, weeks: u32) -> Vec<SynthCall> {
    let mut out = suppliers_abroad(seed, weeks);
    let mut g = Generator::new(seed ^ 0x9075);
    let friday = base_monday() + Duration::days(i64::from(weeks.max(1) * 7 - 3));
    out.extend(g.pump(
        "204",
        "Kobayashi",
        (
            at(friday, hms(19, 30, 0)),
            at(friday + Duration::days(2), hms(23, 59, 0)),
        ),
        4,
        &[""],
        Label::Fraud("weekend_pump"),
    ));
    finish(out)
}

/// The office for `weeks` weeks, extension 205 calling a real supplier in Papua New Guinea (+675, a high-risk
/// country in the risk list) once or twice each weekday: a routine destination that only its risk tier makes
/// look suspicious.
pub fn high_risk_supplier(seed: u64, weeks: u32) -> Vec<SynthCall> {
    let mut g = Generator::new(seed);
    let mut out = office_span(&mut g, weeks);
    let numbers: Vec<String> = (0..2).map(|_| g.digits("0106753", 6)).collect();
    for d in 0..(weeks * 7) {
        let day = base_monday() + Duration::days(i64::from(d));
        if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            continue;
        }
        for _ in 0..g.rng.range(1, 2) {
            let Some(dialed) = g.rng.pick(&numbers).cloned() else {
                continue;
            };
            let start = at(day, g.rng.range(hms(9, 30, 0), hms(16, 30, 0)));
            let outcome = Outcome::answered(g.rng.range(5, 20), g.rng.talk_secs(400.0, 60, 2400));
            out.push(g.call("205", "Tanaka", &dialed, start, outcome, Label::Legit, None));
        }
    }
    finish(out)
}

/// Three office weeks in which extensions 202 and 205 call suppliers in China (+86) by day, so that a site
/// allowing China is the natural policy.
fn office_with_china(g: &mut Generator) -> (Vec<SynthCall>, Vec<String>) {
    let mut out = office_span(g, 3);
    let suppliers = g.foreign_numbers("86", &["21", "755", "20"], 10, 5);
    for d in 0..21 {
        out.extend(g.supplier_day(base_monday() + Duration::days(d), &suppliers));
    }
    let mobiles = g.foreign_numbers("86", &["13", "15", "18"], 11, 30);
    (out, mobiles)
}

/// The office calling China by day; on the third Saturday from 01:00 to 05:00 extension 204 is hijacked and
/// runs four calls at once of 25–35 s each to Chinese mobile numbers: an attack no destination list stops
/// (China is allowed), only behaviour.
pub fn night_pump_allowed_country(seed: u64) -> Vec<SynthCall> {
    let mut g = Generator::new(seed);
    let (mut out, mobiles) = office_with_china(&mut g);
    let night = base_monday() + Duration::days(19);
    out.extend(g.night_pump(
        &["204"],
        (at(night, hms(1, 0, 0)), at(night, hms(5, 0, 0))),
        4,
        &mobiles,
        (25, 35),
        (5, 40),
        Label::Fraud("night_pump_allowed_country"),
    ));
    finish(out)
}

/// The same office; on the third Saturday from 01:00 to 05:00 twelve extensions (the ten in use and two
/// spare ones, all on the installer's default password) each place a call of 20–45 s to Chinese mobiles every
/// 10–20 minutes: no extension's own counters rise, only the site's.
pub fn spread_night_pump(seed: u64) -> Vec<SynthCall> {
    let mut g = Generator::new(seed);
    let (mut out, mobiles) = office_with_china(&mut g);
    let night = base_monday() + Duration::days(19);
    let exts = [
        "201", "202", "203", "204", "205", "206", "207", "208", "209", "210", "211", "212",
    ];
    out.extend(g.night_pump(
        &exts,
        (at(night, hms(1, 0, 0)), at(night, hms(5, 0, 0))),
        1,
        &mobiles,
        (20, 45),
        (600, 1200),
        Label::Fraud("spread_night_pump"),
    ));
    finish(out)
}

/// The writer this generator uses: 18 columns (`loguniqueid` and `loguserfield`, the sample `cdr.conf`),
/// Asia/Tokyo.
pub fn master_csv_writer() -> AsteriskCsvWriter {
    AsteriskCsvWriter::new(chrono_tz::Asia::Tokyo, true, true, false)
}

/// Writes calls as `Master.csv`.
pub fn write_master_csv(calls: &[SynthCall], out: &mut impl Write) -> io::Result<()> {
    let mut w = master_csv_writer();
    let mut line = String::with_capacity(512);
    for c in calls {
        line.clear();
        w.format_line(&c.record, &mut line);
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// Writes at least `lines` lines of the benchmark mix (office, call centre, night caller, one attack a week),
/// week by week so that memory stays small. Returns (lines written, fraud lines).
pub fn write_bench_mix(seed: u64, lines: u64, out: &mut impl Write) -> io::Result<(u64, u64)> {
    let mut g = Generator::new(seed);
    let mut w = master_csv_writer();
    let mut line = String::with_capacity(512);
    let (mut written, mut fraud) = (0u64, 0u64);
    let mut week = 0;
    while written < lines {
        for c in g.bench_week(week) {
            if written >= lines {
                break;
            }
            line.clear();
            w.format_line(&c.record, &mut line);
            out.write_all(line.as_bytes())?;
            written += 1;
            fraud += u64::from(c.label.is_fraud());
        }
        week += 1;
    }
    Ok((written, fraud))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic_and_spread() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        let mut c = Rng::new(8);
        assert_ne!(xs[0], c.next_u64());
        let mut hits = [0u32; 10];
        for _ in 0..10_000 {
            hits[a.range(0, 9) as usize] += 1;
        }
        assert!(hits.iter().all(|&h| (800..1200).contains(&h)), "{hits:?}");
    }

    #[test]
    fn labels_round_trip_through_the_userfield() {
        for l in [
            Label::Legit,
            Label::Fraud("weekend_pump"),
            Label::Fraud("obfuscated"),
        ] {
            assert_eq!(Label::from_userfield(&l.as_userfield()), Some(l));
        }
        assert_eq!(Label::from_userfield("fraud:unknown"), None);
        assert_eq!(Label::from_userfield(""), None);
    }

    /// The supplier scenarios are routine traffic: all legitimate, abroad only on weekdays in business hours, a
    /// few calls a day, to the same few numbers again and again.
    #[test]
    fn supplier_scenarios_are_routine_weekday_calls_abroad() {
        use chrono::Timelike;
        for (name, prefixes) in [
            (
                "suppliers_abroad",
                &["01086", "01084", "01082", "01049", "0101"][..],
            ),
            ("high_risk_supplier", &["010675"][..]),
        ] {
            let calls = scenario(name, 3).expect("known");
            assert!(calls.iter().all(|c| c.label == Label::Legit), "{name}");
            let abroad: Vec<&SynthCall> = calls
                .iter()
                .filter(|c| c.record.dialed.starts_with("010"))
                .collect();
            assert!(abroad.len() >= 40, "{name}: {}", abroad.len());
            let mut numbers: Vec<&str> = abroad.iter().map(|c| c.record.dialed.as_str()).collect();
            numbers.sort_unstable();
            numbers.dedup();
            assert!(
                numbers.len() <= 21,
                "{name}: a few regular numbers, not {}",
                numbers.len()
            );
            for c in abroad {
                assert!(
                    prefixes.iter().any(|p| c.record.dialed.starts_with(p)),
                    "{name}: {}",
                    c.record.dialed
                );
                let local = c.record.start.with_timezone(&jst());
                assert!(!matches!(local.weekday(), Weekday::Sat | Weekday::Sun));
                let secs = local.time().num_seconds_from_midnight();
                assert!(
                    (hms(9, 30, 0)..=hms(17, 30, 0)).contains(&secs),
                    "{name}: {local}"
                );
            }
        }
        let pumped = suppliers_abroad_then_pump(3, 8);
        let first = pumped
            .iter()
            .filter(|c| c.label.is_fraud())
            .map(|c| c.record.start)
            .min()
            .expect("a pump");
        let first = first.with_timezone(&jst());
        assert_eq!((first.weekday(), first.hour()), (Weekday::Fri, 19));
        assert!(pumped.iter().all(|c| c.label.is_fraud()
            == (c.record.account == "204" && c.record.dialed.starts_with("010232"))));
    }

    #[test]
    fn tokyo_times() {
        assert_eq!(
            at(base_monday(), hms(9, 0, 0)),
            Utc.with_ymd_and_hms(2025, 6, 2, 0, 0, 0).unwrap()
        );
        assert_eq!(base_monday().weekday(), Weekday::Mon);
    }
}
