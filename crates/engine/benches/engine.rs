//! Throughput of the engine with every rule on: synthetic CDR-like traffic (attempt, answer, end per call) of a
//! carrier-style node guarding 100 sites of 10 extensions over simulated hours: mostly domestic, 5% allowed
//! international (US), 0.5% refused (Sierra Leone).
//!
//! The `cdr_mix` group is shaped like `bench/analyze`'s CDR mix instead: a 60-agent call centre and a small
//! office, a distinct dialed number on nearly every call (so per-number state and each call's own destination
//! are cold in cache), most calls unanswered, a warning on most calls, and one extension under a kill switch
//! whose international calls are all refused with an explanation.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use engine::{
    BarScope, CallAnswered, CallAttempt, CallEnded, ClassSet, Decision, EndCause, Engine, Event,
    Policy, Rate, RateTable,
};
use numbering::{Country, Destination, DialFlags, E164, NumberClass, RiskTier, Scope};

const JP: Country = Country {
    iso2: "JP",
    name: "Japan",
    calling_code: 81,
};
const US: Country = Country {
    iso2: "US",
    name: "United States",
    calling_code: 1,
};
const SL: Country = Country {
    iso2: "SL",
    name: "Sierra Leone",
    calling_code: 232,
};

struct Table;
impl RateTable for Table {
    fn rate(&self, d: &Destination) -> Option<Rate> {
        Some(Rate::estimate(match d.scope {
            Scope::International => 30,
            _ => 8,
        }))
    }
}

fn dest(e164: &str, c: Country, scope: Scope, class: NumberClass) -> Destination {
    Destination {
        e164: E164::from_digits(e164),
        country: Some(c),
        scope,
        class,
        risk: RiskTier::Low,
        risk_reason: "".into(),
        flags: DialFlags::default(),
    }
}

struct Call {
    at: i64,
    id: String,
    tenant: String,
    account: String,
    dialed: String,
    dest: usize,
    secs: u32,
}

fn traffic(n: usize) -> (Vec<Destination>, Vec<Call>) {
    let jp = JP;
    let us = US;
    let sl = SL;
    let mut dests = Vec::new();
    for i in 0..20_000u32 {
        let d = match i % 200 {
            0..=9 => dest(
                &format!("1212{:07}", i * 7919 % 10_000_000),
                us,
                Scope::International,
                NumberClass::FixedOrMobile,
            ),
            10 => dest(
                &format!("23276{:06}", i * 104_729 % 1_000_000),
                sl,
                Scope::International,
                NumberClass::Mobile,
            ),
            11..=60 => dest(
                &format!("8190{:08}", i * 7_777 % 100_000_000),
                jp,
                Scope::Domestic,
                NumberClass::Mobile,
            ),
            _ => dest(
                &format!("813{:08}", i * 9_973 % 100_000_000),
                jp,
                Scope::Domestic,
                NumberClass::Fixed,
            ),
        };
        dests.push(d);
    }
    let start = 1_748_822_400_000i64; // 2025-06-02 09:00 JST
    let mut calls = Vec::with_capacity(n);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let dest = (x % 20_000) as usize;
        let digits = dests[dest]
            .e164
            .map(|e| e.digits().to_owned())
            .unwrap_or_default();
        calls.push(Call {
            // ~one call every 150 ms of simulated time: about 5 days over 3M calls.
            at: start + i as i64 * 150,
            id: format!("1748822400.{i}"),
            tenant: format!("site{}", (x >> 20) % 100),
            account: format!("{}", 200 + (x >> 30) % 10),
            dialed: match digits.strip_prefix("81") {
                Some(national) => format!("0{national}"),
                None => format!("010{digits}"),
            },
            dest,
            secs: ((x >> 40) % 400) as u32,
        });
    }
    (dests, calls)
}

/// With ENGINE_BENCH_COUNT set, prints the decisions (to see what the synthetic traffic triggers).
fn count(out: &[Decision]) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if !out.is_empty() && *ON.get_or_init(|| std::env::var_os("ENGINE_BENCH_COUNT").is_some()) {
        for d in out {
            eprintln!("DEC {} {:?} {}", d.rule, d.level, d.reason);
        }
    }
}

fn run(engine: &mut Engine, dests: &[Destination], calls: &[Call], out: &mut Vec<Decision>) -> u64 {
    let mut events = 0u64;
    for c in calls {
        let v = engine.on_event(
            &Event::CallAttempt(CallAttempt {
                at: c.at,
                call_id: &c.id,
                tenant: &c.tenant,
                account: &c.account,
                source: None,
                user_agent: "",
                authenticated: true,
                caller_id_foreign: false,
                dialed: &c.dialed,
                destination: &dests[c.dest],
                route: "",
                leg: engine::Leg::Direct,
                forwarded_from: None,
            }),
            out,
        );
        events += 1;
        if v.is_block() {
            count(out);
            out.clear();
            continue;
        }
        if c.secs > 0 {
            engine.on_event(
                &Event::CallAnswered(CallAnswered {
                    at: c.at + 5000,
                    call_id: &c.id,
                }),
                out,
            );
            events += 1;
        }
        engine.on_event(
            &Event::CallEnded(CallEnded {
                at: c.at + 5000 + i64::from(c.secs) * 1000,
                call_id: &c.id,
                duration_secs: c.secs + 5,
                billable_secs: c.secs,
                cause: if c.secs > 0 {
                    EndCause::Normal
                } else {
                    EndCause::NoAnswer
                },
            }),
            out,
        );
        events += 1;
        count(out);
        out.clear();
    }
    events
}

