//! Dial strings that try to slip past a Japanese site's `010` block: the mobile carriers' international services,
//! other countries' international prefixes (`00`, `011`, `9011`, `810`, `0011`…), an international call hidden
//! after `+81`, and a `phone-context` of another country. Each is read as the call it makes, flagged, and rated
//! at least high; the site's emergency numbers stay emergency whatever the decoration.

use numbering::*;
use proptest::prelude::*;

fn jp() -> &'static Numbering {
    static N: std::sync::OnceLock<Numbering> = std::sync::OnceLock::new();
    N.get_or_init(Numbering::japan_defaults)
}

/// A Japanese site whose PBX also accepts `00` as an international prefix.
fn jp_accepting_00() -> &'static Numbering {
    static N: std::sync::OnceLock<Numbering> = std::sync::OnceLock::new();
    N.get_or_init(|| {
        let cfg: NumberingConfig = toml::from_str(
            "[dial_plan]\ncountry = \"JP\"\ninternational_prefixes = [\"010\", \"00\"]\n",
        )
        .unwrap_or_default();
        Numbering::from_config(&cfg).unwrap_or_else(|_| Numbering::japan_defaults())
    })
}

fn e164(d: &Destination) -> String {
    d.e164.map(|e| e.digits().to_string()).unwrap_or_default()
}

/// Numbers abroad that libphonenumber recognises (E.164 digits), with their country.
const ABROAD: &[(&str, &str)] = &[
    ("442079460958", "GB"),
    ("4930123456", "DE"),
    ("33142685300", "FR"),
    ("23276123456", "SL"),
    ("8613800138000", "CN"),
    ("74951234567", "RU"),
    ("972592123456", "IL"),
    ("12125550123", "US"),
    ("8223123456", "KR"),
    ("37190000000", "LV"),
];

#[test]
fn the_numbers_abroad_are_known_numbers() {
    for (e, iso2) in ABROAD {
        let d = jp().classify(&format!("+{e}"));
        assert_eq!(d.scope, Scope::International, "{e}");
        assert_eq!(d.country.map(|c| c.iso2), Some(*iso2), "{e}");
        assert_ne!(
            d.class,
            NumberClass::Unknown,
            "{e} must be a number libphonenumber knows"
        );
    }
}

// 1. The mobile carriers' international services and the configurable carrier codes.

#[test]
fn mobile_carriers_international_services_are_international() {
    for (dialed, want, iso2) in [
        ("005345010232761234567", "232761234567", "SL"),
        ("0053450102327612345", "2327612345", "SL"),
        ("004601023276123", "23276123", "SL"),
        ("0046-010-44-20-7946-0958", "442079460958", "GB"),
        ("009130 010 86 138 0013 8000", "8613800138000", "CN"),
        // The country code straight after the service's code: read as the call abroad (when in doubt).
        ("0046 232 76 123456", "23276123456", "SL"),
        ("009130 44 20 7946 0958", "442079460958", "GB"),
    ] {
        let d = jp().classify(dialed);
        assert_eq!(d.scope, Scope::International, "{dialed}: {d:?}");
        assert_eq!(e164(&d), want, "{dialed}");
        assert_eq!(d.country.map(|c| c.iso2), Some(iso2), "{dialed}");
        assert!(d.flags.contains(DialFlags::CARRIER_CODE), "{dialed}");
        assert!(d.risk >= RiskTier::Medium, "{dialed}");
    }
    assert_eq!(
        jp().classify("005345010232761234567").risk,
        RiskTier::Critical
    );
    // The same codes before a national number: a domestic call through that carrier.
    let d = jp().classify("0046 03 1234 5678");
    assert_eq!(
        (d.scope, e164(&d).as_str()),
        (Scope::Domestic, "81312345678")
    );
    assert!(
        DialPlan::japan()
            .carrier_codes
            .iter()
            .any(|c| c == "005345")
    );
}

#[test]
fn carrier_codes_come_from_the_configuration() {
    let cfg: NumberingConfig =
        toml::from_str("[dial_plan]\ncountry = \"JP\"\ncarrier_codes = [\"0099\"]\n")
            .unwrap_or_default();
    let n = Numbering::from_config(&cfg);
    assert!(n.is_ok());
    let Ok(n) = n else { return };
    let d = n.classify("0099 010 232 76 123456");
    assert_eq!(
        (d.scope, e164(&d).as_str()),
        (Scope::International, "23276123456")
    );
    assert!(d.flags.contains(DialFlags::CARRIER_CODE));
    // Without the default list, au's code is no carrier code here: its digits are read with another
    // country's prefix.
    let d = n.classify("005345010232761234");
    assert!(!d.flags.contains(DialFlags::CARRIER_CODE), "{d:?}");
    assert!(d.flags.contains(DialFlags::FOREIGN_PREFIX), "{d:?}");
}

