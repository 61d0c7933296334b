//! The demo's outcome for people: the summary a PBX owner reads in ten seconds, and the self-contained HTML
//! report (inline SVG charts: attempted vs passed calls, and money over time; no external assets).

use std::fmt::Write as _;

use super::clock::{hm, hms};
use super::outcome::{Caller, Outcome};
use super::words::{Lang, Words};
use crate::html::escape;
use numbering::group_thousands;

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// The lines of the summary, each a label and its text.
pub fn summary_lines(o: &Outcome, lang: Lang) -> Vec<(String, String)> {
    let ja = lang.ja();
    let a = &o.attack;
    let mut lines = Vec::new();
    let countries = a.countries.join(", ");
    let first = a.first_attempt_ms.map(hm).unwrap_or_else(|| "-".into());
    lines.push(if ja {
        ("攻撃".into(), format!(
            "{} の内線205（攻撃者がメーカー既定パスワードでログイン）から {first} 以降 {} 回の発信: {countries}",
            o.tenant, a.attempts
        ))
    } else {
        ("Attacked".into(), format!(
            "ext 205 of {} (logged in with the vendor's default password): {} calls tried from {first} to {countries}",
            o.tenant, a.attempts
        ))
    });
    let stopped = match (a.stopped, a.stopped_at_ms) {
        (true, Some(t)) if ja => format!(
            "{} に停止 — それまでに通過 {} 件、{} 円。以降の {} 件は全て遮断、通話中 {} 件を tollguard が切断",
            hms(t),
            a.passed,
            group_thousands(a.money_lost_jpy),
            a.refused,
            a.ended_by_guard
        ),
        (true, Some(t)) => format!(
            "at {} after {} calls had passed ({} JPY); all {} later attempts refused, {} call(s) in progress cut off by tollguard",
            hms(t),
            a.passed,
            group_thousands(a.money_lost_jpy),
            a.refused,
            a.ended_by_guard
        ),
        _ if ja => format!(
            "停止を確認できませんでした（通過 {} 件、{} 円）",
            a.passed,
            group_thousands(a.money_lost_jpy)
        ),
        _ => format!(
            "NOT shown to be stopped ({} calls passed, {} JPY)",
            a.passed,
            group_thousands(a.money_lost_jpy)
        ),
    };
    lines.push((if ja { "停止" } else { "Stopped" }.into(), stopped));
    let f = &o.office;
    lines.push(if ja {
        (
            "業務通話".into(),
            format!(
                "正規の通話 {} 件中 {} 件が接続（うち国際 {} 件）、遮断 {} 件",
                f.attempts,
                f.passed,
                f.international_passed,
                f.blocked.len()
            ),
        )
    } else {
        (
            "Office".into(),
            format!(
                "{} of {} legitimate calls connected ({} international), {} blocked",
                f.passed,
                f.attempts,
                f.international_passed,
                f.blocked.len()
            ),
        )
    });
    if let Some(e) = &o.emergency {
        let barred = if e.while_barred {
            if ja {
                "（発信停止中の内線から）"
            } else {
                " while the extension was barred from international calls"
            }
        } else {
            ""
        };
        lines.push(if ja {
            (
                "緊急通報".into(),
                format!(
                    "内線{} → {}: {}{barred}",
                    e.ext,
                    e.dialed,
                    if e.passed {
                        "接続"
                    } else {
                        "接続されず（不具合）"
                    }
                ),
            )
        } else {
            (
                "Emergency".into(),
                format!(
                    "ext {} → {}: {}{barred}",
                    e.ext,
                    e.dialed,
                    if e.passed {
                        "connected"
                    } else {
                        "NOT connected (a defect)"
                    }
                ),
            )
        });
    }
    for s in &o.scanners {
        let text = if ja {
            format!(
                "{}（{}）: {}、{} 件中 {} 件応答、パスワード発見 {} 件",
                s.source,
                s.user_agent,
                if s.banned {
                    "遮断"
                } else {
                    "遮断されず"
                },
                s.requests,
                s.answered,
                s.cracked.len()
            )
        } else if s.banned {
            let silence = if s.answered == 0 {
                "silent from its first request".to_owned()
            } else {
                format!("silence after the {}", ordinal(s.answered))
            };
            format!(
                "{} ({}) banned: answered {} of {} requests ({silence}), {} passwords found",
                s.source,
                s.user_agent,
                s.answered,
                s.requests,
                s.cracked.len()
            )
        } else {
            format!(
                "{} ({}) NOT banned: {} of {} answered",
                s.source, s.user_agent, s.answered, s.requests
            )
        };
        lines.push((if ja { "スキャナ" } else { "Scanner" }.into(), text));
    }
    let u = &o.unprotected_2015;
    lines.push(if ja {
        ("損害".into(), format!(
            "{} 円。対策なしでは（2015年: 週末に30秒の通話 約{}件、同じ料金表で）{} 円 — 当時の請求は1社あたり約{}円、キャリアの国際発信停止まで約{}日",
            group_thousands(a.money_lost_jpy), group_thousands(i64::from(u.calls)), group_thousands(u.cost_jpy), group_thousands(u.reported_bill_jpy), u.days_to_bar
        ))
    } else {
        ("Money".into(), format!(
            "{} JPY lost. Unprotected, as in 2015 (~{} calls of {} s over a weekend, same tariff): {} JPY — bills of ~{} JPY per company were reported, and carriers took ~{} days to bar international calls",
            group_thousands(a.money_lost_jpy), group_thousands(i64::from(u.calls)), u.secs_each, group_thousands(u.cost_jpy), group_thousands(u.reported_bill_jpy), u.days_to_bar
        ))
    });
    if let Some(al) = chosen_alert(o) {
        let field = |k: &str| {
            al.body
                .get(k)
                .and_then(|t| t.as_str())
                .unwrap_or("")
                .to_owned()
        };
        let headline = field("headline");
        // The first paragraph says what happened; the rest (rule, key, how to lift) is in the JSON and HTML.
        let full = field("body");
        let body = full.split("\n\n").next().unwrap_or("").to_owned();
        let (messages, folded) = delivered_counts(o);
        let text = match (ja, folded) {
            (true, 0) => format!(
                "{} に受信（計 {messages} 件）\n{headline}\n{body}",
                hms(al.received_ms)
            ),
            (true, _) => format!(
                "{} に受信（計 {messages} 通。種類ごとの最初の警報は即時、繰り返しの {folded} 件は件数付きの 1 通にまとめて送信）\n{headline}\n{body}",
                hms(al.received_ms)
            ),
            (false, 0) => format!(
                "received {} ({messages} delivered in all)\n{headline}\n{body}",
                hms(al.received_ms)
            ),
            (false, _) => format!(
                "received {} ({messages} messages in all: the first alert of each kind at once, then {folded} repeats collapsed into one message with their count)\n{headline}\n{body}",
                hms(al.received_ms)
            ),
        };
        lines.push((if ja { "通知" } else { "Alert" }.into(), text));
    } else if let Some(d) = o.decisions.iter().find(|d| d.action != "warn") {
        lines.push((
            if ja { "判定" } else { "Decision" }.into(),
            format!("{} {}", hms(d.at), d.reason),
        ));
    } else if let Some(r) = o
        .calls
        .iter()
        .filter(|c| c.caller == Caller::Attacker)
        .filter_map(|c| c.reason.clone())
        .find(|r| r.contains("barred"))
        .or_else(|| {
            o.calls
                .iter()
                .find(|c| c.caller == Caller::Attacker)
                .and_then(|c| c.reason.clone())
        })
    {
        lines.push((if ja { "理由" } else { "Why" }.into(), r));
    }
    lines
}

