//! `tollguard analyze` and `tollguard backtest`: call detail records replayed through the engine, and what it
//! found (were you hit, since when, how many calls, how much money) or what a policy would have done (calls
//! blocked, money saved, legitimate calls blocked, how fast each attack was stopped).
//!
//! The replay itself is crate `replay`; this module reads the files, builds the site's settings (the guard's
//! configuration with `--config`, else the defaults a new site gets), tallies the outcomes and renders them.

use std::collections::{BTreeMap, HashMap};

/// The report's per-call maps (looked up for every call): foldhash instead of SipHash, which cost ~250
/// instructions per lookup here. Their contents are sorted before they are shown, so their order never matters.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
use std::fs::File;
use std::io::{BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use cdr::{CdrFormat, CdrReader, ReadOptions};
use engine::{Action, Decision, DestClass, Level, Millis, Policy, Verdict};
use numbering::{Currency, Numbering, Scope};
use replay::{Call, Label, LaterDecisions, Outcome, Replay, Sink, Site};
use serde_json::{Value, json};

use crate::html;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Options shared by `analyze` and `backtest`.
#[derive(Debug, clap::Args)]
pub struct Common {
    /// CDR files (Asterisk Master.csv, cdr_custom, FreeSWITCH CSV/JSON, Kamailio/OpenSIPS acc); `-` for stdin.
    #[arg(required_unless_present = "sample")]
    pub files: Vec<PathBuf>,
    /// Analyse an embedded sample instead of files: two weeks of a small Tokyo office's calls with the 2015
    /// weekend attack (a hijacked extension pumping ~30 s calls to Sierra Leone from Friday 19:30).
    #[arg(long, conflicts_with = "files")]
    pub sample: bool,
    /// Output for people (text) or machines (json: every decision with the CDR's call id and line).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also write a self-contained HTML report with charts.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// CDR format, when auto-detection is not wanted (asterisk-csv, asterisk-custom, freeswitch-csv,
    /// freeswitch-json, kamailio-acc).
    #[arg(long = "cdr-format", value_name = "NAME")]
    pub cdr_format: Option<String>,
    /// The guard's configuration, the file `serve` runs with: the calls are judged with its numbering (dial
    /// plan, risk lists, tariffs), its policy (and so its site time zone and currency), its tenants and its
    /// trusted networks. Without it: a Japanese site with the built-in lists, tariffs and policy.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Time zone of the CDR times and of the report (default: the policy's site time zone, Asia/Tokyo).
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// Longest call in seconds: how far a CDR may come after its call started (CDRs are written at hang-up).
    #[arg(long, default_value_t = 4 * 3600, value_name = "SECS")]
    pub reorder_window: u32,
    /// No progress display.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub common: Common,
    /// Policy to judge the calls by, instead of the --config file's (default: the --config file's policy, else
    /// the built-in policy a new site gets).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    /// The policy to test (default with --config: the configuration's own policy).
    #[arg(long, value_name = "FILE", required_unless_present = "config")]
    pub policy: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Analyze,
    Backtest,
}

pub fn run_analyze(args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let site = load_site(args.common.config.as_deref(), args.policy.as_deref())?;
    let report = replay_files(&args.common, site, args.policy.as_deref(), Mode::Analyze)?;
    output(&args.common, &report)?;
    // Exit 1 when fraud was found in the user's files, so scripts and cron jobs can act on it (the embedded
    // sample is meant to be hit).
    Ok(if report.hit() && !args.common.sample {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn run_backtest(args: BacktestArgs) -> anyhow::Result<ExitCode> {
    let site = load_site(args.common.config.as_deref(), args.policy.as_deref())?;
    let report = replay_files(&args.common, site, args.policy.as_deref(), Mode::Backtest)?;
    output(&args.common, &report)?;
    Ok(ExitCode::SUCCESS)
}

/// The site's settings: the guard's configuration read by the loader `serve` uses (every error with its
/// file:line), its policy replaced by `--policy` when given; without a configuration the defaults.
fn load_site(config: Option<&Path>, policy: Option<&Path>) -> anyhow::Result<Site> {
    let Some(path) = config else {
        return Ok(Site::new(
            Arc::new(Numbering::japan_defaults()),
            load_policy(policy)?,
        ));
    };
    let settings = guard::Settings::load(path).map_err(|errors| {
        anyhow::anyhow!(
            "{errors}\n{} has {} error(s) (`tollguard check-config {}` explains them); nothing was replayed",
            path.display(),
            errors.0.len(),
            path.display()
        )
    })?;
    // The loader has checked the numbering already; this reads its lists and tables as `serve` does.
    let numbering = Numbering::from_config(&settings.numbering)
        .map_err(|e| anyhow::anyhow!("{}: [numbering]: {e}", path.display()))?;
    let policy = match policy {
        Some(_) => load_policy(policy)?,
        None => settings.policy.clone(),
    };
    Ok(Site::new(Arc::new(numbering), policy)
        .with_tenants(replay_tenants(&settings))
        .with_facts(settings.decide_config().site()))
}

/// The configuration's tenants as the replay attributes calls to them. The guard's implicit tenant (no
/// `[[tenant]]` section: one nameless tenant without accounts or networks) attributes nothing: then each record's
/// own tenant stands, as without a configuration.
fn replay_tenants(settings: &guard::Settings) -> Vec<replay::Tenant> {
    let implicit =
        |t: &decide::Tenant| t.name.is_empty() && t.accounts.is_empty() && t.pbx_sources.is_empty();
    if settings.tenants.iter().all(implicit) {
        return Vec::new();
    }
    settings
        .tenants
        .iter()
        .map(|t| replay::Tenant {
            name: t.name.clone(),
            pbx_sources: t.pbx_sources.clone(),
            accounts: t.accounts.clone(),
        })
        .collect()
}

fn load_policy(path: Option<&Path>) -> anyhow::Result<Policy> {
    match path {
        None => Ok(Policy::default()),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read the policy file {}", p.display()))?;
            Policy::from_toml_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
        }
    }
}

/// Counts bytes read so that the progress display can say how far into a file the reader is.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// `policy`: the `--policy` file, if any (named in the report).
fn replay_files(
    common: &Common,
    site: Site,
    policy: Option<&Path>,
    mode: Mode,
) -> anyhow::Result<Report> {
    let tz: cdr::Tz = match &common.tz {
        Some(name) => name.parse().map_err(|_| {
            anyhow::anyhow!("unknown time zone {name:?}: use an IANA name such as Asia/Tokyo")
        })?,
        None => site.time_zone(),
    };
    let format = match &common.cdr_format {
        Some(name) => Some(
            name.parse::<CdrFormat>()
                .map_err(|e| anyhow::anyhow!("--cdr-format {name}: {e}"))?,
        ),
        None => None,
    };
    let currency = site.currency();
    let mut replay = Replay::new(site, common.reorder_window);
    let mut report = Report::new(mode, tz, currency, common.format == Format::Json)?;
    report.config = common.config.as_ref().map(|p| p.display().to_string());
    report.settings_note = common.config.as_ref().map(|c| {
        let policy = policy.map_or_else(|| c.display().to_string(), |p| p.display().to_string());
        format!(
            "Numbering (dial plan, risk lists, tariffs), tenants and trusted networks from {}; policy from {policy}.",
            c.display()
        )
    });
    let progress = !common.quiet && std::io::stderr().is_terminal();

    let mut inputs: Vec<(String, Box<dyn Read>, u64)> = Vec::new();
    if common.sample {
        let mut buf = Vec::new();
        cdr::synth::write_master_csv(&cdr::synth::weekend_pump(2015), &mut buf)
            .context("cannot generate the embedded sample")?;
        let size = buf.len() as u64;
        inputs.push((
            "embedded-sample/Master.csv".into(),
            Box::new(std::io::Cursor::new(buf)),
            size,
        ));
    }
    for path in &common.files {
        if path.as_os_str() == "-" {
            inputs.push(("-".into(), Box::new(std::io::stdin().lock()), 0));
        } else {
            let f = File::open(path)
                .with_context(|| format!("cannot open the CDR file {}", path.display()))?;
            let size = f.metadata().map(|m| m.len()).unwrap_or(0);
            inputs.push((path.display().to_string(), Box::new(f), size));
        }
    }

    for (idx, (name, input, size)) in inputs.into_iter().enumerate() {
        let file_no = u16::try_from(idx).unwrap_or(u16::MAX);
        let read = Arc::new(AtomicU64::new(0));
        let input = BufReader::with_capacity(
            256 * 1024,
            Counting {
                inner: input,
                read: read.clone(),
            },
        );
        let opts = ReadOptions {
            format,
            site_tz: tz,
            ..ReadOptions::default()
        };
        let mut reader = CdrReader::new(input, opts).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let mut stat = FileStat {
            path: name.clone(),
            format: String::new(),
            records: 0,
            errors: 0,
            first_errors: Vec::new(),
        };
        let mut next_progress = 0u64;
        while let Some(item) = reader.next_ref() {
            // Matched by reference: moving the record out copied its ~400 bytes for every line.
            match &item {
                Ok(rec) => {
                    stat.records += 1;
                    replay.push(file_no, rec, &mut report);
                    report.peak_held = report.peak_held.max(replay.held());
                }
                Err(e) => {
                    stat.errors += 1;
                    if stat.first_errors.len() < 5 {
                        stat.first_errors.push(format!("{name}:{e}"));
                    }
                    tracing::debug!(file = %name, line = e.line, "CDR line skipped: {e}");
                    if e.is_fatal() {
                        break;
                    }
                }
            }
            if progress && stat.records >= next_progress {
                next_progress = stat.records + 100_000;
                let done = read.load(Ordering::Relaxed);
                let pct = (done * 100).checked_div(size).unwrap_or(0);
                eprint!(
                    "\r{name}: {} records, {pct}%, {} suspicious   ",
                    numbering::group_thousands(stat.records as i64),
                    numbering::group_thousands(report.blocked as i64)
                );
            }
        }
        stat.format = reader
            .format()
            .map(|f| f.name().to_string())
            .unwrap_or_default();
        report.files.push(stat);
    }
    replay.finish(&mut report);
    report.close_hour();
    if progress {
        eprint!("\r{:60}\r", "");
    }
    report.late_records = replay.late_records;
    if let Some(log) = report.log.as_mut() {
        log.finish()?;
    }
    report.engine_state = serde_json::to_value(replay.engine().sizes()).unwrap_or(Value::Null);
    Ok(report)
}

// ---- the tally ------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct FileStat {
    path: String,
    format: String,
    records: u64,
    errors: u64,
    first_errors: Vec<String>,
}

/// Calls and money.
#[derive(Debug, Default, Clone, Copy)]
struct Count {
    calls: u64,
    millis: i64,
}

impl Count {
    fn add(&mut self, millis: i64) {
        self.calls += 1;
        self.millis += millis;
    }
}

#[derive(Debug, Default)]
struct AccountTally {
    tenant: String,
    account: String,
    all: Count,
    blocked: Count,
    first_alert: Option<Millis>,
    first_block: Option<Millis>,
    /// Calls that passed between the first alert and the first block.
    before_block: Count,
}

#[derive(Debug, Default)]
struct AttackTally {
    all: Count,
    blocked: Count,
    first_call: Option<Millis>,
    first_block: Option<Millis>,
    /// Fraud calls that passed before the first block.
    before_block: Count,
}

/// Alerts with the same rule, key and action, collapsed.
#[derive(Debug)]
struct AlertGroup {
    /// (rule, tenant/account or the decision's key, action): what groups the alerts, and their last sort key.
    key: (String, String, &'static str),
    first: Decision,
    count: u64,
    last_at: Millis,
    stake_max: i64,
}

/// One call the report lists individually (a legitimate-looking call that was blocked).
#[derive(Debug, Clone)]
struct ListedCall {
    at: Millis,
    file: u16,
    line: u64,
    call_id: String,
    account: String,
    dialed: String,
    destination: String,
    rule: String,
    reason: String,
}

const GROUPS: [&str; 4] = ["domestic", "international", "premium/satellite", "other"];

fn group_of(class: DestClass) -> usize {
    match class {
        DestClass::Domestic | DestClass::Mobile | DestClass::TollFree | DestClass::SharedCost => 0,
        DestClass::International => 1,
        DestClass::Premium | DestClass::Satellite => 2,
        _ => 3,
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Hour {
    calls: [u64; 4],
    millis: [i64; 4],
    blocked: u64,
    blocked_millis: i64,
}

impl Hour {
    fn merge(&mut self, o: &Hour) {
        for i in 0..4 {
            self.calls[i] += o.calls[i];
            self.millis[i] += o.millis[i];
        }
        self.blocked += o.blocked;
        self.blocked_millis += o.blocked_millis;
    }
}

struct Report {
    mode: Mode,
    /// The guard configuration the site's settings came from (`--config`), and what the text report says of it.
    config: Option<String>,
    settings_note: Option<String>,
    tz: cdr::Tz,
    currency: Currency,
    files: Vec<FileStat>,
    late_records: u64,
    all: Count,
    answered: u64,
    first_at: Option<Millis>,
    last_at: Option<Millis>,
    blocked: u64,
    blocked_money: i64,
    warned: u64,
    emergency: u64,
    emergency_blocked: u64,
    first_critical: Option<Millis>,
    /// "tenant\u{1f}account" → index into `account_list`; looked up through `key_buf` without allocating.
    accounts: FastMap<String, usize>,
    account_list: Vec<AccountTally>,
    /// The index last found for each of [`ACCOUNT_MEMO`] slots of a (tenant, account) hash, checked against
    /// `account_list` before use: calls come from a few dozen accounts, and the memo spares the joined key and
    /// the map's hashing and probe for nearly all of them.
    account_memo: Vec<u32>,
    key_buf: String,
    blocked_destinations: FastMap<DestKey, Count>,
    destinations: FastMap<DestKey, Count>,
    hours: BTreeMap<i64, Hour>,
    /// The hour being tallied: calls come in start order, so nearly every call falls in it (a map lookup per call
    /// was 2 % of a run). Merged into `hours` when another hour comes, and at the end ([`Report::close_hour`]).
    open_hour: Option<(i64, Hour)>,
    /// Alert groups by their key joined with U+001F (see `AlertGroup::key`), looked up through `alert_key_buf`
    /// without allocating: most calls of a busy site carry a decision.
    alerts: FastMap<String, AlertGroup>,
    alert_key_buf: String,
    /// Every decision, for `--format json`: streamed to a spool file, not kept in memory.
    log: Option<DecisionLog>,
    labelled: bool,
    attacks: BTreeMap<String, AttackTally>,
    legit: Count,
    legit_blocked: Count,
    /// Legitimate (labelled) or legitimate-looking (domestic, not obfuscated) calls that were blocked.
    listed: Vec<ListedCall>,
    listed_total: u64,
    /// Most calls the replay held in memory at once (bounded by the reorder window, not the file size).
    peak_held: usize,
    engine_state: Value,
}

const MAX_ACCOUNTS: usize = 100_000;
const MAX_DESTINATIONS: usize = 10_000;
const MAX_LISTED: usize = 200;

fn action_kind(a: &Action) -> &'static str {
    match a {
        Action::Warn => "warn",
        Action::Block { .. } => "block",
        Action::Ban { .. } => "ban",
        Action::Bar { .. } => "bar",
        Action::EndCalls { .. } => "end_calls",
    }
}

/// Where calls went, as the report groups them: a country, or a class at home. Copy, so counting a call
/// allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum DestKey {
    Country(&'static str, u16),
    Home(DestClass),
    Emergency,
}

impl DestKey {
    fn of(d: &numbering::Destination) -> DestKey {
        if d.is_emergency() {
            return DestKey::Emergency;
        }
        match (&d.country, d.scope) {
            (Some(c), Scope::International) => DestKey::Country(c.name, c.calling_code),
            _ => DestKey::Home(DestClass::of(d)),
        }
    }
}

impl std::fmt::Display for DestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DestKey::Country(name, code) => write!(f, "{name} +{code}"),
            DestKey::Home(DestClass::Domestic) => f.write_str("domestic fixed"),
            DestKey::Home(DestClass::International) => f.write_str("international"),
            DestKey::Home(c) => write!(f, "domestic {}", c.as_str()),
            DestKey::Emergency => f.write_str("emergency"),
        }
    }
}

impl Report {
    fn new(mode: Mode, tz: cdr::Tz, currency: Currency, keep_log: bool) -> anyhow::Result<Report> {
        let log = if keep_log {
            Some(DecisionLog::create()?)
        } else {
            None
        };
        Ok(Report {
            mode,
            config: None,
            settings_note: None,
            tz,
            currency,
            files: Vec::new(),
            late_records: 0,
            all: Count::default(),
            answered: 0,
            first_at: None,
            last_at: None,
            blocked: 0,
            blocked_money: 0,
            warned: 0,
            emergency: 0,
            emergency_blocked: 0,
            first_critical: None,
            accounts: FastMap::default(),
            account_list: Vec::new(),
            account_memo: vec![u32::MAX; ACCOUNT_MEMO],
            key_buf: String::new(),
            blocked_destinations: FastMap::default(),
            destinations: FastMap::default(),
            hours: BTreeMap::new(),
            open_hour: None,
            alerts: FastMap::default(),
            alert_key_buf: String::new(),
            labelled: false,
            attacks: BTreeMap::new(),
            legit: Count::default(),
            legit_blocked: Count::default(),
            listed: Vec::new(),
            listed_total: 0,
            peak_held: 0,
            engine_state: Value::Null,
            log,
        })
    }

    fn hit(&self) -> bool {
        self.first_critical.is_some() || self.blocked > 0
    }

    fn money(&self, millis: i64) -> String {
        format!(
            "{} {}",
            numbering::group_thousands((millis + 500).div_euclid(1000)),
            self.currency.as_str()
        )
    }

    fn local(&self, at: Millis) -> String {
        chrono::DateTime::from_timestamp_millis(at)
            .map(|t| {
                t.with_timezone(&self.tz)
                    .format("%a %Y-%m-%d %H:%M:%S")
                    .to_string()
            })
            .unwrap_or_else(|| at.to_string())
    }

    fn local_iso(&self, at: Millis) -> String {
        chrono::DateTime::from_timestamp_millis(at)
            .map(|t| t.with_timezone(&self.tz).to_rfc3339())
            .unwrap_or_else(|| at.to_string())
    }

    fn note_decisions(&mut self, call: &Call, decisions: &[Decision]) {
        for d in decisions {
            if d.level == Level::Critical && !d.shadow {
                self.first_critical.get_or_insert(d.at);
            }
            // One line per rule, account and action: 10,000 blocked calls of one pump are one alert, counted.
            let by_call = !(call.account().is_empty() && call.tenant().is_empty());
            let action = action_kind(&d.action);
            let buf = &mut self.alert_key_buf;
            buf.clear();
            buf.push_str(d.rule.as_str());
            buf.push('\u{1f}');
            if by_call {
                buf.push_str(call.tenant());
                buf.push('/');
                buf.push_str(call.account());
            } else {
                use std::fmt::Write as _;
                let _ = write!(buf, "{}", d.subject);
            }
            buf.push('\u{1f}');
            buf.push_str(action);
            let stake = d.at_stake.map_or(0, |a| a.millis);
            let room = self.alerts.len() < 100_000;
            match self.alerts.get_mut(self.alert_key_buf.as_str()) {
                Some(g) => {
                    g.count += 1;
                    g.last_at = g.last_at.max(d.at);
                    g.stake_max = g.stake_max.max(stake);
                }
                None if room => {
                    let who = if by_call {
                        format!("{}/{}", call.tenant(), call.account())
                    } else {
                        d.key()
                    };
                    self.alerts.insert(
                        self.alert_key_buf.clone(),
                        AlertGroup {
                            key: (d.rule.as_str().to_owned(), who, action),
                            first: d.clone(),
                            count: 1,
                            last_at: d.at,
                            stake_max: stake,
                        },
                    );
                }
                None => {}
            }
            if let Some(log) = self.log.as_mut() {
                log.write(&LoggedDecision {
                    account: call.account(),
                    at: d.at,
                    at_local: chrono::DateTime::from_timestamp_millis(d.at)
                        .map(|t| t.with_timezone(&self.tz).to_rfc3339()),
                    call_id: call.call_id(),
                    decision: d,
                    dialed: call.dialed(),
                    file: call.file,
                    line: call.line,
                    tenant: call.tenant(),
                });
            }
        }
    }
}

impl Sink for Report {
    fn call(&mut self, o: Outcome<'_>) {
        let call = o.call;
        let cost = o.cost.map_or(0, |m| m.millis);
        self.all.add(cost);
        if call.answered() {
            self.answered += 1;
        }
        self.first_at = Some(self.first_at.map_or(call.start, |t| t.min(call.start)));
        self.last_at = Some(self.last_at.map_or(call.start, |t| t.max(call.start)));
        let class = DestClass::of(o.destination);
        let key = call.start.div_euclid(3_600_000);
        if self.open_hour.is_some_and(|(k, _)| k != key) {
            self.close_hour();
        }
        let (_, hour) = self.open_hour.get_or_insert((key, Hour::default()));
        let g = group_of(class);
        hour.calls[g] += 1;
        hour.millis[g] += cost;
        let blocked = o.verdict.is_block();
        if blocked {
            hour.blocked += 1;
            hour.blocked_millis += cost;
        }
        if o.destination.is_emergency() {
            self.emergency += 1;
            if blocked {
                self.emergency_blocked += 1;
            }
        }
        let dest = DestKey::of(o.destination);
        if matches!(dest, DestKey::Country(..)) {
            bump(&mut self.destinations, dest, cost);
        }
        match o.verdict {
            Verdict::Block { .. } => {
                self.blocked += 1;
                self.blocked_money += cost;
                bump(&mut self.blocked_destinations, dest, cost);
            }
            Verdict::Warn => self.warned += 1,
            Verdict::Allow => {}
        }

        // Per account: where the first alert and the first block fell.
        if let Some(i) = self.account_index(call.tenant(), call.account(), true) {
            let a = &mut self.account_list[i];
            a.all.add(cost);
            if !o.decisions.is_empty() || blocked {
                a.first_alert.get_or_insert(call.start);
            }
            if blocked {
                a.blocked.add(cost);
                a.first_block.get_or_insert(call.start);
            } else if a.first_alert.is_some() && a.first_block.is_none() {
                a.before_block.add(cost);
            }
        }

        // Ground truth, when the CDRs carry it.
        let label = call.label();
        // The strongest decision's rule and reason, copied only for a call that gets listed.
        let top_rule = || {
            o.decisions
                .iter()
                .max_by_key(|d| d.level)
                .map(|d| (d.rule.as_str().to_owned(), d.reason.clone()))
        };
        match label {
            Label::Unknown => {
                let looks_legit =
                    matches!(group_of(class), 0) && !o.destination.flags.is_obfuscated();
                if blocked && looks_legit && !self.labelled {
                    self.list(call, o.destination, top_rule());
                }
            }
            Label::Legit => {
                self.labelled = true;
                self.legit.add(cost);
                if blocked {
                    self.legit_blocked.add(cost);
                    self.list(call, o.destination, top_rule());
                }
            }
            Label::Fraud(name) => {
                self.labelled = true;
                if !self.attacks.contains_key(name) {
                    self.attacks
                        .insert(name.to_string(), AttackTally::default());
                }
                let Some(t) = self.attacks.get_mut(name) else {
                    return;
                };
                t.all.add(cost);
                t.first_call.get_or_insert(call.start);
                if blocked {
                    t.blocked.add(cost);
                    t.first_block.get_or_insert(call.start);
                } else if t.first_block.is_none() {
                    t.before_block.add(cost);
                }
            }
        }
        self.note_decisions(call, o.decisions);
    }

    fn later(&mut self, l: LaterDecisions<'_>) {
        if let Some(i) = self.account_index(l.call.tenant(), l.call.account(), false) {
            self.account_list[i]
                .first_alert
                .get_or_insert(l.decisions.first().map_or(l.call.start, |d| d.at));
        }
        self.note_decisions(l.call, l.decisions);
    }
}

/// Slots of `Report::account_memo` (a power of two).
const ACCOUNT_MEMO: usize = 256;

/// A cheap hash of an account (its last bytes) and its tenant (its length) to a memo slot; a collision only costs
/// the map lookup.
fn account_memo_slot(tenant: &str, account: &str) -> usize {
    let mut h = tenant.len() as u64;
    for &b in account.as_bytes().iter().rev().take(8) {
        h = (h << 8) | u64::from(b);
    }
    // Fibonacci hashing: the multiply carries every byte into the top bits, which pick the slot.
    (h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as usize & (ACCOUNT_MEMO - 1)
}

fn bump(m: &mut FastMap<DestKey, Count>, k: DestKey, millis: i64) {
    if let Some(c) = m.get_mut(&k) {
        c.add(millis);
    } else if m.len() < MAX_DESTINATIONS {
        m.entry(k).or_default().add(millis);
    }
}

impl Report {
    /// The tally of an account, created when `create` and there is room (the cap keeps memory bounded).
    /// Moves the hour being tallied into `hours`.
    fn close_hour(&mut self) {
        if let Some((k, h)) = self.open_hour.take() {
            self.hours.entry(k).or_default().merge(&h);
        }
    }

    fn account_index(&mut self, tenant: &str, account: &str, create: bool) -> Option<usize> {
        let slot = account_memo_slot(tenant, account);
        if let Some(&i) = self.account_memo.get(slot)
            && let Some(a) = self.account_list.get(i as usize)
            && a.account == account
            && a.tenant == tenant
        {
            return Some(i as usize);
        }
        let found = self.account_index_slow(tenant, account, create);
        if let (Some(i), Some(m)) = (found, self.account_memo.get_mut(slot)) {
            *m = u32::try_from(i).unwrap_or(u32::MAX);
        }
        found
    }

    fn account_index_slow(&mut self, tenant: &str, account: &str, create: bool) -> Option<usize> {
        self.key_buf.clear();
        self.key_buf.push_str(tenant);
        self.key_buf.push('\u{1f}');
        self.key_buf.push_str(account);
        if let Some(&i) = self.accounts.get(self.key_buf.as_str()) {
            return Some(i);
        }
        if !create || self.account_list.len() >= MAX_ACCOUNTS {
            return None;
        }
        let i = self.account_list.len();
        self.account_list.push(AccountTally {
            tenant: tenant.to_string(),
            account: account.to_string(),
            ..AccountTally::default()
        });
        self.accounts.insert(self.key_buf.clone(), i);
        Some(i)
    }

    fn list(&mut self, call: &Call, dest: &numbering::Destination, top: Option<(String, String)>) {
        self.listed_total += 1;
        if self.listed.len() >= MAX_LISTED {
            return;
        }
        let (rule, reason) =
            top.unwrap_or_else(|| ("barred".into(), "the account was barred earlier".into()));
        self.listed.push(ListedCall {
            at: call.start,
            file: call.file,
            line: call.line,
            call_id: call.call_id().to_string(),
            account: call.account().to_string(),
            dialed: call.dialed().to_string(),
            destination: DestKey::of(dest).to_string(),
            rule,
            reason,
        });
    }

    fn sorted_alerts(&self) -> Vec<&AlertGroup> {
        let mut v: Vec<(&(String, String, &'static str), &AlertGroup)> =
            self.alerts.values().map(|g| (&g.key, g)).collect();
        // The group's key last: two accounts alerted at the same instant by the same rule must not come out
        // in the hash map's (random) order, or two runs over one file differ.
        v.sort_by(|(ka, a), (kb, b)| {
            b.first
                .level
                .cmp(&a.first.level)
                .then(a.first.at.cmp(&b.first.at))
                .then(a.first.rule.as_str().cmp(b.first.rule.as_str()))
                .then_with(|| ka.cmp(kb))
        });
        v.into_iter().map(|(_, g)| g).collect()
    }

    fn top(&self, m: &FastMap<DestKey, Count>, n: usize) -> Vec<(DestKey, Count)> {
        let mut v: Vec<(DestKey, Count)> = m.iter().map(|(k, c)| (*k, *c)).collect();
        v.sort_by(|a, b| {
            b.1.millis
                .cmp(&a.1.millis)
                .then(b.1.calls.cmp(&a.1.calls))
                .then(a.0.cmp(&b.0))
        });
        v.truncate(n);
        v
    }

    fn hit_accounts(&self) -> Vec<&AccountTally> {
        let mut v: Vec<&AccountTally> = self
            .account_list
            .iter()
            .filter(|a| a.blocked.calls > 0)
            .collect();
        v.sort_by(|a, b| {
            b.blocked
                .millis
                .cmp(&a.blocked.millis)
                .then_with(|| (&a.tenant, &a.account).cmp(&(&b.tenant, &b.account)))
        });
        v
    }
}

// ---- output ---------------------------------------------------------------------------------------------

fn output(common: &Common, r: &Report) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match common.format {
        Format::Text => write_text(&mut out, r)?,
        Format::Json => {
            let doc = JsonReport {
                top: to_json(r),
                decisions: r.log.as_ref(),
            };
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
    }
    if let Some(path) = &common.html {
        std::fs::write(path, to_html(r))
            .with_context(|| format!("cannot write the HTML report {}", path.display()))?;
        if common.format == Format::Text {
            writeln!(out, "\nHTML report written to {}", path.display())?;
        }
    }
    Ok(())
}

fn account_label(tenant: &str, account: &str) -> String {
    engine::decision::account_words(tenant, account)
}

fn write_text(out: &mut dyn Write, r: &Report) -> anyhow::Result<()> {
    let records: u64 = r.files.iter().map(|f| f.records).sum();
    let errors: u64 = r.files.iter().map(|f| f.errors).sum();
    let title = match r.mode {
        Mode::Analyze => "tollguard analyze",
        Mode::Backtest => "tollguard backtest",
    };
    write!(
        out,
        "{title}: {} calls",
        numbering::group_thousands(records as i64)
    )?;
    if let (Some(a), Some(b)) = (r.first_at, r.last_at) {
        write!(
            out,
            " from {} to {} ({})",
            r.local(a),
            r.local(b),
            r.tz.name()
        )?;
    }
    writeln!(out)?;
    if records == 0 {
        writeln!(out, "No call records were read.")?;
    }
    writeln!(out)?;
    match r.mode {
        Mode::Analyze => write_verdict(out, r)?,
        Mode::Backtest => write_backtest(out, r)?,
    }
    if r.emergency > 0 {
        writeln!(
            out,
            "Emergency calls: {} seen, {} blocked (emergency numbers are never blocked).",
            r.emergency, r.emergency_blocked
        )?;
    }
    let alerts = r.sorted_alerts();
    if !alerts.is_empty() {
        writeln!(out, "\nAlerts ({}, most serious first):", alerts.len())?;
        for g in alerts.iter().take(30) {
            let d = &g.first;
            let level = match (d.level, d.shadow) {
                (Level::Critical, false) => "CRITICAL",
                (Level::Critical, true) => "critical (report-only)",
                (Level::Warning, _) => "warning",
            };
            write!(
                out,
                "  {}  {level}  {}: {}",
                r.local(d.at),
                d.rule,
                d.reason
            )?;
            if g.count > 1 {
                write!(
                    out,
                    " [{} times until {}]",
                    numbering::group_thousands(g.count as i64),
                    r.local(g.last_at)
                )?;
            }
            writeln!(out)?;
        }
        if alerts.len() > 30 {
            writeln!(
                out,
                "  … and {} more (see --format json or --html)",
                alerts.len() - 30
            )?;
        }
    }
    if errors > 0 || r.late_records > 0 {
        writeln!(out)?;
    }
    if errors > 0 {
        writeln!(
            out,
            "Lines skipped: {errors} (the rest was analysed). First ones:"
        )?;
        for f in &r.files {
            for e in &f.first_errors {
                writeln!(out, "  {e}")?;
            }
        }
    }
    if r.late_records > 0 {
        writeln!(
            out,
            "{} records started more than --reorder-window before records already replayed; they were replayed late.",
            r.late_records
        )?;
    }
    if let Some(note) = &r.settings_note {
        writeln!(out, "\n{note}")?;
    }
    Ok(())
}

fn write_verdict(out: &mut dyn Write, r: &Report) -> anyhow::Result<()> {
    if !r.hit() {
        writeln!(out, "NOT HIT: no sign of toll fraud with this policy.")?;
        writeln!(
            out,
            "  {} calls, {} answered, {} estimated; {} calls raised warnings only.",
            numbering::group_thousands(r.all.calls as i64),
            numbering::group_thousands(r.answered as i64),
            r.money(r.all.millis),
            numbering::group_thousands(r.warned as i64)
        )?;
        return Ok(());
    }
    writeln!(out, "HIT: this PBX shows toll fraud.")?;
    if let Some(t) = r.first_critical {
        writeln!(out, "  since        {}", r.local(t))?;
    }
    writeln!(
        out,
        "  calls        {} suspicious calls, of {} calls in all",
        numbering::group_thousands(r.blocked as i64),
        numbering::group_thousands(r.all.calls as i64)
    )?;
    writeln!(
        out,
        "  money        {} for the suspicious calls (tariff estimates), {} in all",
        r.money(r.blocked_money),
        r.money(r.all.millis)
    )?;
    let accts = r.hit_accounts();
    let names: Vec<String> = accts
        .iter()
        .take(8)
        .map(|x| {
            format!(
                "{} ({} calls, {})",
                account_label(&x.tenant, &x.account),
                x.blocked.calls,
                r.money(x.blocked.millis)
            )
        })
        .collect();
    writeln!(out, "  extensions   {}", names.join(", "))?;
    let dests: Vec<String> = r
        .top(&r.blocked_destinations, 6)
        .iter()
        .map(|(n, c)| format!("{n} ({} calls, {})", c.calls, r.money(c.millis)))
        .collect();
    writeln!(out, "  destinations {}", dests.join(", "))?;
    for x in accts.iter().take(8) {
        if x.before_block.calls == 0 {
            writeln!(
                out,
                "  {}: tollguard would have blocked it from its first suspicious call",
                account_label(&x.tenant, &x.account)
            )?;
        } else {
            writeln!(
                out,
                "  {}: tollguard would have stopped it after {} calls ({}) following the first alert",
                account_label(&x.tenant, &x.account),
                x.before_block.calls,
                r.money(x.before_block.millis)
            )?;
        }
    }
    if r.labelled {
        write_attacks(out, r)?;
    }
    Ok(())
}

fn write_attacks(out: &mut dyn Write, r: &Report) -> anyhow::Result<()> {
    if !r.attacks.is_empty() {
        writeln!(out, "\nAttacks (from the CDRs' labels):")?;
        for (name, t) in &r.attacks {
            let stopped = match t.first_block {
                Some(at) => format!(
                    "stopped at {} after {} calls ({}); {} calls blocked, {} saved",
                    r.local(at),
                    t.before_block.calls,
                    r.money(t.before_block.millis),
                    numbering::group_thousands(t.blocked.calls as i64),
                    r.money(t.blocked.millis)
                ),
                None => format!(
                    "NOT stopped: {} calls, {}",
                    t.all.calls,
                    r.money(t.all.millis)
                ),
            };
            writeln!(
                out,
                "  {name}: {} fraud calls; {stopped}",
                numbering::group_thousands(t.all.calls as i64)
            )?;
        }
    }
    writeln!(
        out,
        "Legitimate calls blocked: {} of {} ({})",
        r.legit_blocked.calls,
        numbering::group_thousands(r.legit.calls as i64),
        r.money(r.legit_blocked.millis)
    )?;
    Ok(())
}

fn write_backtest(out: &mut dyn Write, r: &Report) -> anyhow::Result<()> {
    writeln!(
        out,
        "Calls blocked: {} of {}; money saved: {} of {} spent in all",
        numbering::group_thousands(r.blocked as i64),
        numbering::group_thousands(r.all.calls as i64),
        r.money(r.blocked_money),
        r.money(r.all.millis)
    )?;
    writeln!(
        out,
        "Calls warned about (allowed): {}",
        numbering::group_thousands(r.warned as i64)
    )?;
    if r.labelled {
        write_attacks(out, r)?;
    } else {
        writeln!(
            out,
            "\nHow fast each account was stopped (calls and money between its first alert and first block):"
        )?;
        for x in r.hit_accounts().iter().take(20) {
            writeln!(
                out,
                "  {}: {} calls ({}) before the first block; {} calls blocked ({})",
                account_label(&x.tenant, &x.account),
                x.before_block.calls,
                r.money(x.before_block.millis),
                x.blocked.calls,
                r.money(x.blocked.millis)
            )?;
        }
    }
    if r.labelled {
        if !r.listed.is_empty() {
            writeln!(out, "\nThe legitimate calls that were blocked:")?;
        }
    } else {
        writeln!(
            out,
            "\nLegitimate-looking (domestic, plainly dialed) calls blocked: {}",
            r.listed_total
        )?;
    }
    for c in r.listed.iter().take(20) {
        writeln!(
            out,
            "  {}  {} → {} ({})  {}: {}  [{}:{} {}]",
            r.local(c.at),
            c.account,
            c.dialed,
            c.destination,
            c.rule,
            c.reason,
            r.files
                .get(usize::from(c.file))
                .map_or("?", |f| f.path.as_str()),
            c.line,
            c.call_id
        )?;
    }
    if r.listed_total > 20 {
        writeln!(out, "  … {} more in --format json", r.listed_total - 20)?;
    }
    Ok(())
}

fn to_json(r: &Report) -> Value {
    let accounts: Vec<Value> = r
        .hit_accounts()
        .iter()
        .map(|x| {
            json!({
                "tenant": x.tenant, "account": x.account,
                "calls": x.all.calls, "blocked_calls": x.blocked.calls, "blocked_money_millis": x.blocked.millis,
                "first_alert": x.first_alert.map(|t| r.local_iso(t)), "first_block": x.first_block.map(|t| r.local_iso(t)),
                "calls_before_block": x.before_block.calls, "money_before_block_millis": x.before_block.millis,
            })
        })
        .collect();
    let attacks: Vec<Value> = r
        .attacks
        .iter()
        .map(|(name, t)| {
            json!({
                "name": name, "calls": t.all.calls, "money_millis": t.all.millis,
                "blocked_calls": t.blocked.calls, "saved_millis": t.blocked.millis,
                "first_call": t.first_call.map(|x| r.local_iso(x)), "first_block": t.first_block.map(|x| r.local_iso(x)),
                "calls_before_block": t.before_block.calls, "money_before_block_millis": t.before_block.millis,
            })
        })
        .collect();
    let listed: Vec<Value> = r
        .listed
        .iter()
        .map(|c| {
            json!({"at": r.local_iso(c.at), "file": c.file, "line": c.line, "call_id": c.call_id, "account": c.account,
                   "dialed": c.dialed, "destination": c.destination, "rule": c.rule, "reason": c.reason})
        })
        .collect();
    let alerts: Vec<Value> = r
        .sorted_alerts()
        .iter()
        .map(|g| json!({"count": g.count, "last_at": r.local_iso(g.last_at), "at_stake_max_millis": g.stake_max, "first": g.first}))
        .collect();
    json!({
        "mode": match r.mode { Mode::Analyze => "analyze", Mode::Backtest => "backtest" },
        "config": r.config,
        "time_zone": r.tz.name(),
        "currency": r.currency.as_str(),
        "files": r.files.iter().map(|f| json!({"path": f.path, "format": f.format, "records": f.records,
            "lines_skipped": f.errors, "first_errors": f.first_errors})).collect::<Vec<_>>(),
        "hit": r.hit(),
        "since": r.first_critical.map(|t| r.local_iso(t)),
        "calls": r.all.calls, "answered": r.answered, "money_millis": r.all.millis,
        "blocked_calls": r.blocked, "blocked_money_millis": r.blocked_money, "warned_calls": r.warned,
        "emergency_calls": r.emergency, "emergency_blocked": r.emergency_blocked,
        "late_records": r.late_records,
        "peak_calls_held": r.peak_held,
        "engine_state": r.engine_state,
        "accounts": accounts,
        "labelled": r.labelled,
        "attacks": attacks,
        "legit_calls": r.legit.calls, "legit_blocked": r.legit_blocked.calls,
        "legitimate_blocked_listed": listed, "legitimate_blocked_total": r.listed_total,
        "alerts": alerts,
        // Streamed from the spool file by `JsonReport`.
        "decisions": [],
    })
}

/// One decision as `--format json` lists it (fields in the order the JSON object sorts them).
#[derive(serde::Serialize)]
struct LoggedDecision<'a> {
    account: &'a str,
    at: Millis,
    at_local: Option<String>,
    call_id: &'a str,
    decision: &'a Decision,
    dialed: &'a str,
    file: u16,
    line: u64,
    tenant: &'a str,
}

/// The decisions of a JSON report, spooled to a temporary file one per line as they are made, so that memory
/// does not grow with the number of decisions (a million-line attack makes hundreds of thousands). The file is
/// removed when the log is dropped.
struct DecisionLog {
    path: PathBuf,
    out: Option<std::io::BufWriter<File>>,
    error: Option<std::io::Error>,
}

impl DecisionLog {
    fn create() -> anyhow::Result<DecisionLog> {
        let dir = std::env::temp_dir();
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = dir.join(format!(
            "tollguard-decisions-{}-{stamp}.jsonl",
            std::process::id()
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| {
                format!(
                    "cannot create a spool file for the decisions in {} (set TMPDIR to a writable folder)",
                    dir.display()
                )
            })?;
        Ok(DecisionLog {
            path,
            out: Some(std::io::BufWriter::with_capacity(64 * 1024, file)),
            error: None,
        })
    }

    fn write(&mut self, d: &LoggedDecision<'_>) {
        let Some(out) = self.out.as_mut() else {
            return;
        };
        let r = serde_json::to_writer(&mut *out, d)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"));
        if let Err(e) = r {
            self.error.get_or_insert(e);
            self.out = None;
        }
    }

    /// Flushes the spool; reports the first write error (a full disk) as one clear line.
    fn finish(&mut self) -> anyhow::Result<()> {
        if let Some(mut out) = self.out.take()
            && let Err(e) = out.flush()
        {
            self.error.get_or_insert(e);
        }
        match self.error.take() {
            Some(e) => Err(anyhow::anyhow!(
                "cannot write the decisions to the spool file {}: {e}",
                self.path.display()
            )),
            None => Ok(()),
        }
    }
}

impl Drop for DecisionLog {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The JSON report: the summary object, with its `decisions` array read back from the spool one at a time.
struct JsonReport<'a> {
    top: Value,
    decisions: Option<&'a DecisionLog>,
}

impl serde::Serialize for JsonReport<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Some(map) = self.top.as_object() else {
            return self.top.serialize(s);
        };
        let mut m = s.serialize_map(Some(map.len()))?;
        for (k, v) in map {
            match (k.as_str(), self.decisions) {
                ("decisions", Some(log)) => m.serialize_entry(k, &Spooled(&log.path))?,
                _ => m.serialize_entry(k, v)?,
            }
        }
        m.end()
    }
}

/// A spool file of JSON lines, serialised as an array without loading it whole.
struct Spooled<'a>(&'a Path);

impl serde::Serialize for Spooled<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        use std::io::BufRead;
        let file = File::open(self.0).map_err(|e| {
            S::Error::custom(format!(
                "cannot read the decisions back from {}: {e}",
                self.0.display()
            ))
        })?;
        let mut seq = s.serialize_seq(None)?;
        for line in BufReader::new(file).lines() {
            let line = line.map_err(S::Error::custom)?;
            let v: Value = serde_json::from_str(&line).map_err(S::Error::custom)?;
            seq.serialize_element(&v)?;
        }
        seq.end()
    }
}

