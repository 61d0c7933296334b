//! The words of an alert, in English and in Japanese: a one-line headline (e-mail subject, chat title) and a
//! body with the rule, the key, the numbers against the limit, the calls, the money at stake and what was
//! done about it. The English body starts with the engine's own sentence; the Japanese one is written from
//! the decision's fields alone (its subject, the call's account and number, the destination's country, the
//! pumped calls' length), then keeps the English sentence as the original so nothing is lost in translation.
//! `tollguard demo` reuses these.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono_tz::Tz;
use engine::{
    Action, Amount, BarScope, ClassSet, Decision, DestClass, FindingKind, Level, RuleId, Subject,
    Unit,
};
use numbering::group_thousands;

use super::Lang;

/// The time zone a language's readers expect when the recipient names none.
pub(crate) fn default_tz(lang: Lang) -> Tz {
    match lang {
        Lang::En => Tz::UTC,
        Lang::Ja => Tz::Asia__Tokyo,
    }
}

/// What kind of finding the alert is, first thing in its headline: an owner reads "possible fraud" and
/// "outside your policy" differently (the second is the site's own rule refusing a call, nothing more).
pub fn kind_words(kind: FindingKind, lang: Lang) -> &'static str {
    match (kind, lang) {
        (FindingKind::Fraud, Lang::En) => "possible fraud",
        (FindingKind::Policy, Lang::En) => "outside your policy",
        (FindingKind::Fraud, Lang::Ja) => "不正利用の疑い",
        (FindingKind::Policy, Lang::Ja) => "ポリシー外",
    }
}

/// The engine's sentence in the reader's language: English as the engine wrote it, Japanese written from the
/// decision's fields (never a translation of the English).
pub fn sentence(d: &Decision, lang: Lang) -> String {
    match lang {
        Lang::En => d.reason.clone(),
        Lang::Ja => situation_ja(d),
    }
}

/// A country's name in the reader's language (a country without a Japanese name keeps its English one).
pub fn country_name(c: &numbering::Country, lang: Lang) -> &'static str {
    match lang {
        Lang::En => c.name,
        Lang::Ja => COUNTRIES_JA
            .iter()
            .find(|(code, _)| *code == c.iso2)
            .map_or(c.name, |(_, ja)| ja),
    }
}

/// "[CRITICAL] possible fraud — acme: traffic pumping (ext 205) — call blocked, 525 JPY at stake".
pub fn headline(d: &Decision, tenant: &str, lang: Lang) -> String {
    let who = Who::of(d);
    let label = rule_label(d.rule, lang);
    let done = action_short(d, lang);
    let stake = d.at_stake.as_ref().map(|a| format_money(a, lang));
    match lang {
        Lang::En => {
            let mut s = format!(
                "[{}] {} — ",
                level_word(d.level, lang),
                kind_words(d.rule.kind(), lang)
            );
            if !tenant.is_empty() {
                let _ = write!(s, "{tenant}: ");
            }
            let _ = write!(s, "{label} ({})", who.en());
            let mut tail = Vec::new();
            if let Some(done) = done {
                tail.push(done);
            }
            if let Some(m) = stake {
                tail.push(format!("{m} at stake"));
            }
            if !tail.is_empty() {
                let _ = write!(s, " — {}", tail.join(", "));
            }
            s
        }
        Lang::Ja => {
            let mut s = format!(
                "【{}・{}】",
                level_word(d.level, lang),
                kind_words(d.rule.kind(), lang)
            );
            if !tenant.is_empty() {
                let _ = write!(s, "{tenant}: ");
            }
            let _ = write!(s, "{} {label}", who.ja());
            let mut tail = Vec::new();
            if let Some(done) = done {
                tail.push(done);
            }
            if let Some(m) = stake {
                tail.push(format!("損害見込み {m}"));
            }
            if !tail.is_empty() {
                let _ = write!(s, " — {}", tail.join("、"));
            }
            s
        }
    }
}

/// The full message, times in the language's usual zone (UTC for English, Asia/Tokyo for Japanese).
pub fn body(d: &Decision, tenant: &str, lang: Lang) -> String {
    body_in(d, tenant, lang, default_tz(lang))
}

/// The full message with times in `tz`.
pub fn body_in(d: &Decision, tenant: &str, lang: Lang, tz: Tz) -> String {
    let mut s = String::new();
    let calls = calls_words(&d.calls, lang);
    let when = local_time(d.at, tz);
    match lang {
        Lang::En => {
            let _ = writeln!(s, "{}.", d.reason.trim_end_matches('.'));
            let _ = writeln!(s);
            let _ = writeln!(
                s,
                "Rule: {} ({}, {})",
                d.rule,
                rule_label(d.rule, lang),
                level_word(d.level, lang).to_lowercase()
            );
            let _ = writeln!(s, "Key: {}", d.key());
            if !tenant.is_empty() {
                let _ = writeln!(s, "Tenant: {tenant}");
            }
            if let Some(m) = measured_words(d, lang) {
                let _ = writeln!(s, "Measured: {m}");
            }
            if let Some(c) = calls {
                let _ = writeln!(s, "Calls: {c}");
            }
            if let Some(a) = &d.at_stake {
                let _ = writeln!(s, "Money at stake: {}", format_money(a, lang));
            }
            let _ = writeln!(s, "Action: {}", action_long(d, lang, tz));
            let _ = write!(s, "When: {when}");
        }
        Lang::Ja => {
            let _ = writeln!(s, "{}", situation_ja(d));
            let _ = writeln!(s, "{}", action_long(d, lang, tz));
            if let Some(a) = &d.at_stake {
                let _ = writeln!(s, "損害見込み {}", format_money(a, lang));
            }
            let _ = writeln!(s);
            let _ = writeln!(
                s,
                "ルール: {}（{}、{}）",
                d.rule,
                rule_label(d.rule, lang),
                level_word(d.level, lang)
            );
            let who = Who::of(d).ja();
            let key = d.key();
            if who == key {
                let _ = writeln!(s, "対象: {who}");
            } else {
                let _ = writeln!(s, "対象: {who}（{key}）");
            }
            if !tenant.is_empty() {
                let _ = writeln!(s, "テナント: {tenant}");
            }
            if let Some(m) = measured_words(d, lang) {
                let _ = writeln!(s, "測定値: {m}");
            }
            if let Some(c) = calls {
                let _ = writeln!(s, "該当通話: {c}");
            }
            let _ = writeln!(s, "日時: {when}");
            let _ = write!(s, "原文: {}", d.reason);
        }
    }
    s
}

/// Alerts folded into one message at the end of a storm-collapse window.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Burst {
    pub tenant: String,
    /// How many alerts this message stands for.
    pub count: u64,
    /// Alerts per rule, most frequent first.
    pub by_rule: Vec<(String, u64)>,
    /// Alerts per key ("account acme/205"), most frequent first, at most ten.
    pub by_key: Vec<(String, u64)>,
    /// Sum of the money at stake, one amount per currency.
    pub at_stake: Vec<Amount>,
    pub level: Option<Level>,
    pub window_secs: u64,
    /// The last alert folded in, for its sentence.
    pub last: Option<Decision>,
    /// When the tenant's storm began (its first alert, in the recipient's time zone) and how many alerts it
    /// has made so far, those sent alone included: the operator reads how long an attack has gone on from
    /// any one collapsed message.
    pub storm_since: Option<String>,
    pub storm_total: u64,
}

