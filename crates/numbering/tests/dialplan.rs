//! The Japanese dial plan end to end, emergency numbers, and every class with real-looking numbers.

use numbering::*;

fn jp() -> Numbering {
    Numbering::japan_defaults()
}

fn jp_outside0() -> Numbering {
    let mut plan = DialPlan::japan();
    plan.outside_line = Some("0".into());
    Numbering::with_plan(plan)
}

fn e164(d: &Destination) -> String {
    d.e164.map(|e| e.to_string()).unwrap_or_default()
}

#[test]
fn japanese_dial_plan_sierra_leone_all_forms() {
    let n = jp();
    let o = jp_outside0();
    let cases: &[(&Numbering, &str, bool)] = &[
        (&n, "01023276123456", false),
        (&n, "0033-010-23276123456", false),
        (&n, "0033010 23276123456", false),
        (&n, "0061 010 23276123456", false),
        (&o, "0-010-23276123456", false),
        (&n, "+23276123456", false),
        (&n, "tel:+232-76-123456", false),
        (&n, "tel:01023276123456;phone-context=+81", false),
        (&n, "sip:+23276123456@trunk.example;user=phone", false),
        (&n, "<sip:01023276123456@10.0.0.1;user=phone>", false),
        (&n, "010 232 76-123-456", false),
        (&n, "184 010 23276123456", false),
        (&n, "#01023276123456", true),
        (&n, "*01023276123456", true),
        (&n, "%2301023276123456", true),
        (&n, "%252301023276123456", true),
        (&n, "sip:%2301023276123456@pbx", true),
        (&n, "**01023276123456", true),
        (&n, "010*23276123456", true),
        (&n, "010a23276123456", true),
        (&n, "０１０23276123456", true),
        (&o, "#0-010-23276123456", true),
    ];
    for (num, dialed, obfuscated) in cases {
        let d = num.classify(dialed);
        assert_eq!(e164(&d), "+23276123456", "{dialed}: {d:?}");
        assert_eq!(d.scope, Scope::International, "{dialed}");
        assert_eq!(d.country.map(|c| c.iso2), Some("SL"), "{dialed}");
        assert_eq!(d.class, NumberClass::Mobile, "{dialed}");
        assert_eq!(d.risk, RiskTier::Critical, "{dialed}: {}", d.risk_reason);
        assert_eq!(
            d.flags.is_obfuscated(),
            *obfuscated,
            "{dialed}: {:?}",
            d.flags.names().collect::<Vec<_>>()
        );
    }
}

#[test]
fn flags_say_what_decoration_was_seen() {
    let n = jp();
    let f = |s: &str| n.classify(s).flags;
    assert!(f("0033010 23276123456").contains(DialFlags::CARRIER_CODE));
    assert!(f("0033010 23276123456").contains(DialFlags::SEPARATORS));
    assert!(f("184 0312345678").contains(DialFlags::CALLER_ID_PREFIX));
    assert!(f("tel:+23276123456").contains(DialFlags::URI_FORM));
    assert!(f("%2301023276123456").contains(DialFlags::PERCENT_ENCODED));
    assert!(f("#01023276123456").contains(DialFlags::LEADING_SYMBOL));
    assert!(
        jp_outside0()
            .classify("0-010-23276123456")
            .flags
            .contains(DialFlags::OUTSIDE_LINE)
    );
    assert!(f("0312345678").is_empty());
    // A phone's trailing '#' send key is junk but not obfuscation.
    let d = n.classify("0312345678#");
    assert!(d.flags.contains(DialFlags::JUNK_CHARACTERS) && !d.flags.is_obfuscated());
    assert_eq!(d.scope, Scope::Domestic);
}

#[test]
fn unconfigured_outside_line_cannot_hide_an_international_call() {
    // The PBX uses 0 for an outside line but the admin did not say so: still international.
    let d = jp().classify("0010-23276123456");
    assert_eq!(d.scope, Scope::International);
    assert_eq!(d.country.map(|c| c.iso2), Some("SL"));
    // NANP-style 9 + 011 at a US site.
    let us = Numbering::from_config(&NumberingConfig {
        dial_plan: DialPlanConfig {
            country: "US".into(),
            ..Default::default()
        },
        ..Default::default()
    });
    assert!(us.is_ok());
    if let Ok(us) = us {
        let d = us.classify("9011-232-76-123456");
        assert_eq!(d.country.map(|c| c.iso2), Some("SL"));
        assert_eq!(us.classify("2125550123").scope, Scope::Domestic);
        assert_eq!(us.classify("1-212-555-0123").scope, Scope::Domestic);
        assert_eq!(us.classify("911").scope, Scope::Emergency);
        assert_eq!(us.classify("9-911").scope, Scope::Emergency);
    }
}

