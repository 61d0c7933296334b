//! The running notifier: routes each alert to the recipients that want it (tenant, level), collapses
//! storms, and delivers with retries, counting every outcome. Each recipient has a bounded queue (drop the
//! oldest when full: the newest alerts matter most in an attack), a collector task that applies storm
//! collapse, and a sender task that delivers one message at a time.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use chrono_tz::Tz;
use engine::Level;
use serde::Serialize;
use tokio::sync::{Notify, broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::config::{NotifyConfig, RetryConfig, SyslogTarget, facility_code, parse_tz};
use super::deliver::{EmailTarget, WebhookTarget, send_syslog, with_retries};
use super::payload::{Message, syslog_line};
use super::wording::Burst;
use super::{Alert, Channel, Lang};

/// Counters of one channel since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ChannelStats {
    /// Messages delivered.
    pub delivered: u64,
    /// Messages given up (after the retries, or refused for good).
    pub failed: u64,
    /// Alerts folded into a collapsed message instead of going out alone.
    pub collapsed: u64,
    /// Alerts dropped because a recipient's queue was full.
    pub dropped: u64,
    /// Attempts beyond the first.
    pub retries: u64,
}

/// Counters per channel, for the metrics endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NotifyStats {
    pub webhook: ChannelStats,
    pub email: ChannelStats,
    pub syslog: ChannelStats,
}

/// One delivery outcome, as broadcast to observers (tests, the demo's live log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub channel: Channel,
    /// The recipient's name (a webhook's configured name or its scheme and host, never its secret path).
    pub recipient: String,
    pub ok: bool,
    /// The message's headline (e-mail subject).
    pub subject: String,
    /// Alerts the message stands for: 1, or the count of a collapsed message.
    pub alerts: u64,
    pub collapsed: bool,
    pub attempts: u32,
    pub error: Option<String>,
}

#[derive(Default)]
struct Counters {
    delivered: AtomicU64,
    failed: AtomicU64,
    collapsed: AtomicU64,
    dropped: AtomicU64,
    retries: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> ChannelStats {
        ChannelStats {
            delivered: self.delivered.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            collapsed: self.collapsed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
        }
    }
}

/// How a recipient is reached.
enum Target {
    Webhook(WebhookTarget),
    Email(EmailTarget),
    Syslog {
        target: Result<SyslogTarget, String>,
        facility: u8,
        hostname: String,
        app_name: String,
    },
}

struct Recipient {
    channel: Channel,
    name: String,
    tenants: Vec<String>,
    min_level: Level,
    lang: Lang,
    tz: Tz,
    queue: Mutex<VecDeque<Alert>>,
    wake: Notify,
}

impl Recipient {
    fn wants(&self, a: &Alert) -> bool {
        a.decision.level >= self.min_level
            && (self.tenants.is_empty() || self.tenants.contains(&a.tenant))
    }
}

struct Shared {
    recipients: Vec<Arc<Recipient>>,
    queue_cap: usize,
    counters: [Counters; 3],
    deliveries: broadcast::Sender<Delivery>,
    /// Set by `close`: collectors send what their windows hold and stop.
    closing: AtomicBool,
}

impl Shared {
    fn counters(&self, c: Channel) -> &Counters {
        let i = match c {
            Channel::Webhook => 0,
            Channel::Email => 1,
            Channel::Syslog => 2,
        };
        // The array has one entry per channel: the index is always in range.
        &self.counters[i]
    }
}

/// Aborts the tasks when the last handle goes away.
struct Tasks(Mutex<Vec<JoinHandle<()>>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in self
            .0
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            t.abort();
        }
    }
}

/// Handle to the running notifier; cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    shared: Arc<Shared>,
    tasks: Arc<Tasks>,
}

/// Messages waiting for a recipient's sender task; past this the collector drops (and counts) them.
const OUTBOX: usize = 256;

