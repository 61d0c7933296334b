//! Test helpers: destinations built by hand (so the tests do not depend on numbering's classifier), a rate
//! table, times in Tokyo, and a small driver around the engine.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use chrono::TimeZone;
use engine::{
    AuthAttempt, AuthKind, AuthOutcome, CallAnswered, CallAttempt, CallEnded, Decision, EndCause,
    Engine, Event, Millis, Policy, Rate, RateTable, Verdict,
};
use numbering::{Country, Destination, DialFlags, E164, NumberClass, RiskTier, Scope};

pub const SL: Country = Country {
    iso2: "SL",
    name: "Sierra Leone",
    calling_code: 232,
};
pub const US: Country = Country {
    iso2: "US",
    name: "United States",
    calling_code: 1,
};
pub const KR: Country = Country {
    iso2: "KR",
    name: "South Korea",
    calling_code: 82,
};
pub const JP: Country = Country {
    iso2: "JP",
    name: "Japan",
    calling_code: 81,
};
pub const XS: Country = Country {
    iso2: "XS",
    name: "Inmarsat",
    calling_code: 870,
};

pub fn intl(c: Country, e164: &str, risk: RiskTier) -> Destination {
    Destination {
        e164: E164::from_digits(e164),
        country: Some(c),
        scope: Scope::International,
        class: NumberClass::FixedOrMobile,
        risk,
        risk_reason: if risk >= RiskTier::High {
            "test list".into()
        } else {
            "".into()
        },
        flags: DialFlags::default(),
    }
}

pub fn sierra_leone(n: u32) -> Destination {
    intl(SL, &format!("2327612{n:04}"), RiskTier::High)
}

pub fn us(n: u32) -> Destination {
    intl(US, &format!("1212555{n:04}"), RiskTier::Low)
}

pub fn domestic(n: u32) -> Destination {
    Destination {
        e164: E164::from_digits(&format!("81312{n:06}")),
        country: Some(JP),
        scope: Scope::Domestic,
        class: NumberClass::Fixed,
        risk: RiskTier::Low,
        risk_reason: "".into(),
        flags: DialFlags::default(),
    }
}

pub fn satellite() -> Destination {
    Destination {
        class: NumberClass::Satellite,
        risk: RiskTier::Critical,
        ..intl(XS, "870772001234", RiskTier::Critical)
    }
}

/// A dial string numbering could not read (class unknown).
pub fn unreadable() -> Destination {
    Destination {
        e164: None,
        country: None,
        scope: Scope::Unknown,
        class: NumberClass::Unknown,
        risk: RiskTier::Low,
        risk_reason: "".into(),
        flags: DialFlags::default(),
    }
}

pub fn emergency() -> Destination {
    Destination {
        e164: None,
        country: Some(JP),
        scope: Scope::Emergency,
        class: NumberClass::Emergency,
        risk: RiskTier::Low,
        risk_reason: "".into(),
        flags: DialFlags::default(),
    }
}

/// Rates by calling code, JPY per minute, 60/60.
pub struct Table;
impl RateTable for Table {
    fn rate(&self, d: &Destination) -> Option<Rate> {
        let cc = d.country.map(|c| c.calling_code)?;
        let per_min = match (cc, d.scope) {
            (232, _) => 175,
            (1, _) => 10,
            (82, _) => 30,
            (870, _) => 800,
            (81, Scope::Domestic) => 8,
            _ => return None,
        };
        Some(Rate::estimate(per_min))
    }
}

/// Milliseconds of a Tokyo local time.
pub fn jst(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32) -> Millis {
    chrono_tz::Asia::Tokyo
        .with_ymd_and_hms(y, m, d, h, mi, s)
        .single()
        .map(|t| t.timestamp_millis())
        .unwrap_or_default()
}

pub const MIN: Millis = 60_000;
pub const HOUR: Millis = 3_600_000;
pub const DAY: Millis = 86_400_000;

/// Monday 2025-06-02 10:00 JST: business hours.
pub fn monday_10() -> Millis {
    jst(2025, 6, 2, 10, 0, 0)
}
/// Saturday 2025-06-07 02:00 JST: off hours.
pub fn saturday_night() -> Millis {
    jst(2025, 6, 7, 2, 0, 0)
}