// 2. A leading 00 and a country code.

#[test]
fn double_zero_is_flagged_unless_the_plan_accepts_it() {
    let d = jp().classify("00 232 76 123456");
    assert_eq!(d.scope, Scope::International);
    assert_eq!(e164(&d), "23276123456");
    assert!(d.flags.contains(DialFlags::FOREIGN_PREFIX), "{d:?}");
    assert!(d.flags.has_suspicious_prefix());
    assert_eq!(d.risk, RiskTier::Critical);
    assert!(
        d.risk_reason
            .contains("another country's international prefix"),
        "{}",
        d.risk_reason
    );
    // A destination of medium risk is raised to high, and the reason says why.
    let d = jp().classify("0049 30 123456");
    assert_eq!((e164(&d).as_str(), d.risk), ("4930123456", RiskTier::High));
    assert!(
        d.risk_reason.contains("raised to high"),
        "{}",
        d.risk_reason
    );
    assert!(
        d.flags
            .descriptions()
            .any(|w| w.contains("another country's international prefix"))
    );
    // Where the site's plan says 00 is international, it is, without a flag.
    let d = jp_accepting_00().classify("0049 30 123456");
    assert_eq!(
        (d.scope, e164(&d).as_str()),
        (Scope::International, "4930123456")
    );
    assert!(!d.flags.contains(DialFlags::FOREIGN_PREFIX), "{d:?}");
    assert_eq!(d.risk, RiskTier::Medium);
    assert_eq!(
        jp_accepting_00().plan().other_international_prefixes,
        vec!["00".to_string()]
    );
    // The plan's carrier reading still wins where it is the more dangerous one.
    let d = jp_accepting_00().classify("0046 010 232 76 123");
    assert_eq!(e164(&d), "23276123");
}

#[test]
fn international_prefixes_are_checked_in_the_configuration() {
    let conflicting: NumberingConfig = toml::from_str(
        "[dial_plan]\ninternational_prefix = \"010\"\ninternational_prefixes = [\"00\"]\n",
    )
    .unwrap_or_default();
    let err = Numbering::from_config(&conflicting)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("international_prefixes"), "{err}");
    for bad in [
        "international_prefixes = []",
        "international_prefixes = [\"0a\"]",
        "foreign_prefixes = [\"x0\"]",
        "foreign_prefixes = [\"\"]",
    ] {
        let cfg: NumberingConfig =
            toml::from_str(&format!("[dial_plan]\n{bad}\n")).unwrap_or_default();
        assert!(Numbering::from_config(&cfg).is_err(), "{bad}");
    }
    // No foreign prefixes: 00 + a number is what the old plan made of it (not understood).
    let cfg: NumberingConfig =
        toml::from_str("[dial_plan]\nforeign_prefixes = []\n").unwrap_or_default();
    let n = Numbering::from_config(&cfg);
    assert!(n.is_ok());
    if let Ok(n) = n {
        assert_eq!(n.classify("00 232 76 123456").scope, Scope::Unknown);
    }
    // A pattern with `x`.
    let cfg: NumberingConfig =
        toml::from_str("[dial_plan]\nforeign_prefixes = [\"07xx\"]\n").unwrap_or_default();
    let n = Numbering::from_config(&cfg);
    assert!(n.is_ok());
    if let Ok(n) = n {
        let d = n.classify("0799 232 76 123456");
        assert_eq!(e164(&d), "23276123456", "{d:?}");
        assert!(d.flags.contains(DialFlags::FOREIGN_PREFIX));
    }
}

// 3. Other countries' international prefixes, after an optional outside-line digit.

