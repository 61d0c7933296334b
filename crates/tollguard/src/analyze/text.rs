//! The text report, in English or Japanese. Both are written from the tally and the decisions' data (rule,
//! subject, numbers, country); the Japanese alerts use the notifications' Japanese sentences, never a translation
//! of the English one. Fraud comes first (the verdict), then what the policy alone would refuse.

use std::io::Write;

use api::notify::{Lang, country_name, sentence};
use chrono::Datelike;
use engine::{DestClass, FindingKind, Level, Millis, RuleId};
use numbering::group_thousands;

use super::Mode;
use super::report::{AlertGroup, Count, DestKey, Report};

/// How many lines a list shows before "… and N more".
const SHOWN: usize = 8;

fn n(v: u64) -> String {
    group_thousands(i64::try_from(v).unwrap_or(i64::MAX))
}

/// Money in the reader's words: "1,234 JPY" / "1,234円".
fn money(r: &Report, millis: i64, lang: Lang) -> String {
    api::notify::format_money(&engine::Amount::new(millis, r.currency), lang)
}

/// A local time: "Fri 2025-06-06 19:30:06" / "2025-06-06(金) 19:30:06".
fn local(r: &Report, at: Millis, lang: Lang) -> String {
    match lang {
        Lang::En => r.local(at),
        Lang::Ja => chrono::DateTime::from_timestamp_millis(at)
            .map(|t| {
                let t = t.with_timezone(&r.tz);
                let wd = ["月", "火", "水", "木", "金", "土", "日"]
                    .get(t.weekday().num_days_from_monday() as usize)
                    .copied()
                    .unwrap_or("");
                format!("{}({wd}) {}", t.format("%Y-%m-%d"), t.format("%H:%M:%S"))
            })
            .unwrap_or_else(|| at.to_string()),
    }
}

/// "ext 205", "ext 205 of acme" / "内線205", "acmeの内線205".
fn account(tenant: &str, account: &str, lang: Lang) -> String {
    match lang {
        Lang::En => engine::decision::account_words(tenant, account),
        Lang::Ja if account == engine::UNKNOWN_ACCOUNT => {
            format!("{tenant}の登録外のアカウント")
        }
        Lang::Ja if tenant.is_empty() => format!("内線{account}"),
        Lang::Ja => format!("{tenant}の内線{account}"),
    }
}

fn account_of(r: &Report, i: u32, lang: Lang) -> String {
    r.account_list
        .get(i as usize)
        .map_or_else(String::new, |a| account(&a.tenant, &a.account, lang))
}

/// "Sierra Leone +232" / "シエラレオネ +232"; classes at home in words.
fn destination(d: DestKey, lang: Lang) -> String {
    match (d, lang) {
        (DestKey::Country(iso, name, code), _) => {
            let c = numbering::Country {
                iso2: iso,
                name,
                calling_code: code,
            };
            format!("{} +{code}", country_name(&c, lang))
        }
        (_, Lang::En) => d.to_string(),
        (DestKey::Emergency, Lang::Ja) => "緊急通報".to_owned(),
        (DestKey::Home(c), Lang::Ja) => format!("国内（{}）", class_ja(c)),
    }
}

fn class_ja(c: DestClass) -> &'static str {
    match c {
        DestClass::Internal => "内線",
        DestClass::Domestic => "固定電話",
        DestClass::Mobile => "携帯電話",
        DestClass::TollFree => "フリーダイヤル",
        DestClass::SharedCost => "ナビダイヤル等",
        DestClass::Service => "サービス番号",
        DestClass::International => "国際",
        DestClass::Premium => "有料情報サービス",
        DestClass::Satellite => "衛星電話",
        DestClass::Unknown => "不明な番号",
    }
}

/// "a (b)" / "a（b）".
fn paren(a: &str, b: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("{a} ({b})"),
        Lang::Ja => format!("{a}（{b}）"),
    }
}

