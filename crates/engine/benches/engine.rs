//! Throughput of the engine with every rule on: synthetic CDR-like traffic (attempt, answer, end per call) of a
//! carrier-style node guarding 100 sites of 10 extensions over simulated hours: mostly domestic, 5% allowed
//! international (US), 0.5% refused (Sierra Leone).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use engine::{
    CallAnswered, CallAttempt, CallEnded, Decision, EndCause, Engine, Event, Policy, Rate,
    RateTable,
};
use numbering::{Country, Destination, DialFlags, E164, NumberClass, RiskTier, Scope};

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
    let jp = Country {
        iso2: "JP",
        name: "Japan",
        calling_code: 81,
    };
    let us = Country {
        iso2: "US",
        name: "United States",
        calling_code: 1,
    };
    let sl = Country {
        iso2: "SL",
        name: "Sierra Leone",
        calling_code: 232,
    };
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
            eprintln!("DEC {} {:?}", d.rule, d.level);
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
                dialed: &c.dialed,
                destination: &dests[c.dest],
                route: "",
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

criterion_group!(benches, bench);
criterion_main!(benches);
