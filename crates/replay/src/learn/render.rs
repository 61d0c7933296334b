//! A learned policy written out: the policy file (TOML that `serve`, `backtest --policy` and `check-config` read
//! as it is) with a comment on every number saying where it came from, a JSON form with the same figures, and
//! the summary for the terminal, in English or Japanese.

use std::fmt::Write as _;

use engine::{DestClass, Policy, Profile, Rule, RuleId};
use numbering::{Money, RiskTier, group_thousands};
use serde_json::{Value, json};

use super::fit::{Basis, Fitted, LayerFit, Learned, RuleFit, SiteHours};
use super::holdout::HoldoutReport;

/// Language of the comments and the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Ja,
}

impl Lang {
    fn pick<'a>(self, en: &'a str, ja: &'a str) -> &'a str {
        match self {
            Lang::En => en,
            Lang::Ja => ja,
        }
    }
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DAYS_JA: [&str; 7] = ["月", "火", "水", "木", "金", "土", "日"];

/// A TOML basic string (the key or value quoted and escaped).
fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn hhmm(m: u16) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

fn risk_name(r: Option<RiskTier>) -> &'static str {
    match r {
        Some(RiskTier::Low) => "low",
        Some(RiskTier::Medium) => "medium",
        Some(RiskTier::High) => "high",
        Some(RiskTier::Critical) => "critical",
        None => "never",
    }
}

fn list(items: impl IntoIterator<Item = String>) -> String {
    let v: Vec<String> = items.into_iter().map(|s| q(&s)).collect();
    format!("[{}]", v.join(", "))
}

/// "p99.9 of 41 days = 12 calls, ×1.5 headroom".
fn basis_words(b: &Basis, what: &str, unit: &str, lang: Lang, headroom: (f64, f64)) -> String {
    let pct = b.quantile * 100.0;
    match lang {
        Lang::En => format!(
            "{what}: p{pct} of {} = {} {unit}; warning ×{}, critical ×{}, floors {}/{}",
            b.samples,
            group_thousands(b.value),
            headroom.1,
            headroom.0,
            group_thousands(b.floor.0),
            group_thousands(b.floor.1)
        ),
        Lang::Ja => format!(
            "{what}: {} 件の p{pct} = {} {unit}、警告 ×{}、遮断 ×{}、下限 {}/{}",
            b.samples,
            group_thousands(b.value),
            headroom.1,
            headroom.0,
            group_thousands(b.floor.0),
            group_thousands(b.floor.1)
        ),
    }
}

/// What a rule's samples are, in words.
fn rule_words(rule: RuleId, lang: Lang) -> (&'static str, &'static str) {
    use RuleId as R;
    let en_ja = |en, ja| (lang.pick(en, ja), "");
    let (what, _) = match rule {
        R::VelocityAccountMinute => en_ja(
            "busiest minute of each account-day",
            "内線ごと・日ごとの最多の1分間",
        ),
        R::VelocityAccountHour => en_ja(
            "busiest hour of each account-day",
            "内線ごと・日ごとの最多の1時間",
        ),
        R::VelocityAccountDay => en_ja(
            "busiest 24 h of each account-day",
            "内線ごと・日ごとの最多の24時間",
        ),
        R::VelocityTenantMinute => en_ja("busiest minute of each day", "日ごとの最多の1分間"),
        R::VelocityTenantHour => en_ja("busiest hour of each day", "日ごとの最多の1時間"),
        R::VelocityTenantDay => en_ja("busiest 24 h of each day", "日ごとの最多の24時間"),
        R::MoneyAccountHour => en_ja(
            "costliest hour of each account-day",
            "内線ごと・日ごとの最高額の1時間",
        ),
        R::MoneyAccountDay => en_ja(
            "costliest 24 h of each account-day",
            "内線ごと・日ごとの最高額の24時間",
        ),
        R::MoneyAccountMonth => en_ja(
            "each account's month (partial months scaled up)",
            "内線ごとの月額（端数月は1か月に換算）",
        ),
        R::MoneyTenantHour => en_ja("costliest hour of each day", "日ごとの最高額の1時間"),
        R::MoneyTenantDay => en_ja("costliest 24 h of each day", "日ごとの最高額の24時間"),
        R::MoneyTenantMonth => en_ja(
            "each month (partial months scaled up)",
            "月額（端数月は1か月に換算）",
        ),
        _ => en_ja("", ""),
    };
    let unit = if rule.as_str().starts_with("money") {
        ""
    } else {
        lang.pick("calls", "件")
    };
    (what, unit)
}