impl Notifier {
    /// Starts one collector and one sender task per recipient on the current Tokio runtime. Without a
    /// runtime nothing is delivered: the error is logged and alerts are counted as dropped.
    pub fn start(config: NotifyConfig) -> Notifier {
        let (deliveries, _) = broadcast::channel(1024);
        let timeout = Duration::from_secs_f64(config.retry.timeout_secs);
        let mut recipients = Vec::new();
        let mut targets = Vec::new();
        for w in &config.webhook {
            let mut headers: Vec<(String, String)> = w
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let name = w.name.clone().unwrap_or_else(|| url_origin(&w.url));
            // Secrets are read here, not when the file is checked. Posting without the header would
            // only earn a 401 (or worse, reach an endpoint that then trusts nothing): each delivery
            // fails instead, with the reason, and is counted.
            let mut unusable = None;
            for (k, var) in &w.headers_env {
                match std::env::var(var) {
                    Ok(v) => headers.push((k.clone(), v)),
                    Err(e) => {
                        let why = env_problem(var, &e, &format!("webhook header {k}"));
                        tracing::error!(channel = "webhook", recipient = %name, "{why}; its notifications will fail");
                        unusable.get_or_insert(why);
                    }
                }
            }
            let client = reqwest::Client::builder()
                .timeout(timeout)
                .user_agent(concat!("tollguard/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(
                    |e| tracing::error!(error = %e, "cannot create the HTTP client for webhooks"),
                )
                .ok();
            recipients.push(recipient(
                Channel::Webhook,
                name,
                &w.tenants,
                w.min_level,
                w.lang,
                parse_tz(w.timezone.as_deref(), w.lang),
            ));
            targets.push(Target::Webhook(WebhookTarget {
                client,
                url: w.url.clone(),
                format: w.format,
                headers,
                unusable,
            }));
        }
        for e in &config.email {
            let name = e
                .name
                .clone()
                .unwrap_or_else(|| format!("{} via {}:{}", e.to.join(", "), e.host, e.port()));
            let password = match &e.password_env {
                None => Ok(None),
                Some(var) => std::env::var(var)
                    .map(Some)
                    .map_err(|err| env_problem(var, &err, "SMTP password")),
            };
            if let Err(why) = &password {
                tracing::error!(channel = "email", recipient = %name, "{why}; its notifications will fail");
            }
            recipients.push(recipient(
                Channel::Email,
                name,
                &e.tenants,
                e.min_level,
                e.lang,
                parse_tz(e.timezone.as_deref(), e.lang),
            ));
            targets.push(Target::Email(EmailTarget::new(e, password, timeout)));
        }
        if let Some(s) = &config.syslog {
            recipients.push(recipient(
                Channel::Syslog,
                s.address.clone(),
                &s.tenants,
                s.min_level,
                s.lang,
                Tz::UTC,
            ));
            targets.push(Target::Syslog {
                target: SyslogTarget::parse(&s.address),
                facility: facility_code(&s.facility).unwrap_or(16),
                hostname: s.hostname.clone().unwrap_or_else(machine_name),
                app_name: s.app_name.clone(),
            });
        }
        let shared = Arc::new(Shared {
            recipients,
            queue_cap: config.queue.max(1),
            counters: Default::default(),
            deliveries,
            closing: AtomicBool::new(false),
        });
        let mut tasks = Vec::new();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                let window = Duration::from_secs_f64(config.collapse_secs.clamp(0.0, 3600.0));
                for (r, target) in shared.recipients.iter().zip(targets) {
                    let (tx, rx) = mpsc::channel(OUTBOX);
                    tasks.push(rt.spawn(collect(shared.clone(), r.clone(), window, tx)));
                    tasks.push(rt.spawn(deliver(
                        shared.clone(),
                        r.clone(),
                        target,
                        config.retry.clone(),
                        rx,
                    )));
                }
            }
            Err(_) => {
                tracing::error!(
                    "notifier started outside a Tokio runtime: no notification will be sent"
                );
            }
        }
        Notifier {
            shared,
            tasks: Arc::new(Tasks(Mutex::new(tasks))),
        }
    }

    /// Hands an alert over; never blocks, never fails. Recipients that do not want it never see it.
    pub fn send(&self, alert: Alert) {
        if self.shared.closing.load(Ordering::Relaxed) {
            return;
        }
        let wanted: Vec<&Arc<Recipient>> = self
            .shared
            .recipients
            .iter()
            .filter(|r| r.wants(&alert))
            .collect();
        let Some((last, others)) = wanted.split_last() else {
            return;
        };
        for r in others {
            self.enqueue(r, alert.clone());
        }
        self.enqueue(last, alert);
    }

    fn enqueue(&self, r: &Recipient, alert: Alert) {
        let dropped = {
            let mut q = r.queue.lock().unwrap_or_else(PoisonError::into_inner);
            let dropped = if q.len() >= self.shared.queue_cap {
                q.pop_front()
            } else {
                None
            };
            q.push_back(alert);
            dropped
        };
        if let Some(old) = dropped {
            self.shared
                .counters(r.channel)
                .dropped
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(channel = r.channel.as_str(), recipient = %r.name, rule = %old.decision.rule, "notification queue full: oldest alert dropped");
        }
        r.wake.notify_one();
    }

    /// Counters per channel since start.
    pub fn stats(&self) -> NotifyStats {
        NotifyStats {
            webhook: self.shared.counters(Channel::Webhook).snapshot(),
            email: self.shared.counters(Channel::Email).snapshot(),
            syslog: self.shared.counters(Channel::Syslog).snapshot(),
        }
    }

    /// Every delivery outcome from now on. A receiver that falls more than 1024 behind loses the oldest.
    pub fn subscribe_deliveries(&self) -> broadcast::Receiver<Delivery> {
        self.shared.deliveries.subscribe()
    }

    /// Stops taking alerts, sends at once what the storm windows hold (instead of at their end), and waits
    /// up to `deadline` for the messages under way to be delivered or given up. For a clean shutdown and
    /// for `tollguard demo`, whose replay ends before a window would. Alerts sent after this are dropped.
    pub async fn close(&self, deadline: Duration) {
        self.shared.closing.store(true, Ordering::SeqCst);
        for r in &self.shared.recipients {
            r.wake.notify_one();
        }
        let tasks: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.tasks.0.lock().unwrap_or_else(PoisonError::into_inner));
        let aborts: Vec<_> = tasks.iter().map(JoinHandle::abort_handle).collect();
        let all = async {
            for t in tasks {
                let _ = t.await;
            }
        };
        if tokio::time::timeout(deadline, all).await.is_err() {
            tracing::warn!("notifications still under way at shutdown were abandoned");
            for a in aborts {
                a.abort();
            }
        }
    }

    /// How many recipients are configured.
    pub fn recipients(&self) -> usize {
        self.shared.recipients.len()
    }
}