#[test]
fn call_forwarding_feature_code_to_abroad_is_seen() {
    let d = jp().classify("*72 010 23276123456");
    assert_eq!(d.scope, Scope::International);
    assert!(d.flags.contains(DialFlags::FEATURE_CODE));
    let d = jp().classify("**21*01023276123456#");
    assert_eq!(d.country.map(|c| c.iso2), Some("SL"));
    let d = jp().classify("*97");
    assert_eq!(d.scope, Scope::Internal);
    assert!(d.flags.contains(DialFlags::FEATURE_CODE) && !d.flags.is_obfuscated());
}

#[test]
fn emergency_numbers_are_emergency_however_they_are_dialed() {
    let n = jp();
    let o = jp_outside0();
    for s in [
        "110",
        "118",
        "119",
        "171",
        "177",
        "112",
        "911",
        "0110",
        "0-119",
        "9119",
        "184110",
        "186 119",
        "1-1-0",
        "tel:110",
        "sip:119@pbx",
        "#110",
        "%23119",
        "0 184 110",
        "184 0 119",
    ] {
        for num in [&n, &o] {
            let d = num.classify(s);
            assert!(d.is_emergency(), "{s}: {d:?}");
            assert_eq!(d.class, NumberClass::Emergency, "{s}");
            assert_eq!(d.risk, RiskTier::Low, "{s}");
            assert!(num.tariff(&d).is_none(), "{s} must not be priced");
        }
    }
    let countries: &[(&str, &[&str])] = &[
        ("US", &["911", "9911", "988"]),
        ("GB", &["999", "112", "9-999"]),
        ("AU", &["000", "112"]),
        ("DE", &["110", "112"]),
        ("FR", &["15", "17", "18", "112"]),
        ("NZ", &["111"]),
        ("KR", &["119"]),
    ];
    for (cc, numbers) in countries {
        let site = Numbering::from_config(&NumberingConfig {
            dial_plan: DialPlanConfig {
                country: (*cc).into(),
                ..Default::default()
            },
            ..Default::default()
        });
        assert!(site.is_ok(), "{cc}");
        if let Ok(site) = site {
            for s in *numbers {
                assert!(site.classify(s).is_emergency(), "{cc} {s}");
            }
        }
    }
}

#[test]
fn internal_extensions_and_service_numbers() {
    let n = jp();
    for s in ["23", "201", "4001"] {
        let d = n.classify(s);
        assert_eq!(
            (d.scope, d.class),
            (Scope::Internal, NumberClass::Internal),
            "{s}"
        );
    }
    let d = n.classify("104");
    assert_eq!((d.scope, d.class), (Scope::Domestic, NumberClass::Service));
    let d = n.classify("117");
    assert_eq!(d.class, NumberClass::Service);
}

#[test]
fn japanese_domestic_classes() {
    let n = jp();
    for (s, class, e) in [
        ("03-1234-5678", NumberClass::Fixed, "+81312345678"),
        ("06 6123 4567", NumberClass::Fixed, "+81661234567"),
        ("0120-123-456", NumberClass::TollFree, "+81120123456"),
        ("0800-123-4567", NumberClass::TollFree, "+818001234567"),
        ("0570-012-345", NumberClass::SharedCost, "+81570012345"),
        ("0990-123-456", NumberClass::PremiumRate, "+81990123456"),
        ("050-1234-5678", NumberClass::Voip, "+815012345678"),
        ("070-1234-5678", NumberClass::Mobile, "+817012345678"),
        ("080-1234-5678", NumberClass::Mobile, "+818012345678"),
        ("090-1234-5678", NumberClass::Mobile, "+819012345678"),
        ("020-1234-5678", NumberClass::Pager, "+812012345678"),
        ("0180-123-456", NumberClass::Service, "+81180123456"),
        ("+81 3 1234 5678", NumberClass::Fixed, "+81312345678"),
        ("+81 (0)3 1234 5678", NumberClass::Fixed, "+81312345678"),
        ("010 81 90 1234 5678", NumberClass::Mobile, "+819012345678"),
        ("0033 03 1234 5678", NumberClass::Fixed, "+81312345678"),
        ("184 090 1234 5678", NumberClass::Mobile, "+819012345678"),
    ] {
        let d = n.classify(s);
        assert_eq!(d.scope, Scope::Domestic, "{s}");
        assert_eq!(d.class, class, "{s}");
        assert_eq!(e164(&d), e, "{s}");
        assert_eq!(d.country.map(|c| c.iso2), Some("JP"), "{s}");
    }
    assert_eq!(n.classify("0990-123-456").risk, RiskTier::High);
    assert_eq!(n.classify("03-1234-5678").risk, RiskTier::Low);
}