fn write_rule_fit(
    out: &mut String,
    prefix: &str,
    f: &RuleFit,
    base: Option<&Rule>,
    l: &Learned,
    lang: Lang,
) {
    let (enabled, shadow) = base.map_or((true, false), |r| (r.enabled, r.shadow));
    let cur = l.base.site.currency.as_str();
    let (what, unit) = rule_words(f.rule, lang);
    let unit = if unit.is_empty() { cur } else { unit };
    let head = (l.options.headroom, l.options.warn_headroom);
    let _ = writeln!(out, "\n[{prefix}.rules.{}]", f.rule);
    let _ = writeln!(out, "# {}", basis_words(&f.basis, what, unit, lang, head));
    let _ = writeln!(out, "warning = {}", f.basis.warning);
    let _ = writeln!(out, "critical = {}", f.basis.critical);
    if let Some(off) = &f.off_hours {
        let what = lang.pick("outside business hours", "営業時間外");
        let _ = writeln!(out, "# {}", basis_words(off, what, unit, lang, head));
        let _ = writeln!(out, "off_hours_warning = {}", off.warning);
        let _ = writeln!(out, "off_hours_critical = {}", off.critical);
    }
    if !enabled {
        let _ = writeln!(
            out,
            "enabled = false  # {}",
            lang.pick("as in the base policy", "元のポリシーのまま")
        );
    }
    if shadow {
        let _ = writeln!(
            out,
            "shadow = true  # {}",
            lang.pick("as in the base policy", "元のポリシーのまま")
        );
    }
}

fn opt_limit(v: Option<i64>) -> String {
    v.map_or_else(|| "\"off\"".to_owned(), |n| n.to_string())
}

/// A rule the fitting does not touch, written as the base policy has it (only where it differs from the
/// built-in default, which an absent table gives).
fn write_kept_rule(out: &mut String, prefix: &str, name: &str, r: &Rule, lang: Lang) {
    let _ = writeln!(out, "\n[{prefix}.rules.{name}]");
    let _ = writeln!(
        out,
        "# {}",
        lang.pick(
            "kept from the base policy (not learned)",
            "元のポリシーから引き継ぎ（学習対象外）"
        )
    );
    let _ = writeln!(out, "enabled = {}", r.enabled);
    let _ = writeln!(out, "shadow = {}", r.shadow);
    let _ = writeln!(out, "warning = {}", opt_limit(r.warning));
    let _ = writeln!(out, "critical = {}", opt_limit(r.critical));
    let _ = writeln!(
        out,
        "off_hours_warning = {}",
        opt_limit(r.off_hours_warning)
    );
    let _ = writeln!(
        out,
        "off_hours_critical = {}",
        opt_limit(r.off_hours_critical)
    );
    let _ = writeln!(out, "escalate = {}", r.escalate);
    let _ = writeln!(out, "ban_secs = {}", r.ban_secs);
    if name == "pumping" {
        let _ = writeln!(out, "jitter_secs = {}", r.jitter_secs);
        let _ = writeln!(out, "min_secs = {}", r.min_secs);
    }
    if let Some(f) = r.floor {
        let _ = writeln!(out, "floor = {f}");
    }
}

fn fitted_words(f: &Fitted, lang: Lang) -> String {
    let risk = match (f.risk, f.country_risk) {
        (RiskTier::High | RiskTier::Critical, true) => lang.pick(
            "; its country's risk tier stays a warning",
            "。国単位のリスクは警告として残ります",
        ),
        _ => "",
    };
    match lang {
        Lang::En => format!(
            "{}: {} days, {} accounts, {} calls{risk}",
            f.name, f.days, f.accounts, f.calls
        ),
        Lang::Ja => format!(
            "{}: {} 日、{} 内線、{} 件{risk}",
            f.name, f.days, f.accounts, f.calls
        ),
    }
}

