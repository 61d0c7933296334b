//! The `[notify]` section of tollguard's config file: who gets alerts (webhooks, e-mail, syslog), for which
//! tenants and from which severity, in which language, and how hard to try. Defaults are safe: no recipient
//! unless configured, TLS for e-mail, plain SMTP refused except on loopback, bounded queues and retries.

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono_tz::Tz;
use engine::Level;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::Lang;

/// Everything under `[notify]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Storm collapse: after an alert goes out, further alerts of the same tenant to the same recipient
    /// within this many seconds are folded into one message sent at the window's end. 0 sends each alert.
    pub collapse_secs: f64,
    /// Alerts waiting per recipient; when full the oldest is dropped (and counted).
    pub queue: usize,
    pub retry: RetryConfig,
    pub webhook: Vec<WebhookConfig>,
    pub email: Vec<EmailConfig>,
    pub syslog: Option<SyslogConfig>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            collapse_secs: 60.0,
            queue: 1000,
            retry: RetryConfig::default(),
            webhook: Vec::new(),
            email: Vec::new(),
            syslog: None,
        }
    }
}

/// `[notify.retry]`: exponential back-off between attempts, capped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Wait before the second attempt; doubled before each next one.
    pub first_backoff_secs: f64,
    /// The longest wait between two attempts.
    pub max_backoff_secs: f64,
    /// Time allowed for one attempt (connect, send, answer).
    pub timeout_secs: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            attempts: 5,
            first_backoff_secs: 1.0,
            max_backoff_secs: 60.0,
            timeout_secs: 10.0,
        }
    }
}

/// The body a webhook receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// tollguard's own JSON: headline, body and the full decision.
    #[default]
    Json,
    /// Slack incoming webhook (text and blocks); Mattermost and Rocket.Chat accept it too.
    Slack,
    /// Microsoft Teams Workflows webhook: a message with an Adaptive Card.
    Teams,
    /// Microsoft Teams legacy Office 365 connector: a MessageCard.
    TeamsMessageCard,
}

/// `[[notify.webhook]]`: one HTTP(S) endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Name in logs and counters; the URL without its path when absent.
    #[serde(default)]
    pub name: Option<String>,
    pub url: String,
    #[serde(default)]
    pub format: WebhookFormat,
    /// Tenants whose alerts this recipient gets; empty means every tenant.
    #[serde(default)]
    pub tenants: Vec<String>,
    #[serde(default = "warning")]
    pub min_level: Level,
    #[serde(default)]
    pub lang: Lang,
    /// IANA zone for times in the message; UTC for English, Asia/Tokyo for Japanese when absent.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Extra request headers, e.g. `{ "X-Team" = "noc" }`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Headers whose value is read from an environment variable at start, e.g.
    /// `{ Authorization = "TOLLGUARD_HOOK_AUTH" }`, so that secrets stay out of the file.
    #[serde(default)]
    pub headers_env: BTreeMap<String, String>,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailTls {
    /// Plain connection upgraded with STARTTLS, required (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only allowed to a relay on this machine (127.0.0.1, ::1, localhost), port 25.
    None,
}

/// `[[notify.email]]`: one SMTP relay and its recipients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    #[serde(default)]
    pub name: Option<String>,
    pub host: String,
    /// 587 for STARTTLS, 465 for TLS, 25 without, when absent.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: EmailTls,
    #[serde(default)]
    pub username: Option<String>,
    /// Environment variable holding the SMTP password.
    #[serde(default)]
    pub password_env: Option<String>,
    pub from: String,
    pub to: Vec<String>,
    #[serde(default)]
    pub tenants: Vec<String>,
    #[serde(default = "warning")]
    pub min_level: Level,
    #[serde(default)]
    pub lang: Lang,
    #[serde(default)]
    pub timezone: Option<String>,
}

impl EmailConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            EmailTls::Starttls => 587,
            EmailTls::Tls => 465,
            EmailTls::None => 25,
        })
    }
}

