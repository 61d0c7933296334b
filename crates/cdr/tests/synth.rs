//! The scenario generator: deterministic, labelled, and readable by our own Asterisk reader.

use cdr::synth::{self, Label, SynthCall};
use cdr::{CdrFormat, CdrReader, Disposition, ReadOptions};
use chrono::{Datelike, Timelike, Weekday};

fn tokyo(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono_tz::Tz> {
    t.with_timezone(&chrono_tz::Asia::Tokyo)
}

/// Writes the calls as Master.csv, reads them back, and checks records and labels survive.
fn round_trip(calls: &[SynthCall]) {
    let mut csv = Vec::new();
    synth::write_master_csv(calls, &mut csv).unwrap();
    let mut reader = CdrReader::new(&csv[..], ReadOptions::default()).unwrap();
    let mut n = 0;
    while let Some(item) = reader.next_ref() {
        let r = item.unwrap();
        let want = &calls[n];
        assert_eq!(r.start, want.record.start);
        assert_eq!(r.answer, want.record.answer);
        assert_eq!(r.end, want.record.end);
        assert_eq!(r.dialed, want.record.dialed);
        assert_eq!(r.account, want.record.account);
        assert_eq!(r.call_id, want.record.call_id);
        assert_eq!(r.disposition, want.record.disposition);
        assert_eq!(Label::from_userfield(r.userfield), Some(want.label));
        n += 1;
    }
    assert_eq!(n, calls.len());
    assert_eq!(reader.format(), Some(CdrFormat::AsteriskCsv));
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let bytes = |seed| {
        let mut v = Vec::new();
        synth::write_master_csv(&synth::range_walk(seed), &mut v).unwrap();
        v
    };
    assert_eq!(bytes(1), bytes(1));
    assert_ne!(bytes(1), bytes(2));
}

#[test]
fn every_scenario_has_a_name_and_reads_back() {
    for name in synth::SCENARIOS {
        if name == "bench_mix" {
            continue;
        }
        let calls = synth::scenario(name, 42).unwrap();
        assert!(!calls.is_empty(), "{name}");
        assert!(
            calls.windows(2).all(|w| w[0].record.end <= w[1].record.end),
            "{name}: sorted by end time"
        );
        round_trip(&calls);
        let fraud = calls.iter().filter(|c| c.label.is_fraud()).count();
        match name {
            "office"
            | "call_centre"
            | "night_international"
            | "suppliers_abroad"
            | "high_risk_supplier" => assert_eq!(fraud, 0, "{name}"),
            _ => assert!(fraud > 0, "{name}"),
        }
    }
    assert!(synth::scenario("nope", 1).is_none());
}

#[test]
fn office_is_weekday_business_hours_domestic() {
    let calls = synth::office_weeks(3, 2);
    assert!(calls.len() > 500);
    for c in &calls {
        let t = tokyo(c.record.start);
        assert!(!matches!(t.weekday(), Weekday::Sat | Weekday::Sun));
        assert!((9..18).contains(&t.hour()), "{t}");
        assert!(
            !c.record.dialed.starts_with("010"),
            "no international from the office"
        );
        assert_eq!(c.label, Label::Legit);
    }
    let exts: std::collections::BTreeSet<&str> =
        calls.iter().map(|c| c.record.account.as_str()).collect();
    assert!(
        exts.contains("201") && exts.contains("210") && exts.contains("ntt-trunk"),
        "{exts:?}"
    );
    assert!(
        calls.iter().any(|c| c.record.dialed.starts_with("0120")),
        "some toll-free"
    );
    assert!(
        calls
            .iter()
            .any(|c| c.record.dialed.len() == 11 && c.record.dialed.starts_with("090"))
    );
}

#[test]
fn call_centre_is_busy_and_short() {
    let calls = synth::call_centre(5, 1);
    assert!(calls.len() > 8_000, "{}", calls.len());
    assert!(
        calls
            .iter()
            .all(|c| c.record.account == "callcentre" && c.label == Label::Legit)
    );
    let answered: Vec<u32> = calls
        .iter()
        .filter(|c| c.record.answer.is_some())
        .map(|c| c.record.billable_secs)
        .collect();
    let median = {
        let mut a = answered.clone();
        a.sort_unstable();
        a[a.len() / 2]
    };
    assert!((20..=90).contains(&median), "median talk {median}");
}

#[test]
fn night_international_caller_calls_the_us_at_night() {
    let calls = synth::night_international(9, 2);
    let us: Vec<&SynthCall> = calls
        .iter()
        .filter(|c| c.record.dialed.starts_with("0101"))
        .collect();
    assert!(us.len() >= 10);
    for c in us {
        assert_eq!(c.record.account, "207");
        assert_eq!(c.label, Label::Legit);
        let h = tokyo(c.record.start).hour();
        assert!(!(2..22).contains(&h), "hour {h}");
        assert_eq!(c.record.dialed.len(), 14, "0101212 + 7 digits");
    }
}

#[test]
fn weekend_pump_looks_like_2015() {
    let calls = synth::weekend_pump(11);
    let fraud: Vec<&SynthCall> = calls.iter().filter(|c| c.label.is_fraud()).collect();
    assert!(
        (8_500..=12_000).contains(&fraud.len()),
        "{} calls",
        fraud.len()
    );
    let first = fraud.iter().map(|c| c.record.start).min().unwrap();
    let t = tokyo(first);
    assert_eq!((t.weekday(), t.hour(), t.minute()), (Weekday::Fri, 19, 30));
    for c in &fraud {
        assert_eq!(c.record.account, "204");
        assert!(c.record.dialed.starts_with("010232"));
        assert_eq!(c.label, Label::Fraud("weekend_pump"));
        if c.record.disposition == Disposition::Answered {
            assert!((28..=32).contains(&c.record.billable_secs));
        }
    }
    // Several calls at once.
    let mut edges: Vec<(chrono::DateTime<chrono::Utc>, i32)> = fraud
        .iter()
        .flat_map(|c| [(c.record.start, 1), (c.record.end, -1)])
        .collect();
    edges.sort();
    let (mut now, mut peak) = (0, 0);
    for (_, d) in edges {
        now += d;
        peak = peak.max(now);
    }
    assert!(peak >= 3, "peak concurrency {peak}");
}

#[test]
fn range_walk_is_sequential() {
    let calls = synth::range_walk(4);
    let walk: Vec<u64> = calls
        .iter()
        .filter(|c| c.label == Label::Fraud("range_walk"))
        .map(|c| c.record.dialed.parse::<u64>().unwrap())
        .collect();
    assert_eq!(walk.len(), 300);
    let mut sorted = walk.clone();
    sorted.sort_unstable();
    assert!(sorted.windows(2).all(|w| w[1] == w[0] + 1));
}

#[test]
fn drip_business_hours_and_obfuscated_shapes() {
    let drip: Vec<SynthCall> = synth::night_drip(1)
        .into_iter()
        .filter(|c| c.label.is_fraud())
        .collect();
    assert!((12..=36).contains(&drip.len()));
    assert!(
        drip.iter()
            .all(|c| (1..5).contains(&tokyo(c.record.start).hour()) && c.record.account == "209")
    );

    let bh = synth::business_hours_attack(1);
    let attack: Vec<&SynthCall> = bh.iter().filter(|c| c.label.is_fraud()).collect();
    assert!(attack.len() > 50);
    assert!(
        attack
            .iter()
            .all(|c| (10..16).contains(&tokyo(c.record.start).hour()))
    );
    let legit_203_same_day = bh
        .iter()
        .filter(|c| c.label == Label::Legit && c.record.account == "203")
        .filter(|c| tokyo(c.record.start).weekday() == Weekday::Wed)
        .count();
    assert!(legit_203_same_day > 0, "the owner keeps working");

    let ob = synth::obfuscated(1);
    let f: Vec<&SynthCall> = ob.iter().filter(|c| c.label.is_fraud()).collect();
    assert!(f.len() > 100);
    assert!(
        f.iter()
            .all(|c| c.record.dialed.starts_with("#010232")
                || c.record.dialed.starts_with("*010232"))
    );
}

#[test]
fn bench_mix_writes_the_asked_lines() {
    let mut out = Vec::new();
    let (lines, fraud) = synth::write_bench_mix(1, 30_000, &mut out).unwrap();
    assert_eq!(lines, 30_000);
    assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 30_000);
    let mut reader = CdrReader::new(&out[..], ReadOptions::default()).unwrap();
    let mut n = 0;
    while let Some(r) = reader.next_ref() {
        r.unwrap();
        n += 1;
    }
    assert_eq!(n, 30_000);
    assert!(fraud < lines);
}