fn calls_money(r: &Report, c: Count, lang: Lang) -> String {
    match lang {
        Lang::En => format!("{} calls, {}", n(c.calls), money(r, c.millis, lang)),
        Lang::Ja => format!("{}件、{}", n(c.calls), money(r, c.millis, lang)),
    }
}

pub(super) fn write_text(out: &mut dyn Write, r: &Report, lang: Lang) -> anyhow::Result<()> {
    write_title(out, r, lang)?;
    match r.mode {
        Mode::Analyze => write_verdict(out, r, lang)?,
        Mode::Backtest => write_backtest(out, r, lang)?,
    }
    write_outside_policy(out, r, lang)?;
    if r.emergency > 0 {
        match lang {
            Lang::En => writeln!(
                out,
                "\nEmergency calls: {} seen, {} blocked (emergency numbers are never blocked).",
                r.emergency, r.emergency_blocked
            )?,
            Lang::Ja => writeln!(
                out,
                "\n緊急通報: {}件、遮断 {}件（緊急番号は決して遮断しません）。",
                r.emergency, r.emergency_blocked
            )?,
        }
    }
    write_alerts(out, r, lang)?;
    write_input_notes(out, r, lang)
}

fn write_title(out: &mut dyn Write, r: &Report, lang: Lang) -> anyhow::Result<()> {
    let records: u64 = r.files.iter().map(|f| f.records).sum();
    let title = match r.mode {
        Mode::Analyze => "tollguard analyze",
        Mode::Backtest => "tollguard backtest",
    };
    let span = r.first_at.zip(r.last_at);
    match (lang, span) {
        (Lang::En, Some((a, b))) => writeln!(
            out,
            "{title}: {} calls from {} to {} ({})",
            n(records),
            local(r, a, lang),
            local(r, b, lang),
            r.tz.name()
        )?,
        (Lang::En, None) => writeln!(out, "{title}: {} calls", n(records))?,
        (Lang::Ja, Some((a, b))) => writeln!(
            out,
            "{title}: 通話 {}件（{} 〜 {}、{}）",
            n(records),
            local(r, a, lang),
            local(r, b, lang),
            r.tz.name()
        )?,
        (Lang::Ja, None) => writeln!(out, "{title}: 通話 {}件", n(records))?,
    }
    if records == 0 {
        match lang {
            Lang::En => writeln!(out, "No call records were read.")?,
            Lang::Ja => writeln!(out, "通話記録を1件も読めませんでした。")?,
        }
    }
    writeln!(out)?;
    Ok(())
}

fn write_verdict(out: &mut dyn Write, r: &Report, lang: Lang) -> anyhow::Result<()> {
    let v = &r.verdict;
    if !v.hit() {
        let warned = n(r.findings.fraud_warned);
        match lang {
            Lang::En => {
                writeln!(out, "NOT HIT: no sign of toll fraud.")?;
                writeln!(
                    out,
                    "  {} calls, {} answered, {} estimated; {warned} calls raised fraud warnings only (allowed).",
                    n(r.all.calls),
                    n(r.answered),
                    money(r, r.all.millis, lang)
                )?;
            }
            Lang::Ja => {
                writeln!(out, "判定: 被害なし — 不正利用の痕跡はありません。")?;
                writeln!(
                    out,
                    "  通話 {}件、応答 {}件、料金見積もり {}。不正の警告だけの通話（通過） {warned}件。",
                    n(r.all.calls),
                    n(r.answered),
                    money(r, r.all.millis, lang)
                )?;
            }
        }
        return write_labelled(out, r, lang);
    }
    write_hit(out, r, lang)?;
    write_labelled(out, r, lang)
}