fn recipient(
    channel: Channel,
    name: String,
    tenants: &[String],
    min_level: Level,
    lang: Lang,
    tz: Tz,
) -> Arc<Recipient> {
    Arc::new(Recipient {
        channel,
        name,
        tenants: tenants.to_vec(),
        min_level,
        lang,
        tz,
        queue: Mutex::new(VecDeque::new()),
        wake: Notify::new(),
    })
}

/// Why a secret could not be read, for the log and each failed delivery.
fn env_problem(var: &str, e: &std::env::VarError, what: &str) -> String {
    match e {
        std::env::VarError::NotPresent => {
            format!("the environment variable {var} ({what}) is not set")
        }
        std::env::VarError::NotUnicode(_) => {
            format!("the environment variable {var} ({what}) is not valid UTF-8")
        }
    }
}

/// "https://hooks.slack.com": a webhook's path often is its secret, so logs and counters never show it.
fn url_origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    format!("{scheme}://{host}")
}

fn machine_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "-".to_owned())
}

/// A tenant's storm window at one recipient: alerts after the first are folded until `until`, except the
/// first of each rule and level, which goes at once — a scanner's warning must not hide, for a whole window,
/// the hijacked extension that starts calling Africa a minute later. What was sent at once is remembered for as
/// long as the storm goes on (the window is renewed), so a storm costs one message per rule and level, then one
/// collapsed message per window.
struct Window {
    until: Instant,
    burst: Burst,
    sent: Vec<(engine::RuleId, Level)>,
    /// Engine time of the storm's first alert, and its alerts so far (sent alone or folded).
    since: engine::Millis,
    total: u64,
}

impl Window {
    /// Whether this alert is the first of its rule and level in the storm (and remembers it).
    fn first_of_its_kind(&mut self, d: &engine::Decision) -> bool {
        if self.sent.iter().any(|(r, l)| *r == d.rule && *l == d.level) {
            return false;
        }
        self.sent.push((d.rule, d.level));
        true
    }
}

