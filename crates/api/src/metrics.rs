//! Prometheus metrics (prometheus-client, OpenMetrics text at `GET /metrics`): API requests by method, route
//! and outcome; bans and kill switches active and engine keys tracked (read from the guard at each scrape);
//! API request durations.
//!
//! Read at each scrape by collectors rather than counted here: calls by verdict, alerts by rule and severity
//! and money at stake per tenant (`tollguard_calls_total`, `_alerts_total`, `_money_at_stake_total`, counted
//! by the decision layer where it decides, since the guard started, see `decide::tally`); the guard's
//! decision latency histogram
//! (`tollguard_decision_latency_seconds`, from the INVITE read off the socket to the verdict, since the guard
//! started; the guard records it in atomic buckets, see `decide::latency`) and the notifier's delivery
//! counters by channel (`tollguard_notify_*_total`, present when `[notify]` has recipients).
//! `tollguard_api_request_duration_seconds` measures the API's own handling time.

use std::sync::{Arc, OnceLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::notify::{ChannelStats, Notifier};

type Labels = Vec<(&'static str, String)>;

/// Every metric of the API, registered once.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    request_seconds: Family<Labels, Histogram>,
    auth_failures: Counter,
    decide_fallbacks: Counter,
    bans_active: Gauge,
    kill_switches_active: Gauge,
    engine_keys: Family<Labels, Gauge>,
    calls_in_progress: Gauge,
    overload_shed: Family<Labels, Counter>,
    sources: Arc<Sources>,
}

/// What the collectors read at each scrape, attached once known.
#[derive(Default)]
struct Sources {
    guard: OnceLock<decide::control::GuardHandle>,
    notifier: OnceLock<Notifier>,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("guard", &self.guard.get().is_some())
            .field("notifier", &self.notifier.get().is_some())
            .finish()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("tollguard");
        let requests = Family::<Labels, Counter>::default();
        registry.register(
            "api_requests",
            "API requests by method, route and outcome (HTTP status)",
            requests.clone(),
        );
        let request_seconds =
            Family::<Labels, Histogram>::new_with_constructor(new_request_histogram as fn() -> _);
        registry.register(
            "api_request_duration_seconds",
            "Time the API took to answer, by route",
            request_seconds.clone(),
        );
        let auth_failures = Counter::default();
        registry.register(
            "api_auth_failures",
            "Requests refused for a missing, wrong or revoked token, or rate-limited",
            auth_failures.clone(),
        );
        let decide_fallbacks = Counter::default();
        registry.register(
            "api_decide_fallbacks",
            "Call attempts answered by [api] decide_fail because the guard did not decide in time",
            decide_fallbacks.clone(),
        );
        let bans_active = Gauge::default();
        registry.register(
            "bans_active",
            "Source addresses banned now",
            bans_active.clone(),
        );
        let kill_switches_active = Gauge::default();
        registry.register(
            "kill_switches_active",
            "Kill switches in force now",
            kill_switches_active.clone(),
        );
        let engine_keys = Family::<Labels, Gauge>::default();
        registry.register(
            "engine_keys_tracked",
            "Keys the engine keeps state for, by kind (accounts, tenants, sources, numbers, ranges)",
            engine_keys.clone(),
        );
        let calls_in_progress = Gauge::default();
        registry.register(
            "calls_in_progress",
            "Calls in progress through the guard",
            calls_in_progress.clone(),
        );
        let overload_shed = Family::<Labels, Counter>::default();
        registry.register(
            "guard_overload_shed",
            "Messages the guard's receive tasks did not queue for the core because it was overloaded, by class \
             (options: OPTIONS and other requests outside a dialog; register; call: new INVITEs answered 503; \
             lost: in-dialog or emergency messages that found the queue full, should stay 0), since it started",
            overload_shed.clone(),
        );
        let sources = Arc::new(Sources::default());
        registry.register_collector(Box::new(DecisionLatencyCollector(sources.clone())));
        registry.register_collector(Box::new(TallyCollector(sources.clone())));
        registry.register_collector(Box::new(NotifyCollector(sources.clone())));
        Metrics {
            registry,
            sources,
            requests,
            request_seconds,
            auth_failures,
            decide_fallbacks,
            bans_active,
            kill_switches_active,
            engine_keys,
            calls_in_progress,
            overload_shed,
        }
    }

    /// Exports the guard's decision latency histogram (read from `handle` at each scrape). Once.
    pub fn watch_guard(&self, handle: decide::control::GuardHandle) {
        let _ = self.sources.guard.set(handle);
    }

    /// Exports the notifier's delivery counters (read from it at each scrape). Once.
    pub fn watch_notifier(&self, notifier: Notifier) {
        let _ = self.sources.notifier.set(notifier);
    }

    pub fn request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&vec![
                ("method", method.to_owned()),
                ("route", route.to_owned()),
                ("outcome", status.to_string()),
            ])
            .inc();
        self.request_seconds
            .get_or_create(&vec![("route", route.to_owned())])
            .observe(seconds);
    }

    pub fn auth_failure(&self) {
        self.auth_failures.inc();
    }

    /// One call attempt answered by the failure mode of the decision API.
    pub fn decide_fallback(&self) {
        self.decide_fallbacks.inc();
    }

    /// Counts one live event.
    /// Sets the gauges from the guard's status.
    pub fn guard_status(&self, s: &decide::control::GuardStatus) {
        let g = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        self.bans_active.set(g(s.bans_active));
        self.kill_switches_active.set(g(s.kill_switches.len()));
        self.calls_in_progress.set(g(s.calls_in_progress));
        for (class, n) in [
            ("options", s.stats.shed_options),
            ("register", s.stats.shed_registers),
            ("call", s.stats.shed_calls),
            ("lost", s.stats.overload_lost),
        ] {
            // The guard's counters are totals since it started: the counter catches up with them.
            let c = self
                .overload_shed
                .get_or_create(&vec![("class", class.to_owned())]);
            c.inc_by(n.saturating_sub(c.get()));
        }
        for (kind, n) in [
            ("accounts", s.sizes.accounts),
            ("tenants", s.sizes.tenants),
            ("sources", s.sizes.sources),
            ("numbers", s.sizes.numbers),
            ("ranges", s.sizes.ranges),
        ] {
            self.engine_keys
                .get_or_create(&vec![("kind", kind.to_owned())])
                .set(g(n));
        }
    }

    /// The OpenMetrics text.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// `tollguard_decision_latency_seconds` from the guard's atomic buckets.