fn write_hit(out: &mut dyn Write, r: &Report, lang: Lang) -> anyhow::Result<()> {
    let v = &r.verdict;
    let since = v.since.map(|t| local(r, t, lang)).unwrap_or_default();
    let exts: Vec<String> = v
        .accounts
        .iter()
        .take(SHOWN)
        .map(|(i, a)| {
            format!(
                "{} ({})",
                account_of(r, *i, lang),
                calls_money(r, a.calls, lang)
            )
        })
        .collect();
    let dests: Vec<String> = v
        .dests
        .iter()
        .take(6)
        .map(|(d, c)| paren(&destination(*d, lang), &calls_money(r, *c, lang), lang))
        .collect();
    match lang {
        Lang::En => {
            writeln!(out, "HIT: this PBX shows toll fraud.")?;
            writeln!(out, "  since        {since} (the attack's first call)")?;
            writeln!(
                out,
                "  calls        {} attack calls, of {} calls in all; tollguard would have blocked {}",
                n(v.calls.calls),
                n(r.all.calls),
                n(v.blocked.calls)
            )?;
            writeln!(
                out,
                "  money        {} for the attack calls (tariff estimates), {} in all",
                money(r, v.calls.millis, lang),
                money(r, r.all.millis, lang)
            )?;
            writeln!(out, "  extensions   {}", exts.join(", "))?;
            writeln!(out, "  destinations {}", dests.join(", "))?;
        }
        Lang::Ja => {
            writeln!(
                out,
                "判定: 被害あり — このPBXで不正利用（通話料詐欺）の痕跡が見つかりました。"
            )?;
            writeln!(out, "  開始   {since}（攻撃の最初の通話）")?;
            writeln!(
                out,
                "  通話   攻撃の通話 {}件（全{}件中）、うちtollguardが遮断できた通話 {}件",
                n(v.calls.calls),
                n(r.all.calls),
                n(v.blocked.calls)
            )?;
            writeln!(
                out,
                "  金額   攻撃の通話 {}（料金の見積もり）、全体 {}",
                money(r, v.calls.millis, lang),
                money(r, r.all.millis, lang)
            )?;
            writeln!(out, "  内線   {}", exts.join("、"))?;
            writeln!(out, "  宛先   {}", dests.join("、"))?;
        }
    }
    for (i, a) in v.accounts.iter().take(SHOWN) {
        let who = account_of(r, *i, lang);
        let passed = Count {
            calls: a.calls.calls - a.blocked.calls,
            millis: a.calls.millis - a.blocked.millis,
        };
        match (lang, passed.calls) {
            (Lang::En, 0) => writeln!(
                out,
                "  {who}: tollguard would have blocked every call of the attack"
            )?,
            (Lang::En, _) => writeln!(
                out,
                "  {who}: {} of the attack would have got through tollguard",
                calls_money(r, passed, lang)
            )?,
            (Lang::Ja, 0) => writeln!(out, "  {who}: 攻撃の通話はすべてtollguardが遮断できました")?,
            (Lang::Ja, _) => writeln!(
                out,
                "  {who}: 攻撃の通話のうち {} はtollguardを通過していました",
                calls_money(r, passed, lang)
            )?,
        }
    }
    Ok(())
}