fn refused_words(f: &Fitted, l: &Learned, lang: Lang) -> String {
    let o = &l.options;
    match (f.attacked, lang) {
        (Some(rule), Lang::En) => format!(
            "{} {}: not learned: attack-looking calls went there ({rule}); allow it by hand only if it is a real destination",
            f.key, f.name
        ),
        (Some(rule), Lang::Ja) => format!(
            "{} {}: 学習しません: 攻撃とみられる発信あり（{rule}）。正規の発信先である場合のみ手動で許可してください",
            f.key, f.name
        ),
        (None, Lang::En) => format!(
            "{} {}: not routine ({} days, {} accounts; needs ≥ {} days and ≥ {} accounts, or ≥ {} days of one account)",
            f.key, f.name, f.days, f.accounts, o.routine_days, o.routine_accounts, o.routine_days
        ),
        (None, Lang::Ja) => format!(
            "{} {}: 定常的ではありません（{} 日、{} 内線。{} 日以上かつ {} 内線以上、または1内線で {} 日以上が必要）",
            f.key, f.name, f.days, f.accounts, o.routine_days, o.routine_accounts, o.routine_days
        ),
    }
}

/// The classes a layer allows: the base's own domestic classes, plus international when it allows a country,
/// plus premium or satellite where they are routine.
fn classes_for(base: &Profile, allowed: &[&Fitted]) -> Vec<DestClass> {
    let mut v: Vec<DestClass> = base
        .dest
        .allow_classes
        .classes()
        .into_iter()
        .filter(|c| {
            !matches!(
                c,
                DestClass::International | DestClass::Premium | DestClass::Satellite
            )
        })
        .collect();
    let has = |k: &str| allowed.iter().any(|f| f.key == k);
    if allowed.iter().any(|f| f.key.len() == 2) {
        v.push(DestClass::International);
    }
    if has("premium") {
        v.push(DestClass::Premium);
    }
    if has("satellite") {
        v.push(DestClass::Satellite);
    }
    v.sort();
    v
}

fn write_destinations(
    out: &mut String,
    prefix: &str,
    layer: &LayerFit,
    inherited: &[&Fitted],
    base: &Profile,
    l: &Learned,
    lang: Lang,
) {
    let mut allowed: Vec<&Fitted> = inherited.to_vec();
    allowed.extend(layer.allowed.iter());
    let _ = writeln!(out, "\n[{prefix}.destinations]");
    let o = &l.options;
    let rule = match (&layer.account, lang) {
        (None, Lang::En) => format!(
            "countries called routinely: on ≥ {} distinct days by ≥ {} accounts, never where attack-looking calls went",
            o.routine_days, o.routine_accounts
        ),
        (None, Lang::Ja) => format!(
            "定常的な発信先の国: {} 日以上・{} 内線以上から発信があり、攻撃とみられる発信がないもの",
            o.routine_days, o.routine_accounts
        ),
        (Some(_), Lang::En) => format!(
            "this account's own routine destinations (≥ {} distinct days), after its tenant's (a layer's list replaces the one above)",
            o.routine_days
        ),
        (Some(_), Lang::Ja) => format!(
            "この内線自身の定常的な発信先（{} 日以上）。テナントの一覧に追加（下位の一覧は上位を置き換えるため両方を記載）",
            o.routine_days
        ),
    };
    let _ = writeln!(out, "# {rule}");
    let countries: Vec<&&Fitted> = allowed.iter().filter(|f| f.key.len() == 2).collect();
    if countries.is_empty() {
        let _ = writeln!(out, "allow_countries = []");
    } else {
        let _ = writeln!(out, "allow_countries = [");
        for f in countries {
            let _ = writeln!(out, "  {},  # {}", q(&f.key), fitted_words(f, lang));
        }
        let _ = writeln!(out, "]");
    }
    for f in allowed.iter().filter(|f| f.key.len() != 2) {
        let _ = writeln!(
            out,
            "# {}: {}",
            lang.pick("class called routinely", "定常的に発信しているクラス"),
            fitted_words(f, lang)
        );
    }
    for f in &layer.refused {
        let _ = writeln!(out, "#   {}", refused_words(f, l, lang));
    }
    let classes = classes_for(base, &allowed);
    let _ = writeln!(
        out,
        "# {}",
        lang.pick(
            "the base policy's domestic classes, and the classes called routinely",
            "元のポリシーの国内クラスと、定常的に発信しているクラス"
        )
    );
    let _ = writeln!(
        out,
        "allow_classes = {}",
        list(classes.iter().map(|c| c.name().to_owned()))
    );
    match layer.off_hours_international {
        Some(("allow", days)) => {
            let _ = writeln!(
                out,
                "off_hours_international = \"allow\"  # {}",
                match lang {
                    Lang::En => format!("called abroad outside business hours on {days} days"),
                    Lang::Ja => format!("営業時間外の国際発信が {days} 日"),
                }
            );
        }
        Some((action, _)) => {
            // Never looser than the base policy's own setting.
            let _ = writeln!(
                out,
                "off_hours_international = {}  # {}",
                q(action),
                match lang {
                    Lang::En => format!(
                        "no account called abroad outside business hours on ≥ {} days",
                        o.routine_days
                    ),
                    Lang::Ja => format!(
                        "営業時間外の国際発信が {} 日以上ある内線はありません",
                        o.routine_days
                    ),
                }
            );
        }
        None => {}
    }
    if layer.account.is_none() {
        write_safety(out, base, lang);
    }
}