impl Burst {
    pub(crate) fn new(tenant: &str, window_secs: u64) -> Burst {
        Burst {
            tenant: tenant.to_owned(),
            window_secs,
            ..Burst::default()
        }
    }

    pub(crate) fn add(&mut self, d: &Decision) {
        self.count += 1;
        bump(&mut self.by_rule, d.rule.as_str());
        bump(&mut self.by_key, &d.key());
        if let Some(a) = &d.at_stake {
            match self.at_stake.iter_mut().find(|x| x.currency == a.currency) {
                Some(x) => x.millis = x.millis.saturating_add(a.millis),
                None => self.at_stake.push(*a),
            }
        }
        self.level = self.level.max(Some(d.level));
        self.last = Some(d.clone());
    }

    pub(crate) fn finish(&mut self) {
        self.by_rule
            .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        self.by_key
            .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        self.by_key.truncate(10);
    }

    /// "and 37 more alerts for acme: pumping ×30, velocity_account_minute ×7, at stake 52,500 JPY".
    pub fn summary(&self, lang: Lang) -> String {
        let rules: Vec<String> = self
            .by_rule
            .iter()
            .map(|(r, n)| format!("{r} ×{n}"))
            .collect();
        let money: Vec<String> = self
            .at_stake
            .iter()
            .map(|a| format_money(a, lang))
            .collect();
        match lang {
            Lang::En => {
                let whom = if self.tenant.is_empty() {
                    String::new()
                } else {
                    format!(" for {}", self.tenant)
                };
                let mut s = format!(
                    "and {} more alert{}{whom}: {}",
                    self.count,
                    if self.count == 1 { "" } else { "s" },
                    rules.join(", ")
                );
                if !money.is_empty() {
                    let _ = write!(s, ", at stake {}", money.join(" + "));
                }
                if let Some(since) = &self.storm_since {
                    let total = numbering::group_thousands(self.storm_total);
                    let _ = write!(s, "; storm going on since {since}, {total} alerts so far");
                }
                s
            }
            Lang::Ja => {
                let whom = if self.tenant.is_empty() {
                    String::new()
                } else {
                    format!("{}で", self.tenant)
                };
                let mut s = format!(
                    "{whom}さらに{}件のアラート: {}",
                    self.count,
                    rules.join("、")
                );
                if !money.is_empty() {
                    let _ = write!(s, "、損害見込み 合計{}", money.join(" + "));
                }
                if let Some(since) = &self.storm_since {
                    let total = numbering::group_thousands(self.storm_total);
                    let _ = write!(s, "（{since}から継続中、これまで{total}件）");
                }
                s
            }
        }
    }
}

fn bump(list: &mut Vec<(String, u64)>, name: &str) {
    match list.iter_mut().find(|(n, _)| n == name) {
        Some((_, c)) => *c += 1,
        None => list.push((name.to_owned(), 1)),
    }
}

/// "[CRITICAL] acme: 49 more alerts in 60 s, 25,725 JPY at stake".
pub fn burst_headline(b: &Burst, lang: Lang) -> String {
    let level = level_word(b.level.unwrap_or(Level::Warning), lang);
    let money: Vec<String> = b.at_stake.iter().map(|a| format_money(a, lang)).collect();
    match lang {
        Lang::En => {
            let mut s = format!("[{level}] ");
            if !b.tenant.is_empty() {
                let _ = write!(s, "{}: ", b.tenant);
            }
            let _ = write!(s, "{} more alerts in {} s", b.count, b.window_secs);
            if !money.is_empty() {
                let _ = write!(s, ", {} at stake", money.join(" + "));
            }
            s
        }
        Lang::Ja => {
            let mut s = format!("【{level}】");
            if !b.tenant.is_empty() {
                let _ = write!(s, "{}: ", b.tenant);
            }
            let _ = write!(s, "{}秒間にさらに{}件のアラート", b.window_secs, b.count);
            if !money.is_empty() {
                let _ = write!(s, "、損害見込み 合計{}", money.join(" + "));
            }
            s
        }
    }
}

/// The collapsed message: the summary line, the keys most alerted on, and the last alert's sentence.
pub fn burst_body(b: &Burst, lang: Lang) -> String {
    let mut s = b.summary(lang);
    s.push_str(".\n\n");
    let (keys, last) = match lang {
        Lang::En => ("Most alerted", "Last alert"),
        Lang::Ja => ("アラートの多い対象", "最後のアラート"),
    };
    if !b.by_key.is_empty() {
        let _ = writeln!(s, "{keys}:");
        for (k, n) in &b.by_key {
            let _ = writeln!(s, "  {k} ×{n}");
        }
    }
    if let Some(d) = &b.last {
        let sentence = match lang {
            Lang::En => d.reason.clone(),
            Lang::Ja => situation_ja(d),
        };
        let _ = write!(s, "{last}: {sentence}");
    }
    s.trim_end().to_owned()
}

/// "52,500 JPY" / "52,500円"; other currencies with two decimals ("12.50 USD").
pub fn format_money(a: &Amount, lang: Lang) -> String {
    let code = std::str::from_utf8(&a.currency.0).unwrap_or("???");
    let neg = a.millis < 0;
    let m = a.millis.unsigned_abs();
    let sign = if neg { "-" } else { "" };
    if code == "JPY" {
        let yen = (m + 500) / 1000;
        match lang {
            Lang::En => format!("{sign}{} JPY", group_thousands(yen)),
            Lang::Ja => format!("{sign}{}円", group_thousands(yen)),
        }
    } else {
        let cents = (m + 5) / 10;
        format!(
            "{sign}{}.{:02} {code}",
            group_thousands(cents / 100),
            cents % 100
        )
    }
}

fn level_word(l: Level, lang: Lang) -> &'static str {
    match (l, lang) {
        (Level::Warning, Lang::En) => "WARNING",
        (Level::Critical, Lang::En) => "CRITICAL",
        (Level::Warning, Lang::Ja) => "警告",
        (Level::Critical, Lang::Ja) => "重大",
    }
}