#[derive(Debug)]
struct DecisionLatencyCollector(Arc<Sources>);

impl Collector for DecisionLatencyCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(handle) = self.0.guard.get() else {
            return Ok(());
        };
        let snap = handle.decision_latency();
        let mut m = encoder.encode_descriptor(
            "decision_latency_seconds",
            "Time from an outbound INVITE read off the socket to its verdict (engine decision and policy \
             applied), one count per call attempt decided, since the guard started.",
            None,
            MetricType::Histogram,
        )?;
        // The encoder accumulates: it takes the count of each bucket alone.
        m.encode_histogram::<NoLabelSet>(snap.sum_seconds, snap.count(), &snap.per_bucket(), None)
    }
}

/// `tollguard_calls_total{verdict}`, `tollguard_alerts_total{rule,severity}` and
/// `tollguard_money_at_stake_total{tenant,currency}` from the decision layer's counters.
#[derive(Debug)]
struct TallyCollector(Arc<Sources>);

impl Collector for TallyCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(handle) = self.0.guard.get() else {
            return Ok(());
        };
        let t = handle.decision_tally();
        let mut m = encoder.encode_descriptor(
            "calls",
            "Outbound call attempts by verdict (allowed, blocked, emergency), since the guard started",
            None,
            MetricType::Counter,
        )?;
        for (outcome, n) in t.calls {
            let labels = [("verdict", outcome.as_str())];
            ConstCounter::new(n).encode(m.encode_family(&labels)?)?;
        }
        let mut m = encoder.encode_descriptor(
            "alerts",
            "Engine decisions (alerts) by rule and severity, since the guard started",
            None,
            MetricType::Counter,
        )?;
        for (rule, level, n) in t.alerts {
            let severity = match level {
                engine::Level::Warning => "warning",
                engine::Level::Critical => "critical",
            };
            let labels = [("rule", rule.as_str()), ("severity", severity)];
            ConstCounter::new(n).encode(m.encode_family(&labels)?)?;
        }
        let mut m = encoder.encode_descriptor(
            "money_at_stake",
            "Sum of the money at stake of decisions, by tenant and currency, since the guard started",
            None,
            MetricType::Counter,
        )?;
        for (tenant, currency, millis) in &t.at_stake {
            let labels = [("tenant", tenant.as_str()), ("currency", currency.as_str())];
            #[allow(clippy::cast_precision_loss)]
            let amount = *millis as f64 / 1000.0;
            ConstCounter::new(amount).encode(m.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// `tollguard_notify_*_total{channel}` from the notifier's counters.
#[derive(Debug)]
struct NotifyCollector(Arc<Sources>);

type ChannelFigure = fn(&ChannelStats) -> u64;

const NOTIFY_COUNTERS: [(&str, &str, ChannelFigure); 5] = [
    (
        "notify_delivered",
        "Notification messages delivered, by channel (webhook, email, syslog).",
        |c| c.delivered,
    ),
    (
        "notify_failed",
        "Notification messages given up (after their retries, or refused for good), by channel.",
        |c| c.failed,
    ),
    (
        "notify_retries",
        "Notification delivery attempts beyond the first, by channel.",
        |c| c.retries,
    ),
    (
        "notify_dropped",
        "Alerts not notified because a recipient's queue was full, by channel.",
        |c| c.dropped,
    ),
    (
        "notify_collapsed",
        "Alerts folded into a storm summary instead of going out alone, by channel.",
        |c| c.collapsed,
    ),
];

impl Collector for NotifyCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(notifier) = self.0.notifier.get() else {
            return Ok(());
        };
        let stats = notifier.stats();
        for (name, help, figure) in NOTIFY_COUNTERS {
            let mut m = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (channel, s) in [
                ("webhook", &stats.webhook),
                ("email", &stats.email),
                ("syslog", &stats.syslog),
            ] {
                let labels = [("channel", channel)];
                ConstCounter::new(figure(s)).encode(m.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

fn new_request_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 14))
}