/// The alert that tells the story best: the kill switch if there was one, else the first delivered.
fn chosen_alert(o: &Outcome) -> Option<&super::outcome::DeliveredAlert> {
    let is_bar = |a: &&super::outcome::DeliveredAlert| {
        a.body
            .get("decision")
            .and_then(|d| d.get("action"))
            .is_some_and(|x| x.to_string().to_ascii_lowercase().contains("bar"))
    };
    let single =
        |a: &&super::outcome::DeliveredAlert| a.body.get("kind") != Some(&"collapsed".into());
    o.alerts_delivered
        .iter()
        .filter(single)
        .find(is_bar)
        .or_else(|| o.alerts_delivered.iter().find(single))
}

/// Messages the webhook received, and how many alerts the storm collapse folded into them.
fn delivered_counts(o: &Outcome) -> (usize, u64) {
    let folded = o
        .alerts_delivered
        .iter()
        .filter(|a| a.body.get("kind").and_then(|k| k.as_str()) == Some("collapsed"))
        .filter_map(|a| a.body.get("count").and_then(|c| c.as_u64()))
        .sum();
    (o.alerts_delivered.len(), folded)
}

pub fn summary(o: &Outcome, lang: Lang) -> String {
    let mut s = String::new();
    let title = if lang.ja() {
        format!(
            "\n═══ 結果: 金曜日 {}〜{}（日本時間）、{:.0} 倍速で {:.0} 秒 ═══",
            hm(o.start_ms),
            hm(o.end_ms),
            o.speed,
            o.wall_secs
        )
    } else {
        format!(
            "\n═══ What happened: Friday {}–{} JST, replayed at {:.0}x in {:.0} s ═══",
            hm(o.start_ms),
            hm(o.end_ms),
            o.speed,
            o.wall_secs
        )
    };
    let _ = writeln!(s, "{title}");
    for (label, text) in summary_lines(o, lang) {
        let mut lines = text.lines();
        let _ = writeln!(s, "{label:<10} {}", lines.next().unwrap_or(""));
        for l in lines {
            let _ = writeln!(s, "{:<10} {l}", "");
        }
    }
    s
}

