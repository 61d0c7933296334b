//! The scenario: starts the guard and the simulated peers on loopback, plays Friday evening on the simulated
//! clock (office calls from 19:25, scanners at 19:27, the attacker's login at 19:29 and its calls from 19:30,
//! an emergency call in the middle of the attack), then computes and shows the outcome.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use super::carrier::{self, CarrierLog};
use super::clock::{SimClock, hms, last_friday_1930};
use super::config::{DemoPorts, TENANT, guard_toml};
use super::internet;
use super::outcome::{
    self, Attempt, Caller, EmergencyOutcome, GuardDecision, Outcome, Unprotected2015,
};
use super::pbx::{self, CallEnd, RegistrarLog, Trunk};
use super::report;
use super::webhook;
use super::wire::Endpoint;
use super::words::{Lang, Words};
use super::{DemoArgs, Format};

pub const PBX_IP: &str = "127.0.0.2";
pub const CARRIER_IP: &str = "127.0.0.3";
pub const SCANNER_IP: &str = "127.0.0.66";
pub const GUESSER_IP: &str = "127.0.0.67";
pub const ATTACKER_IP: &str = "127.0.0.77";

/// A tiny deterministic generator (xorshift): the demo plays the same evening every time.
#[derive(Debug, Clone)]
pub struct Dice(u64);

impl Dice {
    pub fn new(seed: u64) -> Dice {
        Dice(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// Uniform in [lo, hi].
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi.saturating_sub(lo) + 1)
    }
    pub fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + (self.next() % 10) as u8))
            .collect()
    }
}

/// Live terminal output (text format only).
#[derive(Clone)]
pub struct Live {
    pub on: bool,
    pub lang: Lang,
}

impl Live {
    pub fn say(&self, at_ms: i64, text: &str) {
        if self.on {
            println!("{} {text}", hms(at_ms));
        }
    }
    pub fn plain(&self, text: &str) {
        if self.on {
            println!("{text}");
        }
    }
}

/// Everything the peers observed.
#[derive(Default)]
pub struct Observed {
    pub calls: Vec<Attempt>,
    /// When the first attack call was refused (the extension is barred from then on, in the default policy).
    pub first_attack_refusal_ms: Option<i64>,
    /// Attack calls refused by the kill switch so far: the live log shows the first few, then says that the rest
    /// are refused the same way (the progress lines count them), instead of a hundred identical lines.
    pub barred_refusals: u32,
}

/// Refusals by the kill switch shown one by one in the live log before they are only counted.
const BARRED_LINES_SHOWN: u32 = 3;

type Shared = Arc<Mutex<Observed>>;

fn free_udp_port(ip: &str) -> anyhow::Result<SocketAddr> {
    let s = std::net::UdpSocket::bind((ip, 0))?;
    Ok(s.local_addr()?)
}

/// "+232 76…": enough of a number to recognise the destination, not the subscriber.
pub fn masked(a: &Attempt) -> String {
    match &a.e164 {
        Some(e) => {
            let cc_len = match a.country.as_deref() {
                Some(_) => numbering_cc_len(e),
                None => 2,
            };
            let digits = e.trim_start_matches('+');
            let (cc, rest) = digits.split_at(cc_len.min(digits.len()));
            let head: String = rest.chars().take(2).collect();
            format!("+{cc} {head}…")
        }
        None => a.dialed.clone(),
    }
}

fn numbering_cc_len(e164: &str) -> usize {
    numbering::calling_code(e164.trim_start_matches('+'))
        .map(|(_, len)| len)
        .unwrap_or(2)
}