pub struct Sim {
    pub engine: Engine,
    pub out: Vec<Decision>,
    pub n: u64,
    pub tenant: String,
    pub source: Option<SocketAddr>,
    /// `CallAttempt::authenticated` of the attempts made (true unless a test says otherwise).
    pub authenticated: bool,
    /// `CallAttempt::caller_id_foreign` of the attempts made.
    pub caller_id_foreign: bool,
    /// `CallAttempt::leg` of the attempts made (direct unless a test says otherwise).
    pub leg: engine::Leg,
    /// `AuthAttempt::country` of the authentication events made.
    pub country: Option<String>,
}

impl Sim {
    pub fn new(policy: Policy) -> Sim {
        Sim {
            engine: Engine::new(policy, Arc::new(Table)),
            out: Vec::new(),
            n: 0,
            tenant: "acme".into(),
            source: None,
            authenticated: true,
            caller_id_foreign: false,
            leg: engine::Leg::Direct,
            country: None,
        }
    }
    pub fn toml(text: &str) -> Sim {
        Sim::new(Policy::from_toml_str(text).expect("test policy"))
    }
    pub fn next_id(&mut self) -> String {
        self.n += 1;
        format!("call-{}", self.n)
    }
    pub fn attempt_dialed(
        &mut self,
        at: Millis,
        account: &str,
        dialed: &str,
        d: &Destination,
    ) -> (String, Verdict) {
        let id = self.next_id();
        let tenant = self.tenant.clone();
        let v = self.engine.on_event(
            &Event::CallAttempt(CallAttempt {
                at,
                call_id: &id,
                tenant: &tenant,
                account,
                source: self.source,
                user_agent: "",
                authenticated: self.authenticated,
                caller_id_foreign: self.caller_id_foreign,
                dialed,
                destination: d,
                route: "trunk1",
                leg: self.leg,
                forwarded_from: (self.leg != engine::Leg::Direct).then_some("+81312345678"),
            }),
            &mut self.out,
        );
        (id, v)
    }
    pub fn attempt(&mut self, at: Millis, account: &str, d: &Destination) -> (String, Verdict) {
        let dialed = d
            .e164
            .map(|e| format!("010{}", e.digits()))
            .unwrap_or_else(|| "110".into());
        self.attempt_dialed(at, account, &dialed, d)
    }
    pub fn answer(&mut self, at: Millis, id: &str) -> Verdict {
        self.engine.on_event(
            &Event::CallAnswered(CallAnswered { at, call_id: id }),
            &mut self.out,
        )
    }
    pub fn end(&mut self, at: Millis, id: &str, billsec: u32) -> Verdict {
        self.engine.on_event(
            &Event::CallEnded(CallEnded {
                at,
                call_id: id,
                duration_secs: billsec + 5,
                billable_secs: billsec,
                cause: if billsec > 0 {
                    EndCause::Normal
                } else {
                    EndCause::NoAnswer
                },
            }),
            &mut self.out,
        )
    }
    /// A whole answered call: attempt at `at`, answer 5 s later, end after `billsec`.
    pub fn call(
        &mut self,
        at: Millis,
        account: &str,
        d: &Destination,
        billsec: u32,
    ) -> (String, Verdict) {
        let (id, v) = self.attempt(at, account, d);
        if !v.is_block() {
            self.answer(at + 5_000, &id);
            self.end(at + 5_000 + i64::from(billsec) * 1000, &id, billsec);
        }
        (id, v)
    }
    pub fn auth(
        &mut self,
        at: Millis,
        ip: IpAddr,
        user: &str,
        kind: AuthKind,
        outcome: AuthOutcome,
    ) -> Verdict {
        let tenant = self.tenant.clone();
        let country = self.country.clone();
        self.engine.on_event(
            &Event::Auth(AuthAttempt {
                at,
                tenant: &tenant,
                username: user,
                source: ip,
                user_agent: "",
                kind,
                outcome,
                country: country.as_deref(),
            }),
            &mut self.out,
        )
    }
    pub fn rules(&self) -> Vec<&str> {
        self.out.iter().map(|d| d.rule.as_str()).collect()
    }
    pub fn has(&self, rule: &str) -> bool {
        self.out.iter().any(|d| d.rule == rule)
    }
    pub fn take(&mut self) -> Vec<Decision> {
        std::mem::take(&mut self.out)
    }
}