/// The base policy's safety settings of destinations, written out so that the file says they stay.
fn write_safety(out: &mut String, base: &Profile, lang: Lang) {
    let d = &base.dest;
    let _ = writeln!(
        out,
        "# {}",
        lang.pick(
            "kept from the base policy: risk tiers (number-range IRSF entries always block), deny lists, watched classes",
            "元のポリシーから引き継ぎ: リスク段階（番号帯の IRSF 登録は常に遮断）、拒否リスト、監視クラス"
        )
    );
    let _ = writeln!(out, "block_risk_at = {}", q(risk_name(d.block_risk_at)));
    let _ = writeln!(out, "warn_risk_at = {}", q(risk_name(d.warn_risk_at)));
    if !d.deny_countries.is_empty() {
        let _ = writeln!(out, "deny_countries = {}", list(d.deny_countries.clone()));
    }
    if !d.deny_prefixes.is_empty() {
        let _ = writeln!(
            out,
            "deny_prefixes = {}",
            list(d.deny_prefixes.iter().map(|p| format!("+{p}")))
        );
    }
    if !d.risk_exempt_countries.is_empty() {
        let _ = writeln!(
            out,
            "risk_exempt_countries = {}",
            list(d.risk_exempt_countries.clone())
        );
    }
    if !d.allow_patterns.is_empty() {
        let _ = writeln!(out, "allow_patterns = {}", list(d.allow_patterns.clone()));
    }
    let _ = writeln!(
        out,
        "watch_classes = {}",
        list(
            d.watch_classes
                .classes()
                .iter()
                .map(|c| c.name().to_owned())
        )
    );
    if d.shadow {
        let _ = writeln!(out, "shadow = true");
    }
}