/// Takes alerts off the recipient's queue and turns them into messages: the first of a burst at once,
/// the rest folded into one message per window and tenant.
async fn collect(
    shared: Arc<Shared>,
    r: Arc<Recipient>,
    window: Duration,
    out: mpsc::Sender<Message>,
) {
    let window_secs = window.as_secs_f64().round() as u64;
    let mut windows: HashMap<String, Window> = HashMap::new();
    let counters = shared.counters(r.channel);
    let emit = |m: Message| {
        if let Err(mpsc::error::TrySendError::Full(m)) = out.try_send(m) {
            counters.dropped.fetch_add(m.alerts(), Ordering::Relaxed);
            tracing::warn!(channel = r.channel.as_str(), recipient = %r.name, "notification outbox full: message dropped");
        }
    };
    loop {
        loop {
            let next = r
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_front();
            let Some(alert) = next else { break };
            if window.is_zero() {
                emit(Message::alert(&alert, r.lang, r.tz));
                continue;
            }
            match windows.get_mut(&alert.tenant) {
                Some(w) => {
                    w.total += 1;
                    if w.first_of_its_kind(&alert.decision) {
                        emit(Message::alert(&alert, r.lang, r.tz));
                    } else {
                        w.burst.add(&alert.decision);
                    }
                }
                None => {
                    emit(Message::alert(&alert, r.lang, r.tz));
                    windows.insert(
                        alert.tenant.clone(),
                        Window {
                            until: Instant::now() + window,
                            burst: Burst::new(&alert.tenant, window_secs),
                            sent: vec![(alert.decision.rule, alert.decision.level)],
                            since: alert.decision.at,
                            total: 1,
                        },
                    );
                }
            }
        }
        let closing = shared.closing.load(Ordering::SeqCst);
        let now = Instant::now();
        // Windows that ended: send what they folded and keep watching (a storm that goes on gets one
        // message per window), or close them when nothing came.
        windows.retain(|_, w| {
            if w.until > now && !closing {
                return true;
            }
            if w.burst.count == 0 {
                return false;
            }
            let fresh = Burst::new(&w.burst.tenant, window_secs);
            let mut burst = std::mem::replace(&mut w.burst, fresh);
            burst.storm_since = Some(super::wording::local_time(w.since, r.tz));
            burst.storm_total = w.total;
            burst.finish();
            counters.collapsed.fetch_add(burst.count, Ordering::Relaxed);
            emit(Message::burst(burst, r.lang, Utc::now()));
            w.until = now + window;
            true
        });
        if closing {
            // Dropping `out` lets the sender finish what it has and stop.
            return;
        }
        let next_deadline = windows.values().map(|w| w.until).min();
        match next_deadline {
            Some(at) => {
                tokio::select! {
                    _ = r.wake.notified() => {}
                    _ = tokio::time::sleep_until(at) => {}
                }
            }
            None => r.wake.notified().await,
        }
    }
}