#[test]
fn international_classes_of_several_countries() {
    let n = jp();
    for (s, iso2, class) in [
        ("+44 20 7946 0958", "GB", NumberClass::Fixed),
        ("+44 7400 123456", "GB", NumberClass::Mobile),
        ("+44 800 123 4567", "GB", NumberClass::TollFree),
        ("+44 909 879 0000", "GB", NumberClass::PremiumRate),
        ("+34 901 123 456", "ES", NumberClass::SharedCost),
        ("+44 70 1234 5678", "GB", NumberClass::Personal),
        ("+44 56 1234 5678", "GB", NumberClass::Voip),
        ("+44 55 1234 5678", "GB", NumberClass::Uan),
        ("+1 212 555 0123", "US", NumberClass::FixedOrMobile),
        ("+1 416 555 0123", "CA", NumberClass::FixedOrMobile),
        ("+1 800 555 0123", "US", NumberClass::TollFree),
        ("+1 900 555 0123", "US", NumberClass::PremiumRate),
        ("+1 876 555 0123", "JM", NumberClass::Mobile),
        ("+49 30 123456", "DE", NumberClass::Fixed),
        ("+49 151 23456789", "DE", NumberClass::Mobile),
        ("+33 1 42 68 53 00", "FR", NumberClass::Fixed),
        ("+33 6 12 34 56 78", "FR", NumberClass::Mobile),
        ("+7 495 123 45 67", "RU", NumberClass::Fixed),
        ("+7 701 123 4567", "KZ", NumberClass::Mobile),
        ("+86 138 0013 8000", "CN", NumberClass::Mobile),
        ("+82 2 312 3456", "KR", NumberClass::Fixed),
        ("+232 76 123456", "SL", NumberClass::Mobile),
        ("+371 9000 0000", "LV", NumberClass::PremiumRate),
        ("+870 773 123 456", "XS", NumberClass::Satellite),
        ("+881 6 1234 5678", "XS", NumberClass::Satellite),
        ("+882 16 1234 5678", "XN", NumberClass::Satellite),
        ("+883 5100 1234 5678", "XN", NumberClass::Voip),
        ("+800 1234 5678", "XF", NumberClass::TollFree),
        ("+979 1234 5678", "XR", NumberClass::PremiumRate),
    ] {
        let d = n.classify(s);
        assert_eq!(d.scope, Scope::International, "{s}");
        assert_eq!(d.country.map(|c| c.iso2), Some(iso2), "{s}");
        assert_eq!(d.class, class, "{s}");
    }
    for s in [
        "+870773123456",
        "+881612345678",
        "+97912345678",
        "+37190000000",
    ] {
        assert_eq!(n.classify(s).risk, RiskTier::Critical, "{s}");
    }
    // International networks are all present.
    for code in [870u16, 881, 882, 883, 888, 979, 991] {
        assert!(country_by_code(code).is_some(), "+{code}");
    }
    // Unassigned country code: still international, never domestic.
    let d = n.classify("010 280 1234567");
    assert_eq!(d.scope, Scope::International);
    assert!(d.country.is_none());
}

#[test]
fn garbage_never_panics_and_is_unknown() {
    let n = jp();
    for s in [
        "",
        "   ",
        "sip:alice@example.com",
        "tel:",
        "%",
        "%2",
        "%zz",
        "+",
        "***",
        "<>",
        "abc",
        "\u{0}",
        "ｆｏｏ",
    ] {
        let d = n.classify(s);
        assert!(!d.is_emergency(), "{s:?}");
        assert!(
            matches!(d.scope, Scope::Unknown | Scope::Internal),
            "{s:?}: {d:?}"
        );
    }
    let long = "0".repeat(500) + "10232";
    let _ = n.classify(&long);
}

#[test]
fn tariffs_and_costs() {
    let n = jp();
    let sl = n.classify("01023276123456");
    let t = n.tariff(&sl);
    assert_eq!(
        t.map(|t| t.source.clone()),
        Some(TariffSource::DefaultEstimate)
    );
    assert_eq!(
        n.cost(&sl, 32).map(|m| m.to_string()),
        Some("175 JPY".into())
    );
    let sat = n.classify("+881612345678");
    assert_eq!(
        n.tariff(&sat).map(|t| t.per_minute.units_rounded()),
        Some(1500)
    );
    let unknown = n.classify("+2401234567");
    assert_eq!(
        n.tariff(&unknown).map(|t| t.per_minute.units_rounded()),
        Some(200)
    );
    let tokyo = n.classify("0312345678");
    assert!(
        n.tariff(&tokyo)
            .is_some_and(|t| t.per_minute.millis > 0 && t.per_minute.millis < 50_000)
    );
    let free = n.classify("0120123456");
    assert_eq!(n.cost(&free, 600).map(|m| m.millis), Some(0));
    assert!(n.tariff(&n.classify("201")).is_none());

    let mut n = jp();
    let user = RateTable::from_csv(
        "prefix,name,per_minute,currency,increment,setup\n232,SL carrier,90,JPY,30/30,0\n",
        "rates.csv",
    );
    assert!(user.is_ok());
    if let Ok(user) = user {
        n.set_user_tariffs(user);
    }
    let t = n.tariff(&sl);
    assert_eq!(
        t.map(|t| t.source.clone()),
        Some(TariffSource::User {
            file: "rates.csv".into(),
            line: 2
        })
    );
    assert_eq!(n.cost(&sl, 32).map(|m| m.units_rounded()), Some(90));
}