/// The attacks the CDRs' labels name (the project's own scenarios), and the legitimate calls blocked.
fn write_labelled(out: &mut dyn Write, r: &Report, lang: Lang) -> anyhow::Result<()> {
    if !r.labelled {
        return Ok(());
    }
    if !r.attacks.is_empty() {
        match lang {
            Lang::En => writeln!(out, "\nAttacks (from the CDRs' labels):")?,
            Lang::Ja => writeln!(out, "\n攻撃（CDRのラベルによる）:")?,
        }
        for (name, t) in &r.attacks {
            let stopped = match (t.first_block, lang) {
                (Some(at), Lang::En) => format!(
                    "stopped at {} after {}; {} blocked",
                    local(r, at, lang),
                    calls_money(r, t.before_block, lang),
                    calls_money(r, t.blocked, lang)
                ),
                (Some(at), Lang::Ja) => format!(
                    "{} に停止（それまでに {}）、遮断 {}",
                    local(r, at, lang),
                    calls_money(r, t.before_block, lang),
                    calls_money(r, t.blocked, lang)
                ),
                (None, Lang::En) => format!("NOT stopped: {}", calls_money(r, t.all, lang)),
                (None, Lang::Ja) => format!("停止できず: {}", calls_money(r, t.all, lang)),
            };
            match lang {
                Lang::En => writeln!(out, "  {name}: {} fraud calls; {stopped}", n(t.all.calls))?,
                Lang::Ja => writeln!(out, "  {name}: 不正な通話 {}件。{stopped}", n(t.all.calls))?,
            }
        }
    }
    match lang {
        Lang::En => writeln!(
            out,
            "Legitimate calls blocked: {} of {} ({})",
            n(r.legit_blocked.calls),
            n(r.legit.calls),
            money(r, r.legit_blocked.millis, lang)
        )?,
        Lang::Ja => writeln!(
            out,
            "遮断された正当な通話: {}件（全{}件中、{}）",
            n(r.legit_blocked.calls),
            n(r.legit.calls),
            money(r, r.legit_blocked.millis, lang)
        )?,
    }
    Ok(())
}

/// "Your policy would also block…": refused calls outside any attack, and the policy lines that let them through.
fn write_outside_policy(out: &mut dyn Write, r: &Report, lang: Lang) -> anyhow::Result<()> {
    let v = &r.verdict;
    if v.outside_total.calls == 0 {
        return Ok(());
    }
    match lang {
        Lang::En => writeln!(
            out,
            "\nYour policy would also block {} to destinations this site calls routinely (outside your policy, not fraud):",
            calls_money(r, v.outside_total, lang)
        )?,
        Lang::Ja => writeln!(
            out,
            "\nポリシー外の通話: 今のポリシーでは、このサイトが普段から発信している宛先への {} も遮断されます（不正ではありません）:",
            calls_money(r, v.outside_total, lang)
        )?,
    }
    for g in v.outside.iter().take(20) {
        let (from, to) = (local(r, g.first_at, lang), local(r, g.last_at, lang));
        let span = match lang {
            Lang::En => format!("{from} … {to}"),
            Lang::Ja => format!("{from} 〜 {to}"),
        };
        writeln!(
            out,
            "  {} → {}: {}",
            account_of(r, g.account, lang),
            destination(g.dest, lang),
            paren(
                &match lang {
                    Lang::En => format!("{}, {span}", calls_money(r, g.refused, lang)),
                    Lang::Ja => format!("{}、{span}", calls_money(r, g.refused, lang)),
                },
                g.refusal.rule_name(),
                lang
            )
        )?;
    }
    if v.outside.len() > 20 {
        match lang {
            Lang::En => writeln!(
                out,
                "  … and {} more (see --format json)",
                v.outside.len() - 20
            )?,
            Lang::Ja => writeln!(
                out,
                "  … ほか{}件（--format json を参照）",
                v.outside.len() - 20
            )?,
        }
    }
    if v.suggestions.is_empty() {
        return Ok(());
    }
    match lang {
        Lang::En => writeln!(
            out,
            "To let them through, set these keys in your policy file (they replace the keys of the same name):"
        )?,
        Lang::Ja => writeln!(
            out,
            "これらの通話を通すには、ポリシーファイルに次の設定を書いてください（同じ名前の設定を置き換えます）:"
        )?,
    }
    for s in &v.suggestions {
        for line in s.toml().lines() {
            writeln!(out, "  {line}")?;
        }
    }
    Ok(())
}

/// Whether an alert belongs with the fraud findings: fraud-kind rules, and policy refusals of attacked accounts
/// (the rest is summed up in the policy section).
fn alert_is_shown(r: &Report, g: &AlertGroup) -> bool {
    g.first.rule.kind() == FindingKind::Fraud
        || g.first.rule == RuleId::KillSwitch
        || g.account
            .is_some_and(|i| r.verdict.accounts.iter().any(|(a, _)| *a == i))
}