pub async fn run(args: &DemoArgs, duration_secs: u32) -> anyhow::Result<ExitCode> {
    let wall_start = std::time::Instant::now();
    let lang = args.lang;
    let live = Live {
        on: args.format == Format::Text,
        lang,
    };
    let dir = tempfile::Builder::new()
        .prefix("tollguard-demo-")
        .tempdir()?;
    let numbering = Arc::new(numbering::Numbering::japan_defaults());

    // The peers first (their addresses go into the configuration), then the guard on ports found free.
    let (pbx_ep, pbx_inbox) = Endpoint::bind(PBX_IP).await?;
    let (car_ep, car_inbox) = Endpoint::bind(CARRIER_IP).await?;
    let start_ms = last_friday_1930(now_wall_ms()) - 5 * 60_000;
    let end_ms = start_ms + i64::from(duration_secs) * 1000;
    let attack_start_ms = start_ms + 5 * 60_000;

    // The office's chat/ticket system, receiving the guard's critical alerts as webhooks.
    let shared_clock = Arc::new(Mutex::new(SimClock::new(start_ms, args.speed)));
    let (webhook_url, webhook_inbox) = webhook::start(shared_clock.clone()).await?;
    let notify_lang = lang.as_str();

    let mut started = None;
    let mut last_err = None;
    for _ in 0..3 {
        let ports = DemoPorts {
            access: free_udp_port("127.0.0.1")?,
            pbx_side: free_udp_port("127.0.0.1")?,
            pbx: pbx_ep.addr,
            carrier: car_ep.addr,
        };
        let store = dir.path().join("tollguard.db");
        let text = guard_toml(
            &ports,
            &store,
            start_ms,
            args.speed,
            args.allow_all_countries,
            Some((&webhook_url, notify_lang)),
            args.keep_running,
        );
        let path = dir.path().join("guard.toml");
        std::fs::write(&path, &text)?;
        match guard::Guard::start(&path).await {
            Ok(g) => {
                started = Some((g, ports, path, text));
                break;
            }
            // A port taken between the probe and the bind: probe again.
            Err(guard::GuardError::Io(e)) => last_err = Some(anyhow::anyhow!(e)),
            Err(e) => return Err(anyhow::anyhow!("the demo configuration was refused: {e}")),
        }
    }
    let Some((g, ports, config_path, config_text)) = started else {
        return Err(last_err.unwrap_or_else(|| anyhow::anyhow!("could not start the guard")));
    };
    let handle = g.handle();
    let mut events = handle.subscribe();
    // The guard's alerts go to the notifier as `tollguard serve` sends them (webhook to the receiver above).
    let notifier = match api::notify::NotifyConfig::from_toml_str(&config_text) {
        Ok(c) => Some(api::notify::Notifier::start(c)),
        Err(e) => {
            tracing::warn!(error = %e, "demo notifications not configured");
            None
        }
    };
    // --keep-running: the operator API, so that the user can explore the guard afterwards (`tollguard ctl`),
    // with the notifier's delivery counters in its /metrics as under `tollguard serve`.
    let api_lines = if args.keep_running {
        start_api(
            &config_path,
            &handle,
            &dir.path().join("tollguard.db"),
            notifier.as_ref(),
        )
        .await
    } else {
        Vec::new()
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let guard_task = tokio::spawn(g.run(async move {
        let _ = stop_rx.await;
    }));
    // The simulators read the engine's own clock: anchored on the guard's reading, same speed.
    let clock = match handle.status().await {
        Ok(st) => SimClock::new(st.now, st.clock_speed),
        Err(_) => SimClock::new(start_ms, args.speed),
    };
    if let Ok(mut c) = shared_clock.lock() {
        *c = clock;
    }
    let decisions: Arc<Mutex<Vec<GuardDecision>>> = Arc::default();
    let event_task = {
        let (live, decisions) = (live.clone(), decisions.clone());
        let notifier = notifier.clone();
        tokio::spawn(async move {
            loop {
                let ev = match events.recv().await {
                    Ok(ev) => ev,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => break,
                };
                let guard::LiveEvent::Decision { tenant, decision } = ev else {
                    continue;
                };
                let action = action_word(&decision.action);
                if matches!(action, "ban" | "bar" | "end_calls") {
                    let text = if live.lang.ja() {
                        api::notify::headline(&decision, &tenant, api::notify::Lang::Ja)
                    } else {
                        decision.reason.clone()
                    };
                    live.say(decision.at, &format!("tollguard ▶ {text}"));
                }
                if let Ok(mut d) = decisions.lock() {
                    d.push(GuardDecision {
                        at: decision.at,
                        rule: decision.rule.as_str().to_owned(),
                        action: action.to_owned(),
                        key: decision.key(),
                        reason: decision.reason.clone(),
                    });
                }
                if let Some(n) = &notifier {
                    n.send(api::notify::Alert {
                        id: None,
                        tenant,
                        decision,
                    });
                }
            }
        })
    };

    live.plain(&lang.banner(args.speed, start_ms, end_ms, args.allow_all_countries));
    live.plain(&lang.setup(&ports, &config_path));

    let carrier_log: Arc<Mutex<CarrierLog>> = Arc::default();
    tokio::spawn(carrier::run(
        car_ep.clone(),
        car_inbox,
        clock,
        carrier_log.clone(),
    ));
    let registrar_log: Arc<Mutex<RegistrarLog>> = Arc::default();
    tokio::spawn(pbx::run_registrar(
        pbx_ep.clone(),
        pbx_inbox,
        registrar_log.clone(),
    ));
    let trunk = Trunk {
        ep: pbx_ep.clone(),
        guard: ports.pbx_side,
        clock,
    };
    let observed: Shared = Arc::default();

    let mut tasks = tokio::task::JoinSet::new();
    // The office: four people working late on a Friday.
    for (i, ext) in ["201", "202", "203", "204"].into_iter().enumerate() {
        let (t, o, l, n) = (
            trunk.clone(),
            observed.clone(),
            live.clone(),
            numbering.clone(),
        );
        tasks.spawn(async move {
            office_worker(ext, i as u64, t, o, l, n, start_ms, end_ms).await;
        });
    }
    // The attacker: logs in at 19:29, then pumps calls on three channels from 19:30.
    let login_status: Arc<Mutex<Option<u16>>> = Arc::default();
    {
        let (l, ls, access) = (live.clone(), login_status.clone(), ports.access);
        tasks.spawn(async move {
            clock.sleep_until(attack_start_ms - 60_000).await;
            let status = internet::hijack_205(ATTACKER_IP, access)
                .await
                .ok()
                .flatten();
            if let Ok(mut s) = ls.lock() {
                *s = status;
            }
            l.say(clock.now_ms(), &l.lang.hijack(ATTACKER_IP, status));
        });
    }
    for channel in 0..3u64 {
        let (t, o, l, n) = (
            trunk.clone(),
            observed.clone(),
            live.clone(),
            numbering.clone(),
        );
        tasks.spawn(async move {
            attack_channel(channel, t, o, l, n, attack_start_ms, end_ms).await;
        });
    }
    // The emergency call from ext 205's own phone, in the middle of the attack.
    let emergency_at = attack_start_ms + (end_ms - attack_start_ms) / 2;
    {
        let (t, o, l, n) = (
            trunk.clone(),
            observed.clone(),
            live.clone(),
            numbering.clone(),
        );
        tasks.spawn(async move {
            clock.sleep_until(emergency_at).await;
            let r = t.call("205", "110", 90.0).await;
            let a = Attempt::new(Caller::Emergency, "205", "110", &r, &n);
            l.say(r.ended_ms, &l.lang.emergency(&a));
            if let Ok(mut o) = o.lock() {
                o.calls.push(a);
            }
        });
    }
    // The scanners: sipvicious as it comes at 19:27, a disguised password guesser at 19:28.
    let scans: Arc<Mutex<Vec<internet::ScanResult>>> = Arc::default();
    for (at_min, ip, ua, guess) in [
        (2, SCANNER_IP, "friendly-scanner", false),
        (3, GUESSER_IP, "Grandstream GXP2170 1.0.11.3", true),
    ] {
        let (l, s, access) = (live.clone(), scans.clone(), ports.access);
        tasks.spawn(async move {
            clock.sleep_until(start_ms + at_min * 60_000).await;
            l.say(clock.now_ms(), &l.lang.scan_starts(ip, ua, guess));
            match internet::scan(ip, access, clock, ua, guess).await {
                Ok(r) => {
                    l.say(clock.now_ms(), &l.lang.scan_result(&r));
                    if let Ok(mut s) = s.lock() {
                        s.push(r);
                    }
                }
                Err(e) => l.say(clock.now_ms(), &format!("scanner {ip}: {e}")),
            }
        });
    }
    // Progress every 5 simulated minutes.
    {
        let (o, l) = (observed.clone(), live.clone());
        tasks.spawn(async move {
            let mut at = start_ms + 5 * 60_000;
            while at < end_ms {
                clock.sleep_until(at).await;
                if let Ok(o) = o.lock() {
                    let a = outcome::attack_outcome(&o.calls);
                    let f = outcome::office_outcome(&o.calls);
                    l.plain(&l.lang.progress(at, &f, &a));
                }
                at += 5 * 60_000;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    // Let the last alerts reach the webhook before the summary.
    if let Some(n) = &notifier {
        n.close(std::time::Duration::from_secs(5)).await;
    }

    let obs = std::mem::take(
        &mut *observed
            .lock()
            .map_err(|_| anyhow::anyhow!("demo state poisoned"))?,
    );
    let mut calls = obs.calls;
    calls.sort_by_key(|a| a.placed_ms);
    let attack = outcome::attack_outcome(&calls);
    let office = outcome::office_outcome(&calls);
    let emergency = calls
        .iter()
        .find(|a| a.caller == Caller::Emergency)
        .map(|a| EmergencyOutcome {
            dialed: a.dialed.clone(),
            ext: a.ext.clone(),
            passed: a.passed(),
            sip_status: a.sip_status,
            while_barred: obs.first_attack_refusal_ms.is_some_and(|t| t < a.placed_ms),
        });
    let sl = numbering.classify("01023276123456");
    let per_call = numbering
        .cost(&sl, 30)
        .map(|m| m.millis / 1000)
        .unwrap_or(0);
    let (carrier_calls, carrier_attack_calls, carrier_byes) = carrier_log
        .lock()
        .map(|l| {
            let attack = l
                .calls
                .iter()
                .filter(|c| c.from == "205" && c.dialed != "110")
                .count();
            (l.calls.len(), attack, l.byes_from_guard)
        })
        .unwrap_or((0, 0, 0));
    let out = Outcome {
        tenant: TENANT.to_owned(),
        speed: args.speed,
        start_ms,
        end_ms,
        policy: if args.allow_all_countries {
            "every country allowed (as in 2015)"
        } else {
            "defaults"
        },
        wall_secs: wall_start.elapsed().as_secs_f64(),
        attack,
        office,
        emergency,
        scanners: scans.lock().map(|s| s.clone()).unwrap_or_default(),
        attacker_login_status: login_status.lock().ok().and_then(|s| *s),
        carrier_calls,
        carrier_attack_calls,
        carrier_byes_from_guard: carrier_byes,
        unprotected_2015: Unprotected2015 {
            calls: 10_000,
            secs_each: 30,
            cost_jpy: per_call * 10_000,
            reported_bill_jpy: 5_000_000,
            days_to_bar: 3,
        },
        decisions: decisions.lock().map(|d| d.clone()).unwrap_or_default(),
        alerts_delivered: webhook_inbox.lock().map(|d| d.clone()).unwrap_or_default(),
        calls,
    };
    match args.format {
        Format::Text => println!("{}", report::summary(&out, lang)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&out)?),
    }
    if let Some(path) = &args.html {
        std::fs::write(path, report::html(&out, lang))?;
        if args.format == Format::Text {
            println!("{}", lang.html_written(path));
        }
    }
    if args.keep_running {
        for l in &api_lines {
            println!("  {l}");
        }
        println!(
            "{}",
            lang.keep_running(&ports, &config_path, &dir.path().join("tollguard.db"))
        );
        wait_for_stop_signal().await;
    }
    let _ = stop_tx.send(());
    let _ = guard_task.await;
    event_task.abort();
    let ok = out.attack.stopped || out.attack.passed == 0;
    let ok = ok && out.office.blocked.is_empty() && out.emergency.as_ref().is_none_or(|e| e.passed);
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Starts the operator API from the `[api]` section of the demo configuration; lines to print (URL, token).
async fn start_api(
    config: &std::path::Path,
    handle: &guard::GuardHandle,
    store: &std::path::Path,
    notifier: Option<&api::notify::Notifier>,
) -> Vec<String> {
    let cfg = match api::ApiConfig::load(config) {
        Ok(Some(c)) => c,
        Ok(None) => return Vec::new(),
        Err(e) => return vec![format!("operator API not started: {e}")],
    };
    let token = match api::bootstrap_admin(&cfg, store) {
        Ok(t) => t,
        Err(e) => return vec![format!("operator API not started: {e}")],
    };
    match api::bind(cfg, handle.clone(), store.to_owned()).await {
        Ok(mut bound) => {
            if let Some(n) = notifier {
                bound = bound.with_notifier(n.clone());
            }
            let url = format!("http://{}", bound.local_addr());
            tokio::spawn(bound.run(std::future::pending::<()>()));
            let mut lines = vec![format!("operator API: {url}")];
            if let Some(t) = token {
                lines.push(format!("export TOLLGUARD_URL={url} TOLLGUARD_TOKEN={t}"));
                lines.push(
                    "tollguard ctl status; tollguard ctl alerts; tollguard ctl kill-switch list"
                        .into(),
                );
            }
            lines
        }
        Err(e) => vec![format!("operator API not started: {e}")],
    }
}

/// Ctrl-C, or SIGTERM from a service manager.
async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn action_word(a: &engine::Action) -> &'static str {
    match a {
        engine::Action::Warn => "warn",
        engine::Action::Block { .. } => "block",
        engine::Action::Ban { .. } => "ban",
        engine::Action::Bar { .. } => "bar",
        engine::Action::EndCalls { .. } => "end_calls",
    }
}

fn now_wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(0))
        .unwrap_or(0)
}

/// One employee: a call every few minutes to Tokyo, Osaka, mobiles, a toll-free line; the salesperson
/// (ext 203) also calls a customer in the United States.
#[allow(clippy::too_many_arguments)]
async fn office_worker(
    ext: &'static str,
    n: u64,
    trunk: Trunk,
    observed: Shared,
    live: Live,
    numbering: Arc<numbering::Numbering>,
    start_ms: i64,
    end_ms: i64,
) {
    let clock = trunk.clock;
    let mut dice = Dice::new(201 + n);
    let mut at = start_ms + i64::try_from(dice.between(10, 150)).unwrap_or(60) * 1000;
    let mut us_call_done = false;
    loop {
        clock.sleep_until(at).await;
        let left = (end_ms - clock.now_ms()) / 1000 - 90;
        if left < 30 {
            break;
        }
        let dialed = if ext == "203" && !us_call_done && clock.now_ms() > start_ms + 12 * 60_000 {
            us_call_done = true;
            format!("0101212555{}", dice.digits(4))
        } else {
            match (ext, dice.between(0, 3)) {
                ("204", 0) => format!("0120{}", dice.digits(6)),
                (_, 0) | (_, 1) => format!("03{}{}", dice.between(3, 6), dice.digits(7)),
                (_, 2) => format!("06{}{}", dice.between(6, 7), dice.digits(7)),
                _ => format!(
                    "0{}0{}",
                    [9, 8, 7][(dice.next() % 3) as usize],
                    dice.digits(8)
                ),
            }
        };
        #[allow(clippy::cast_precision_loss)]
        let hold = (dice.between(40, 240) as f64).min(left as f64);
        let r = trunk.call(ext, &dialed, hold).await;
        let a = Attempt::new(Caller::Office, ext, &dialed, &r, &numbering);
        live.say(r.ended_ms, &live.lang.office_call(&a));
        if let Ok(mut o) = observed.lock() {
            o.calls.push(a);
        }
        at = clock.now_ms() + i64::try_from(dice.between(180, 540)).unwrap_or(300) * 1000;
    }
}

/// The attacker's destinations, dialed as the PBX sends them (010 = international), with the obfuscated
/// `#010…` form of 2015 among them.
fn attack_number(dice: &mut Dice, k: u64) -> String {
    match k % 10 {
        0 | 1 | 5 | 8 => format!("01023276{}", dice.digits(6)),
        2 => format!("#01023276{}", dice.digits(6)),
        3 => format!("01023277{}", dice.digits(6)),
        4 => format!("01022462{}", dice.digits(6)),
        6 => format!("01025261{}", dice.digits(5)),
        7 => format!("010535{}", dice.digits(7)),
        _ => format!("01088216{}", dice.digits(6)),
    }
}

async fn attack_channel(
    channel: u64,
    trunk: Trunk,
    observed: Shared,
    live: Live,
    numbering: Arc<numbering::Numbering>,
    attack_start_ms: i64,
    end_ms: i64,
) {
    let clock = trunk.clock;
    let mut dice = Dice::new(205 + channel * 7);
    let mut at = attack_start_ms + i64::try_from(channel * 7_000).unwrap_or(0);
    let mut k = channel * 3;
    loop {
        clock.sleep_until(at).await;
        if clock.now_ms() > end_ms - 60_000 {
            break;
        }
        let dialed = attack_number(&mut dice, k);
        k += 1;
        // ~30 s calls, 30±1 s: long enough to be billed, short enough to look like a missed connection.
        #[allow(clippy::cast_precision_loss)]
        let hold = 29.0 + (dice.between(0, 20) as f64) / 10.0;
        let r = trunk.call("205", &dialed, hold).await;
        let a = Attempt::new(Caller::Attacker, "205", &dialed, &r, &numbering);
        let refused = matches!(r.end, CallEnd::Refused(..));
        let by_kill_switch = refused
            && a.reason
                .as_deref()
                .is_some_and(|why| why.contains(" are barred since "));
        if let Ok(mut o) = observed.lock() {
            if by_kill_switch {
                o.barred_refusals += 1;
            }
            match o.barred_refusals {
                n if !by_kill_switch || n <= BARRED_LINES_SHOWN => {
                    live.say(r.ended_ms, &live.lang.attack_call(&a, &masked(&a)));
                }
                n if n == BARRED_LINES_SHOWN + 1 => {
                    live.say(r.ended_ms, &live.lang.barred_from_now_on());
                }
                _ => {}
            }
            if refused && o.first_attack_refusal_ms.is_none_or(|t| t > r.placed_ms) {
                o.first_attack_refusal_ms = Some(r.placed_ms);
            }
            o.calls.push(a);
        }
        // A refused script waits a minute and tries again; an answered one dials on at once.
        let gap = if refused {
            dice.between(50, 80)
        } else {
            dice.between(2, 6)
        };
        at = clock.now_ms() + i64::try_from(gap).unwrap_or(60) * 1000;
    }
}
