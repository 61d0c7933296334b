//! What goes on the wire: a [`Message`] (one alert, or a collapsed storm) rendered as tollguard's JSON, a
//! Slack message, a Teams card, an e-mail, or an RFC 5424 syslog line.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use engine::Level;
use serde_json::{Value, json};

use super::config::WebhookFormat;
use super::wording::{self, Burst};
use super::{Alert, Lang};

/// One message to one recipient, already worded in the recipient's language.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub tenant: String,
    pub level: Level,
    pub lang: Lang,
    pub headline: String,
    pub body: String,
    /// When what the message reports happened (the alert's time, or the end of the storm window).
    pub at: DateTime<Utc>,
    pub content: Content,
}

/// What a message stands for.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Alert(Box<Alert>),
    /// Alerts folded by storm collapse.
    Burst(Box<Burst>),
}

impl Message {
    pub fn alert(a: &Alert, lang: Lang, tz: Tz) -> Message {
        let d = &a.decision;
        Message {
            tenant: a.tenant.clone(),
            level: d.level,
            lang,
            headline: wording::headline(d, &a.tenant, lang),
            body: wording::body_in(d, &a.tenant, lang, tz),
            at: DateTime::from_timestamp_millis(d.at).unwrap_or_else(Utc::now),
            content: Content::Alert(Box::new(a.clone())),
        }
    }

    pub fn burst(b: Burst, lang: Lang, at: DateTime<Utc>) -> Message {
        Message {
            tenant: b.tenant.clone(),
            level: b.level.unwrap_or(Level::Warning),
            lang,
            headline: wording::burst_headline(&b, lang),
            body: wording::burst_body(&b, lang),
            at,
            content: Content::Burst(Box::new(b)),
        }
    }

    /// How many alerts the message stands for.
    pub fn alerts(&self) -> u64 {
        match &self.content {
            Content::Alert(_) => 1,
            Content::Burst(b) => b.count,
        }
    }
}

fn level_name(l: Level) -> &'static str {
    match l {
        Level::Warning => "warning",
        Level::Critical => "critical",
    }
}

/// The request body for a webhook of the given format.
pub fn webhook_payload(m: &Message, format: WebhookFormat) -> Value {
    match format {
        WebhookFormat::Json => generic_json(m),
        WebhookFormat::Slack => slack(m),
        WebhookFormat::Teams => teams_adaptive(m),
        WebhookFormat::TeamsMessageCard => teams_message_card(m),
    }
}

fn generic_json(m: &Message) -> Value {
    let mut v = json!({
        "source": "tollguard",
        "tenant": m.tenant,
        "level": level_name(m.level),
        "lang": m.lang.as_str(),
        "headline": m.headline,
        "body": m.body,
        "at": m.at.to_rfc3339_opts(SecondsFormat::Millis, true),
    });
    match &m.content {
        Content::Alert(a) => {
            v["kind"] = json!("alert");
            v["id"] = json!(a.id);
            v["decision"] = serde_json::to_value(&a.decision).unwrap_or(Value::Null);
        }
        Content::Burst(b) => {
            v["kind"] = json!("collapsed");
            v["count"] = json!(b.count);
            v["summary"] = json!(b.summary(m.lang));
            v["by_rule"] = json!(wording::rule_counts(b));
            v["by_key"] = b
                .by_key
                .iter()
                .map(|(k, n)| json!({"key": k, "count": n}))
                .collect();
            v["at_stake"] = serde_json::to_value(&b.at_stake).unwrap_or(Value::Null);
            v["window_secs"] = json!(b.window_secs);
        }
    }
    v
}

/// Cuts to at most `max` characters, with an ellipsis, never inside a character.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Slack's mrkdwn treats &, < and > as markup.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn slack(m: &Message) -> Value {
    // Slack limits: header text 150 characters, section text 3000.
    json!({
        "text": slack_escape(&m.headline),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": clip(&m.headline, 150), "emoji": true}},
            {"type": "section", "text": {"type": "mrkdwn", "text": clip(&slack_escape(&m.body), 3000)}},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": format!("tollguard · {} · {}", level_name(m.level), m.at.to_rfc3339_opts(SecondsFormat::Secs, true))}
            ]}
        ]
    })
}

fn teams_adaptive(m: &Message) -> Value {
    let color = match m.level {
        Level::Critical => "Attention",
        Level::Warning => "Warning",
    };
    let mut blocks = vec![json!({
        "type": "TextBlock", "text": m.headline, "weight": "Bolder", "size": "Medium",
        "color": color, "wrap": true
    })];
    for para in m.body.split("\n\n") {
        blocks.push(json!({"type": "TextBlock", "text": para, "wrap": true}));
    }
    json!({
        "type": "message",
        "summary": m.headline,
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": blocks
            }
        }]
    })
}

fn teams_message_card(m: &Message) -> Value {
    let color = match m.level {
        Level::Critical => "D70000",
        Level::Warning => "FFA500",
    };
    // MessageCard text is Markdown: a line break needs two spaces before the newline.
    let text = m.body.replace('\n', "  \n");
    json!({
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": m.headline,
        "themeColor": color,
        "title": m.headline,
        "text": text
    })
}