/// What the rule detects, in a few words.
pub(crate) fn rule_label(rule: RuleId, lang: Lang) -> String {
    use RuleId as R;
    let (en, ja) = match rule {
        R::Pumping => ("traffic pumping", "トラフィックパンピングの疑い"),
        R::PumpingTenant => (
            "traffic pumping spread over extensions",
            "複数の内線に分散したトラフィックパンピングの疑い",
        ),
        R::VelocityAccountMinute
        | R::VelocityAccountHour
        | R::VelocityAccountDay
        | R::VelocityTenantMinute
        | R::VelocityTenantHour
        | R::VelocityTenantDay => ("unusual call rate", "異常な発信頻度"),
        R::ConcurrentAccount | R::ConcurrentTenant => {
            ("too many calls at once", "同時通話数の超過")
        }
        R::FailedAccountHour => ("many unanswered calls", "未応答の発信の多発"),
        R::DeniedAccountHour => (
            "repeated calls to barred destinations",
            "禁止宛先への発信の繰り返し",
        ),
        R::RepeatNumberHour => (
            "same number called again and again",
            "同一番号への繰り返し発信",
        ),
        R::RangeWalkHour => ("number-range walk", "番号帯の総当たり"),
        R::MoneyAccountHour
        | R::MoneyAccountDay
        | R::MoneyAccountMonth
        | R::MoneyTenantHour
        | R::MoneyTenantDay
        | R::MoneyTenantMonth => ("spending limit", "通話料金の上限超過"),
        R::DestinationClass | R::DestinationCountry | R::DenyPrefix => {
            ("destination not allowed", "許可されていない宛先")
        }
        R::RiskTier => ("high-risk destination", "高リスクの宛先"),
        R::OffHoursInternational => (
            "international call outside business hours",
            "営業時間外の国際発信",
        ),
        R::Obfuscated => ("obfuscated dial string", "偽装されたダイヤル文字列"),
        R::PrefixProbe => ("prefix probing", "プレフィックスの探索"),
        R::CallerIdForeign => ("caller ID not the site's own", "自社以外の発信者番号"),
        R::ForwardedInternational => (
            "outside caller passed abroad through the PBX",
            "外部からの着信が転送で海外へ発信",
        ),
        R::NoveltyFirstInternational => ("first international call", "初めての国際発信"),
        R::NoveltyCountry => ("first call to a country", "初めての国への発信"),
        R::NoveltyRisk => ("first call to a risky destination", "初めての高リスク宛先"),
        R::NoveltyHours => ("call at an unusual hour", "普段と異なる時間帯の発信"),
        R::NoveltyHoursTenant => (
            "calls abroad at an hour the site never calls",
            "拠点が普段国際発信しない時間帯の発信",
        ),
        R::NoveltySpend => ("unusual spending", "普段と異なる通話料金"),
        R::AuthSourceMinute | R::AuthSourceHour => ("password guessing", "パスワードの総当たり"),
        R::AuthUsernamesSource => ("extension scanning", "内線番号のスキャン"),
        R::AuthAccountHour => (
            "password guessing on an account",
            "アカウントへのパスワード攻撃",
        ),
        R::AuthAccountSources => (
            "password guessing from many sources",
            "多数の送信元からのパスワード攻撃",
        ),
        R::AuthSuccessAfterFailures => ("login after many failures", "多数の失敗後のログイン成功"),
        R::AuthNewNetwork => (
            "registration from a new network",
            "新しいネットワークからの登録",
        ),
        R::AuthNewCountry => ("login from a new country", "新しい国からのログイン"),
        R::ScannerUserAgent => ("SIP scanner", "SIPスキャナー"),
        R::ScannerFingerprint => ("SIP scanner fingerprint", "SIPスキャナーの痕跡"),
        R::WeakPassword => (
            "login with a default or weak password",
            "初期値または弱いパスワードでのログイン",
        ),
        R::RequestRateSource => ("request flood", "リクエストの急増"),
        R::KillSwitch => ("kill switch", "キルスイッチ"),
        R::Ban => ("banned source", "遮断中の送信元"),
    };
    match lang {
        Lang::En => en.to_owned(),
        Lang::Ja => ja.to_owned(),
    }
}