#[test]
fn other_countries_prefixes_are_read_and_flagged() {
    for (dialed, want) in [
        ("9011972592123456", "972592123456"),
        ("011 44 20 7946 0958", "442079460958"),
        ("9 011 44 20 7946 0958", "442079460958"),
        ("810 44 20 7946 0958", "442079460958"),
        ("9 810 7 495 123 45 67", "74951234567"),
        ("0011 44 20 7946 0958", "442079460958"),
        ("9 0011 49 30 123456", "4930123456"),
        ("900 232 76 123456", "23276123456"),
        ("000 232 76 123456", "23276123456"),
        ("0021 86 138 0013 8000", "8613800138000"),
        ("184 00 232 76 123456", "23276123456"),
        ("0033 00 232 76 123456", "23276123456"),
    ] {
        let d = jp().classify(dialed);
        assert_eq!(d.scope, Scope::International, "{dialed}: {d:?}");
        assert_eq!(e164(&d), want, "{dialed}");
        assert!(
            d.flags.contains(DialFlags::FOREIGN_PREFIX),
            "{dialed}: {d:?}"
        );
        assert!(d.risk >= RiskTier::High, "{dialed}: {:?}", d.risk);
    }
    // Another country's prefix before digits that are no number abroad: not understood, flagged, high.
    let d = jp().classify("9011 999 123456789");
    assert!(d.scope != Scope::Domestic, "{d:?}");
    assert!(d.flags.contains(DialFlags::FOREIGN_PREFIX), "{d:?}");
    assert!(d.risk >= RiskTier::High);
    // A long string without the trunk prefix is no local number of low risk.
    let d = jp().classify("23276123456");
    assert!(
        d.risk > RiskTier::Low && d.scope != Scope::Domestic,
        "{d:?}"
    );
}

#[test]
fn real_national_numbers_stay_domestic() {
    // Sapporo's area code is 011: its numbers are no NANP calls.
    for (dialed, want) in [
        ("011-222-3333", "81112223333"),
        ("0119725921", "81119725921"),
        ("011 683 1234", "81116831234"),
        ("+81 11 222 3333", "81112223333"),
        ("0033 011 222 3333", "81112223333"),
        ("09012345678", "819012345678"),
    ] {
        let d = jp().classify(dialed);
        assert_eq!(d.scope, Scope::Domestic, "{dialed}: {d:?}");
        assert_eq!(e164(&d), want, "{dialed}");
        assert!(!d.flags.has_suspicious_prefix(), "{dialed}: {d:?}");
        assert_eq!(d.risk, RiskTier::Low, "{dialed}");
    }
    // Local numbers (no area code) of up to eight digits stay local.
    assert_eq!(jp().classify("81012345").scope, Scope::Domestic);
}

// 4. The most dangerous reading wins.

#[test]
fn the_most_dangerous_reading_wins() {
    // KDDI's 001 then +1 972 592 123456 (no NANP number, medium) or Australia's 0011 then Israel (high).
    let d = jp().classify("0011972592123456");
    assert_eq!(e164(&d), "972592123456");
    assert_eq!(d.country.map(|c| c.iso2), Some("IL"));
    assert!(d.flags.contains(DialFlags::FOREIGN_PREFIX));
    assert!(d.risk >= RiskTier::High);
    // 00 then Cuba (critical) or 005 (Korea, Colombia) then Belgium (medium): Cuba.
    let d = jp().classify("00532761234567");
    assert_eq!(d.country.map(|c| c.iso2), Some("CU"), "{d:?}");
    assert_eq!(d.risk, RiskTier::Critical);
    // KDDI's 001 then New York stands: 0011 then +212 555 0123 is no Moroccan number.
    let d = jp().classify("001-1-212-555-0123");
    assert_eq!(e164(&d), "12125550123");
    assert!(!d.flags.has_suspicious_prefix(), "{d:?}");
    // SoftBank 0046 then 010 Sierra Leone (critical) beats 00 then Sweden.
    let d = jp().classify("004601023276123");
    assert_eq!(d.country.map(|c| c.iso2), Some("SL"));
}

// 5. +81 followed by the international prefix.

#[test]
fn an_international_call_hidden_after_the_country_code_is_read() {
    for (dialed, want) in [
        ("+8110232761234", "232761234"),
        ("+81 10 44 20 7946 0958", "442079460958"),
        ("+81 (0)10 232 76 123456", "23276123456"),
        ("tel:+81-10-232-76-123456", "23276123456"),
        ("010 81 10 232 76 123456", "23276123456"),
        ("+81 033 010 232 76 123456", "23276123456"),
        ("+81 0 232 76 123456", "23276123456"),
    ] {
        let d = jp().classify(dialed);
        assert_eq!(d.scope, Scope::International, "{dialed}: {d:?}");
        assert_eq!(e164(&d), want, "{dialed}");
        assert!(
            d.flags.contains(DialFlags::HIDDEN_INTERNATIONAL),
            "{dialed}: {d:?}"
        );
        assert!(d.risk >= RiskTier::High, "{dialed}");
    }
    let d = jp().classify("+8110232761234");
    assert_eq!(d.risk, RiskTier::Critical);
    assert!(d.risk_reason.contains("hidden"), "{}", d.risk_reason);
    // Real Japanese numbers after +81 stay domestic.
    for s in ["+81 3 1234 5678", "+81 90 1234 5678", "+81 120 123 456"] {
        let d = jp().classify(s);
        assert_eq!(d.scope, Scope::Domestic, "{s}");
        assert!(!d.flags.has_suspicious_prefix(), "{s}");
    }
}