/// Escapes a structured-data parameter value (RFC 5424 §6.3.3).
fn sd_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Printable US-ASCII without spaces, as header fields require; `-` when nothing is left.
fn header_field(s: &str, max: usize) -> String {
    let f: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if f.is_empty() { "-".to_owned() } else { f }
}

/// Largest datagram a syslog receiver must accept is 480 octets, most take 2048 (RFC 5426 §3.2); stay
/// under the common 8 KiB limit and cut the free text, never the structured data.
const SYSLOG_MAX: usize = 2048;

/// One RFC 5424 line: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [tollguard@32473 …] BOM MSG`.
/// Severity is crit (2) for a critical alert, warning (4) otherwise. 32473 is the private enterprise number
/// reserved for documentation (RFC 5612), used until tollguard has its own.
pub fn syslog_line(m: &Message, facility: u8, hostname: &str, app_name: &str) -> String {
    let severity = match m.level {
        Level::Critical => 2,
        Level::Warning => 4,
    };
    let pri = u16::from(facility) * 8 + severity;
    let ts = m.at.to_rfc3339_opts(SecondsFormat::Millis, true);
    let mut sd = format!(
        "[tollguard@32473 tenant=\"{}\" level=\"{}\"",
        sd_escape(&m.tenant),
        level_name(m.level)
    );
    let msgid;
    match &m.content {
        Content::Alert(a) => {
            let d = &a.decision;
            msgid = header_field(d.rule.as_str(), 32);
            let _ = write!(
                sd,
                " rule=\"{}\" key=\"{}\" measured=\"{}\" threshold=\"{}\" window_secs=\"{}\"",
                sd_escape(d.rule.as_str()),
                sd_escape(&d.key()),
                d.measured,
                d.threshold,
                d.window_secs
            );
            if let Some(s) = &d.at_stake {
                let _ = write!(sd, " at_stake=\"{}\"", sd_escape(&s.to_string()));
            }
            if let Some(id) = a.id {
                let _ = write!(sd, " alert_id=\"{id}\"");
            }
        }
        Content::Burst(b) => {
            msgid = "collapsed".to_owned();
            let _ = write!(sd, " count=\"{}\"", b.count);
            for s in &b.at_stake {
                let _ = write!(sd, " at_stake=\"{}\"", sd_escape(&s.to_string()));
            }
        }
    }
    sd.push(']');
    let head = format!(
        "<{pri}>1 {ts} {} {} {} {msgid} {sd} \u{feff}",
        header_field(hostname, 255),
        header_field(app_name, 48),
        std::process::id()
    );
    let text = match &m.content {
        Content::Alert(a) => format!("{}: {}", m.headline, a.decision.reason),
        Content::Burst(b) => format!("{}: {}", m.headline, b.summary(m.lang)),
    };
    let text = text.replace(['\r', '\n'], " ");
    let room = SYSLOG_MAX.saturating_sub(head.len());
    let mut cut = text.len().min(room);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{head}{}", text.get(..cut).unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::Decision;

    /// The wording tests' pumping decision, at the epoch, without calls, and with a reason that needs
    /// escaping in syslog structured data.
    fn alert() -> Alert {
        Alert {
            id: Some(9),
            tenant: "acme".into(),
            decision: Decision {
                at: 0,
                call_id: None,
                calls: Default::default(),
                reason: "ext 205 of acme made 5 answered calls of 30±2 s to Sierra Leone in 1 h (limit 4): \"quoted\" ]".into(),
                ..crate::notify::wording::tests::pumping()
            },
        }
    }

    #[test]
    fn syslog_line_is_rfc5424_with_escaped_structured_data() {
        let m = Message::alert(&alert(), Lang::En, Tz::UTC);
        let line = syslog_line(&m, 16, "pbx gw", "tollguard");
        assert!(
            line.starts_with("<130>1 1970-01-01T00:00:00.000Z pbxgw tollguard "),
            "{line}"
        );
        assert!(line.contains(" pumping [tollguard@32473 tenant=\"acme\" level=\"critical\" rule=\"pumping\" key=\"account acme/205\" measured=\"5\" threshold=\"4\" window_secs=\"3600\" at_stake=\"525 JPY\" alert_id=\"9\"] \u{feff}[CRITICAL]"), "{line}");
        assert!(line.ends_with("\"quoted\" ]"), "{line}");
    }

    #[test]
    fn long_syslog_text_is_cut_on_a_character_boundary() {
        let mut a = alert();
        a.decision.reason = "損".repeat(2000);
        let m = Message::alert(&a, Lang::Ja, Tz::UTC);
        let line = syslog_line(&m, 16, "h", "tollguard");
        assert!(line.len() <= SYSLOG_MAX);
        assert!(line.ends_with('損'));
    }

    #[test]
    fn slack_escapes_markup_and_clips_header() {
        let mut a = alert();
        a.tenant = "<acme & co>".repeat(20);
        let m = Message::alert(&a, Lang::En, Tz::UTC);
        let v = webhook_payload(&m, WebhookFormat::Slack);
        let header = v["blocks"][0]["text"]["text"].as_str().unwrap_or("");
        assert_eq!(header.chars().count(), 150);
        assert!(
            v["text"]
                .as_str()
                .unwrap_or("")
                .starts_with("[CRITICAL] possible fraud — &lt;acme &amp; co&gt;")
        );
    }
}