fn write_alerts(out: &mut dyn Write, r: &Report, lang: Lang) -> anyhow::Result<()> {
    let alerts: Vec<&AlertGroup> = r
        .sorted_alerts()
        .into_iter()
        .filter(|g| alert_is_shown(r, g))
        .collect();
    if alerts.is_empty() {
        return Ok(());
    }
    match lang {
        Lang::En => writeln!(out, "\nAlerts ({}, most serious first):", alerts.len())?,
        Lang::Ja => writeln!(out, "\nアラート（{}種類、重大なものから）:", alerts.len())?,
    }
    for g in alerts.iter().take(30) {
        let d = &g.first;
        let level = match (d.level, d.shadow, lang) {
            (Level::Critical, false, Lang::En) => "CRITICAL",
            (Level::Critical, true, Lang::En) => "critical (report-only)",
            (Level::Warning, _, Lang::En) => "warning",
            (Level::Critical, false, Lang::Ja) => "重大",
            (Level::Critical, true, Lang::Ja) => "重大（記録のみ）",
            (Level::Warning, _, Lang::Ja) => "警告",
        };
        write!(
            out,
            "  {}  {level}  {}: {}",
            local(r, d.at, lang),
            d.rule,
            sentence(d, lang)
        )?;
        if g.count > 1 {
            match lang {
                Lang::En => write!(
                    out,
                    " [{} times until {}]",
                    n(g.count),
                    local(r, g.last_at, lang)
                )?,
                Lang::Ja => write!(
                    out,
                    "［{}回、{} まで］",
                    n(g.count),
                    local(r, g.last_at, lang)
                )?,
            }
        }
        writeln!(out)?;
    }
    if alerts.len() > 30 {
        match lang {
            Lang::En => writeln!(
                out,
                "  … and {} more (see --format json or --html)",
                alerts.len() - 30
            )?,
            Lang::Ja => writeln!(
                out,
                "  … ほか{}種類（--format json または --html を参照）",
                alerts.len() - 30
            )?,
        }
    }
    Ok(())
}

/// Lines skipped, records replayed late, where the settings came from.
fn write_input_notes(out: &mut dyn Write, r: &Report, lang: Lang) -> anyhow::Result<()> {
    let errors: u64 = r.files.iter().map(|f| f.errors).sum();
    if errors > 0 || r.late_records > 0 {
        writeln!(out)?;
    }
    if errors > 0 {
        match lang {
            Lang::En => writeln!(
                out,
                "Lines skipped: {errors} (the rest was analysed). First ones:"
            )?,
            Lang::Ja => writeln!(
                out,
                "読み飛ばした行: {errors}行（残りは分析しました）。最初のもの:"
            )?,
        }
        for f in &r.files {
            for e in &f.first_errors {
                writeln!(out, "  {e}")?;
            }
        }
    }
    if r.late_records > 0 {
        match lang {
            Lang::En => writeln!(
                out,
                "{} records started more than --reorder-window before records already replayed; they were replayed late.",
                r.late_records
            )?,
            Lang::Ja => writeln!(
                out,
                "{}件の記録は、すでに再生した記録より --reorder-window 以上前に始まっていたため、遅れて再生しました。",
                r.late_records
            )?,
        }
    }
    if let Some(note) = &r.settings_note {
        writeln!(out, "\n{note}")?;
    }
    Ok(())
}