/// Calls per 5-minute bucket: (attempted, passed) for a caller.
fn buckets(o: &Outcome, caller: Caller, n: usize) -> Vec<(u32, u32)> {
    let mut v = vec![(0u32, 0u32); n];
    for c in o.calls.iter().filter(|c| c.caller == caller) {
        let i = usize::try_from((c.placed_ms - o.start_ms) / 300_000).unwrap_or(0);
        if let Some(b) = v.get_mut(i.min(n.saturating_sub(1))) {
            b.0 += 1;
            if c.passed() {
                b.1 += 1;
            }
        }
    }
    v
}

fn bar_chart(title: &str, data: &[(u32, u32)], start_ms: i64, legend: (&str, &str)) -> String {
    let (w, h, pad) = (720.0_f64, 220.0_f64, 36.0_f64);
    let max = data.iter().map(|d| d.0).max().unwrap_or(1).max(1);
    let bw = (w - 2.0 * pad) / data.len().max(1) as f64;
    let mut s = format!(
        "<figure><figcaption>{}</figcaption><svg viewBox=\"0 0 {w} {h}\" role=\"img\">",
        escape(title)
    );
    for (i, (att, pass)) in data.iter().enumerate() {
        let x = pad + i as f64 * bw;
        let ha = f64::from(*att) / f64::from(max) * (h - 2.0 * pad);
        let hp = f64::from(*pass) / f64::from(max) * (h - 2.0 * pad);
        let _ = write!(
            s,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{ha:.1}\" fill=\"#f2b8b5\"><title>{att} attempted</title></rect>",
            x + 1.0,
            h - pad - ha,
            bw - 2.0
        );
        let _ = write!(
            s,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{hp:.1}\" fill=\"#b3261e\"><title>{pass} passed</title></rect>",
            x + bw * 0.25,
            h - pad - hp,
            bw * 0.5
        );
        if i % 2 == 0 {
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">{}</text>",
                x,
                h - pad + 14.0,
                hm(start_ms + i as i64 * 300_000)
            );
        }
    }
    let _ = write!(
        s,
        "<text x=\"{pad}\" y=\"16\" font-size=\"12\">max {max} / 5 min · <tspan fill=\"#f2b8b5\">■</tspan> {} · <tspan fill=\"#b3261e\">■</tspan> {}</text>",
        escape(legend.0),
        escape(legend.1)
    );
    s.push_str("</svg></figure>");
    s
}

