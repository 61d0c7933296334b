//! Arbitrary dial strings (UTF-8 as given, else the bytes read lossily) classified by the Japanese defaults,
//! then priced. Invariants: no panic; an emergency destination has no tariff and no cost (documented on
//! `Numbering::tariff`); a string that is exactly one of Japan's emergency numbers (`110`, `118`, `119`, and the
//! other protected numbers of the README) or a universal one (`112`, `911`) classifies as emergency, also as a
//! `tel:` URI, in the site's own `phone-context` and in a domain's; no string is emergency in another country's
//! context.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use numbering::{Destination, Numbering, UNIVERSAL_EMERGENCY};

/// Japan's emergency and protected numbers (README "Emergency first").
const JAPAN_EMERGENCY: [&str; 6] = ["110", "118", "119", "171", "177", "189"];

fn numbering() -> &'static Numbering {
    static N: OnceLock<Numbering> = OnceLock::new();
    N.get_or_init(Numbering::japan_defaults)
}

fn check(n: &Numbering, s: &str, seconds: u32) -> Destination {
    let d = n.classify(s);
    let tariff = n.tariff(&d);
    let cost = n.cost(&d, seconds);
    assert_eq!(tariff.is_some(), cost.is_some());
    if d.is_emergency() {
        assert!(tariff.is_none(), "emergency destination {s:?} has a tariff");
    }
    if let Some(t) = tariff {
        let _ = t.billable_seconds(seconds);
    }
    if let Some(c) = cost {
        let _ = c.units_rounded();
    }
    d
}

fn is_emergency_number(s: &str) -> bool {
    JAPAN_EMERGENCY.contains(&s) || UNIVERSAL_EMERGENCY.contains(&s)
}

fuzz_target!(|data: &[u8]| {
    let n = numbering();
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let seconds = match control {
        255 => u32::MAX,
        c => u32::from(c) * 61,
    };
    let lossy;
    let s = match std::str::from_utf8(rest) {
        Ok(s) => s,
        Err(_) => {
            lossy = String::from_utf8_lossy(rest);
            &lossy
        }
    };
    let d = check(n, s, seconds);
    if is_emergency_number(s) {
        assert!(d.is_emergency(), "{s:?} is not emergency: {d:?}");
        let uri = format!("tel:{s}");
        assert!(
            check(n, &uri, seconds).is_emergency(),
            "{uri:?} is not emergency"
        );
        // In the site's own context, or a domain's, still emergency; in another country's, that country's
        // number (never the site's emergency number).
        let own = format!("tel:{s};phone-context=+81");
        assert!(
            check(n, &own, seconds).is_emergency(),
            "{own:?} is not emergency"
        );
        assert!(
            n.classify_in_context(s, Some("pbx.example")).is_emergency(),
            "{s:?} in a domain's context is not emergency"
        );
    }
    // Another country's context makes the digits that country's number: never the site's emergency number.
    let in_foreign = n.classify_in_context(s, Some("+44"));
    assert!(
        !in_foreign.is_emergency(),
        "{s:?} in context +44 is emergency: {in_foreign:?}"
    );
    // The same string once more (the prefix cache is warm now): the same answer.
    assert_eq!(
        check(n, s, seconds),
        d,
        "second classification of {s:?} differs"
    );
});