// 6. phone-context.

#[test]
fn another_countrys_context_is_that_countrys_number() {
    let n = jp();
    for d in [
        n.classify("tel:110;phone-context=+1"),
        n.classify_in_context("110", Some("+1")),
        n.classify_in_context("tel:110;phone-context=+81", Some("+1")),
        n.classify("sip:110;phone-context=+1@pbx.example;user=phone"),
    ] {
        assert!(!d.is_emergency(), "{d:?}");
        assert_eq!(d.scope, Scope::International, "{d:?}");
        assert_eq!(d.country.map(|c| c.calling_code), Some(1));
        assert!(d.flags.contains(DialFlags::FOREIGN_CONTEXT), "{d:?}");
    }
    for d in [
        n.classify("tel:119;phone-context=+81"),
        n.classify_in_context("119", Some("+81")),
        n.classify_in_context("119", Some("pbx.example.jp")),
        n.classify_in_context("119", None),
        n.classify_in_context("tel:119;phone-context=+1", Some("+81")),
        n.classify_in_context("tel:110", Some("example.com")),
    ] {
        assert!(d.is_emergency(), "{d:?}");
    }
    // The context's digits are its country code and area code; its own prefixes apply.
    let d = n.classify("tel:5550123;phone-context=+1-212");
    assert_eq!(e164(&d), "12125550123");
    let d = n.classify_in_context("011 44 20 7946 0958", Some("+1"));
    assert_eq!(e164(&d), "442079460958");
    let d = n.classify_in_context("020 7946 0958", Some("+44"));
    assert_eq!(e164(&d), "442079460958");
    // A PBX that ignores the context dials the site's reading: Sierra Leone is the more dangerous one.
    let d = n.classify("tel:01023276123456;phone-context=+1");
    assert_eq!(e164(&d), "23276123456");
    assert_eq!(d.risk, RiskTier::Critical);
}

// Properties.

/// Decorations a PBX or phone adds: separators between the digit groups.
fn spaced(s: &str, cuts: &[usize]) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && cuts.contains(&i) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn abroad() -> impl Strategy<Value = (&'static str, &'static str)> {
    prop::sample::select(ABROAD)
}

