//! Differential dump: classifies a fixed corpus of dial strings (many numbers x many decorations x several dial
//! plans, incl. user lists and no cache) and prints one line per classification, so that two builds can be
//! compared byte for byte (`diff`) after a change meant to be behaviour-preserving (performance work).
//! `cargo run --release -p numbering --example dump > before.txt`

use numbering::{DialPlan, Numbering, parse_user_list, plan_for_country};

fn main() {
    let bases = [
        "0312345678",
        "09012345678",
        "0120123456",
        "0800123456",
        "0570123456",
        "0990123456",
        "05012345678",
        "07012345678",
        "08012345678",
        "02012345678",
        "0180123456",
        "0612345678",
        "0112345678",
        "0166123456",
        "010442079460000",
        "0102327612345",
        "0102327612345678",
        "01012125550123",
        "0108707720012345",
        "01097912345678",
        "0108816123456789",
        "0108821312345678",
        "0103712345678",
        "0103719012345",
        "010537123456",
        "0102161234567",
        "01018765550123",
        "0107701123456",
        "01074951234567",
        "0104930123456",
        "01081312345678",
        "0108190123456789",
        "010819012345678",
        "0102241234567",
        "+12125550123",
        "+23276123456",
        "+81312345678",
        "+810312345678",
        "+4420794600000",
        "+88216123456",
        "110",
        "118",
        "119",
        "171",
        "177",
        "189",
        "112",
        "911",
        "999",
        "000",
        "104",
        "113",
        "117",
        "1234",
        "12",
        "123",
        "12345",
        "123456",
        "1234567",
        "0110",
        "0119",
        "9110",
        "0911",
        "184110",
        "186119",
        "1840312345678",
        "1860102327612345",
        "0033010232761234",
        "00330312345678",
        "0011212555012",
        "0010442079460000",
        "0091010442079460",
        "9010442079460000",
        "90312345678",
        "0010",
        "00102327612345",
        "01",
        "0",
        "9",
        "",
        "*72",
        "*7201012125550123",
        "*21*0102327612345#",
        "**21*0102327612345#",
        "*67",
        "#31#0312345678",
        "*82",
        "*97",
        "#",
        "##",
        "*",
        "abc",
        "03-1234-5678",
        "5551234",
        "2125550123",
        "12125550123",
        "011442079460000",
        "00442079460000",
        "0011442079460000",
        "8107442079460000",
        "0207946000",
        "020794600000",
    ];
    let decorations: &[fn(&str) -> String] = &[
        |s| s.to_string(),
        |s| format!("#{s}"),
        |s| format!("*{s}"),
        |s| format!("%23{s}"),
        |s| format!("%2523{s}"),
        |s| format!("tel:{s}"),
        |s| format!("tel:{s};phone-context=+81"),
        |s| format!("tel:{s};phone-context=+44"),
        |s| format!("sip:{s}@pbx.example;user=phone"),
        |s| format!("\"Desk\" <sip:{s}@pbx>"),
        |s| format!(" {s} "),
        |s| format!("\t{s}\u{b}"),
        |s| format!("0{s}"),
        |s| format!("9{s}"),
        |s| format!("0-{s}"),
        |s| format!("184{s}"),
        |s| format!("0033{s}"),
        |s| format!("{s}#"),
        |s| format!("{s}##"),
        |s| format!("+{s}"),
        |s| format!("*+{s}"),
        |s| format!("({s})"),
        |s| {
            s.chars()
                .map(|c| {
                    if c.is_ascii_digit() {
                        char::from_u32(u32::from(c) - 48 + 0xFF10).unwrap_or(c)
                    } else {
                        c
                    }
                })
                .collect()
        },
        |s| s.chars().flat_map(|c| [c, ' ']).collect(),
        |s| s.chars().flat_map(|c| [c, '.']).collect(),
        |s| s.chars().flat_map(|c| [c, '-']).collect(),
        |s| s.replace('0', "\u{3000}0"),
        |s| format!("a{s}b"),
        |s| format!("{s}x"),
        |s| format!("{s}{s}{s}{s}{s}"),
        |s| format!("%{s}"),
        |s| format!("{s}%2"),
        |s| format!("+ {s}"),
        |s| format!("1+{s}"),
        |s| format!("\u{a0}{s}"),
        |s| format!("{s};x"),
        |s| format!("{s}:"),
        |s| format!("<{s}>"),
    ];
    let mut sites: Vec<(String, Numbering)> = Vec::new();
    sites.push(("JP".into(), Numbering::japan_defaults()));
    sites.push((
        "JP-nocache".into(),
        Numbering::japan_defaults().with_prefix_cache(false),
    ));
    let mut ol = DialPlan::japan();
    ol.outside_line = Some("0".into());
    sites.push(("JP-ol0".into(), Numbering::with_plan(ol)));
    let mut ol9 = DialPlan::japan();
    ol9.outside_line = Some("9".into());
    sites.push(("JP-ol9".into(), Numbering::with_plan(ol9)));
    let mut user = Numbering::japan_defaults();
    if let Ok(rules) = parse_user_list(
        "deny,prefix,+1212\nallow,exact,+23276123456,office\ndeny,prefix,8131\nallow,prefix,232761\ndeny,exact,81312345678\n",
        "u.csv",
    ) {
        user.add_risk_rules(&rules);
    }
    sites.push(("JP-user".into(), user));
    for c in ["US", "GB", "DE", "AU", "FR", "RU", "KR", "BR", "IT"] {
        if let Some(p) = plan_for_country(c) {
            sites.push((c.into(), Numbering::with_plan(p)));
        }
    }
    for round in 0..2 {
        for (name, n) in &sites {
            for b in bases {
                for (i, dec) in decorations.iter().enumerate() {
                    let s = dec(b);
                    let d = n.classify(&s);
                    let cost = n.cost(&d, 32);
                    let tariff = n.tariff(&d).map(|t| t.prefix.clone());
                    println!("{round} {name} {i} {s:?} => {d:?} {cost:?} {tariff:?}");
                }
            }
        }
    }
}