fn money_chart(o: &Outcome, lang: Lang) -> String {
    let (w, h, pad) = (720.0_f64, 220.0_f64, 48.0_f64);
    let span = (o.end_ms - o.start_ms).max(1) as f64;
    // What the unprotected office pays over the same time: every attempt answered and billed.
    let mut lost = 0i64;
    let mut unprotected = 0i64;
    let per_call = o.unprotected_2015.cost_jpy / i64::from(o.unprotected_2015.calls.max(1));
    let mut pts_lost = vec![(0.0, 0i64)];
    let mut pts_unp = vec![(0.0, 0i64)];
    for c in o.calls.iter().filter(|c| c.caller == Caller::Attacker) {
        let x = (c.placed_ms - o.start_ms) as f64 / span;
        lost += c.cost_jpy;
        unprotected += per_call;
        pts_lost.push((x, lost));
        pts_unp.push((x, unprotected));
    }
    pts_lost.push((1.0, lost));
    pts_unp.push((1.0, unprotected));
    let max = unprotected.max(lost).max(1) as f64;
    let path = |pts: &[(f64, i64)]| {
        let mut d = String::new();
        for (i, (x, y)) in pts.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1} ",
                if i == 0 { "M" } else { "L" },
                pad + x * (w - 2.0 * pad),
                h - pad - *y as f64 / max * (h - 2.0 * pad)
            );
        }
        d
    };
    let (t, a, b) = if lang.ja() {
        (
            "攻撃による請求額の推移（円）",
            "tollguard あり",
            "対策なし（全ての試行が接続された場合）",
        )
    } else {
        (
            "Money on the bill from the attack (JPY)",
            "with tollguard",
            "unprotected (every attempt connected)",
        )
    };
    format!(
        "<figure><figcaption>{t}</figcaption><svg viewBox=\"0 0 {w} {h}\" role=\"img\">\
<path d=\"{}\" fill=\"none\" stroke=\"#9aa0a6\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>\
<path d=\"{}\" fill=\"none\" stroke=\"#b3261e\" stroke-width=\"3\"/>\
<text x=\"{pad}\" y=\"16\" font-size=\"12\"><tspan fill=\"#b3261e\">━</tspan> {a}: {} · <tspan fill=\"#9aa0a6\">┅</tspan> {b}: {}</text>\
<text x=\"{pad}\" y=\"{:.0}\" font-size=\"11\">{}</text><text x=\"{:.0}\" y=\"{:.0}\" font-size=\"11\" text-anchor=\"end\">{}</text></svg></figure>",
        path(&pts_unp),
        path(&pts_lost),
        group_thousands(lost),
        group_thousands(unprotected),
        h - pad + 14.0,
        hm(o.start_ms),
        w - pad,
        h - pad + 14.0,
        hm(o.end_ms)
    )
}

pub fn html(o: &Outcome, lang: Lang) -> String {
    let n = usize::try_from(((o.end_ms - o.start_ms) / 300_000).max(1)).unwrap_or(1);
    let ja = lang.ja();
    let mut s = String::new();
    let _ = write!(
        s,
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><title>tollguard demo</title><style>\
body{{font-family:system-ui,sans-serif;max-width:780px;margin:2em auto;color:#202124}}\
table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #e0e0e0;padding:4px 6px;text-align:left;vertical-align:top;font-size:14px}}\
figure{{margin:1.5em 0}}figcaption{{font-weight:600}}.ok{{color:#137333}}.bad{{color:#b3261e}}</style></head><body>",
        if ja { "ja" } else { "en" }
    );
    let _ = write!(
        s,
        "<h1>{}</h1><p>{}</p><table>",
        if ja {
            "tollguard デモ: 2015年の乗っ取りの再現"
        } else {
            "tollguard demo: the 2015 hijacking, replayed"
        },
        escape(&format!(
            "{} {}–{} JST · {:.0}x · {}",
            if ja { "金曜日" } else { "Friday" },
            hm(o.start_ms),
            hm(o.end_ms),
            o.speed,
            o.policy
        ))
    );
    for (label, text) in summary_lines(o, lang) {
        let _ = write!(
            s,
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(&label),
            escape(&text)
        );
    }
    s.push_str("</table>");
    let (ta, tb, la, lb) = if ja {
        (
            "攻撃の発信（5分ごと）",
            "業務通話（5分ごと）",
            "試行",
            "通過",
        )
    } else {
        (
            "Attack calls per 5 minutes",
            "Office calls per 5 minutes",
            "attempted",
            "passed",
        )
    };
    s.push_str(&bar_chart(
        ta,
        &buckets(o, Caller::Attacker, n),
        o.start_ms,
        (la, lb),
    ));
    s.push_str(&money_chart(o, lang));
    s.push_str(&bar_chart(
        tb,
        &buckets(o, Caller::Office, n),
        o.start_ms,
        (la, lb),
    ));
    let _ = write!(
        s,
        "<h2>{}</h2><table><tr><th>{}</th><th>ext</th><th>{}</th><th>{}</th><th>JPY</th><th>{}</th></tr>",
        if ja { "全ての発信" } else { "Every call" },
        if ja { "時刻" } else { "time" },
        if ja { "発信先" } else { "dialed" },
        if ja { "結果" } else { "result" },
        if ja { "理由" } else { "why" }
    );
    for c in &o.calls {
        let class = if c.passed() == (c.caller != Caller::Attacker) {
            "ok"
        } else {
            "bad"
        };
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{} {}</td><td class=\"{class}\">{} {}</td><td>{}</td><td>{}</td></tr>",
            hms(c.placed_ms),
            escape(&c.ext),
            escape(&c.dialed),
            escape(c.country.as_deref().unwrap_or("")),
            c.result,
            c.sip_status,
            c.cost_jpy,
            escape(c.reason.as_deref().unwrap_or(""))
        );
    }
    s.push_str("</table></body></html>\n");
    s
}