fn write_site(out: &mut String, l: &Learned, lang: Lang) {
    let s = &l.base.site;
    let cal = &s.calendar;
    let _ = writeln!(out, "[site]");
    let _ = writeln!(out, "timezone = {}", q(cal.tz.name()));
    let holidays = if matches!(cal.holidays, engine::Holidays::Japan) {
        "jp"
    } else {
        "none"
    };
    let _ = writeln!(out, "holidays = {}", q(holidays));
    if !cal.extra_closed.is_empty() {
        let _ = writeln!(
            out,
            "closed_days = {}",
            list(cal.extra_closed.iter().map(|d| d.to_string()))
        );
    }
    match &l.hours {
        Some(h) => write_hours(out, h, l, lang),
        None => {
            let _ = writeln!(
                out,
                "# {}",
                lang.pick(
                    "no calls to learn hours from: the base policy's hours",
                    "営業時間を学習できる発信がありません: 元のポリシーのまま"
                )
            );
            let _ = writeln!(
                out,
                "business_hours = \"{}-{}\"",
                hhmm(cal.open_minute),
                hhmm(cal.close_minute)
            );
        }
    }
    let _ = writeln!(out, "currency = {}", q(s.currency.as_str()));
    let _ = writeln!(out, "spend_floor = {}", s.spend_floor);
    let r = &s.fallback_rates;
    if *r != engine::policy::FallbackRates::default() {
        let _ = writeln!(
            out,
            "fallback_rates = {{ domestic = {}, mobile = {}, international = {}, premium = {}, satellite = {}, unknown = {} }}",
            r.domestic, r.mobile, r.international, r.premium, r.satellite, r.unknown
        );
    }
}

fn write_hours(out: &mut String, h: &SiteHours, l: &Learned, lang: Lang) {
    let m = l.options.hours_margin_min;
    let words = match lang {
        Lang::En => format!(
            "business hours: on business days calls start from {:02}:00 to {:02}:59 (hours with ≥ a tenth of the busiest hour's {} calls), ±{m} min margin",
            h.first_hour, h.last_hour, h.busiest_hour_calls
        ),
        Lang::Ja => format!(
            "営業時間: 営業日の発信は {:02}:00〜{:02}:59（最多の1時間 {} 件の1割以上ある時間帯）、前後 {m} 分の余裕",
            h.first_hour, h.last_hour, h.busiest_hour_calls
        ),
    };
    let _ = writeln!(out, "# {words}");
    let _ = writeln!(
        out,
        "business_hours = \"{}-{}\"",
        hhmm(h.open_minute),
        hhmm(h.close_minute)
    );
    let per: Vec<String> = h
        .weekdays
        .iter()
        .enumerate()
        .map(|(i, (dates, active, calls))| match lang {
            Lang::En => format!(
                "{} {active}/{dates} dates, {calls} calls",
                DAYS.get(i).unwrap_or(&"")
            ),
            Lang::Ja => format!(
                "{} {active}/{dates} 日、{calls} 件",
                DAYS_JA.get(i).unwrap_or(&"")
            ),
        })
        .collect();
    let _ = writeln!(
        out,
        "# {}: {}",
        lang.pick(
            "business days: calls on ≥ half of a weekday's dates and ≥ a fifth of the busiest weekday's calls per date",
            "営業日: その曜日の半数以上の日に発信があり、1日あたり最多曜日の5分の1以上"
        ),
        per.join("; ")
    );
    let days: Vec<String> = DAYS
        .iter()
        .zip(h.days)
        .filter(|(_, open)| *open)
        .map(|(d, _)| (*d).to_owned())
        .collect();
    let _ = writeln!(out, "business_days = {}", list(days));
}

fn write_limits(out: &mut String, p: &Policy) {
    if p.limits != engine::policy::Limits::default() {
        let x = &p.limits;
        let _ = writeln!(
            out,
            "\n[limits]\nmax_accounts = {}\nmax_tenants = {}\nmax_sources = {}\nmax_numbers = {}\nmax_ranges = {}\nmax_countries = {}\nmax_calls_in_progress = {}\naccount_idle_days = {}\nidle_hours = {}\nmax_call_hours = {}",
            x.max_accounts,
            x.max_tenants,
            x.max_sources,
            x.max_numbers,
            x.max_ranges,
            x.max_countries,
            x.max_calls_in_progress,
            x.account_idle_days,
            x.idle_hours,
            x.max_call_hours
        );
    }
    if p.sources != engine::Sources::default() {
        let _ = writeln!(
            out,
            "\n[sources]\nipv6_prefix = {}\nmax_bans = {}",
            p.sources.ipv6_prefix, p.sources.max_bans
        );
    }
}

/// "1 call", "10,886 calls".
fn calls(n: usize) -> String {
    let g = group_thousands(i64::try_from(n).unwrap_or(i64::MAX));
    if n == 1 {
        format!("{g} call")
    } else {
        format!("{g} calls")
    }
}