fn cuts() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..20, 0..4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// 1. Every carrier code of the plan, then 010 and a number abroad: that number, international.
    #[test]
    fn carrier_then_010_is_the_number_abroad(
        carrier in prop::sample::select(DialPlan::japan().carrier_codes),
        (e, iso2) in abroad(),
        cuts in cuts(),
    ) {
        let dialed = spaced(&format!("{carrier}010{e}"), &cuts);
        let d = jp().classify(&dialed);
        prop_assert_eq!(d.scope, Scope::International, "{}: {:?}", dialed, d);
        prop_assert_eq!(e164(&d), e, "{}", dialed);
        prop_assert_eq!(d.country.map(|c| c.iso2), Some(iso2), "{}", dialed);
        prop_assert!(d.flags.contains(DialFlags::CARRIER_CODE), "{}", dialed);
    }

    /// 2. 00 and a number abroad: flagged and at least high at a site that does not accept 00; the same
    /// number unflagged and as risky as after 010 where it does.
    #[test]
    fn double_zero_then_a_number_abroad(
        (e, _) in abroad(),
        cuts in cuts(),
    ) {
        let dialed = spaced(&format!("00{e}"), &cuts);
        let plain = jp().classify(&format!("010{e}"));
        let d = jp().classify(&dialed);
        prop_assert_eq!(e164(&d), e, "{}: {:?}", &dialed, d);
        prop_assert!(d.flags.contains(DialFlags::FOREIGN_PREFIX), "{}", dialed);
        prop_assert!(d.risk >= RiskTier::High.max(plain.risk), "{}", dialed);
        let accepted = jp_accepting_00().classify(&dialed);
        prop_assert_eq!(e164(&accepted), e, "{}", dialed);
        prop_assert!(!accepted.flags.has_suspicious_prefix(), "{}", dialed);
        prop_assert_eq!(accepted.risk, plain.risk, "{}", dialed);
    }

    /// 3. Another country's prefix, after an optional outside-line digit, caller-ID prefix or carrier code,
    /// then a number abroad: that number, international, flagged, at least high; never domestic.
    #[test]
    fn foreign_prefix_then_a_number_abroad(
        lead in prop::sample::select(vec!["", "9", "0", "184", "0033", "0 184"]),
        prefix in prop::sample::select(vec![
            "00", "000", "011", "810", "0011", "0014", "0015", "0018", "0019", "0021", "002", "008",
        ]),
        (e, _) in abroad(),
        cuts in cuts(),
    ) {
        let dialed = spaced(&format!("{lead}{prefix}{e}"), &cuts);
        let d = jp().classify(&dialed);
        prop_assert!(d.scope != Scope::Domestic && !d.is_emergency(), "{}: {:?}", dialed, d);
        prop_assert!(d.risk >= RiskTier::High, "{}: {:?}", dialed, d);
        prop_assert_eq!(d.scope, Scope::International, "{}: {:?}", dialed, d);
        prop_assert!(d.flags.has_suspicious_prefix() || d.flags.contains(DialFlags::CARRIER_CODE),
            "{}: {:?}", dialed, d);
    }

    /// 4. Whatever way the digits are read, the answer is at least as risky as the number abroad that a
    /// foreign prefix makes of them, and at least high.
    #[test]
    fn the_answer_is_at_least_as_risky_as_every_reading(
        lead in prop::sample::select(vec!["", "9", "0"]),
        prefix in prop::sample::select(vec!["00", "000", "011", "810", "0011", "0015", "0021", "009"]),
        (e, _) in abroad(),
    ) {
        let dialed = format!("{lead}{prefix}{e}");
        let d = jp().classify(&dialed);
        let reading = jp().classify(&format!("+{e}"));
        prop_assert!(d.risk >= reading.risk.max(RiskTier::High), "{}: {:?} vs {:?}", dialed, d, reading);
    }

    /// 5. +81, the international prefix without its trunk 0, and a number abroad: that number, flagged.
    #[test]
    fn plus_81_then_10_is_the_call_abroad(
        (e, iso2) in abroad(),
        trunk in prop::sample::select(vec!["", "0", "(0)"]),
        cuts in cuts(),
    ) {
        let dialed = format!("+81 {trunk}{}", spaced(&format!("10{e}"), &cuts));
        let d = jp().classify(&dialed);
        prop_assert_eq!(e164(&d), e, "{}: {:?}", dialed, d);
        prop_assert_eq!(d.country.map(|c| c.iso2), Some(iso2), "{}", dialed);
        prop_assert!(d.flags.contains(DialFlags::HIDDEN_INTERNATIONAL), "{}", dialed);
        prop_assert!(d.risk >= RiskTier::High, "{}", dialed);
    }

    /// 6. The site's emergency numbers stay emergency however the existing code accepts them decorated, and
    /// in the site's context; in another country's context they are that country's number.
    #[test]
    fn emergency_numbers_and_contexts(
        e in prop::sample::select(vec!["110", "118", "119", "171", "177", "189", "112", "911"]),
        form in prop::sample::select(vec![
            "{}", "tel:{}", "tel:{};phone-context=+81", "sip:{}@pbx", "#{}", "%23{}", "0-{}", "184 {}",
            "0 184 {}", "184 0 {}", "tel:{};phone-context=pbx.example",
        ]),
        cc in prop::sample::select(vec!["1", "44", "49", "33", "86", "82", "232", "7", "61", "1-212"]),
    ) {
        let n = jp();
        let dialed = form.replace("{}", e);
        prop_assert!(n.classify(&dialed).is_emergency(), "{}", dialed);
        prop_assert!(n.classify_in_context(&dialed, None).is_emergency(), "{}", dialed);
        prop_assert!(n.classify_in_context(e, Some("+81")).is_emergency(), "{}", e);
        prop_assert!(n.classify_in_context(e, Some("example.com")).is_emergency(), "{}", e);
        let foreign = format!("tel:{e};phone-context=+{cc}");
        for d in [n.classify(&foreign), n.classify_in_context(e, Some(&format!("+{cc}")))] {
            prop_assert!(!d.is_emergency(), "{}: {:?}", foreign, d);
            prop_assert_eq!(d.scope, Scope::International, "{}", foreign);
            prop_assert!(d.flags.contains(DialFlags::FOREIGN_CONTEXT), "{}", foreign);
            let code = cc.split('-').next().unwrap_or(cc);
            prop_assert!(e164(&d).starts_with(code), "{}: {:?}", foreign, d);
        }
    }
}
