//! The Kamailio integration guides, tested: the real Debian Kamailio 5.6 runs the configuration files of
//! `docs/integrations/` themselves (not copies) as the SBC of a PBX, asks the real `tollguard serve` about each
//! call (SIP redirect or HTTP decision) and places the allowed ones with a SIPp carrier, or places them all and
//! mirrors its SIP to tollguard over HEP (`siptrace`). The PBX is a SIPp UAC on 127.0.0.2, Kamailio listens on
//! 127.0.0.5, the carrier on 127.0.0.3, tollguard on 127.0.0.1.

mod common;

use std::net::{IpAddr, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The guides' configuration files.
const DOCS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/integrations");
const KAMAILIO_IP: &str = "127.0.0.5";
const NATIONAL: &str = "0312345678";
/// The 2015 pattern: 010 (international), 232 (Sierra Leone), the # key pressed first and sent escaped.
const SIERRA_LEONE_HASH: &str = "%2301023276123456";
const SIERRA_LEONE: &str = "01023276123456";
const POLICE: &str = "110";

/// Where Debian (and a source build) keep Kamailio's modules.
const MODULE_DIRS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/kamailio/modules",
    "/usr/lib/aarch64-linux-gnu/kamailio/modules",
    "/usr/lib/kamailio/modules",
    "/usr/local/lib64/kamailio/modules",
    "/usr/local/lib/kamailio/modules",
];

fn have_module(name: &str) -> bool {
    MODULE_DIRS.iter().any(|d| Path::new(d).join(name).exists())
}

/// Kamailio in the foreground with a guide's file, its own run directory and pid file, killed with its
/// workers (its own process group) when dropped.
struct Kamailio {
    _proc: Proc,
    log: PathBuf,
    sip: u16,
    rpc: u16,
}