/// `[notify.syslog]`: RFC 5424 messages to a syslog daemon or collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    /// "udp://host:port", "host:port" (UDP), or the path of a local datagram socket ("/dev/log").
    pub address: String,
    /// kern, user, daemon, auth, authpriv, local0…local7.
    #[serde(default = "local0")]
    pub facility: String,
    #[serde(default = "tollguard")]
    pub app_name: String,
    /// HOSTNAME field; this machine's name when absent.
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub tenants: Vec<String>,
    #[serde(default = "warning")]
    pub min_level: Level,
    /// English by default: many collectors mangle anything but ASCII.
    #[serde(default)]
    pub lang: Lang,
}

fn warning() -> Level {
    Level::Warning
}
fn local0() -> String {
    "local0".to_owned()
}
fn tollguard() -> String {
    "tollguard".to_owned()
}

/// Syslog facility code (RFC 5424 §6.2.1).
pub(crate) fn facility_code(name: &str) -> Option<u8> {
    Some(match name {
        "kern" => 0,
        "user" => 1,
        "mail" => 2,
        "daemon" => 3,
        "auth" => 4,
        "syslog" => 5,
        "lpr" => 6,
        "news" => 7,
        "uucp" => 8,
        "cron" => 9,
        "authpriv" => 10,
        "ftp" => 11,
        "local0" => 16,
        "local1" => 17,
        "local2" => 18,
        "local3" => 19,
        "local4" => 20,
        "local5" => 21,
        "local6" => 22,
        "local7" => 23,
        _ => return None,
    })
}

pub(crate) fn parse_tz(name: Option<&str>, lang: Lang) -> Tz {
    name.and_then(|n| n.parse::<Tz>().ok())
        .unwrap_or_else(|| super::wording::default_tz(lang))
}

/// A problem in the `[notify]` section, with its place in the whole file (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct NotifyConfigError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// One line:column convention for every section of the file: the guard's.
use numbering::line_col;

/// The whole config file as far as notifications care: other sections (`[api]`, `[[listen]]`,
/// `[policy]`…) belong to other crates and are skipped, so this is not `deny_unknown_fields`.
#[derive(Deserialize)]
struct ConfigFile {
    notify: Option<NotifyConfig>,
}

impl NotifyConfig {
    /// Reads the `[notify]` section of the whole config file (other sections must be valid TOML but are
    /// not interpreted). A file without one gives the defaults: no recipient.
    pub fn from_toml_str(text: &str) -> Result<NotifyConfig, NotifyConfigError> {
        let located = |offset: Option<usize>, message: String| {
            let (line, column) = offset.map_or((0, 0), |o| line_col(text, o));
            NotifyConfigError {
                line,
                column,
                message,
            }
        };
        let file: ConfigFile = toml::from_str(text).map_err(|e| {
            let offset = e.span().map(|s| s.start);
            // toml words syntax errors on several lines ("invalid array\nexpected `]`"): one line here.
            let message = e
                .message()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(", ");
            // Only `[notify]` is typed, so an error in a file that is valid TOML is in `[notify]`.
            let message = if toml::from_str::<de::IgnoredAny>(text).is_ok() {
                format!("[notify]: {message}")
            } else {
                message
            };
            located(offset, message)
        })?;
        let Some(config) = file.notify else {
            return Ok(NotifyConfig::default());
        };
        config.validate().map_err(|(path, message)| {
            // The file parsed a moment ago, so it parses again; the positions are only read on error.
            let places = toml::from_str::<PlacesFile>(text).ok();
            let offset = places.and_then(|p| p.notify).map(|n| place_of(&n, &path));
            located(offset, message)
        })?;
        Ok(config)
    }

    /// Environment variables named by `headers_env` and `password_env` that are not set in this process:
    /// the recipients needing them will fail their deliveries (for `tollguard check-config` to warn).
    pub fn unset_env_vars(&self) -> Vec<String> {
        let named = self
            .webhook
            .iter()
            .flat_map(|w| w.headers_env.values())
            .chain(self.email.iter().filter_map(|e| e.password_env.as_ref()));
        let mut unset: Vec<String> = named
            .filter(|v| std::env::var_os(v.as_str()).is_none())
            .cloned()
            .collect();
        unset.sort();
        unset.dedup();
        unset
    }