/// Who or what the decision is about, from its subject; a call's destination judged by itself is about the
/// account that called it.
enum Who<'a> {
    Account(&'a str),
    Source(String),
    Tenant(&'a str),
    Site,
    Number(&'a str),
    Range(&'a str),
    KillSwitch(u64),
    Other(String),
}

impl<'a> Who<'a> {
    fn of(d: &'a Decision) -> Who<'a> {
        match &d.subject {
            Subject::Account { account, .. } => Who::Account(account),
            Subject::Source { .. } => Who::Source(source_words(d).unwrap_or_default()),
            Subject::Tenant { tenant } if tenant.is_empty() => Who::Site,
            Subject::Tenant { tenant } => Who::Tenant(tenant),
            Subject::All => Who::Site,
            Subject::Number { number } => Who::Number(number),
            Subject::Range { prefix } => Who::Range(prefix),
            Subject::KillSwitch { id } => Who::KillSwitch(*id),
            Subject::Destination { .. } => match d.account() {
                Some((_, a)) => Who::Account(a),
                None => Who::Other(d.key()),
            },
        }
    }

    fn en(&self) -> String {
        match self {
            Who::Account(a) => format!("ext {a}"),
            Who::Source(s) => format!("source {s}"),
            Who::Tenant(t) => format!("tenant {t}"),
            Who::Site => "the site".to_owned(),
            Who::Number(n) => format!("number {n}"),
            Who::Range(r) => format!("range +{r}xxx"),
            Who::KillSwitch(id) => format!("kill switch {id}"),
            Who::Other(k) => k.clone(),
        }
    }

    fn ja(&self) -> String {
        match self {
            Who::Account(a) => format!("内線{a}"),
            Who::Source(s) => format!("送信元 {s}"),
            Who::Tenant(t) => format!("テナント {t}"),
            Who::Site => "サイト全体".to_owned(),
            Who::Number(n) => format!("番号 {n}"),
            Who::Range(r) => format!("番号帯 +{r}xxx"),
            Who::KillSwitch(id) => format!("キルスイッチ {id}"),
            Who::Other(k) => k.clone(),
        }
    }
}

/// The source key of a decision about a source, in words: "203.0.113.9", "2001:db8:1:2::/64".
fn source_words(d: &Decision) -> Option<String> {
    match d.subject {
        Subject::Source { source, .. } => {
            let key = d.subject.to_string();
            Some(
                key.strip_prefix("source ")
                    .map_or_else(|| source.to_string(), str::to_owned),
            )
        }
        _ => None,
    }
}

/// The caller in Japanese: 内線205 (the subject's account, or the one that made the call behind a decision on
/// a number, a range or a tenant), else the subject's words.
fn caller_ja(d: &Decision) -> String {
    match d.account() {
        Some((_, a)) => format!("内線{a}"),
        None => Who::of(d).ja(),
    }
}

/// The number the decision's call dialed, as "+E.164" (None for a dial string numbering could not read).
fn number_of(d: &Decision) -> Option<&str> {
    let n = match (&d.call, &d.subject) {
        (Some(c), _) if c.number.is_some() => c.number.as_deref(),
        (_, Subject::Number { number } | Subject::Destination { number, .. }) => {
            Some(number.as_str())
        }
        _ => None,
    }?;
    n.starts_with('+').then_some(n)
}

/// The destination in Japanese: "シエラレオネ（+23276123456）", from the decision's country code and the
/// number its call dialed (a kill switch's decision names the barred call's, not the one that set the switch).
fn destination_ja(d: &Decision) -> Option<String> {
    let number = number_of(d);
    let country = d.country.as_deref().map(|iso| country_ja(iso, number));
    match (country, number) {
        (Some(c), Some(n)) => Some(format!("{c}（{n}）")),
        (Some(c), None) => Some(c),
        (None, Some(n)) => Some(n.to_owned()),
        (None, None) => None,
    }
}

/// A country's name in Japanese by its ISO code; one not listed keeps its English name (from numbering's
/// calling-code table, by the number), or its code.
fn country_ja(iso: &str, number: Option<&str>) -> String {
    if let Some((_, ja)) = COUNTRIES_JA.iter().find(|(code, _)| *code == iso) {
        return (*ja).to_owned();
    }
    number
        .and_then(|n| numbering::country_of(n.trim_start_matches('+')))
        .filter(|c| c.iso2 == iso)
        .map_or_else(|| iso.to_owned(), |c| c.name.to_owned())
}

/// Countries most seen in toll fraud (IRSF destinations, satellite and premium ranges) and Japan's usual
/// correspondents, by ISO 3166 code. A country not listed keeps its English name.
const COUNTRIES_JA: &[(&str, &str)] = &[
    ("SL", "シエラレオネ"),
    ("GW", "ギニアビサウ"),
    ("GN", "ギニア"),
    ("GM", "ガンビア"),
    ("LR", "リベリア"),
    ("SO", "ソマリア"),
    ("SN", "セネガル"),
    ("ML", "マリ"),
    ("NG", "ナイジェリア"),
    ("GH", "ガーナ"),
    ("TD", "チャド"),
    ("CG", "コンゴ共和国"),
    ("CD", "コンゴ民主共和国"),
    ("ZW", "ジンバブエ"),
    ("TN", "チュニジア"),
    ("EG", "エジプト"),
    ("MA", "モロッコ"),
    ("CU", "キューバ"),
    ("HT", "ハイチ"),
    ("JM", "ジャマイカ"),
    ("DO", "ドミニカ共和国"),
    ("GD", "グレナダ"),
    ("GY", "ガイアナ"),
    ("BO", "ボリビア"),
    ("LV", "ラトビア"),
    ("LT", "リトアニア"),
    ("EE", "エストニア"),
    ("BY", "ベラルーシ"),
    ("RS", "セルビア"),
    ("AL", "アルバニア"),
    ("BA", "ボスニア・ヘルツェゴビナ"),
    ("XK", "コソボ"),
    ("ME", "モンテネグロ"),
    ("MD", "モルドバ"),
    ("RU", "ロシア"),
    ("UA", "ウクライナ"),
    ("RO", "ルーマニア"),
    ("CK", "クック諸島"),
    ("NR", "ナウル"),
    ("TV", "ツバル"),
    ("TK", "トケラウ"),
    ("NU", "ニウエ"),
    ("PG", "パプアニューギニア"),
    ("SB", "ソロモン諸島"),
    ("VU", "バヌアツ"),
    ("MV", "モルディブ"),
    ("AF", "アフガニスタン"),
    ("PK", "パキスタン"),
    ("BD", "バングラデシュ"),
    ("LK", "スリランカ"),
    ("IR", "イラン"),
    ("IQ", "イラク"),
    ("PS", "パレスチナ"),
    ("LB", "レバノン"),
    ("JP", "日本"),
    ("US", "アメリカ"),
    ("CA", "カナダ"),
    ("GB", "イギリス"),
    ("DE", "ドイツ"),
    ("FR", "フランス"),
    ("IT", "イタリア"),
    ("ES", "スペイン"),
    ("CN", "中国"),
    ("HK", "香港"),
    ("TW", "台湾"),
    ("KR", "韓国"),
    ("PH", "フィリピン"),
    ("VN", "ベトナム"),
    ("TH", "タイ"),
    ("ID", "インドネシア"),
    ("MY", "マレーシア"),
    ("SG", "シンガポール"),
    ("IN", "インド"),
    ("AU", "オーストラリア"),
    ("BR", "ブラジル"),
    ("MX", "メキシコ"),
    ("PE", "ペルー"),
];

fn window_ja(secs: u32) -> String {
    match secs {
        0 => String::new(),
        s if s % 86_400 == 0 && s > 86_400 => format!("{}日間", s / 86_400),
        s if s % 3600 == 0 => format!("{}時間", s / 3600),
        s if s % 60 == 0 => format!("{}分間", s / 60),
        s => format!("{s}秒間"),
    }
}

fn window_en(secs: u32) -> String {
    match secs {
        0 => String::new(),
        s if s % 86_400 == 0 && s > 86_400 => format!("{} days", s / 86_400),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// The currency the money rules count in: the one of the money at stake, JPY when unknown.
fn currency_of(d: &Decision) -> String {
    d.at_stake
        .as_ref()
        .and_then(|a| std::str::from_utf8(&a.currency.0).ok().map(str::to_owned))
        .unwrap_or_else(|| "JPY".to_owned())
}

fn unit_words(d: &Decision, lang: Lang) -> String {
    let cur = currency_of(d);
    let (en, ja): (&str, &str) = match d.unit {
        Unit::Calls => ("call attempts", "回の発信"),
        Unit::ConcurrentCalls => ("calls at once", "件の同時通話"),
        Unit::FailedCalls => ("unanswered calls", "件の未応答"),
        Unit::DeniedCalls => ("calls to barred destinations", "件の禁止宛先への発信"),
        Unit::DistinctNumbers => ("different numbers", "種類の番号"),
        Unit::DistinctPrefixes => ("different prefixes", "種類のプレフィックス"),
        Unit::SimilarCalls => ("similar answered calls", "件の類似した通話"),
        Unit::Money => {
            return match (lang, cur.as_str()) {
                (Lang::Ja, "JPY") => "円".to_owned(),
                _ => format!(" {cur}"),
            };
        }
        Unit::Failures => ("failed logins", "回の認証失敗"),
        Unit::DistinctUsernames => ("different user names", "種類のユーザー名"),
        Unit::Requests => ("requests", "件のリクエスト"),
        Unit::Flag => ("", ""),
        Unit::Percent => ("% of the usual daily spend", "%（普段の1日の利用額比）"),
    };
    match lang {
        Lang::En => en.to_owned(),
        Lang::Ja => ja.to_owned(),
    }
}

/// "5 similar answered calls in 1 h (threshold 4)" / "1時間に5件の類似した通話（しきい値 4）".
fn measured_words(d: &Decision, lang: Lang) -> Option<String> {
    if d.unit == Unit::Flag {
        return None;
    }
    let u = unit_words(d, lang);
    let sep = if d.unit == Unit::Percent || d.unit == Unit::Money {
        ""
    } else {
        " "
    };
    // The limit repeats the unit only where it is not obvious from the measured value: money, percent.
    let th_unit = if sep.is_empty() {
        u.clone()
    } else {
        String::new()
    };
    Some(match lang {
        Lang::En => {
            let w = window_en(d.window_secs);
            let w = if w.is_empty() {
                String::new()
            } else {
                format!(" in {w}")
            };
            format!(
                "{}{sep}{u}{w} (threshold {}{th_unit})",
                d.measured, d.threshold
            )
        }
        Lang::Ja => {
            let w = window_ja(d.window_secs);
            let w = if w.is_empty() {
                String::new()
            } else {
                format!("{w}に")
            };
            format!("{w}{}{u}（しきい値 {}{th_unit}）", d.measured, d.threshold)
        }
    })
}

fn calls_words(calls: &engine::CallIds, lang: Lang) -> Option<String> {
    if calls.is_empty() {
        return None;
    }
    const SHOWN: usize = 5;
    let shown: Vec<&str> = calls.iter().take(SHOWN).collect();
    let mut s = shown.join(", ");
    let more = calls.len().saturating_sub(SHOWN);
    if more > 0 {
        match lang {
            Lang::En => {
                let _ = write!(s, " and {more} more");
            }
            Lang::Ja => {
                let _ = write!(s, " ほか{more}件");
            }
        }
    }
    Some(s)
}

pub(crate) fn local_time(at: i64, tz: Tz) -> String {
    chrono::DateTime::from_timestamp_millis(at)
        .map(|t| {
            t.with_timezone(&tz)
                .format("%Y-%m-%d %H:%M:%S %Z")
                .to_string()
        })
        .unwrap_or_else(|| at.to_string())
}

fn scope_ja(s: &BarScope) -> String {
    match s {
        BarScope::All => "全アカウント".to_owned(),
        BarScope::Tenant { tenant } => format!("テナント {tenant}"),
        BarScope::Account { tenant, account } if tenant.is_empty() => format!("内線{account}"),
        BarScope::Account { tenant, account } => format!("{tenant} の内線{account}"),
    }
}

fn classes_ja(c: ClassSet) -> String {
    if c == ClassSet::INTERNATIONAL {
        return "国際".to_owned();
    }
    let names: Vec<&str> = c
        .classes()
        .into_iter()
        .map(|c| match c {
            DestClass::Internal => "内線",
            DestClass::Domestic => "国内固定",
            DestClass::Mobile => "携帯",
            DestClass::TollFree => "フリーダイヤル",
            DestClass::SharedCost => "ナビダイヤル等",
            DestClass::Service => "サービス番号",
            DestClass::International => "国際",
            DestClass::Premium => "有料情報サービス",
            DestClass::Satellite => "衛星",
            DestClass::Unknown => "不明な番号",
        })
        .collect();
    names.join("・")
}

fn kill_switch_id(d: &Decision) -> Option<u64> {
    match d.subject {
        Subject::KillSwitch { id } => Some(id),
        _ => None,
    }
}

/// The `tollguard ctl` command that lifts the kill switch behind a decision. A bar names its scope and
/// classes; a call blocked by a switch does not, so the operator lists the switches first.
fn lift_command(d: &Decision) -> String {
    match &d.action {
        Action::Bar { scope, classes } => {
            let scope = match scope {
                BarScope::All => "all".to_owned(),
                BarScope::Tenant { tenant } => format!("tenant:{tenant}"),
                BarScope::Account { tenant, account } => format!("account:{tenant}/{account}"),
            };
            let names: Vec<&str> = classes.classes().into_iter().map(DestClass::name).collect();
            format!(
                "tollguard ctl kill-switch off --scope {scope} --class {} --why \"…\"",
                names.join(",")
            )
        }
        _ => "tollguard ctl kill-switch off --scope SCOPE".to_owned(),
    }
}

/// A few words for the headline: "call blocked", "source banned", "international calls barred".
fn action_short(d: &Decision, lang: Lang) -> Option<String> {
    if d.shadow {
        return Some(match lang {
            Lang::En => "shadow mode, nothing enforced".to_owned(),
            Lang::Ja => "シャドーモード（未実施）".to_owned(),
        });
    }
    let s = match (&d.action, lang) {
        (Action::Warn, _) => return None,
        (Action::Block { .. }, Lang::En) => "call blocked".to_owned(),
        (Action::Block { .. }, Lang::Ja) => "通話を遮断".to_owned(),
        (Action::Ban { .. }, Lang::En) => "source banned".to_owned(),
        (Action::Ban { .. }, Lang::Ja) => "送信元を遮断".to_owned(),
        (Action::Bar { classes, .. }, Lang::En) => format!("{classes} calls barred"),
        (Action::Bar { classes, .. }, Lang::Ja) => format!("{}発信を停止", classes_ja(*classes)),
        (Action::EndCalls { call_ids, .. }, Lang::En) => format!("{} calls ended", call_ids.len()),
        (Action::EndCalls { call_ids, .. }, Lang::Ja) => {
            format!("通話中の{}件を切断", call_ids.len())
        }
    };
    Some(s)
}

/// What a warning left alone, in the words of what it was about: a call that went through, a source that is
/// still answered (a scanner or a password guesser, banned only if it goes on), or an account's registrations.
fn warn_long(d: &Decision, lang: Lang) -> String {
    let source = source_words(d).filter(|_| d.call_id.is_none());
    match (d.call_id.is_some(), source, lang) {
        (true, _, Lang::En) => {
            "Nothing was blocked: the call went through. Check whether it is legitimate.".to_owned()
        }
        (true, _, Lang::Ja) => "通話は遮断していません。正当な利用か確認してください。".to_owned(),
        (false, Some(ip), Lang::En) => format!(
            "Nothing was blocked yet: {ip} is still answered, and tollguard bans it if it goes on. If it is not one of your phones or offices, ban it now: `tollguard ctl ban add {ip} --minutes 1440 --why \"…\"`."
        ),
        (false, Some(ip), Lang::Ja) => format!(
            "まだ遮断していません。{ip} からの要求には応答しており、続く場合は自動的に遮断します。自社の電話機や拠点でなければ、今すぐ遮断できます: `tollguard ctl ban add {ip} --minutes 1440 --why \"…\"`"
        ),
        (false, None, Lang::En) => {
            "Nothing was blocked. Check whether this was your own staff or equipment.".to_owned()
        }
        (false, None, Lang::Ja) => {
            "遮断はしていません。自社の職員や機器によるものか確認してください。".to_owned()
        }
    }
}

/// What was done, as a sentence, with how to undo it where an operator must.
fn action_long(d: &Decision, lang: Lang, tz: Tz) -> String {
    if d.shadow {
        return match lang {
            Lang::En => "Shadow mode: nothing was enforced; this is what the rule would have done."
                .to_owned(),
            Lang::Ja => "シャドーモードのため、遮断などは実施していません（検知のみ）。".to_owned(),
        };
    }
    match (&d.action, lang) {
        (Action::Warn, lang) => warn_long(d, lang),
        (Action::Block { sip_status }, Lang::En) => {
            if let Some(id) = kill_switch_id(d) {
                format!(
                    "The call was blocked (SIP {sip_status}) by kill switch {id}: `tollguard ctl kill-switch list` shows it, `{}` lifts it.",
                    lift_command(d)
                )
            } else {
                format!("The call was blocked (SIP {sip_status}).")
            }
        }
        (Action::Block { sip_status }, Lang::Ja) => {
            if let Some(id) = kill_switch_id(d) {
                format!(
                    "キルスイッチ {id} によりこの通話を遮断しました（SIP {sip_status}）。確認: `tollguard ctl kill-switch list`、解除: `{}`",
                    lift_command(d)
                )
            } else {
                format!("この通話を遮断しました（SIP {sip_status}）。")
            }
        }
        (Action::Ban { source, until }, Lang::En) => format!(
            "{source} is banned until {}: every request from it is refused.",
            local_time(*until, tz)
        ),
        (Action::Ban { source, until }, Lang::Ja) => format!(
            "送信元 {source} を {} まで遮断しました（すべての要求を拒否します）。",
            local_time(*until, tz)
        ),
        (Action::Bar { scope, classes }, Lang::En) => format!(
            "{classes} calls of {scope} are barred until an operator lifts the kill switch: `{}`.",
            lift_command(d)
        ),
        (Action::Bar { scope, classes }, Lang::Ja) => format!(
            "{}の{}発信を停止しました。解除するまで停止が続きます。解除: `{}`",
            scope_ja(scope),
            classes_ja(*classes),
            lift_command(d)
        ),
        (Action::EndCalls { scope, call_ids }, Lang::En) => format!(
            "{} call(s) in progress of {scope} were ended.",
            call_ids.len()
        ),
        (Action::EndCalls { scope, call_ids }, Lang::Ja) => format!(
            "{}の通話中の{}件を切断しました。",
            scope_ja(scope),
            call_ids.len()
        ),
    }
}

/// What happened, in Japanese, as a PBX admin in Tokyo would say it.
fn situation_ja(d: &Decision) -> String {
    let who = caller_ja(d);
    let n = d.measured;
    let th = d.threshold;
    let w = window_ja(d.window_secs);
    let dest = destination_ja(d);
    let wn = if w.is_empty() {
        String::new()
    } else {
        format!("{w}に")
    };
    let wd = if w.is_empty() {
        String::new()
    } else {
        format!("{w}で")
    };
    // "（シエラレオネ宛て）" after a sentence's subject, or nothing when the sentence names no destination.
    let paren = dest
        .as_deref()
        .map(|x| format!("（{x}宛て）"))
        .unwrap_or_default();
    let cur = currency_of(d);
    let yen = |v: i64| {
        if cur == "JPY" {
            format!("{}円", group_thousands(v.unsigned_abs()))
        } else {
            format!("{v} {cur}")
        }
    };
    use RuleId as R;
    match d.rule {
        R::Pumping => {
            let len = d
                .call
                .as_ref()
                .and_then(|c| c.length)
                .map(|l| format!("、{}±{}秒", l.secs, l.jitter_secs))
                .unwrap_or_default();
            let (to, kind) = match dest.as_deref() {
                Some(x) if !x.starts_with("日本") => (format!("{x}宛ての"), "国際電話"),
                Some(x) => (format!("{x}宛ての"), "通話"),
                None => ("同じ宛先への".to_owned(), "通話"),
            };
            format!(
                "{who}から{to}短い{kind}が異常に発信されています（{wn}{n}通話{len}、上限{th}通話）。トラフィックパンピングの疑いがあります。"
            )
        }
        R::PumpingTenant => format!(
            "{}で{wn}{}短い応答済みの通話が{n}件ありました（上限{th}件）。複数の内線に分散したトラフィックパンピングの疑いがあります。最後の発信元は{who}です。",
            Who::of(d).ja(),
            dest.as_deref()
                .map(|x| format!("{x}宛ての"))
                .unwrap_or_default()
        ),
        R::ForwardedInternational => format!(
            "{who}が外部からの着信を転送して海外または高額な宛先{paren}へ発信しようとしました。転送・DISA・取次ぎを悪用した不正利用の典型的な手口です。意図した転送であれば rules.forwarded_international の critical を \"off\" にしてください。"
        ),
        R::NoveltyHoursTenant => format!(
            "{}が普段は国際発信しない営業時間外の時間帯に{wn}{n}件の国際発信をしました（上限{th}件）。最後の発信元は{who}です{paren}。",
            Who::of(d).ja()
        ),
        R::VelocityTenantMinute | R::VelocityTenantHour | R::VelocityTenantDay => format!(
            "{}で{wn}{n}回の発信がありました（上限{th}回）。通常と異なる発信頻度です。",
            Who::of(d).ja()
        ),
        R::VelocityAccountMinute | R::VelocityAccountHour | R::VelocityAccountDay => format!(
            "{who}が{wn}{n}回発信しました（上限{th}回）。通常と異なる発信頻度です。{}",
            dest.as_deref()
                .map(|x| format!("最後の発信は{x}宛てです。"))
                .unwrap_or_default()
        ),
        R::ConcurrentTenant => format!(
            "{}の同時通話が{n}件になるところでした（上限{th}件）。",
            Who::of(d).ja()
        ),
        R::ConcurrentAccount => {
            format!("{who}の同時通話が{n}件になるところでした（上限{th}件）。")
        }
        R::FailedAccountHour => format!(
            "{who}で{wn}未応答の発信が{n}件ありました（上限{th}件）。発信経路を探られている可能性があります。"
        ),
        R::DeniedAccountHour => format!(
            "{who}が{wn}禁止された宛先へ{n}回発信を試みました（上限{th}回）。ポリシーで禁止された発信が試されています。"
        ),
        R::RepeatNumberHour => format!(
            "{}が{wn}{n}回発信されました（上限{th}回）。最後の発信元は{who}です。",
            dest.as_deref().unwrap_or("同じ番号")
        ),
        R::RangeWalkHour => format!(
            "{}の番号帯で{wn}{n}種類の番号が発信されました（上限{th}）。番号の総当たりの疑いがあります。最後の発信元は{who}です。",
            match &d.subject {
                Subject::Range { prefix } => format!("+{prefix}xxx"),
                _ => "同じ".to_owned(),
            }
        ),
        R::MoneyTenantHour | R::MoneyTenantDay | R::MoneyTenantMonth => format!(
            "{}の通話料金が{wd}{}に達します（上限{}）。",
            Who::of(d).ja(),
            yen(n),
            yen(th)
        ),
        R::MoneyAccountHour | R::MoneyAccountDay | R::MoneyAccountMonth => format!(
            "{who}の通話料金が{wd}{}に達します（上限{}）。",
            yen(n),
            yen(th)
        ),
        R::DestinationClass | R::DestinationCountry | R::DenyPrefix => {
            format!("{who}がポリシーで許可されていない宛先{paren}へ発信しました。")
        }
        R::RiskTier => format!("{who}が不正利用の危険が高い宛先{paren}へ発信しました。"),
        R::OffHoursInternational => {
            format!("{who}が営業時間外に国際電話{paren}を発信しました。")
        }
        R::Obfuscated => format!(
            "{who}が偽装されたダイヤル文字列を発信しました。発信制限をすり抜けるための手口です。"
        ),
        R::PrefixProbe => format!(
            "{who}が同じ番号に{n}種類のプレフィックスを付けて発信を試みました（1分間、上限{th}）。攻撃者がよく使う探索です。"
        ),
        R::NoveltyFirstInternational => {
            format!("{who}が初めて国際電話を発信しました{paren}。")
        }
        R::NoveltyCountry => format!("{who}が初めてこの国へ発信しました{paren}。"),
        R::NoveltyRisk => format!("{who}が初めて高リスクの宛先へ発信しました{paren}。"),
        R::NoveltyHours => {
            format!("{who}が普段は発信しない時間帯に発信しました{paren}。")
        }
        R::NoveltySpend => {
            format!("{who}の24時間の通話料金が普段の{n}%になっています（上限{th}%）。")
        }
        R::AuthSourceMinute | R::AuthSourceHour => format!(
            "{} から{wn}{n}回の認証失敗がありました（上限{th}回）。パスワードの総当たりの疑いがあります。",
            Who::of(d).ja()
        ),
        R::AuthUsernamesSource => format!(
            "{} が{wn}{n}種類のユーザー名を試しました（上限{th}）。内線番号のスキャンの疑いがあります。",
            Who::of(d).ja()
        ),
        R::AuthAccountHour => format!(
            "{who}へのログインが{wn}{n}回失敗しました（上限{th}回）。パスワードが狙われています。"
        ),
        R::AuthSuccessAfterFailures => format!(
            "{who}が{n}回の認証失敗の後にログインに成功しました（上限{th}回）。パスワードが破られた可能性があります。"
        ),
        R::AuthNewNetwork => {
            format!("{who}がこれまでにないネットワークから登録しました。")
        }
        R::ScannerUserAgent => format!(
            "{} が既知のSIPスキャナーのUser-Agentを使っています。",
            Who::of(d).ja()
        ),
        R::RequestRateSource => format!(
            "{} から{wn}{n}件のリクエストがありました（上限{th}件）。スキャンまたはフラッド攻撃の疑いがあります。",
            Who::of(d).ja()
        ),
        R::KillSwitch => match &d.action {
            Action::Bar { scope, classes } => format!(
                "キルスイッチにより{}の{}発信を停止しています。",
                scope_ja(scope),
                classes_ja(*classes)
            ),
            Action::EndCalls { scope, call_ids } => format!(
                "キルスイッチにより{}の通話中の{}件（禁止宛先）を切断します。",
                scope_ja(scope),
                call_ids.len()
            ),
            _ => format!("{who}が停止中の宛先{paren}へ発信しました。"),
        },
        R::Ban => match &d.action {
            Action::Ban { source, .. } => format!("送信元 {source} を遮断します。"),
            _ => format!("{}は遮断中です。", Who::of(d).ja()),
        },
        R::AuthAccountSources => format!(
            "{who}へのログインが{wn}{n}か所の送信元から失敗しました（上限{th}）。複数の送信元からパスワードが狙われています。"
        ),
        R::AuthNewCountry => format!(
            "{who}がこれまでにない国（{}）からログインしました。パスワードが他人の手に渡った可能性があります。",
            d.country
                .as_deref()
                .map_or_else(|| "不明".to_owned(), |c| country_ja(c, None))
        ),
        R::ScannerFingerprint => format!(
            "{} の要求にSIPスキャナーの痕跡があります。",
            Who::of(d).ja()
        ),
        R::WeakPassword => format!(
            "{who}がメーカー初期値または推測されやすいパスワードでログインしました。攻撃者が最初に試すパスワードです。すぐに変更してください{}。",
            if matches!(d.action, engine::Action::Bar { .. }) {
                "（変更されるまで国際電話を禁止しました）"
            } else {
                ""
            }
        ),
        R::CallerIdForeign => format!(
            "{who}が自社の番号ではない発信者番号で発信しました{paren}。乗っ取られたアカウントやPBXによく見られます。"
        ),
    }
}

/// Rules per name for the collapsed summary, kept for callers that want the counts as a map.
pub(crate) fn rule_counts(b: &Burst) -> BTreeMap<String, u64> {
    b.by_rule.iter().cloned().collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use engine::decision::String3;

    pub(crate) fn pumping() -> Decision {
        Decision {
            at: 1_430_500_000_000,
            rule: RuleId::Pumping,
            level: Level::Critical,
            action: Action::Block { sip_status: 403 },
            shadow: false,
            subject: Subject::Account {
                tenant: "acme".into(),
                account: "205".into(),
            },
            country: Some("SL".into()),
            call: Some(engine::CallFacts {
                tenant: "acme".into(),
                account: "205".into(),
                number: None,
                class: None,
                length: Some(engine::CallLength {
                    secs: 30,
                    jitter_secs: 2,
                }),
            }),
            measured: 5,
            threshold: 4,
            unit: Unit::SimilarCalls,
            window_secs: 3600,
            call_id: Some("c5".into()),
            calls: ["c1", "c2", "c3", "c4", "c5", "c6"].into_iter().collect(),
            at_stake: Some(Amount {
                millis: 525_000,
                currency: String3(*b"JPY"),
            }),
            reason: "ext 205 of acme made 5 answered calls of 30±2 s to Sierra Leone in 1 h (limit 4): looks like traffic pumping; 525 JPY at stake. Call blocked".into(),
        }
    }

    #[test]
    fn every_rule_reads_well_in_japanese_without_window_or_destination() {
        for &rule in RuleId::ALL {
            let mut d = pumping();
            d.rule = rule;
            d.window_secs = 0;
            d.reason = "something happened".into();
            let s = situation_ja(&d);
            for bad in ["がに", "（）", "宛先宛て", "{", "  "] {
                assert!(!s.contains(bad), "{rule}: {s}");
            }
            assert!(s.ends_with('。'), "{rule}: {s}");
            assert!(!s.contains("something happened"), "{rule}: {s}");
            assert_ne!(rule_label(rule, Lang::Ja), "", "{rule}");
        }
    }

    #[test]
    fn a_warning_about_a_scanner_says_it_is_still_answered_not_that_a_call_went_through() {
        let mut d = pumping();
        d.rule = RuleId::AuthUsernamesSource;
        d.action = Action::Warn;
        d.level = Level::Warning;
        d.subject = Subject::Source {
            source: [203, 0, 113, 9].into(),
            ipv6_prefix: 64,
        };
        d.call = None;
        d.call_id = None;
        d.calls.clear();
        d.at_stake = None;
        let en = body(&d, "", Lang::En);
        assert!(!en.contains("the call went through"), "{en}");
        assert!(en.contains("203.0.113.9 is still answered"), "{en}");
        assert!(
            en.contains("tollguard ctl ban add 203.0.113.9 --minutes 1440"),
            "{en}"
        );
        let ja = body(&d, "", Lang::Ja);
        assert!(!ja.contains("通話は遮断していません"), "{ja}");
        assert!(
            ja.contains("203.0.113.9 からの要求には応答しており"),
            "{ja}"
        );
        // A warning on a call keeps saying the call went through.
        let mut call = pumping();
        call.action = Action::Warn;
        assert!(body(&call, "acme", Lang::En).contains("the call went through"));
    }

    /// A call blocked by a kill switch: the call's own number and country, whatever the sentence says.
    fn barred_call(number: &str, country: &str) -> Decision {
        let mut d = pumping();
        d.rule = RuleId::KillSwitch;
        d.subject = Subject::KillSwitch { id: 3 };
        d.country = Some(country.into());
        d.call = Some(engine::CallFacts {
            tenant: "acme".into(),
            account: "205".into(),
            number: Some(number.into()),
            class: Some(DestClass::International),
            length: None,
        });
        d.reason = "ext 205 of acme called Cuba (+5350178656): international calls of ext 205 of acme are barred since 2026-11-27 19:31 by tollguard (ext 205 tried 4 barred destinations in 1 h (limit 3), last Sierra Leone (+23276959840)). Call blocked".into();
        d
    }

    #[test]
    fn the_japanese_destination_is_the_calls_country_and_number() {
        assert_eq!(
            destination_ja(&barred_call("+5350178656", "CU")).as_deref(),
            Some("キューバ（+5350178656）")
        );
        // A country not in the Japanese list keeps its English name, from the number.
        assert_eq!(
            destination_ja(&barred_call("+3545512345", "IS")).as_deref(),
            Some("Iceland（+3545512345）")
        );
        // Without a number (a decision at a call's end), the country alone.
        let mut d = pumping();
        d.country = Some("SO".into());
        assert_eq!(destination_ja(&d).as_deref(), Some("ソマリア"));
    }

    /// The Japanese alert is written from the decision's fields: an English sentence replaced by garbage
    /// changes nothing but the quoted original.
    #[test]
    fn japanese_alerts_render_from_data_not_from_the_english_sentence() {
        let garbage = "zz qq (+0) ext 999 ±± of nowhere; 1 h Somalia";
        let cases = [pumping(), barred_call("+5350178656", "CU"), {
            let mut d = pumping();
            d.rule = RuleId::RepeatNumberHour;
            d.subject = Subject::Number {
                number: "+23276123456".into(),
            };
            d.call = Some(engine::CallFacts {
                tenant: "acme".into(),
                account: "207".into(),
                number: Some("+23276123456".into()),
                class: Some(DestClass::International),
                length: None,
            });
            d.unit = Unit::Calls;
            d
        }];
        for d in cases {
            let mut g = d.clone();
            g.reason = garbage.into();
            let (ja, ja_g) = (body(&d, "acme", Lang::Ja), body(&g, "acme", Lang::Ja));
            assert_eq!(
                ja.replace(&d.reason, "REASON"),
                ja_g.replace(garbage, "REASON"),
                "{ja}\n---\n{ja_g}"
            );
            assert_eq!(
                headline(&d, "acme", Lang::Ja),
                headline(&g, "acme", Lang::Ja)
            );
            assert!(!situation_ja(&g).contains("999"), "{}", situation_ja(&g));
        }
        let mut g = pumping();
        g.reason = garbage.into();
        let ja = situation_ja(&g);
        assert!(
            ja.contains("内線205からシエラレオネ宛ての短い国際電話"),
            "{ja}"
        );
        assert!(ja.contains("1時間に5通話、30±2秒、上限4通話"), "{ja}");
        let mut g = barred_call("+5350178656", "CU");
        g.reason = garbage.into();
        assert!(
            situation_ja(&g).contains("内線205が停止中の宛先（キューバ（+5350178656）宛て）"),
            "{}",
            situation_ja(&g)
        );
    }

    /// The subject line says first whether the alert is possible fraud or only a call outside the policy.
    #[test]
    fn the_headline_says_fraud_or_outside_your_policy_first() {
        let fraud = pumping();
        let mut policy = barred_call("+8621555501234", "CN");
        policy.rule = RuleId::DestinationCountry;
        policy.subject = Subject::Destination {
            number: "+8621555501234".into(),
            class: DestClass::International,
        };
        assert!(headline(&fraud, "acme", Lang::En).starts_with("[CRITICAL] possible fraud — "));
        assert!(
            headline(&policy, "acme", Lang::En).starts_with("[CRITICAL] outside your policy — ")
        );
        assert!(headline(&fraud, "acme", Lang::Ja).starts_with("【重大・不正利用の疑い】"));
        assert!(headline(&policy, "acme", Lang::Ja).starts_with("【重大・ポリシー外】"));
    }

    #[test]
    fn money_is_grouped_and_yen_has_no_decimals() {
        let a = |m, c: &[u8; 3]| Amount {
            millis: m,
            currency: String3(*c),
        };
        assert_eq!(format_money(&a(52_500_000, b"JPY"), Lang::En), "52,500 JPY");
        assert_eq!(format_money(&a(52_500_000, b"JPY"), Lang::Ja), "52,500円");
        assert_eq!(format_money(&a(525_000, b"JPY"), Lang::Ja), "525円");
        assert_eq!(
            format_money(&a(1_234_567_890, b"USD"), Lang::En),
            "1,234,567.89 USD"
        );
        assert_eq!(format_money(&a(0, b"EUR"), Lang::En), "0.00 EUR");
    }

    #[test]
    fn pumping_in_japanese_names_country_length_and_money() {
        let d = pumping();
        let b = body(&d, "acme", Lang::Ja);
        assert!(b.contains("内線205からシエラレオネ宛て"), "{b}");
        assert!(b.contains("1時間に5通話、30±2秒、上限4通話"), "{b}");
        assert!(b.contains("この通話を遮断しました"), "{b}");
        assert!(b.contains("損害見込み 525円"), "{b}");
        assert!(b.contains("JST"), "{b}");
        let h = headline(&d, "acme", Lang::Ja);
        assert_eq!(
            h,
            "【重大・不正利用の疑い】acme: 内線205 トラフィックパンピングの疑い — 通話を遮断、損害見込み 525円"
        );
    }

    #[test]
    fn english_body_has_reason_numbers_calls_and_action() {
        let d = pumping();
        let b = body(&d, "acme", Lang::En);
        assert!(
            b.starts_with("ext 205 of acme made 5 answered calls"),
            "{b}"
        );
        assert!(
            b.contains("Measured: 5 similar answered calls in 1 h (threshold 4)"),
            "{b}"
        );
        assert!(b.contains("Calls: c1, c2, c3, c4, c5 and 1 more"), "{b}");
        assert!(b.contains("Money at stake: 525 JPY"), "{b}");
        assert!(b.contains("The call was blocked (SIP 403)."), "{b}");
        assert_eq!(
            headline(&d, "acme", Lang::En),
            "[CRITICAL] possible fraud — acme: traffic pumping (ext 205) — call blocked, 525 JPY at stake"
        );
    }

    #[test]
    fn kill_switch_bar_says_how_to_lift_it() {
        let mut d = pumping();
        d.rule = RuleId::KillSwitch;
        d.subject = Subject::KillSwitch { id: 7 };
        d.action = Action::Bar {
            scope: BarScope::Account {
                tenant: "acme".into(),
                account: "205".into(),
            },
            classes: ClassSet::INTERNATIONAL,
        };
        let ja = body(&d, "acme", Lang::Ja);
        assert!(
            ja.contains("acme の内線205の国際発信を停止しました"),
            "{ja}"
        );
        assert!(
            ja.contains("tollguard ctl kill-switch off --scope account:acme/205 --class international,premium,satellite"),
            "{ja}"
        );
        let en = body(&d, "acme", Lang::En);
        assert!(
            en.contains("`tollguard ctl kill-switch off --scope account:acme/205"),
            "{en}"
        );
    }

    #[test]
    fn ban_gives_until_in_the_readers_zone() {
        let mut d = pumping();
        d.rule = RuleId::ScannerUserAgent;
        d.subject = Subject::Source {
            source: [203, 0, 113, 9].into(),
            ipv6_prefix: 128,
        };
        d.action = Action::Ban {
            source: "203.0.113.9"
                .parse()
                .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
            until: 0,
        };
        let ja = body(&d, "", Lang::Ja);
        assert!(
            ja.contains("送信元 203.0.113.9 を 1970-01-01 09:00:00 JST まで遮断しました"),
            "{ja}"
        );
        let en = body(&d, "", Lang::En);
        assert!(
            en.contains("203.0.113.9 is banned until 1970-01-01 00:00:00 UTC"),
            "{en}"
        );
    }

    #[test]
    fn burst_summary_counts_rules_and_sums_money() {
        let mut b = Burst::new("acme", 60);
        let d = pumping();
        for _ in 0..30 {
            b.add(&d);
        }
        let mut v = pumping();
        v.rule = RuleId::VelocityAccountMinute;
        v.at_stake = Some(Amount {
            millis: 1_500_000,
            currency: String3(*b"JPY"),
        });
        for _ in 0..7 {
            b.add(&v);
        }
        b.finish();
        assert_eq!(
            b.summary(Lang::En),
            "and 37 more alerts for acme: pumping ×30, velocity_account_minute ×7, at stake 26,250 JPY"
        );
        assert_eq!(
            b.summary(Lang::Ja),
            "acmeでさらに37件のアラート: pumping ×30、velocity_account_minute ×7、損害見込み 合計26,250円"
        );
        assert_eq!(rule_counts(&b).get("pumping"), Some(&30));
    }
}