impl Kamailio {
    fn start(dir: &Path, cfg: &str, defines: &[String]) -> Kamailio {
        let (sip, rpc) = (free_port(KAMAILIO_IP), free_port(KAMAILIO_IP));
        let run = dir.join(format!("kamailio-{sip}"));
        std::fs::create_dir_all(&run).unwrap();
        let log = dir.join(format!("kamailio-{sip}.log"));
        let mut c = Command::new("kamailio");
        c.args(["-DD", "-E", "-m", "64", "-M", "16", "-x", "tlsf"])
            .arg("-f")
            .arg(format!("{DOCS}/{cfg}"))
            .arg("-Y")
            .arg(&run)
            .arg("-P")
            .arg(run.join("kamailio.pid"))
            .arg("-w")
            .arg(&run)
            .args(["-A", &format!("SIP_LISTEN=udp:{KAMAILIO_IP}:{sip}")])
            .args(["-A", &format!("RPC_LISTEN=tcp:{KAMAILIO_IP}:{rpc}")]);
        for d in defines {
            c.args(["-A", d]);
        }
        let child = c
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let k = Kamailio {
            _proc: Proc {
                child,
                name: format!("kamailio {cfg}"),
            },
            log,
            sip,
            rpc,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let udp = UdpSocket::bind((KAMAILIO_IP.parse::<IpAddr>().unwrap(), sip)).is_err();
            let tcp = TcpStream::connect((KAMAILIO_IP, rpc)).is_ok();
            if udp && tcp {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "kamailio with {cfg} did not start: {}",
                k.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        k
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn target(&self) -> String {
        format!("{KAMAILIO_IP}:{}", self.sip)
    }

    /// One JSON-RPC call over HTTP (curl, as an operator would type it); the parsed answer.
    fn rpc(&self, body: &serde_json::Value) -> serde_json::Value {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10", "-d"])
            .arg(body.to_string())
            .arg(format!("http://{KAMAILIO_IP}:{}/RPC", self.rpc))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "curl {body}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("JSON-RPC {body} answered {text:?}: {e}"))
    }
}

/// The tollguard side: the redirect listener, a tenant whose PBX is behind Kamailio, the carrier as trunk, the
/// API on loopback.
fn guard_config(redirect: u16, carrier: u16) -> String {
    format!(
        r#"[[listen]]
address = "127.0.0.1:{redirect}"
transport = "udp"
role = "redirect"

[pbx]
address = "{KAMAILIO_IP}:5060"
transport = "udp"

[trunk]
address = "127.0.0.3:{carrier}"
transport = "udp"

[[tenant]]
name = "acme"
pbx_sources = ["{KAMAILIO_IP}", "127.0.0.2"]

[store]
path = "guard.db"
snapshot_secs = 1

[api]
listen = "127.0.0.1:0"

[log]
level = "info"
"#
    )
}

/// A PBX call through Kamailio with `scenario`; its exit status and its message trace.
fn pbx_call(g: &Guard, k: &Kamailio, scenario: &str, dialed: &str, name: &str) -> (bool, String) {
    let trace = g.path(&format!("{name}.log"));
    let t = trace.display().to_string();
    let mut uac = sipp(
        g.dir.path(),
        scenario,
        "127.0.0.2",
        free_port("127.0.0.2"),
        "udp",
        &[
            &k.target(),
            "-m",
            "1",
            "-s",
            dialed,
            "-key",
            "account",
            "201",
            "-d",
            "100",
            "-timeout",
            "20s",
            "-trace_msg",
            "-message_file",
            &t,
        ],
    );
    let ok = uac.wait(Duration::from_secs(30)).success();
    (ok, std::fs::read_to_string(&trace).unwrap_or_default())
}

/// The INVITEs the carrier received, by Request-URI user.
fn carrier_invites(trace: &Path) -> Vec<String> {
    std::fs::read_to_string(trace)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("INVITE sip:"))
        .filter_map(|rest| rest.split('@').next())
        .map(str::to_owned)
        .collect()
}

/// Waits until tollguard's store holds an alert of tenant acme naming Sierra Leone.
fn wait_sierra_leone_alert(g: &Guard, context: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let alerts = g.db().alerts(&store::AlertFilter::default()).unwrap();
        if alerts
            .iter()
            .any(|a| a.tenant == "acme" && format!("{:?}", a.decision).contains("Sierra Leone"))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no alert about Sierra Leone stored ({context}): {alerts:?}\n{}",
            g.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn carrier(g: &Guard, port: u16, name: &str) -> (Proc, PathBuf) {
    let trace = g.path(name);
    let t = trace.display().to_string();
    let p = sipp(
        g.dir.path(),
        "uas_answer.xml",
        "127.0.0.3",
        port,
        "udp",
        &["-trace_msg", "-message_file", &t],
    );
    (p, trace)
}

/// What a failed step shows: the PBX's trace, Kamailio's log and tollguard's.
fn why(g: &Guard, k: &Kamailio, what: &str, trace: &str) -> String {
    format!(
        "{what}\n--- PBX trace\n{trace}\n--- kamailio\n{}\n--- tollguard\n{}",
        k.log(),
        g.log()
    )
}

fn skip() -> bool {
    skip_without(&["sipp", "kamailio", "curl"])
}

#[test]
fn kamailio_redirect_guide_places_allowed_calls_refuses_fraud_and_never_holds_up_emergency() {
    if skip() {
        return;
    }
    let (redirect, car) = (free_port("127.0.0.1"), free_port("127.0.0.3"));
    let mut g = Guard::start(&guard_config(redirect, car));
    let admin = g.admin_token();
    let (_carrier, carrier_log) = carrier(&g, car, "carrier.log");
    let k = Kamailio::start(
        g.dir.path(),
        "kamailio-redirect.cfg",
        &[
            format!("TOLLGUARD=\"sip:127.0.0.1:{redirect}\""),
            format!("CARRIER=\"sip:127.0.0.3:{car}\""),
            "PBX_NET=\"127.0.0.2/32\"".into(),
        ],
    );

    // (a) A national call: tollguard answers 302 to the trunk, Kamailio places it with the carrier.
    let (ok, trace) = pbx_call(&g, &k, "uac_call.xml", NATIONAL, "national");
    assert!(
        ok,
        "{}",
        why(&g, &k, "the national call did not go through", &trace)
    );
    assert!(carrier_invites(&carrier_log).contains(&NATIONAL.to_owned()));

    // (b) The 2015 pattern, # pressed first and sent as %23, and without it: refused on tollguard's word, with
    // its reason in words, and the carrier never sees it.
    for (dialed, name) in [(SIERRA_LEONE_HASH, "sl_hash"), (SIERRA_LEONE, "sl")] {
        let (ok, trace) = pbx_call(&g, &k, "uac_refused.xml", dialed, name);
        assert!(
            ok,
            "{}",
            why(&g, &k, &format!("{dialed} was not refused"), &trace)
        );
        assert!(
            trace.contains("SIP/2.0 603") && trace.contains("Sierra Leone"),
            "{}",
            why(
                &g,
                &k,
                "the PBX gets tollguard's 603 and its reason",
                &trace
            )
        );
        assert!(trace.contains("Warning: 399 tollguard"), "{trace}");
    }
    wait_sierra_leone_alert(&g, "redirect");
    let seen = carrier_invites(&carrier_log);
    assert!(
        !seen.iter().any(|u| u.contains("232")),
        "the carrier saw a refused call: {seen:?}"
    );

    // (c) Under a kill switch the national call is refused, the police call still goes (Kamailio does not ask).
    let out = g.ctl(
        &admin,
        &[
            "kill-switch",
            "on",
            "--scope",
            "tenant:acme",
            "--class",
            "domestic,international",
            "--why",
            "acme PBX hijacked",
        ],
    );
    assert!(
        out.status.success(),
        "kill switch: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, trace) = pbx_call(&g, &k, "uac_refused.xml", NATIONAL, "national_barred");
    assert!(
        ok && trace.contains("acme PBX hijacked"),
        "{}",
        why(
            &g,
            &k,
            "the barred call is refused with the operator's words",
            &trace
        )
    );
    let (ok, trace) = pbx_call(&g, &k, "uac_call.xml", POLICE, "police_barred");
    assert!(ok, "{}", why(&g, &k, "110 under a kill switch", &trace));

    // ... and with tollguard stopped: 110 goes, the national call is refused (the guide fails closed).
    g.stop();
    let (ok, trace) = pbx_call(&g, &k, "uac_call.xml", POLICE, "police_stopped");
    assert!(ok, "{}", why(&g, &k, "110 with tollguard stopped", &trace));
    let (ok, trace) = pbx_call(&g, &k, "uac_refused.xml", NATIONAL, "national_stopped");
    assert!(
        ok && trace.contains("SIP/2.0 503"),
        "{}",
        why(
            &g,
            &k,
            "fail closed: 503 while tollguard is stopped",
            &trace
        )
    );
    let police = carrier_invites(&carrier_log)
        .iter()
        .filter(|u| *u == POLICE)
        .count();
    assert_eq!(police, 2, "both police calls reached the carrier");

    // The other choice, -A FAIL_OPEN=1: the national call goes to the carrier unchecked.
    let open = Kamailio::start(
        g.dir.path(),
        "kamailio-redirect.cfg",
        &[
            format!("TOLLGUARD=\"sip:127.0.0.1:{redirect}\""),
            format!("CARRIER=\"sip:127.0.0.3:{car}\""),
            "PBX_NET=\"127.0.0.2/32\"".into(),
            "FAIL_OPEN=1".into(),
        ],
    );
    let (ok, trace) = pbx_call(&g, &open, "uac_call.xml", NATIONAL, "national_open");
    assert!(
        ok,
        "{}",
        why(&g, &open, "fail open: placed unchecked", &trace)
    );
    assert!(
        open.log().contains("FAIL_OPEN, sent unchecked"),
        "{}",
        open.log()
    );
}

/// Waits until Kamailio's log holds a line with all of `words`.
fn wait_kamailio_log(k: &Kamailio, words: &[&str], context: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = k.log();
        if log.lines().any(|l| words.iter().all(|w| l.contains(w))) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "kamailio never logged {words:?} ({context}):\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn kamailio_http_guide_decides_over_the_api_reports_answer_and_end_and_fails_closed() {
    if skip() {
        return;
    }
    if !have_module("http_client.so") {
        println!(
            "skipped: Kamailio's http_client module is not installed (Debian: apt-get install kamailio-utils-modules)"
        );
        return;
    }
    let car = free_port("127.0.0.3");
    // tollguard refuses a file without a [[listen]] (crates/guard/src/config.rs, "no [[listen]] section"), even
    // when only the HTTP front end is used: the guard also gets a redirect listener, which Kamailio never asks.
    let mut g = Guard::start(&guard_config(free_port("127.0.0.1"), car));
    let admin = g.admin_token();
    let out = g.ctl(
        &admin,
        &[
            "token", "create", "--role", "decider", "--tenant", "acme", "--label", "kamailio",
        ],
    );
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let token = printed
        .split_whitespace()
        .find(|w| w.starts_with("tg_"))
        .unwrap_or_else(|| {
            panic!(
                "no decider token: {printed} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
        .to_owned();
    let (_carrier, carrier_log) = carrier(&g, car, "carrier.log");
    let k = Kamailio::start(
        g.dir.path(),
        "kamailio-http.cfg",
        &[
            format!("TG_API=\"{}\"", g.api_url().trim_end_matches('/')),
            format!("TG_TOKEN=\"{token}\""),
            format!("CARRIER=\"sip:127.0.0.3:{car}\""),
            "PBX_NET=\"127.0.0.2/32\"".into(),
        ],
    );

    // (a) Allowed by POST /api/v1/decide, placed with the carrier; its answer and its end reported (204: the
    // call is known to tollguard under the Call-ID it was decided with).
    let (ok, trace) = pbx_call(&g, &k, "uac_call.xml", NATIONAL, "national");
    assert!(
        ok,
        "{}",
        why(&g, &k, "the national call did not go through", &trace)
    );
    assert!(carrier_invites(&carrier_log).contains(&NATIONAL.to_owned()));
    wait_kamailio_log(&k, &["tollguard report answered", "HTTP 204"], "answered");
    wait_kamailio_log(&k, &["tollguard report ended", "HTTP 204"], "ended");

    // (b) The 2015 pattern, as the user pressed it (# sent as %23): refused with tollguard's status and words.
    let (ok, trace) = pbx_call(&g, &k, "uac_refused.xml", SIERRA_LEONE_HASH, "sl_hash");
    assert!(
        ok,
        "{}",
        why(&g, &k, "the 2015 pattern was not refused", &trace)
    );
    assert!(
        trace.contains("Warning: 399 tollguard") && trace.contains("Sierra Leone"),
        "{}",
        why(&g, &k, "the PBX gets tollguard's reason", &trace)
    );
    assert!(
        !trace.contains("SIP/2.0 503"),
        "decided, not failed: {trace}"
    );
    wait_sierra_leone_alert(&g, "HTTP");
    let seen = carrier_invites(&carrier_log);
    assert!(
        !seen.iter().any(|u| u.contains("232")),
        "the carrier saw a refused call: {seen:?}"
    );

    // (c) tollguard stopped: 110 goes (never asked about), the national call fails closed with 503.
    g.stop();
    let (ok, trace) = pbx_call(&g, &k, "uac_call.xml", POLICE, "police_stopped");
    assert!(ok, "{}", why(&g, &k, "110 with tollguard stopped", &trace));
    assert!(carrier_invites(&carrier_log).contains(&POLICE.to_owned()));
    let (ok, trace) = pbx_call(&g, &k, "uac_refused.xml", NATIONAL, "national_stopped");
    assert!(
        ok && trace.contains("SIP/2.0 503"),
        "{}",
        why(
            &g,
            &k,
            "fail closed: 503 while tollguard is stopped",
            &trace
        )
    );

    // The other choice, -A FAIL_OPEN=1: the national call goes to the carrier unchecked.
    let open = Kamailio::start(
        g.dir.path(),
        "kamailio-http.cfg",
        &[
            format!("TG_API=\"{}\"", g.api_url().trim_end_matches('/')),
            format!("TG_TOKEN=\"{token}\""),
            format!("CARRIER=\"sip:127.0.0.3:{car}\""),
            "PBX_NET=\"127.0.0.2/32\"".into(),
            "FAIL_OPEN=1".into(),
        ],
    );
    let (ok, trace) = pbx_call(&g, &open, "uac_call.xml", NATIONAL, "national_open");
    assert!(
        ok,
        "{}",
        why(&g, &open, "fail open: placed unchecked", &trace)
    );
    assert!(
        open.log().contains("FAIL_OPEN, sent unchecked"),
        "{}",
        open.log()
    );
}

/// A dialog of `dlg.list` by Call-ID: (h_entry, h_id, caller tag, callee tag).
fn dialog_of(list: &serde_json::Value, call_id: &str) -> Option<(u64, u64, String, String)> {
    list["result"].as_array()?.iter().find_map(|d| {
        (d["call-id"] == call_id).then(|| {
            (
                d["h_entry"].as_u64().unwrap_or_default(),
                d["h_id"].as_u64().unwrap_or_default(),
                d["caller"]["tag"].as_str().unwrap_or_default().to_owned(),
                d["callee"]["tag"].as_str().unwrap_or_default().to_owned(),
            )
        })
    })
}

#[test]
fn kamailio_ends_a_call_in_progress_over_json_rpc() {
    if skip() {
        return;
    }
    let (redirect, car) = (free_port("127.0.0.1"), free_port("127.0.0.3"));
    let g = Guard::start(&guard_config(redirect, car));
    let carrier_log = g.path("carrier.log");
    let cl = carrier_log.display().to_string();
    // The carrier answers two calls and expects each to end with a BYE.
    let mut carrier = sipp(
        g.dir.path(),
        "uas_answer.xml",
        "127.0.0.3",
        car,
        "udp",
        &["-m", "2", "-trace_msg", "-message_file", &cl],
    );
    let k = Kamailio::start(
        g.dir.path(),
        "kamailio-redirect.cfg",
        &[
            format!("TOLLGUARD=\"sip:127.0.0.1:{redirect}\""),
            format!("CARRIER=\"sip:127.0.0.3:{car}\""),
            "PBX_NET=\"127.0.0.2/32\"".into(),
        ],
    );
    // Two national calls, held until someone ends them (the UAC completes only on a BYE).
    let pbx_log = g.path("pbx.log");
    let pl = pbx_log.display().to_string();
    let mut held = sipp(
        g.dir.path(),
        "uac_held_until_bye_slow.xml",
        "127.0.0.2",
        free_port("127.0.0.2"),
        "udp",
        &[
            &k.target(),
            "-m",
            "2",
            "-l",
            "2",
            "-s",
            NATIONAL,
            "-key",
            "account",
            "201",
            "-timeout",
            "30s",
            "-trace_msg",
            "-message_file",
            &pl,
        ],
    );
    // Both confirmed: dlg.list shows two dialogs in state 4 (confirmed by ACK).
    let deadline = Instant::now() + Duration::from_secs(20);
    let list = loop {
        let list = k.rpc(&serde_json::json!({"jsonrpc": "2.0", "method": "dlg.list", "id": 1}));
        let confirmed = list["result"]
            .as_array()
            .map_or(0, |a| a.iter().filter(|d| d["state"] == 4).count());
        if confirmed == 2 {
            break list;
        }
        assert!(
            Instant::now() < deadline,
            "two calls not confirmed: {list}\n{}\n{}",
            k.log(),
            g.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // ... and both in progress at the carrier too (Kamailio marks a dialog confirmed when it sees the ACK, before
    // it has relayed it: a BYE sent at once could overtake the ACK).
    let acks = |p: &Path| {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("ACK sip:"))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while acks(&carrier_log) < 2 {
        assert!(
            Instant::now() < deadline,
            "the carrier never got both ACKs: {}",
            k.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let ids: Vec<String> = list["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["call-id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), 2, "{list}");

    // The first by its hash entry and id, the second by Call-ID and tags.
    let (h_entry, h_id, _, _) = dialog_of(&list, &ids[0]).unwrap();
    // The optional third parameter: headers for both BYEs, here the why in words.
    let reason = "Reason: Q.850;cause=21;text=\"tollguard kill switch\"\r\n";
    let end = serde_json::json!({"jsonrpc": "2.0", "method": "dlg.end_dlg",
        "params": [h_entry, h_id, reason], "id": 2});
    let answer = k.rpc(&end);
    assert!(answer.get("error").is_none(), "{end} -> {answer}");
    let (_, _, from_tag, to_tag) = dialog_of(&list, &ids[1]).unwrap();
    let terminate = serde_json::json!({"jsonrpc": "2.0", "method": "dlg.terminate_dlg",
        "params": [ids[1], from_tag, to_tag], "id": 3});
    let answer = k.rpc(&terminate);
    assert!(answer.get("error").is_none(), "{terminate} -> {answer}");
    println!("ended with {end}\nand with {terminate}");

    // Both sides of both calls got Kamailio's BYE: the held UAC and the carrier complete their two calls.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (uac_done, carrier_done) = loop {
        let (u, c) = (
            held.child.try_wait().unwrap(),
            carrier.child.try_wait().unwrap(),
        );
        if let (Some(u), Some(c)) = (u, c) {
            break (u, c);
        }
        assert!(
            Instant::now() < deadline,
            "both sides must get a BYE (PBX {u:?}, carrier {c:?}):\n--- PBX\n{}\n--- carrier\n{}\n--- kamailio\n{}",
            std::fs::read_to_string(&pbx_log).unwrap_or_default(),
            std::fs::read_to_string(&carrier_log).unwrap_or_default(),
            k.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        uac_done.success() && carrier_done.success(),
        "both sides complete their calls (PBX {uac_done:?}, carrier {carrier_done:?}):\n{}",
        k.log()
    );
    let byes = |p: &Path| {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("BYE sip:"))
            .count()
    };
    assert_eq!(
        (byes(&pbx_log), byes(&carrier_log)),
        (2, 2),
        "one BYE per call on each side"
    );
    let carrier_bye_of = |call_id: &str| {
        std::fs::read_to_string(&carrier_log)
            .unwrap_or_default()
            .split("-----------------------------------------------")
            .find(|m| {
                m.lines().any(|l| l.starts_with("BYE sip:"))
                    && m.lines().any(|l| l.trim() == format!("Call-ID: {call_id}"))
            })
            .map(str::to_owned)
            .unwrap_or_default()
    };
    let bye = carrier_bye_of(&ids[0]);
    assert!(
        bye.contains("Reason: Q.850;cause=21;text=\"tollguard kill switch\""),
        "dlg.end_dlg's extra headers are in its BYE: {bye}"
    );
    let list = k.rpc(&serde_json::json!({"jsonrpc": "2.0", "method": "dlg.list", "id": 4}));
    assert!(
        list["result"]
            .as_array()
            .is_none_or(|a| a.iter().all(|d| d["state"] == 5)),
        "no dialog left in progress: {list}"
    );
}

/// The tollguard side of the HEP guide: a HEP listener only, Kamailio its one capture agent (with the auth key
/// the guide passes as HEP_AUTH_KEY), observe mode (the default). The engine's clock starts on a Saturday night
/// and runs 20 times faster, so SIPp's 1.5 s calls are the ~30 s calls of 2015.
fn hep_guard_config(hep: u16) -> String {
    format!(
        r#"[[listen]]
address = "127.0.0.1:{hep}"
transport = "udp"
role = "hep"

[hep]
sources = ["{KAMAILIO_IP}"]
auth_key = "{HEP_KEY}"

[pbx]
address = "127.0.0.2:5060"
transport = "udp"

[[tenant]]
name = "acme"
pbx_sources = ["127.0.0.2"]

[clock]
speed = 20.0
start_ms = {SATURDAY_NIGHT}

[store]
path = "guard.db"
snapshot_secs = 1

[api]
listen = "127.0.0.1:0"

[log]
level = "info"
"#
    )
}

const HEP_KEY: &str = "kam-hep-key";

/// The Call-IDs of the INVITEs in a SIPp message trace, in order.
fn invite_call_ids(trace: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for m in trace.split("-----------------------------------------------") {
        if m.lines().any(|l| l.starts_with("INVITE sip:"))
            && let Some(id) = m.lines().find_map(|l| l.trim().strip_prefix("Call-ID: "))
            && !ids.iter().any(|i| i == id)
        {
            ids.push(id.to_owned());
        }
    }
    ids
}

#[test]
fn kamailio_hep_guide_mirrors_the_2015_pattern_tollguard_alerts_and_blocks_nothing() {
    if skip() {
        return;
    }
    if !have_module("siptrace.so") {
        println!(
            "skipped: Kamailio's siptrace module is not installed (Debian: apt-get install kamailio)"
        );
        return;
    }
    let (hep, car) = (free_port("127.0.0.1"), free_port("127.0.0.3"));
    let g = Guard::start(&hep_guard_config(hep));
    let (_carrier, carrier_log) = carrier(&g, car, "carrier.log");
    let k = Kamailio::start(
        g.dir.path(),
        "kamailio-hep.cfg",
        &[
            format!("CARRIER=\"sip:127.0.0.3:{car}\""),
            "PBX_NET=\"127.0.0.2/32\"".into(),
            format!("TOLLGUARD_HEP=\"sip:127.0.0.1:{hep}\""),
            format!("HEP_AUTH_KEY=\"{HEP_KEY}\""),
        ],
    );

    // An ordinary national call of ext 201: placed, and nothing to say about it.
    let (ok, trace) = pbx_call(&g, &k, "uac_call.xml", NATIONAL, "national");
    assert!(ok, "{}", why(&g, &k, "the national call", &trace));
    let national = invite_call_ids(&trace);

    // The 2015 pattern: ext 205 places four ~30 s calls to Sierra Leone in a row, the # pressed first on the
    // first one. Kamailio carries every one of them to the end (tollguard only watches).
    let pbx_log = g.path("sl.log");
    let pl = pbx_log.display().to_string();
    let mut uac = sipp(
        g.dir.path(),
        "uac_call.xml",
        "127.0.0.2",
        free_port("127.0.0.2"),
        "udp",
        &[
            &k.target(),
            "-m",
            "4",
            "-l",
            "1",
            "-s",
            SIERRA_LEONE,
            "-key",
            "account",
            "205",
            "-d",
            "1500",
            "-timeout",
            "40s",
            "-trace_msg",
            "-message_file",
            &pl,
        ],
    );
    let status = uac.wait(Duration::from_secs(50));
    let trace = std::fs::read_to_string(&pbx_log).unwrap_or_default();
    assert!(
        status.success(),
        "{}",
        why(&g, &k, "observe mode: all four calls complete", &trace)
    );
    let attack = invite_call_ids(&trace);
    assert_eq!(attack.len(), 4, "{trace}");
    let placed = carrier_invites(&carrier_log)
        .iter()
        .filter(|u| u.as_str() == SIERRA_LEONE)
        .count();
    assert_eq!(
        placed, 4,
        "the carrier got every call: tollguard blocks nothing"
    );

    // ... and 110, as always.
    let (ok, trace) = pbx_call(&g, &k, "uac_call.xml", POLICE, "police");
    assert!(ok, "{}", why(&g, &k, "110", &trace));
    let police = invite_call_ids(&trace);

    // tollguard decided every one of them from Kamailio's HEP copies: each call to Sierra Leone is an alert of
    // the rule that refuses it inline (destination_country: international calling is barred outside the
    // allow-list), and the 4th refused attempt off hours is the escalation the inline proxy would have made.
    let deadline = Instant::now() + Duration::from_secs(15);
    let alerts = loop {
        let alerts = g.db().alerts(&store::AlertFilter::default()).unwrap();
        let of = |id: &str, rule: &str| {
            alerts.iter().any(|a| {
                a.tenant == "acme"
                    && a.decision.call_id.as_deref() == Some(id)
                    && a.decision.rule == rule
                    && a.decision.level == engine::Level::Critical
            })
        };
        let all = attack.iter().all(|id| of(id, "destination_country"))
            && of(&attack[3], "denied_account_hour");
        if all {
            break alerts;
        }
        assert!(
            Instant::now() < deadline,
            "no alert for every call to Sierra Leone ({attack:?}): {alerts:#?}\n{}",
            why(&g, &k, "HEP decoded and decided", "")
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        alerts
            .iter()
            .any(|a| a.decision.reason.contains("Sierra Leone")),
        "{alerts:?}"
    );
    for id in national.iter().chain(&police) {
        assert!(
            !alerts
                .iter()
                .any(|a| a.decision.call_id.as_deref() == Some(id)),
            "no alert about the national call or 110 ({id}): {alerts:#?}"
        );
    }
    // The escalation is recorded as the kill switch the inline proxy would have set (ext 205 barred from
    // international calls), for the operator to see and lift; on a mirror it barred nothing (all four calls
    // above were carried to the end).
    let deadline = Instant::now() + Duration::from_secs(10);
    let switches = loop {
        let switches = g.db().active_kill_switches().unwrap();
        if !switches.is_empty() {
            break switches;
        }
        assert!(
            Instant::now() < deadline,
            "no kill switch recorded: {}",
            g.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        switches.iter().all(|k| matches!(&k.scope,
            engine::BarScope::Account { tenant, account } if tenant == "acme" && account == "205")),
        "{switches:?}"
    );
    assert!(
        !k.log().contains("ERROR"),
        "Kamailio logged an error: {}",
        k.log()
    );
}