#[test]
fn config_loads_user_lists_and_tariffs_from_files() {
    let dir = std::env::temp_dir().join(format!("numbering-test-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let list = dir.join("risk.csv");
    let rates = dir.join("rates.csv");
    let ok = std::fs::write(&list, "action,match,number,note\nallow,prefix,+232,partner office\ndeny,exact,+81312345678,ex-employee\n")
        .and_then(|_| std::fs::write(&rates, "232,Sierra Leone,120,JPY,60/60,10\n"));
    assert!(ok.is_ok());
    let cfg = NumberingConfig {
        dial_plan: DialPlanConfig {
            outside_line: Some("0".into()),
            ..Default::default()
        },
        risk: RiskConfig {
            lists: vec![list.clone()],
            ..Default::default()
        },
        tariffs: TariffConfig {
            file: Some(rates.clone()),
            replace_defaults: false,
        },
        prefix_cache: true,
    };
    let n = Numbering::from_config(&cfg);
    assert!(n.is_ok(), "{:?}", n.err());
    if let Ok(n) = n {
        let d = n.classify("0-010-23276123456");
        assert_eq!(d.risk, RiskTier::Low, "{}", d.risk_reason);
        assert!(d.risk_reason.contains("risk.csv:2"), "{}", d.risk_reason);
        assert_eq!(n.cost(&d, 60).map(|m| m.units_rounded()), Some(130));
        let d = n.classify("0312345678");
        assert_eq!(d.risk, RiskTier::Critical);
    }
    let bad = NumberingConfig {
        risk: RiskConfig {
            lists: vec![dir.join("missing.csv")],
            ..Default::default()
        },
        ..Default::default()
    };
    let err = Numbering::from_config(&bad)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("missing.csv"), "{err}");
    let bad = NumberingConfig {
        dial_plan: DialPlanConfig {
            country: "XX".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    assert!(Numbering::from_config(&bad).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Found by the decoration proptest: a symbol before `+82…` is not the NANP feature code `*82`.
#[test]
fn a_symbol_before_a_plus_is_not_a_feature_code() {
    let n = numbering::Numbering::japan_defaults();
    let plain = n.classify("+82100000");
    let led = n.classify("*+82100000");
    assert_eq!(led.country, plain.country);
    assert_eq!(led.e164, plain.e164);
    assert!(led.flags.is_obfuscated());
    // A real feature code still works: "*72" then the number forwards calls there.
    let fwd = n.classify("*72 010 232 76 123456");
    assert_eq!(fwd.country.map(|c| c.calling_code), Some(232));
}

/// Where a tier comes from: the country's own tier (country table, or abroad on no list) is marked
/// `COUNTRY_RISK`, so that a policy naming the country can outrank it; a number range's tier, a domestic
/// number's and a tier raised for how the number was dialed are not.
#[test]
fn the_country_risk_flag_marks_only_the_countrys_own_tier() {
    let n = jp();
    let germany = n.classify("0104930123456");
    assert_eq!(germany.country.map(|c| c.iso2), Some("DE"));
    assert!(
        germany.flags.contains(DialFlags::COUNTRY_RISK),
        "{}",
        germany.risk_reason
    );
    // Not a flag of how the string was dialed.
    assert!(germany.flags.is_empty());
    assert_eq!(germany.flags.names().count(), 0);
    let range = n.classify("01023276123456");
    assert_eq!(range.risk, RiskTier::Critical);
    assert!(
        !range.flags.contains(DialFlags::COUNTRY_RISK),
        "{}",
        range.risk_reason
    );
    let domestic = n.classify("0312345678");
    assert!(!domestic.flags.contains(DialFlags::COUNTRY_RISK));
    // Raised for another country's prefix: not the country's own tier any more.
    let raised = n.classify("004930123456");
    assert!(
        raised.flags.contains(DialFlags::FOREIGN_PREFIX),
        "{raised:?}"
    );
    assert!(!raised.flags.contains(DialFlags::COUNTRY_RISK));
}