    /// Checks what types cannot say. The error names the offending key as a path from `[notify]`.
    fn validate(&self) -> Result<(), (Vec<PathPart>, String)> {
        use PathPart::{Idx, Key};
        let err = |p: Vec<PathPart>, m: String| Err((p, m));
        if !(0.0..=3600.0).contains(&self.collapse_secs) {
            return err(
                vec![Key("collapse_secs")],
                "collapse_secs must be between 0 (off) and 3600 seconds".into(),
            );
        }
        if !(1..=1_000_000).contains(&self.queue) {
            return err(
                vec![Key("queue")],
                "queue must be between 1 and 1000000 alerts".into(),
            );
        }
        let r = &self.retry;
        if !(1..=50).contains(&r.attempts) {
            return err(
                vec![Key("retry"), Key("attempts")],
                "retry.attempts must be between 1 and 50".into(),
            );
        }
        for (k, v) in [
            ("first_backoff_secs", r.first_backoff_secs),
            ("max_backoff_secs", r.max_backoff_secs),
            ("timeout_secs", r.timeout_secs),
        ] {
            if !(v > 0.0 && v <= 86_400.0) {
                return err(
                    vec![Key("retry"), Key(k)],
                    format!("retry.{k} must be more than 0 and at most 86400 seconds"),
                );
            }
        }
        for (i, w) in self.webhook.iter().enumerate() {
            let at = |k: &'static str| vec![Key("webhook"), Idx(i), Key(k)];
            let Some(rest) = w
                .url
                .strip_prefix("https://")
                .or_else(|| w.url.strip_prefix("http://"))
            else {
                return err(
                    at("url"),
                    format!(
                        "webhook url {:?} must start with https:// or http://",
                        w.url
                    ),
                );
            };
            if rest.split(['/', '?']).next().unwrap_or("").is_empty() {
                return err(at("url"), format!("webhook url {:?} has no host", w.url));
            }
            check_tz(w.timezone.as_deref()).or_else(|m| err(at("timezone"), m))?;
            // Only the names are checked here: the values are read at start, so that `check-config`
            // works on a machine that does not hold the secrets.
            for (name, var) in &w.headers_env {
                if !is_env_name(var) {
                    return err(
                        at("headers_env"),
                        format!(
                            "header {name}: {var:?} is not an environment variable name (letters, digits and _, not starting with a digit)"
                        ),
                    );
                }
            }
        }
        for (i, e) in self.email.iter().enumerate() {
            let at = |k: &'static str| vec![Key("email"), Idx(i), Key(k)];
            if e.host.trim().is_empty() {
                return err(at("host"), "email host is empty".into());
            }
            if e.tls == EmailTls::None && !is_loopback(&e.host) {
                return err(
                    at("tls"),
                    format!(
                        "tls = \"none\" would send alerts and the SMTP password in clear to {}; use \"starttls\" or \"tls\" (plain SMTP is only allowed to a relay on this machine)",
                        e.host
                    ),
                );
            }
            if !e.from.contains('@') {
                return err(
                    at("from"),
                    format!("from {:?} is not an e-mail address", e.from),
                );
            }
            if e.to.is_empty() {
                return err(at("to"), "to must name at least one address".into());
            }
            if let Some(bad) = e.to.iter().find(|a| !a.contains('@')) {
                return err(at("to"), format!("{bad:?} is not an e-mail address"));
            }
            if e.password_env.is_some() && e.username.is_none() {
                return err(at("password_env"), "password_env needs a username".into());
            }
            if let Some(var) = &e.password_env
                && !is_env_name(var)
            {
                return err(
                    at("password_env"),
                    format!(
                        "password_env {var:?} is not an environment variable name (letters, digits and _, not starting with a digit)"
                    ),
                );
            }
            check_tz(e.timezone.as_deref()).or_else(|m| err(at("timezone"), m))?;
        }
        if let Some(s) = &self.syslog {
            let at = |k: &'static str| vec![Key("syslog"), Key(k)];
            if facility_code(&s.facility).is_none() {
                return err(
                    at("facility"),
                    format!(
                        "unknown syslog facility {:?}: use kern, user, daemon, auth, authpriv or local0…local7",
                        s.facility
                    ),
                );
            }
            if let Err(m) = SyslogTarget::parse(&s.address) {
                return err(at("address"), m);
            }
        }
        Ok(())
    }
}

