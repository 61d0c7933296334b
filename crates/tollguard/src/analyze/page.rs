//! `--html`: a self-contained page with the verdict, the calls outside the policy and the lines to add, charts of
//! calls and money over time, the alerts' timeline and tables.

use std::collections::BTreeMap;

use engine::{FindingKind, Level};

use super::Mode;
use super::report::{GROUPS, Hour, Report};
use crate::html;

pub(super) fn to_html(r: &Report) -> String {
    let mut body = String::new();
    let v = &r.verdict;
    let (class, headline) = if r.hit() {
        (
            "hit",
            format!(
                "Toll fraud found: {} attack calls, {} at tariff estimates{}.",
                numbering::group_thousands(v.calls.calls as i64),
                r.money(v.calls.millis),
                v.since
                    .map(|t| format!(", since {} (the attack's first call)", r.local(t)))
                    .unwrap_or_default()
            ),
        )
    } else {
        ("clean", "No sign of toll fraud.".to_string())
    };
    body.push_str(&format!(
        r#"<div class="verdict {class}">{}</div>"#,
        html::escape(&headline)
    ));
    outside_policy(r, &mut body);

    // Hours, or days when the span is long, so that the chart stays readable.
    let hours: Vec<(i64, Hour)> = r.hours.iter().map(|(k, v)| (*k, *v)).collect();
    let per = if hours.len() > 24 * 14 { 24 } else { 1 };
    let mut buckets: BTreeMap<i64, Hour> = BTreeMap::new();
    for (h, v) in hours {
        buckets.entry(h.div_euclid(per)).or_default().merge(&v);
    }
    let fmt = if per == 24 { "%m-%d" } else { "%a %H:00" };
    let labels: Vec<String> = buckets
        .keys()
        .map(|k| {
            chrono::DateTime::from_timestamp(k * per * 3600, 0)
                .map(|t| t.with_timezone(&r.tz).format(fmt).to_string())
                .unwrap_or_default()
        })
        .collect();
    let series = |money: bool| -> Vec<html::Series> {
        (0..4)
            .map(|i| html::Series {
                name: GROUPS[i].to_string(),
                color: html::PALETTE[i],
                values: buckets
                    .values()
                    .map(|b| {
                        if money {
                            b.millis[i] as f64 / 1000.0
                        } else {
                            b.calls[i] as f64
                        }
                    })
                    .collect(),
            })
            .collect()
    };
    let unit = if per == 24 { "day" } else { "hour" };
    body.push_str(&format!("<h2>Calls per {unit} by destination class</h2>"));
    body.push_str(&html::stacked_bars(&labels, &series(false), "calls"));
    body.push_str(&format!(
        "<h2>Cost per {unit} by destination class ({})</h2>",
        r.currency.as_str()
    ));
    body.push_str(&html::stacked_bars(
        &labels,
        &series(true),
        r.currency.as_str(),
    ));
    let blocked = vec![html::Series {
        name: "suspicious (would be blocked)".into(),
        color: html::PALETTE[1],
        values: buckets.values().map(|b| b.blocked as f64).collect(),
    }];
    body.push_str(&format!("<h2>Suspicious calls per {unit}</h2>"));
    body.push_str(&html::stacked_bars(&labels, &blocked, "calls"));
    let cumulative = |f: &dyn Fn(&Hour) -> i64| -> Vec<f64> {
        let mut sum = 0i64;
        buckets
            .values()
            .map(|b| {
                sum += f(b);
                sum as f64 / 1000.0
            })
            .collect()
    };
    let money = vec![
        html::Series {
            name: "all calls".into(),
            color: html::PALETTE[0],
            values: cumulative(&|b: &Hour| b.millis.iter().sum()),
        },
        html::Series {
            name: "suspicious calls".into(),
            color: html::PALETTE[1],
            values: cumulative(&|b: &Hour| b.blocked_millis),
        },
    ];
    body.push_str(&format!(
        "<h2>Money over time, cumulative ({})</h2>",
        r.currency.as_str()
    ));
    body.push_str(&html::lines(&labels, &money, r.currency.as_str()));

    let alerts = r.sorted_alerts();
    if let (Some(a), Some(b)) = (r.first_at, r.last_at) {
        let span = (b - a).max(1) as f64;
        let events: Vec<(f64, String, &'static str)> = alerts
            .iter()
            .take(500)
            .map(|g| {
                let color = if g.first.level == Level::Critical {
                    html::PALETTE[1]
                } else {
                    html::PALETTE[4]
                };
                (
                    (g.first.at - a) as f64 / span,
                    format!("{} {}", r.local(g.first.at), g.first.reason),
                    color,
                )
            })
            .collect();
        body.push_str("<h2>Timeline of alerts</h2>");
        body.push_str(&html::timeline(&events, &r.local(a), &r.local(b)));
    }
    body.push_str("<h2>Top international destinations</h2>");
    let rows: Vec<Vec<String>> = r
        .top(&r.destinations, 15)
        .iter()
        .map(|(n, c)| {
            vec![
                n.to_string(),
                numbering::group_thousands(c.calls as i64),
                r.money(c.millis),
            ]
        })
        .collect();
    body.push_str(&html::table(&["destination", "calls", "cost"], &rows));
    body.push_str("<h2>Alerts</h2>");
    let rows: Vec<Vec<String>> = alerts
        .iter()
        .take(200)
        .map(|g| {
            vec![
                r.local(g.first.at),
                match g.first.rule.kind() {
                    FindingKind::Fraud => "possible fraud",
                    FindingKind::Policy => "outside your policy",
                }
                .to_owned(),
                format!("{:?}", g.first.level).to_lowercase(),
                g.first.rule.as_str().to_owned(),
                g.first.reason.clone(),
                numbering::group_thousands(g.count as i64),
            ]
        })
        .collect();
    body.push_str(&html::table(
        &["first seen", "kind", "level", "rule", "why", "times"],
        &rows,
    ));
    if !r.listed.is_empty() {
        body.push_str("<h2>Legitimate-looking calls that were blocked</h2>");
        let rows: Vec<Vec<String>> = r
            .listed
            .iter()
            .map(|c| {
                vec![
                    r.local(c.at),
                    c.account.clone(),
                    c.dialed.clone(),
                    c.rule.clone(),
                    c.reason.clone(),
                ]
            })
            .collect();
        body.push_str(&html::table(
            &["time", "account", "dialed", "rule", "why"],
            &rows,
        ));
    }
    let title = match r.mode {
        Mode::Analyze => "tollguard: CDR analysis",
        Mode::Backtest => "tollguard: policy backtest",
    };
    body.push_str(&format!(
        "<p><small>Times in {}. Money at tollguard's tariff estimates unless a rate table was given.</small></p>",
        html::escape(r.tz.name())
    ));
    html::page(title, &body)
}

/// "Your policy would also block…": the refused calls outside any attack, and the lines that let them through.
fn outside_policy(r: &Report, body: &mut String) {
    let v = &r.verdict;
    if v.outside_total.calls == 0 {
        return;
    }
    body.push_str(&format!(
        "<h2>Your policy would also block {} calls ({}) to destinations this site calls routinely</h2>\
         <p>Outside your policy, not fraud.</p>",
        numbering::group_thousands(v.outside_total.calls as i64),
        html::escape(&r.money(v.outside_total.millis))
    ));
    let rows: Vec<Vec<String>> = v
        .outside
        .iter()
        .take(200)
        .map(|g| {
            let who = r
                .account_list
                .get(g.account as usize)
                .map_or_else(String::new, |a| {
                    engine::decision::account_words(&a.tenant, &a.account)
                });
            vec![
                who,
                g.dest.to_string(),
                numbering::group_thousands(g.refused.calls as i64),
                r.money(g.refused.millis),
                format!("{} … {}", r.local(g.first_at), r.local(g.last_at)),
                g.refusal.rule_name().to_owned(),
            ]
        })
        .collect();
    body.push_str(&html::table(
        &[
            "account",
            "destination",
            "calls",
            "cost",
            "between",
            "refused by",
        ],
        &rows,
    ));
    if !v.suggestions.is_empty() {
        let toml: Vec<String> = v.suggestions.iter().map(|s| s.toml()).collect();
        body.push_str(&format!(
            "<p>To let them through, set in your policy file:</p><pre>{}</pre>",
            html::escape(&toml.join("\n"))
        ));
    }
}