fn header(out: &mut String, l: &Learned, lang: Lang) {
    let (a, b) = l
        .span
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .unwrap_or_default();
    let excluded: usize = l.excluded.iter().map(|(_, d, b)| d + b).sum();
    match lang {
        Lang::En => {
            let _ = writeln!(
                out,
                "# Policy learned by `tollguard learn` from {}, {a} to {b}: {} used, {} excluded as attack-looking.",
                calls(l.calls),
                group_thousands(l.used as i64),
                group_thousands(excluded as i64)
            );
            let _ = writeln!(
                out,
                "# Every number says where it comes from. Emergency numbers are never blocked by any rule; risk tiers,\n# deny lists, obfuscation, pumping and authentication rules are kept from the base policy."
            );
        }
        Lang::Ja => {
            let _ = writeln!(
                out,
                "# `tollguard learn` が {a}〜{b} の {} 件の発信から学習したポリシー: 使用 {} 件、攻撃とみられ除外 {} 件。",
                group_thousands(l.calls as i64),
                group_thousands(l.used as i64),
                group_thousands(excluded as i64)
            );
            let _ = writeln!(
                out,
                "# 各数値の根拠をコメントに記載。緊急通報番号はどのルールでも遮断されません。リスク段階・拒否リスト・\n# 難読化・パンピング・認証のルールは元のポリシーから引き継ぎます。"
            );
        }
    }
    for (rule, direct, burst) in &l.excluded {
        let _ = match lang {
            Lang::En => writeln!(
                out,
                "#   excluded: {} flagged by {rule}, {} more of the same account within {} min",
                calls(*direct),
                group_thousands(*burst as i64),
                l.options.burst_secs / 60
            ),
            Lang::Ja => writeln!(
                out,
                "#   除外: {rule} が検出した {direct} 件、同じ内線の前後 {} 分以内の {burst} 件",
                l.options.burst_secs / 60
            ),
        };
    }
}

/// The learned policy as a policy file.
pub fn render_toml(l: &Learned, lang: Lang) -> String {
    let mut out = String::with_capacity(16 * 1024);
    header(&mut out, l, lang);
    out.push('\n');
    write_site(&mut out, l, lang);
    write_limits(&mut out, &l.base);
    let defaults = engine::Rules::default();
    let mut tenant_allowed: Vec<&Fitted> = Vec::new();
    for layer in &l.layers {
        let base = match &layer.account {
            None => l.base.profile(l.base.tenant_profile(&layer.tenant)),
            Some(a) => l.base.profile(l.base.account_profile(&layer.tenant, a)),
        };
        let prefix = match &layer.account {
            None => format!("tenants.{}", q(&layer.tenant)),
            Some(a) => format!("tenants.{}.accounts.{}", q(&layer.tenant), q(a)),
        };
        if layer.account.is_none() {
            tenant_allowed = layer.allowed.iter().collect();
            let who = if layer.tenant.is_empty() {
                lang.pick("the site (no tenant)", "サイト全体（テナントなし）")
                    .to_owned()
            } else {
                format!("{} {}", lang.pick("tenant", "テナント"), layer.tenant)
            };
            let _ = writeln!(out, "\n# ---- {who} ----");
        }
        write_destinations(
            &mut out,
            &prefix,
            layer,
            if layer.account.is_some() {
                &tenant_allowed
            } else {
                &[]
            },
            base,
            l,
            lang,
        );
        for f in &layer.rules {
            write_rule_fit(&mut out, &prefix, f, f.rule.settings(&base.rules), l, lang);
        }
        if layer.account.is_none() {
            for (name, rule) in kept_rules(base, &defaults, &layer.rules) {
                write_kept_rule(&mut out, &prefix, name, rule, lang);
            }
        }
    }
    out
}

/// The base profile's rules that are not fitted and differ from the built-in defaults.
fn kept_rules<'a>(
    base: &'a Profile,
    defaults: &'a engine::Rules,
    fitted: &[RuleFit],
) -> Vec<(&'static str, &'a Rule)> {
    RuleId::ALL
        .iter()
        .filter(|r| !fitted.iter().any(|f| f.rule == **r))
        .filter_map(|r| {
            let mine = r.settings(&base.rules)?;
            let default = r.settings(defaults)?;
            (mine != default).then_some((r.as_str(), mine))
        })
        .collect()
}