/// A portable environment variable name (POSIX): `TOLLGUARD_SMTP_PASSWORD`, not `smtp password` or `$X`.
fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_tz(tz: Option<&str>) -> Result<(), String> {
    match tz {
        Some(name) if name.parse::<Tz>().is_err() => Err(format!(
            "unknown time zone {name:?}: use an IANA name such as \"Asia/Tokyo\" or \"UTC\""
        )),
        _ => Ok(()),
    }
}

pub(crate) fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost") || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Where syslog messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SyslogTarget {
    /// "host:port" over UDP.
    Udp(String),
    /// A local datagram socket.
    Unix(String),
}

impl SyslogTarget {
    pub(crate) fn parse(address: &str) -> Result<SyslogTarget, String> {
        if let Some(path) = address.strip_prefix("unix://") {
            return Ok(SyslogTarget::Unix(path.to_owned()));
        }
        if address.starts_with('/') {
            return Ok(SyslogTarget::Unix(address.to_owned()));
        }
        let hp = address.strip_prefix("udp://").unwrap_or(address);
        match hp.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(SyslogTarget::Udp(hp.to_owned()))
            }
            _ => Err(format!(
                "syslog address {address:?} must be \"udp://host:port\", \"host:port\" or a socket path such as \"/dev/log\""
            )),
        }
    }
}