/// The policy of `bench/analyze/policy.toml` (call-centre limits), so that warnings fire as in the backtest.
const MIX_POLICY: &str = r#"
[site]
business_hours = "08:30-20:30"
[defaults.destinations]
allow_countries = ["US"]
[tenants.callcentre.rules.velocity_tenant_day]
warning = 40000
critical = 60000
off_hours_warning = 40000
off_hours_critical = 60000
[tenants.callcentre.rules.velocity_tenant_hour]
warning = 4000
critical = 6000
off_hours_warning = 4000
off_hours_critical = 6000
[tenants.callcentre.rules.velocity_tenant_minute]
off_hours_warning = 100
off_hours_critical = 200
[tenants.callcentre.rules.velocity_account_hour]
off_hours_warning = 60
off_hours_critical = 120
[tenants.callcentre.rules.velocity_account_minute]
off_hours_warning = 5
off_hours_critical = 10
"#;

/// Calls of the CDR mix: one destination per call (distinct numbers), about one call every 3.5 s.
fn mix_traffic(n: usize) -> (Vec<Destination>, Vec<Call>) {
    let jp = JP;
    let us = US;
    let start = 1_748_822_400_000i64; // 2025-06-02 09:00 JST
    let mut dests = Vec::with_capacity(n);
    let mut calls = Vec::with_capacity(n);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let office = x % 100 < 3;
        let (tenant, account) = if office {
            (String::new(), format!("{}", 200 + (x >> 8) % 10))
        } else {
            ("callcentre".to_owned(), format!("{}", 300 + (x >> 8) % 60))
        };
        // 2.3% of the calls are an attack from office extension 204 (barred by a kill switch) to the US.
        let attack = x % 1000 < 23;
        let (tenant, account) = if attack {
            (String::new(), "204".to_owned())
        } else {
            (tenant, account)
        };
        let number = (x >> 24) % 100_000_000;
        let (d, dialed) = match (x >> 16) % 1000 {
            // 0.5% international (and the attack), to distinct US numbers.
            n if attack || n <= 4 => (
                dest(
                    &format!("1{:010}", (x >> 20) % 10_000_000_000),
                    us,
                    Scope::International,
                    NumberClass::FixedOrMobile,
                ),
                None,
            ),
            23..=700 => (
                dest(
                    &format!("81{}0{number:08}", 7 + (x >> 40) % 3),
                    jp,
                    Scope::Domestic,
                    NumberClass::Mobile,
                ),
                None,
            ),
            _ => (
                dest(
                    &format!("813{number:08}"),
                    jp,
                    Scope::Domestic,
                    NumberClass::Fixed,
                ),
                None::<String>,
            ),
        };
        let digits = d.e164.map(|e| e.digits().to_owned()).unwrap_or_default();
        let dialed = dialed.unwrap_or_else(|| match digits.strip_prefix("81") {
            Some(national) => format!("0{national}"),
            None => format!("010{digits}"),
        });
        // 41% answered, the rest unanswered, busy or failed (0 billable seconds).
        let secs = if (x >> 44) % 100 < 41 {
            1 + ((x >> 48) % 300) as u32
        } else {
            0
        };
        dests.push(d);
        calls.push(Call {
            at: start + i as i64 * 3_500,
            id: format!("{}.{i}", 1_748_822_400 + i as u64 * 3),
            tenant,
            account,
            dialed,
            dest: i,
            secs,
        });
    }
    (dests, calls)
}

fn bench_mix(c: &mut Criterion) {
    let policy = Policy::from_toml_str(MIX_POLICY).expect("policy");
    let (dests, calls) = mix_traffic(100_000);
    let fresh = || {
        let mut e = Engine::new(policy.clone(), Arc::new(Table));
        // One office extension is barred from international calling: its calls there are refused and explained.
        e.set_kill_switch(
            BarScope::Account {
                tenant: String::new(),
                account: "204".into(),
            },
            ClassSet::INTERNATIONAL,
            1_748_822_400_000,
            "bench",
            "toll fraud suspected",
        );
        e
    };
    let mut g = c.benchmark_group("cdr_mix");
    g.sample_size(10);
    g.measurement_time(std::time::Duration::from_secs(8));
    g.throughput(Throughput::Elements(calls.len() as u64));
    g.bench_function("calls", |b| {
        b.iter(|| {
            let mut e = fresh();
            let mut out = Vec::with_capacity(64);
            black_box(run(&mut e, &dests, &calls, &mut out))
        })
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    let policy = Policy::from_toml_str("[defaults.destinations]\nallow_countries = [\"US\"]\n")
        .expect("policy");
    let (dests, calls) = traffic(100_000);
    // Count events once to set the throughput.
    let mut e = Engine::new(policy.clone(), Arc::new(Table));
    let mut out = Vec::new();
    let events = run(&mut e, &dests, &calls, &mut out);
    let mut g = c.benchmark_group("engine");
    g.sample_size(10);
    g.measurement_time(std::time::Duration::from_secs(8));
    g.throughput(Throughput::Elements(events));
    g.bench_function("events_all_rules", |b| {
        b.iter(|| {
            let mut e = Engine::new(policy.clone(), Arc::new(Table));
            let mut out = Vec::with_capacity(64);
            black_box(run(&mut e, &dests, &calls, &mut out))
        })
    });
    g.throughput(Throughput::Elements(calls.len() as u64));
    g.bench_function("calls_all_rules", |b| {
        b.iter(|| {
            let mut e = Engine::new(policy.clone(), Arc::new(Table));
            let mut out = Vec::with_capacity(64);
            black_box(run(&mut e, &dests, &calls, &mut out))
        })
    });
    g.finish();
}

criterion_group!(benches, bench, bench_mix);
criterion_main!(benches);
