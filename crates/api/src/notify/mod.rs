//! Notifications: brings the engine's alerts to people. Owns the `[notify]` section of the config file,
//! the wording of alerts in English and Japanese, the payloads (generic JSON, Slack, Teams, e-mail, RFC 5424
//! syslog), routing per tenant and severity, storm collapse, retries with back-off, and delivery counters.
//!
//! The caller hands [`Alert`]s to a [`Notifier`]; `send` never blocks and never fails. Each recipient has its
//! own bounded queue and its own tasks, so a slow SMTP server cannot delay a Slack webhook.

mod config;
mod deliver;
mod notifier;
mod payload;
pub(crate) mod wording;

pub use config::{
    EmailConfig, EmailTls, NotifyConfig, NotifyConfigError, RetryConfig, SyslogConfig,
    WebhookConfig, WebhookFormat,
};
pub use notifier::{ChannelStats, Delivery, Notifier, NotifyStats};
pub use payload::{Content, Message, syslog_line, webhook_payload};
pub use wording::{
    Burst, body, body_in, burst_body, burst_headline, country_name, format_money, headline,
    kind_words, sentence,
};

use serde::{Deserialize, Serialize};

/// One alert to deliver: the engine's decision, the tenant it concerns, and its row id in the store if it
/// was saved there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: Option<i64>,
    /// Tenant ("acme"); "" for a single-site installation.
    pub tenant: String,
    pub decision: engine::Decision,
}

/// Language of a recipient's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    #[default]
    En,
    Ja,
}

impl Lang {
    /// Every language, in the order `--help` and documentation list them.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Ja];

    /// The code used in configuration and on the command line: "en", "ja".
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ja => "ja",
        }
    }
}

/// A language code that is not one of [`Lang::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{0}\" is not a language of tollguard's messages; use en or ja")]
pub struct UnknownLang(pub String);

impl std::str::FromStr for Lang {
    type Err = UnknownLang;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        Lang::ALL
            .into_iter()
            .find(|l| l.as_str() == code)
            .ok_or_else(|| UnknownLang(code.to_owned()))
    }
}

/// The kind of a recipient, for counters and delivery reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Webhook,
    Email,
    Syslog,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Webhook => "webhook",
            Channel::Email => "email",
            Channel::Syslog => "syslog",
        }
    }
}

/// Feeds every decision the guard publishes to the notifier until the guard stops (what `tollguard serve`
/// runs when the configuration has a `[notify]` section). A receiver that lags loses the oldest events and
/// says how many.
pub fn forward_decisions(
    mut events: tokio::sync::broadcast::Receiver<decide::LiveEvent>,
    notifier: Notifier,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(decide::LiveEvent::Decision { tenant, decision }) => notifier.send(Alert {
                    id: None,
                    tenant,
                    decision,
                }),
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::error!(
                        missed = n,
                        "notifications fell behind the guard: alerts not notified (they are in the store)"
                    );
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    })
}
