//! Property: however a number is decorated (separators, leading junk, carrier code, percent-encoding, tel: form,
//! caller-ID prefix), it classifies to the same country and class as the plain number, and an international
//! number is never classified as domestic or emergency.

use numbering::*;
use proptest::prelude::*;

const CODES: &[&str] = &[
    "1", "7", "44", "49", "33", "86", "82", "232", "224", "252", "371", "370", "53", "216", "870",
    "881", "882", "883", "979", "599", "262", "880", "998",
];

fn international() -> impl Strategy<Value = String> {
    (prop::sample::select(CODES), "[1-9][0-9]{5,9}").prop_map(|(cc, rest)| format!("{cc}{rest}"))
}

fn domestic() -> impl Strategy<Value = String> {
    prop_oneof![
        "[2-9][0-9]{8}",
        // After a 01x area code the subscriber number starts with 2-9 in Japan: "0184 001100" is no real
        // number, and its "0 184 001 100" reading (outside line, caller-ID prefix, carrier code) is international.
        "1[1-9][2-9][0-9]{6}",
        "(120|800|570|990)[0-9]{6}",
        "(50|70|80|90|20)[0-9]{8}",
    ]
}

#[derive(Debug, Clone)]
struct Decoration {
    carrier: Option<&'static str>,
    caller_id: Option<&'static str>,
    junk: Option<&'static str>,
    separators: Vec<(usize, char)>,
    percent: Vec<usize>,
    tel: bool,
}

fn decoration() -> impl Strategy<Value = Decoration> {
    (
        prop::option::of(prop::sample::select(vec![
            "0033", "0036", "0037", "0038", "0039", "0041", "0061", "0063", "0088", "0091",
        ])),
        prop::option::of(prop::sample::select(vec!["184", "186"])),
        prop::option::of(prop::sample::select(vec![
            "#", "*", "%23", "##", "*#", "%2A", "#*#",
        ])),
        prop::collection::vec(
            (
                0usize..40,
                prop::sample::select(vec![' ', '-', '.', '(', ')']),
            ),
            0..5,
        ),
        prop::collection::vec(0usize..40, 0..4),
        any::<bool>(),
    )
        .prop_map(
            |(carrier, caller_id, junk, separators, percent, tel)| Decoration {
                carrier,
                caller_id,
                junk,
                separators,
                percent,
                tel,
            },
        )
}

/// Dials `body` (digits after the international/trunk prefix) with the decoration applied.
fn decorate(prefix: &str, body: &str, d: &Decoration) -> String {
    let mut digits: Vec<char> = format!(
        "{}{}{}",
        d.caller_id.unwrap_or(""),
        d.carrier.unwrap_or(""),
        prefix
    )
    .chars()
    .chain(body.chars())
    .collect();
    let mut seps = d.separators.clone();
    seps.sort_by_key(|s| std::cmp::Reverse(s.0));
    for (pos, c) in seps {
        let at = (pos % (digits.len() + 1)).max(1);
        digits.insert(at.min(digits.len()), c);
    }
    let mut s = String::new();
    for (i, c) in digits.iter().enumerate() {
        if d.percent.contains(&i) {
            s.push_str(&format!("%{:02X}", *c as u32));
        } else {
            s.push(*c);
        }
    }
    let s = format!("{}{s}", d.junk.unwrap_or(""));
    if d.tel {
        format!("tel:{s};phone-context=+81")
    } else {
        s
    }
}

fn jp() -> &'static Numbering {
    static N: std::sync::OnceLock<Numbering> = std::sync::OnceLock::new();
    N.get_or_init(Numbering::japan_defaults)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn decorated_international_numbers_keep_country_and_class(e in international(), d in decoration(), plus in any::<bool>()) {
        let n = jp();
        let plain = n.classify(&format!("010{e}"));
        prop_assert_eq!(plain.scope, Scope::International);
        let dialed = if plus && d.carrier.is_none() && d.caller_id.is_none() {
            format!("{}{}+{}", if d.tel { "tel:" } else { "" }, d.junk.unwrap_or(""), e)
        } else {
            decorate("010", &e, &d)
        };
        let got = n.classify(&dialed);
        prop_assert_eq!(got.country, plain.country, "{}", dialed);
        prop_assert_eq!(got.class, plain.class, "{}", dialed);
        prop_assert_eq!(got.e164, plain.e164, "{}", dialed);
        prop_assert!(got.scope != Scope::Domestic && !got.is_emergency(), "{}: {:?}", dialed, got);
        if d.junk.is_some() || dialed.contains('%') {
            prop_assert!(got.flags.is_obfuscated(), "{} not flagged", dialed);
        }
        prop_assert!(got.risk >= plain.risk, "{}", dialed);
    }

    #[test]
    fn decorated_domestic_numbers_keep_class(nat in domestic(), d in decoration()) {
        let n = jp();
        let plain = n.classify(&format!("0{nat}"));
        prop_assert_eq!(plain.scope, Scope::Domestic);
        let dialed = decorate("0", &nat, &d);
        let got = n.classify(&dialed);
        prop_assert_eq!(got.class, plain.class, "{}", dialed);
        prop_assert_eq!(got.e164, plain.e164, "{}", dialed);
        prop_assert_eq!(got.scope, Scope::Domestic, "{}", dialed);
    }

    #[test]
    fn arbitrary_input_never_panics(s in "\\PC{0,60}") {
        let n = jp();
        let d = n.classify(&s);
        let _ = n.tariff(&d);
    }
}