/// The learned figures as JSON (the policy text is added by the caller).
pub fn render_json(l: &Learned) -> Value {
    let basis = |b: &Basis| {
        json!({"samples": b.samples, "quantile": b.quantile, "value": b.value,
               "warning": b.warning, "critical": b.critical, "floor": [b.floor.0, b.floor.1]})
    };
    let fitted = |f: &Fitted| {
        json!({"key": f.key, "name": f.name, "days": f.days, "accounts": f.accounts, "calls": f.calls,
               "risk": risk_name(Some(f.risk)), "attacked_by": f.attacked.map(|r| r.as_str())})
    };
    json!({
        "calls": l.calls,
        "used": l.used,
        "span": l.span.map(|(a, b)| [a.to_string(), b.to_string()]),
        "excluded": l.excluded.iter().map(|(r, d, b)| json!({"rule": r.as_str(), "flagged": d, "burst": b})).collect::<Vec<_>>(),
        "excluded_labelled_fraud": l.excluded_labelled_fraud,
        "hours": l.hours.as_ref().map(|h| json!({
            "business_hours": format!("{}-{}", hhmm(h.open_minute), hhmm(h.close_minute)),
            "business_days": DAYS.iter().zip(h.days).filter(|(_, o)| *o).map(|(d, _)| *d).collect::<Vec<_>>(),
        })),
        "layers": l.layers.iter().map(|layer| json!({
            "tenant": layer.tenant,
            "account": layer.account,
            "allowed": layer.allowed.iter().map(fitted).collect::<Vec<_>>(),
            "not_learned": layer.refused.iter().map(fitted).collect::<Vec<_>>(),
            "off_hours_international": layer.off_hours_international.map(|(a, _)| a),
            "rules": layer.rules.iter().map(|f| json!({
                "rule": f.rule.as_str(), "basis": basis(&f.basis), "off_hours": f.off_hours.as_ref().map(basis),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

fn money(millis: i64, l: &Learned) -> String {
    Money {
        millis,
        currency: l.base.site.currency,
    }
    .to_string()
}

/// The terminal summary: what was learned and excluded, and the holdout's figures when there was one.
pub fn summary(l: &Learned, holdout: Option<(&HoldoutReport, &str)>, lang: Lang) -> String {
    let mut out = String::new();
    let excluded: usize = l.excluded.iter().map(|(_, d, b)| d + b).sum();
    let (a, b) = l
        .span
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .unwrap_or_default();
    let _ = match lang {
        Lang::En => writeln!(
            out,
            "learned from {} ({a} to {b}): {} used, {} excluded as attack-looking",
            calls(l.calls),
            group_thousands(l.used as i64),
            group_thousands(excluded as i64)
        ),
        Lang::Ja => writeln!(
            out,
            "{a}〜{b} の {} 件から学習: 使用 {} 件、攻撃とみられ除外 {} 件",
            group_thousands(l.calls as i64),
            group_thousands(l.used as i64),
            group_thousands(excluded as i64)
        ),
    };
    for (rule, d, bu) in &l.excluded {
        let _ = match lang {
            Lang::En => writeln!(
                out,
                "  excluded: {} flagged by {rule} (+{} in the burst around them)",
                calls(*d),
                group_thousands(*bu as i64)
            ),
            Lang::Ja => writeln!(
                out,
                "  除外: {rule} が検出 {d} 件（前後の集中発信 {bu} 件）"
            ),
        };
    }
    if l.excluded_labelled_fraud > 0 {
        let _ = match lang {
            Lang::En => writeln!(
                out,
                "  of the excluded calls, {} were labelled fraud in the records",
                group_thousands(l.excluded_labelled_fraud as i64)
            ),
            Lang::Ja => writeln!(
                out,
                "  除外したうち記録上 fraud ラベルのもの {} 件",
                group_thousands(l.excluded_labelled_fraud as i64)
            ),
        };
    }
    if let Some(h) = &l.hours {
        let days: Vec<&str> = DAYS
            .iter()
            .zip(h.days)
            .filter(|(_, o)| *o)
            .map(|(d, _)| *d)
            .collect();
        let _ = writeln!(
            out,
            "  {} {}-{} {}",
            lang.pick("business hours", "営業時間"),
            hhmm(h.open_minute),
            hhmm(h.close_minute),
            days.join(",")
        );
    }
    for layer in &l.layers {
        let who = match &layer.account {
            None if layer.tenant.is_empty() => lang.pick("site", "サイト").to_owned(),
            None => format!("{} {}", lang.pick("tenant", "テナント"), layer.tenant),
            Some(a) => format!("  {} {a}", lang.pick("ext", "内線")),
        };
        let allowed: Vec<&str> = layer.allowed.iter().map(|f| f.key.as_str()).collect();
        let refused: Vec<String> = layer
            .refused
            .iter()
            .map(|f| match f.attacked {
                Some(r) => format!("{} ({r})", f.key),
                None => f.key.clone(),
            })
            .collect();
        let _ = writeln!(
            out,
            "  {who}: {} [{}]; {} [{}]{}",
            lang.pick("allowed", "許可"),
            allowed.join(", "),
            lang.pick("not learned", "学習せず"),
            refused.join(", "),
            layer
                .off_hours_international
                .map(|(a, _)| format!("; off_hours_international = {a}"))
                .unwrap_or_default()
        );
    }
    if let Some((h, span)) = holdout {
        holdout_summary(&mut out, h, span, l, lang);
    }
    out
}

fn holdout_summary(out: &mut String, h: &HoldoutReport, span: &str, l: &Learned, lang: Lang) {
    let legit_words = if h.labelled {
        lang.pick("legitimate (labelled legit)", "正規（legit ラベル）")
    } else {
        lang.pick("not flagged as fraud", "不正と判定されていない")
    };
    let _ = match lang {
        Lang::En => writeln!(
            out,
            "holdout {span}: {} calls; the learned policy would block {} ({}); {legit_words} calls blocked: {} of {}",
            group_thousands(h.calls as i64),
            group_thousands(h.blocked as i64),
            money(h.blocked_money_millis, l),
            h.legit_blocked,
            group_thousands(h.legit as i64)
        ),
        Lang::Ja => writeln!(
            out,
            "検証期間 {span}: {} 件。学習したポリシーで遮断 {} 件（{}）。{legit_words}発信の遮断: {} / {} 件",
            group_thousands(h.calls as i64),
            group_thousands(h.blocked as i64),
            money(h.blocked_money_millis, l),
            h.legit_blocked,
            group_thousands(h.legit as i64)
        ),
    };
    for (at, account, dialed, reason) in &h.legit_blocked_examples {
        let when = chrono::DateTime::from_timestamp_millis(*at)
            .map(|t| {
                t.with_timezone(&l.base.site.calendar.tz)
                    .format("%Y-%m-%d %H:%M")
                    .to_string()
            })
            .unwrap_or_default();
        let _ = writeln!(out, "    {when} {account} → {dialed}: {reason}");
    }
    for a in &h.attacks {
        let _ = match lang {
            Lang::En => writeln!(
                out,
                "  attack {}: {} calls, {} blocked; {} passed before the first block ({}), {} passed",
                a.name,
                group_thousands(a.calls as i64),
                group_thousands(a.blocked as i64),
                a.passed_before_first_block,
                a.first_rule.as_deref().unwrap_or("never blocked"),
                money(a.money_passed_millis, l)
            ),
            Lang::Ja => writeln!(
                out,
                "  攻撃 {}: {} 件中 {} 件遮断。最初の遮断（{}）までに通過 {} 件、通過した金額 {}",
                a.name,
                group_thousands(a.calls as i64),
                group_thousands(a.blocked as i64),
                a.first_rule.as_deref().unwrap_or("遮断なし"),
                a.passed_before_first_block,
                money(a.money_passed_millis, l)
            ),
        };
    }
}