/// A step in a path from `[notify]` to a key, for placing validation errors.
#[derive(Debug, Clone, Copy)]
enum PathPart {
    Key(&'static str),
    Idx(usize),
}

/// The `[notify]` section again, keeping only where each key is: validation runs on the typed config,
/// which has no positions, and its errors name a path that is looked up here.
#[derive(Deserialize)]
struct PlacesFile {
    notify: Option<Place>,
}

/// Keys with their byte spans in the file, arrays, and values (whose content is not kept).
enum Place {
    Table(Vec<(Spanned<String>, Place)>),
    Array(Vec<Place>),
    Leaf,
}

impl<'de> Deserialize<'de> for Place {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Place, D::Error> {
        d.deserialize_any(PlaceVisitor)
    }
}

struct PlaceVisitor;

impl<'de> Visitor<'de> for PlaceVisitor {
    type Value = Place;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a TOML value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Place, E> {
        Ok(Place::Leaf)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Place, E> {
        Ok(Place::Leaf)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Place, E> {
        Ok(Place::Leaf)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Place, E> {
        Ok(Place::Leaf)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Place, E> {
        Ok(Place::Leaf)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Place, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Place::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Place, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Place::Table(entries))
    }
}

/// Offset of the deepest key of `path` that exists; validation only names keys that are present.
fn place_of(root: &Place, path: &[PathPart]) -> usize {
    let mut place = root;
    let mut offset = 0;
    for part in path {
        let next = match (part, place) {
            (PathPart::Key(k), Place::Table(entries)) => entries
                .iter()
                .find(|(key, _)| key.get_ref() == k)
                .map(|(key, p)| (Some(key.span().start), p)),
            (PathPart::Idx(i), Place::Array(items)) => items.get(*i).map(|p| (None, p)),
            _ => None,
        };
        let Some((key_offset, p)) = next else { break };
        offset = key_offset.unwrap_or(offset);
        place = p;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"[guard]
listen = "udp:0.0.0.0:5060"

[notify]
collapse_secs = 30

[notify.retry]
attempts = 3

[[notify.webhook]]
url = "https://hooks.slack.com/services/T/B/X"
format = "slack"
tenants = ["acme"]
min_level = "critical"
lang = "ja"

[[notify.email]]
host = "smtp.example.jp"
from = "tollguard@example.jp"
to = ["noc@example.jp"]
lang = "ja"

[notify.syslog]
address = "udp://127.0.0.1:514"
"#;

    #[test]
    fn reads_a_full_section_with_defaults() {
        let c = NotifyConfig::from_toml_str(FILE).unwrap();
        assert_eq!(c.collapse_secs, 30.0);
        assert_eq!(c.retry.attempts, 3);
        assert_eq!(c.retry.max_backoff_secs, 60.0);
        let w = &c.webhook[0];
        assert_eq!(w.format, WebhookFormat::Slack);
        assert_eq!(w.min_level, Level::Critical);
        assert_eq!(w.lang, Lang::Ja);
        let e = &c.email[0];
        assert_eq!(e.tls, EmailTls::Starttls);
        assert_eq!(e.port(), 587);
        assert_eq!(e.min_level, Level::Warning);
        let s = c.syslog.unwrap();
        assert_eq!(s.facility, "local0");
    }

    #[test]
    fn a_file_without_notify_has_no_recipient() {
        let c = NotifyConfig::from_toml_str("[guard]\nx = 1\n").unwrap();
        assert_eq!(c, NotifyConfig::default());
        assert!(c.webhook.is_empty() && c.email.is_empty() && c.syslog.is_none());
    }

    #[test]
    fn unknown_key_is_placed_on_its_line_and_column() {
        let text = FILE.replace("format = \"slack\"", "formt = \"slack\"");
        let e = NotifyConfig::from_toml_str(&text).unwrap_err();
        assert_eq!((e.line, e.column), (12, 1), "{e}");
        assert!(e.message.contains("unknown field `formt`"), "{e}");
    }

    #[test]
    fn bad_choice_is_placed_on_its_value() {
        let text = FILE.replace("format = \"slack\"", "format = \"xml\"");
        let e = NotifyConfig::from_toml_str(&text).unwrap_err();
        assert_eq!((e.line, e.column), (12, 10), "{e}");
        assert!(e.message.contains("unknown variant `xml`"), "{e}");
    }

    #[test]
    fn plain_smtp_to_a_remote_relay_is_refused() {
        let text = FILE.replace(
            "host = \"smtp.example.jp\"",
            "host = \"smtp.example.jp\"\ntls = \"none\"",
        );
        let e = NotifyConfig::from_toml_str(&text).unwrap_err();
        assert_eq!(e.line, 19, "{e}");
        assert!(e.message.contains("in clear"), "{e}");
        let local = FILE.replace(
            "host = \"smtp.example.jp\"",
            "host = \"127.0.0.1\"\ntls = \"none\"",
        );
        let c = NotifyConfig::from_toml_str(&local).unwrap();
        assert_eq!(c.email[0].port(), 25);
    }

    #[test]
    fn missing_required_key_names_the_table() {
        let text = "[notify]\n[[notify.webhook]]\nformat = \"json\"\n";
        let e = NotifyConfig::from_toml_str(text).unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.contains("missing field `url`"), "{e}");
    }

    #[test]
    fn bad_url_tz_facility_and_env_var_name_are_refused() {
        for (from, to, line) in [
            ("url = \"https://hooks", "url = \"ftp://hooks", 11),
            (
                "lang = \"ja\"\n\n[[notify.email]]",
                "lang = \"ja\"\ntimezone = \"Mars/Base\"\n\n[[notify.email]]",
                16,
            ),
            (
                "address = \"udp://127.0.0.1:514\"",
                "address = \"127.0.0.1\"",
                24,
            ),
            (
                "to = [\"noc@example.jp\"]",
                "to = [\"noc@example.jp\"]\nusername = \"u\"\npassword_env = \"SMTP PASSWORD\"",
                22,
            ),
            (
                "lang = \"ja\"\n\n[[notify.email]]",
                "lang = \"ja\"\nheaders_env = { Authorization = \"$HOOK\" }\n\n[[notify.email]]",
                16,
            ),
        ] {
            let text = FILE.replace(from, to);
            assert_ne!(text, FILE);
            let e = NotifyConfig::from_toml_str(&text).unwrap_err();
            assert_eq!(e.line, line, "{e}");
        }
    }

    #[test]
    fn unset_env_vars_are_not_a_config_error_but_are_listed() {
        let text = FILE.replace(
            "to = [\"noc@example.jp\"]",
            "to = [\"noc@example.jp\"]\nusername = \"u\"\npassword_env = \"TOLLGUARD_TEST_SURELY_UNSET_VAR\"",
        ) + "\n[[notify.webhook]]\nurl = \"http://127.0.0.1:9/x\"\nheaders_env = { A = \"CARGO_PKG_NAME\", B = \"TOLLGUARD_TEST_SURELY_UNSET_VAR\" }\n";
        let c = NotifyConfig::from_toml_str(&text).unwrap();
        assert_eq!(c.unset_env_vars(), ["TOLLGUARD_TEST_SURELY_UNSET_VAR"]);
        assert!(
            NotifyConfig::from_toml_str(FILE)
                .unwrap()
                .unset_env_vars()
                .is_empty()
        );
    }

    #[test]
    fn env_var_names() {
        for ok in ["TOLLGUARD_HOOK_AUTH", "_X", "a1"] {
            assert!(is_env_name(ok), "{ok}");
        }
        for bad in ["", "1X", "$X", "SMTP PASSWORD", "A-B", "ＡＢ"] {
            assert!(!is_env_name(bad), "{bad}");
        }
    }

    /// Other sections are other crates' business: any valid TOML there (dates, nested arrays, strings
    /// that look like headers) is skipped, and `[notify]` may use every TOML form.
    #[test]
    fn other_sections_are_skipped_and_every_toml_form_is_read() {
        let text = r#"
# guard settings with things notify never interprets
[guard]
since = 2024-01-01T00:00:00Z
notes = """
[notify]
not a header"""
rates = [ ["+232", 1.5], # comment
  ["+44", 0.1] ]

[[listen]]
addr = "udp:0.0.0.0:5060"

[notify]
collapse_secs = 0.5
queue = 1_000
retry.attempts = 2

[[notify.webhook]]
url = "http://127.0.0.1:9/a"
headers = { Authorization = 'Bearer x', "X-Tag" = "t\u00e9" }
tenants = [
  "acme",   # the first
  "globex",
]

[[notify.webhook]]
url = "http://127.0.0.1:9/b"
headers.X-One = "1"

[notify.syslog]
address = "127.0.0.1:514"

[policy]
at = 07:30:00
"#;
        let c = NotifyConfig::from_toml_str(text).unwrap();
        assert_eq!((c.collapse_secs, c.queue, c.retry.attempts), (0.5, 1000, 2));
        assert_eq!(c.webhook.len(), 2);
        assert_eq!(c.webhook[0].headers["X-Tag"], "té");
        assert_eq!(c.webhook[0].tenants, ["acme", "globex"]);
        assert_eq!(c.webhook[1].headers["X-One"], "1");
        // A validation error after a section with dates is still placed on its key.
        let bad = text.replace("address = \"127.0.0.1:514\"", "address = \"nowhere\"");
        let e = NotifyConfig::from_toml_str(&bad).unwrap_err();
        assert_eq!((e.line, e.column), (32, 1), "{e}");
        // A dotted key is placed on its last part.
        let bad = text.replace("retry.attempts = 2", "retry.attempts = 0");
        let e = NotifyConfig::from_toml_str(&bad).unwrap_err();
        assert_eq!((e.line, e.column), (17, 7), "{e}");
    }

    /// Bad input gives an error with a position, never a panic: every prefix of a full file.
    #[test]
    fn truncated_files_give_errors_not_panics() {
        for cut in (0..=FILE.len()).filter(|i| FILE.is_char_boundary(*i)) {
            if let Err(e) = NotifyConfig::from_toml_str(&FILE[..cut]) {
                assert!(e.line >= 1 && e.column >= 1, "{cut}: {e}");
            }
        }
    }

    #[test]
    fn syntax_error_outside_notify_is_not_blamed_on_notify() {
        let e = NotifyConfig::from_toml_str(
            "[guard]
x = = 1
[notify]
",
        )
        .unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(!e.message.contains("[notify]"), "{e}");
        let e = NotifyConfig::from_toml_str(
            "[notify]
queue = 1
queue = 2
",
        )
        .unwrap_err();
        assert_eq!(e.line, 3, "{e}");
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = NotifyConfig::from_toml_str("[notify]\nqueue = [1,\n").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert_eq!(e.to_string(), "3:1: invalid array, expected `]`");
        let e = NotifyConfig::from_toml_str("[notify]\nqueue = \"many\"\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 9), "{e}");
    }
}