fn write_backtest(out: &mut dyn Write, r: &Report, lang: Lang) -> anyhow::Result<()> {
    let v = &r.verdict;
    let blocked = Count {
        calls: r.blocked,
        millis: r.blocked_money,
    };
    match lang {
        Lang::En => {
            writeln!(
                out,
                "Calls blocked: {} of {}; money saved: {} of {} spent in all",
                n(r.blocked),
                n(r.all.calls),
                money(r, r.blocked_money, lang),
                money(r, r.all.millis, lang)
            )?;
            writeln!(
                out,
                "  as fraud or compromise: {}; only outside the policy: {}",
                calls_money(r, v.blocked, lang),
                calls_money(r, v.outside_total, lang)
            )?;
            writeln!(out, "Calls warned about (allowed): {}", n(r.warned))?;
        }
        Lang::Ja => {
            writeln!(
                out,
                "遮断した通話: {}（全{}件中）、節約できた金額: {}（全体 {}）",
                calls_money(r, blocked, lang),
                n(r.all.calls),
                money(r, r.blocked_money, lang),
                money(r, r.all.millis, lang)
            )?;
            writeln!(
                out,
                "  不正利用として: {}、ポリシー外のみ: {}",
                calls_money(r, v.blocked, lang),
                calls_money(r, v.outside_total, lang)
            )?;
            writeln!(out, "警告のみ（通過）: {}件", n(r.warned))?;
        }
    }
    if r.labelled {
        write_labelled(out, r, lang)?;
    } else {
        write_stop_speed(out, r, lang)?;
    }
    write_listed(out, r, lang)
}

/// Unlabelled CDRs: how many calls and how much money each account spent between its first alert and first block.
fn write_stop_speed(out: &mut dyn Write, r: &Report, lang: Lang) -> anyhow::Result<()> {
    match lang {
        Lang::En => writeln!(
            out,
            "\nHow fast each account was stopped (calls and money between its first alert and first block):"
        )?,
        Lang::Ja => writeln!(
            out,
            "\n各アカウントを止めるまで（最初のアラートから最初の遮断までの通話と金額）:"
        )?,
    }
    for x in r.hit_accounts().iter().take(20) {
        let who = account(&x.tenant, &x.account, lang);
        match lang {
            Lang::En => writeln!(
                out,
                "  {who}: {} before the first block; {} blocked",
                calls_money(r, x.before_block, lang),
                calls_money(r, x.blocked, lang)
            )?,
            Lang::Ja => writeln!(
                out,
                "  {who}: 最初の遮断まで {}、遮断 {}",
                calls_money(r, x.before_block, lang),
                calls_money(r, x.blocked, lang)
            )?,
        }
    }
    Ok(())
}

/// The legitimate (labelled) or legitimate-looking (domestic, plainly dialed) calls that were blocked.
fn write_listed(out: &mut dyn Write, r: &Report, lang: Lang) -> anyhow::Result<()> {
    match (r.labelled, lang) {
        (true, _) if r.listed.is_empty() => {}
        (true, Lang::En) => writeln!(out, "\nThe legitimate calls that were blocked:")?,
        (true, Lang::Ja) => writeln!(out, "\n遮断された正当な通話:")?,
        (false, Lang::En) => writeln!(
            out,
            "\nLegitimate-looking (domestic, plainly dialed) calls blocked: {}",
            r.listed_total
        )?,
        (false, Lang::Ja) => writeln!(
            out,
            "\n正当に見える通話（国内宛て、普通のダイヤル）の遮断: {}件",
            r.listed_total
        )?,
    }
    for c in r.listed.iter().take(20) {
        writeln!(
            out,
            "  {}  {} → {} ({})  {}: {}  [{}:{} {}]",
            local(r, c.at, lang),
            c.account,
            c.dialed,
            c.destination,
            c.rule,
            match lang {
                Lang::En => &c.reason,
                Lang::Ja => &c.reason_ja,
            },
            r.files
                .get(usize::from(c.file))
                .map_or("?", |f| f.path.as_str()),
            c.line,
            c.call_id
        )?;
    }
    if r.listed_total > 20 {
        match lang {
            Lang::En => writeln!(out, "  … {} more in --format json", r.listed_total - 20)?,
            Lang::Ja => writeln!(out, "  … ほか{}件（--format json）", r.listed_total - 20)?,
        }
    }
    Ok(())
}