/// Delivers the recipient's messages one at a time, with retries.
async fn deliver(
    shared: Arc<Shared>,
    r: Arc<Recipient>,
    target: Target,
    retry: RetryConfig,
    mut rx: mpsc::Receiver<Message>,
) {
    let counters = shared.counters(r.channel);
    // Syslog over a datagram socket has no acknowledgement: one retry covers a socket hiccup.
    let syslog_retry = RetryConfig {
        attempts: retry.attempts.min(2),
        ..retry.clone()
    };
    while let Some(m) = rx.recv().await {
        let outcome = match &target {
            Target::Webhook(w) => with_retries(&retry, || w.post(&m)).await,
            Target::Email(e) => with_retries(&retry, || e.send(&m)).await,
            Target::Syslog {
                target,
                facility,
                hostname,
                app_name,
            } => match target {
                Ok(t) => {
                    let line = syslog_line(&m, *facility, hostname, app_name);
                    with_retries(&syslog_retry, || send_syslog(t, &line)).await
                }
                Err(e) => super::deliver::Outcome {
                    ok: false,
                    attempts: 0,
                    error: Some(e.clone()),
                },
            },
        };
        counters.retries.fetch_add(
            u64::from(outcome.attempts.saturating_sub(1)),
            Ordering::Relaxed,
        );
        let collapsed = matches!(m.content, super::payload::Content::Burst(_));
        if outcome.ok {
            counters.delivered.fetch_add(1, Ordering::Relaxed);
            tracing::info!(channel = r.channel.as_str(), recipient = %r.name, attempts = outcome.attempts, alerts = m.alerts(), subject = %m.headline, "notification delivered");
        } else {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(channel = r.channel.as_str(), recipient = %r.name, attempts = outcome.attempts, error = outcome.error.as_deref().unwrap_or(""), subject = %m.headline, "notification not delivered");
        }
        // Nobody listening is fine: the broadcast is for observers only.
        let _ = shared.deliveries.send(Delivery {
            channel: r.channel,
            recipient: r.name.clone(),
            ok: outcome.ok,
            subject: m.headline.clone(),
            alerts: m.alerts(),
            collapsed,
            attempts: outcome.attempts,
            error: outcome.error,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scanner's warning opens the tenant's storm window; the hijacked extension's first block, its kill
    /// switch and its first barred call a moment later must still go at once, and only the repeats fold.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_new_kind_of_alert_is_not_folded_into_an_earlier_storm() {
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = sock.local_addr().expect("addr");
        let config = NotifyConfig::from_toml_str(&format!(
            "[notify]\ncollapse_secs = 600\n[notify.syslog]\naddress = \"udp://{addr}\"\n"
        ))
        .expect("config");
        let n = Notifier::start(config);
        let mut deliveries = n.subscribe_deliveries();
        let alert = |rule: &str, level: Level| {
            let mut d = crate::notify::wording::tests::pumping();
            d.rule = rule.parse().expect("a rule name");
            d.level = level;
            Alert {
                id: None,
                tenant: "acme".to_owned(),
                decision: d,
            }
        };
        n.send(alert("auth_usernames_source", Level::Critical));
        n.send(alert("destination_country", Level::Critical));
        n.send(alert("destination_country", Level::Critical));
        n.send(alert("velocity_account_minute", Level::Warning));
        n.send(alert("velocity_account_minute", Level::Critical));
        for _ in 0..5 {
            n.send(alert("kill_switch", Level::Critical));
        }
        let mut at_once = Vec::new();
        while at_once.len() < 5 {
            let d = tokio::time::timeout(Duration::from_secs(10), deliveries.recv())
                .await
                .expect("a delivery within 10 s")
                .expect("delivery");
            assert!(!d.collapsed, "{d:?}");
            at_once.push(d.subject);
        }
        assert!(at_once[0].contains("extension scanning"), "{at_once:?}");
        // The repeats wait for the window (600 s): closing sends them as one message with their count.
        n.close(Duration::from_secs(5)).await;
        let d = tokio::time::timeout(Duration::from_secs(10), deliveries.recv())
            .await
            .expect("the collapsed message")
            .expect("delivery");
        assert!(d.collapsed, "{d:?}");
        assert_eq!(
            d.alerts, 5,
            "1 destination_country + 4 kill_switch folded: {d:?}"
        );
        // The collapsed message says since when the storm goes on and how many alerts it made in all.
        let mut buf = vec![0u8; 65_536];
        let mut lines = Vec::new();
        while lines.len() < 6 {
            let (n, _) = tokio::time::timeout(Duration::from_secs(10), sock.recv_from(&mut buf))
                .await
                .expect("a syslog line within 10 s")
                .expect("recv");
            lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        let since = crate::notify::wording::local_time(
            crate::notify::wording::tests::pumping().at,
            chrono_tz::UTC,
        );
        assert!(
            lines[5].contains(&format!("storm going on since {since}, 10 alerts so far")),
            "{lines:?}"
        );
    }

    #[test]
    fn url_origin_hides_path_query_and_credentials() {
        assert_eq!(
            url_origin("https://hooks.slack.com/services/T0/B0/secret?x=1"),
            "https://hooks.slack.com"
        );
        assert_eq!(
            url_origin("http://user:pw@127.0.0.1:8080/x"),
            "http://127.0.0.1:8080"
        );
    }
}