fn to_html(r: &Report) -> String {
    let mut body = String::new();
    let (class, headline) = if r.hit() {
        (
            "hit",
            format!(
                "Toll fraud found: {} suspicious calls, {} at tariff estimates{}.",
                numbering::group_thousands(r.blocked as i64),
                r.money(r.blocked_money),
                r.first_critical
                    .map(|t| format!(", since {}", r.local(t)))
                    .unwrap_or_default()
            ),
        )
    } else {
        (
            "clean",
            "No sign of toll fraud with this policy.".to_string(),
        )
    };
    body.push_str(&format!(
        r#"<div class="verdict {class}">{}</div>"#,
        html::escape(&headline)
    ));

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
                format!("{:?}", g.first.level).to_lowercase(),
                g.first.rule.as_str().to_owned(),
                g.first.reason.clone(),
                numbering::group_thousands(g.count as i64),
            ]
        })
        .collect();
    body.push_str(&html::table(
        &["first seen", "level", "rule", "why", "times"],
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_memo_never_mixes_up_accounts() {
        let mut r = Report::new(
            Mode::Backtest,
            cdr::Tz::Asia__Tokyo,
            Currency(*b"JPY"),
            false,
        )
        .expect("report");
        // Accounts that share a memo slot with extension 340 of tenant "acme" (same tenant length), and one of
        // another tenant with the same extension.
        let slot = account_memo_slot("acme", "340");
        let mut same_slot: Vec<String> = (0..100_000)
            .map(|n| n.to_string())
            .filter(|a| a != "340" && account_memo_slot("acme", a) == slot)
            .take(3)
            .collect();
        assert_eq!(same_slot.len(), 3, "the test needs colliding accounts");
        same_slot.push("340".into());
        let mut keys: Vec<(&str, &str)> = same_slot.iter().map(|a| ("acme", a.as_str())).collect();
        keys.push(("beta", "340"));
        keys.push(("", "340"));
        let first: Vec<usize> = keys
            .iter()
            .map(|(t, a)| r.account_index(t, a, true).expect("created"))
            .collect();
        let mut distinct = first.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), keys.len(), "each account has its own tally");
        // In any order, again and again, every key finds its own tally.
        for round in 0..3 {
            for (k, (t, a)) in keys.iter().enumerate().rev() {
                let i = r.account_index(t, a, round == 1).expect("known");
                assert_eq!(i, first[k], "{t}/{a}");
                assert_eq!(
                    (
                        r.account_list[i].tenant.as_str(),
                        r.account_list[i].account.as_str()
                    ),
                    (*t, *a)
                );
            }
        }
        assert_eq!(r.account_index("acme", "999999", false), None);
    }

    #[test]
    fn the_account_memo_spreads_extensions() {
        // A site's extensions (200-299) and a call centre's agents (300-359) must land in different slots nearly
        // always, or the memo would miss and cost more than the map alone.
        let mut slots: Vec<usize> = (200..360)
            .map(|n| account_memo_slot("callcentre", &n.to_string()))
            .collect();
        slots.sort_unstable();
        slots.dedup();
        assert!(slots.len() >= 100, "{} distinct slots of 160", slots.len());
    }
}
