//! `tollguard audit`, end to end: the real binary against the real Debian Kamailio acting as the PBX's
//! registrar (auth_db over db_text, plain-text passwords hashed by Kamailio, `calculate_ha1 yes`), on
//! 127.0.0.5 with free ports, and against an in-test HTTP administration page on 127.0.0.6. Kamailio logs every
//! authenticated REGISTER it sees: the tests count and order the attempts there, never by wall-clock time.
//!
//! The Kamailio tests need `kamailio` (scripts/test-all.sh installs it). Outside CI they say they were
//! skipped when it is absent; in CI (`CI` set) and under scripts/test-all.sh (`TOLLGUARD_REQUIRE_PEERS`) its
//! absence fails them.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const KAMAILIO_IP: &str = "127.0.0.5";
const WEB_IP: &str = "127.0.0.6";
/// The candidates tried on an account none of them opens (vendor entries, variants, common passwords, without
/// duplicates); see crates/audit/data/defaults.toml.
const ALL_CANDIDATES: usize = 21;

/// Extensions of the test PBX: two on defaults (a vendor's, the extension itself), one on a common password,
/// one strong.
const SUBSCRIBERS: &[(&str, &str)] = &[
    ("201", "admin"),
    ("202", "202"),
    ("203", "Xq7-vRt9!mZp42Lw"),
    ("204", "123456"),
];

/// The registrar: REGISTER challenged and checked against the subscriber table; `LEAKY` answers 404 to
/// unknown users before challenging (the svwar leak), names its version, and rings for unauthenticated
/// INVITEs; `LOCKOUT` refuses an account with 403 after three wrong passwords.
const CFG: &str = r#"#!KAMAILIO
debug=2
log_stderror=yes
children=1
tcp_children=1
auto_aliases=no
listen=SIP_UDP
listen=SIP_TCP
#!ifdef LEAKY
server_signature=yes
#!else
server_signature=no
#!endif
loadpath "MODULES"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "maxfwd.so"
loadmodule "db_text.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "htable.so"
modparam("auth_db", "db_url", DBURL)
modparam("auth_db", "calculate_ha1", yes)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "use_domain", 0)
modparam("usrloc", "db_mode", 0)
modparam("htable", "htable", "fail=>size=4;")
#!ifdef SHA256
modparam("auth", "algorithm", "SHA-256")
#!endif
request_route {
    if (method=="OPTIONS") { sl_send_reply("200", "OK"); exit; }
    if (method=="REGISTER") {
#!ifdef LOCKOUT
        if ($sht(fail=>$tU) != $null && $sht(fail=>$tU) >= 3) { sl_send_reply("403", "Locked"); exit; }
#!endif
        if ($hdr(Authorization) != $null) {
            xlog("L_NOTICE", "AUDIT-ATTEMPT user=$au\n");
        }
#!ifdef LEAKY
        if (!is_subscriber("$tu", "subscriber", "2")) { sl_send_reply("404", "Not Found"); exit; }
#!endif
        if (!www_authorize("$td", "subscriber")) {
            if ($hdr(Authorization) != $null) {
                if ($sht(fail=>$au) == $null) { $sht(fail=>$au) = 0; }
                $sht(fail=>$au) = $sht(fail=>$au) + 1;
            }
            www_challenge("$td", "1");
            exit;
        }
        if ($hdr(Contact) != $null) { xlog("L_NOTICE", "AUDIT-CONTACT user=$au\n"); }
        xlog("L_NOTICE", "AUDIT-SUCCESS user=$au\n");
        save("location");
        exit;
    }
#!ifdef LEAKY
    if (method=="INVITE") { sl_send_reply("180", "Ringing"); exit; }
    if (method=="CANCEL") { sl_send_reply("200", "OK"); exit; }
#!endif
    if (method=="ACK") { exit; }
    if (!proxy_authorize("$fd", "subscriber")) { proxy_challenge("$fd", "1"); exit; }
    sl_send_reply("403", "Forbidden");
}
"#;

const MODULE_DIRS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/kamailio/modules",
    "/usr/lib/aarch64-linux-gnu/kamailio/modules",
    "/usr/lib/kamailio/modules",
    "/usr/local/lib64/kamailio/modules",
    "/usr/local/lib/kamailio/modules",
];

/// Whether Kamailio can run here; absent outside CI it is a skip (said so), in CI a failure.
fn kamailio_ready() -> bool {
    let modules = module_dir().is_some();
    if have("kamailio") && modules {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none() && std::env::var_os("TOLLGUARD_REQUIRE_PEERS").is_none(),
        "kamailio (with db_text, auth_db, registrar, htable) is required here: scripts/test-all.sh installs it"
    );
    println!("skipped: kamailio or its modules are not installed (apt-get install kamailio)");
    false
}

fn module_dir() -> Option<&'static str> {
    MODULE_DIRS.iter().copied().find(|d| {
        ["db_text.so", "auth_db.so", "registrar.so", "htable.so"]
            .iter()
            .all(|m| Path::new(d).join(m).exists())
    })
}

struct Kamailio {
    _proc: Proc,
    dir: tempfile::TempDir,
    port: u16,
}

impl Kamailio {
    fn start(defines: &[&str]) -> Kamailio {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        std::fs::create_dir_all(&db).unwrap();
        std::fs::write(
            db.join("version"),
            "table_name(str) table_version(int) \nsubscriber:7\n",
        )
        .unwrap();
        let mut rows = String::from(
            "id(int,auto) username(str) domain(str,null) password(str) ha1(str,null) ha1b(str,null)\n",
        );
        for (i, (u, p)) in SUBSCRIBERS.iter().enumerate() {
            rows.push_str(&format!("{}:{u}:{KAMAILIO_IP}:{p}:::\n", i + 1));
        }
        std::fs::write(db.join("subscriber"), rows).unwrap();
        let cfg = dir.path().join("registrar.cfg");
        std::fs::write(&cfg, CFG.replace("MODULES", module_dir().unwrap())).unwrap();
        let port = free_port(KAMAILIO_IP);
        let mut c = Command::new("kamailio");
        c.args(["-DD", "-E", "-m", "64", "-M", "16", "-x", "tlsf", "-f"])
            .arg(&cfg)
            .arg("-Y")
            .arg(dir.path())
            .arg("-P")
            .arg(dir.path().join("kamailio.pid"))
            .arg("-w")
            .arg(dir.path())
            .args(["-A", &format!("SIP_UDP=udp:{KAMAILIO_IP}:{port}")])
            .args(["-A", &format!("SIP_TCP=tcp:{KAMAILIO_IP}:{port}")])
            .args(["-A", &format!("DBURL=\"text://{}\"", db.display())]);
        for d in defines {
            c.args(["-A", d]);
        }
        let child = c
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("kamailio.log")).unwrap())
            .spawn()
            .unwrap();
        let k = Kamailio {
            _proc: Proc {
                child,
                name: format!("kamailio {defines:?}"),
            },
            dir,
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let ip: IpAddr = KAMAILIO_IP.parse().unwrap();
        while UdpSocket::bind((ip, port)).is_ok() || TcpStream::connect((ip, port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "kamailio did not start: {}",
                k.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        k
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("kamailio.log")).unwrap_or_default()
    }

    fn target(&self) -> String {
        format!("{KAMAILIO_IP}:{}", self.port)
    }

    /// The users of the authenticated REGISTERs Kamailio saw, in order, with `tag` ("AUDIT-ATTEMPT").
    fn seen(&self, tag: &str) -> Vec<String> {
        let needle = format!("{tag} user=");
        self.log()
            .lines()
            .filter_map(|l| l.split(&needle).nth(1))
            .map(|u| u.trim().to_owned())
            .collect()
    }

    /// A guard configuration naming this registrar as the PBX.
    fn guard_toml(&self) -> PathBuf {
        let p = self.dir.path().join("guard.toml");
        std::fs::write(
            &p,
            config(
                free_port("127.0.0.1"),
                free_port("127.0.0.1"),
                self.port,
                5060,
                "udp",
                "",
            )
            .replace("127.0.0.2", KAMAILIO_IP),
        )
        .unwrap();
        p
    }
}

fn tollguard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tollguard"))
        .arg("audit")
        .args(args)
        .output()
        .unwrap()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// account → (result, entry id, attempts) of the first site.
fn accounts(v: &Value) -> Vec<(String, String, String, u64)> {
    v["sites"][0]["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["account"].as_str().unwrap().to_owned(),
                a["result"].as_str().unwrap().to_owned(),
                a["entry_id"].as_str().unwrap_or("").to_owned(),
                a["attempts"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn check_weak_ones_found(k: &Kamailio, out: &Output, transport: &str) {
    let v = json_of(out);
    let why = || format!("{v:#}\n--- kamailio\n{}", k.log());
    assert_eq!(
        out.status.code(),
        Some(1),
        "a weak account is critical: {}",
        why()
    );
    let acc = accounts(&v);
    let weak: Vec<(&str, &str, u64)> = acc
        .iter()
        .filter(|a| a.1 == "weak")
        .map(|a| (a.0.as_str(), a.2.as_str(), a.3))
        .collect();
    // 201: the Yealink default, second in the list; 202: the extension itself (the Asterisk docs' example,
    // first); 204: the most common password, after the vendor entries and the variants.
    assert_eq!(
        weak,
        vec![
            ("201", "yealink-admin", 2),
            ("202", "asterisk-docs-example", 1),
            ("204", "common:1", 13)
        ],
        "{}",
        why()
    );
    let strong = acc.iter().find(|a| a.0 == "203").unwrap();
    assert_eq!(
        (strong.1.as_str(), strong.3),
        ("resisted", ALL_CANDIDATES as u64),
        "{}",
        why()
    );
    // What Kamailio saw: one account at a time, in order, exactly as many attempts as reported, and each weak
    // account stopped at its first success.
    let seen = k.seen("AUDIT-ATTEMPT");
    let mut expected = Vec::new();
    for a in &acc {
        expected.extend(std::iter::repeat_n(a.0.clone(), a.3 as usize));
    }
    assert_eq!(seen, expected, "{}", why());
    assert_eq!(
        k.seen("AUDIT-SUCCESS"),
        vec!["201", "202", "204"],
        "{}",
        why()
    );
    // A binding query: no REGISTER carried a Contact, so no real phone's registration was replaced.
    assert!(k.seen("AUDIT-CONTACT").is_empty(), "{}", why());
    // The password is not printed without --show-passwords.
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("\"password\""), "{text}");
    assert_eq!(
        v["sites"][0]["target"].as_str().unwrap().rsplit('/').next(),
        Some(transport)
    );
}

#[test]
fn credential_audit_finds_exactly_the_weak_accounts_one_at_a_time_and_stops_at_success() {
    if !kamailio_ready() {
        return;
    }
    let k = Kamailio::start(&[]);
    let guard = k.guard_toml();
    let out = tollguard(&[
        "credentials",
        "--target",
        &k.target(),
        "--config",
        guard.to_str().unwrap(),
        "--extensions",
        "201-204",
        "--rate",
        "40",
        "--format",
        "json",
    ]);
    check_weak_ones_found(&k, &out, "udp");
}

#[test]
fn credential_audit_answers_sha256_challenges_over_tcp() {
    if !kamailio_ready() {
        return;
    }
    let k = Kamailio::start(&["SHA256"]);
    let out = tollguard(&[
        "credentials",
        "--target",
        &k.target(),
        "--transport",
        "tcp",
        "--i-own-this",
        "--extensions",
        "201-204",
        "--rate",
        "40",
        "--format",
        "json",
    ]);
    check_weak_ones_found(&k, &out, "tcp");
}

#[test]
fn credential_audit_stops_an_account_the_pbx_locks() {
    if !kamailio_ready() {
        return;
    }
    let k = Kamailio::start(&["LOCKOUT"]);
    let out = tollguard(&[
        "credentials",
        "--target",
        &k.target(),
        "--i-own-this",
        "--extensions",
        "203",
        "--rate",
        "40",
        "--format",
        "json",
    ]);
    let v = json_of(&out);
    let acc = accounts(&v);
    assert_eq!(acc[0].1, "locked_out", "{v:#}\n{}", k.log());
    assert_eq!(acc[0].3, 3, "{v:#}");
    assert_eq!(k.seen("AUDIT-ATTEMPT").len(), 3, "{}", k.log());
    assert_eq!(v["sites"][0]["accounts"][0]["status"], 403);
}

#[test]
fn audits_refuse_a_public_target_that_is_not_yours() {
    let dir = tempfile::tempdir().unwrap();
    let guard = dir.path().join("guard.toml");
    std::fs::write(&guard, config(5070, 5071, 5060, 5062, "udp", "")).unwrap();
    for check in ["credentials", "exposure"] {
        for extra in [&[][..], &["--config", guard.to_str().unwrap()][..]] {
            let mut args = vec![
                check,
                "--target",
                "203.0.113.9:5060",
                "--extensions",
                "200-201",
            ];
            args.extend_from_slice(extra);
            let out = tollguard(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{check} {extra:?}: {err}");
            assert!(err.contains("refusing to audit 203.0.113.9:5060"), "{err}");
            assert!(err.contains("--i-own-this"), "{err}");
        }
    }
}

/// The findings of kind `kind` in an exposure report.
fn findings<'a>(v: &'a Value, kind: &str) -> Vec<&'a Value> {
    v["sites"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind)
        .collect()
}

#[test]
fn exposure_reports_the_enumeration_leak_banner_and_guest_calls_only_where_they_are() {
    if !kamailio_ready() {
        return;
    }
    let web = free_port(WEB_IP).to_string();
    for (defines, leaky) in [(&["LEAKY"][..], true), (&[][..], false)] {
        let k = Kamailio::start(defines);
        let out = tollguard(&[
            "exposure",
            "--target",
            &k.target(),
            "--i-own-this",
            "--extensions",
            "201-203",
            "--sip-ports",
            "",
            "--web-ports",
            &web,
            "--wait-ms",
            "1000",
            "--format",
            "json",
        ]);
        let v = json_of(&out);
        let why = || format!("{v:#}\n{}", k.log());
        let leak = findings(&v, "enumeration-leak");
        assert_eq!(leak.len(), usize::from(leaky), "{}", why());
        if leaky {
            let t = leak[0]["title"].as_str().unwrap();
            assert!(
                t.contains("401") && t.contains("404") && t.contains("201, 202, 203"),
                "{t}"
            );
        }
        assert_eq!(
            findings(&v, "version-disclosure").len(),
            usize::from(leaky),
            "{}",
            why()
        );
        assert_eq!(
            findings(&v, "guest-call").len(),
            usize::from(leaky),
            "{}",
            why()
        );
        assert_eq!(
            out.status.code(),
            Some(if leaky { 1 } else { 0 }),
            "{}",
            why()
        );
        assert!(
            k.seen("AUDIT-ATTEMPT").is_empty(),
            "exposure tries no password on SIP"
        );
    }
}

/// A web administration page with HTTP Basic authentication; counts the logins tried.
fn admin_page(user: &str, password: &str) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind((WEB_IP, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let tried = Arc::new(Mutex::new(Vec::new()));
    let t = tried.clone();
    let good = format!("Basic {}", base64(&format!("{user}:{password}")));
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut auth = None;
            let mut line = String::new();
            while r.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                if let Some(v) = line.strip_prefix("Authorization: ") {
                    auth = Some(v.trim().to_owned());
                }
                line.clear();
            }
            let mut s = s;
            let answer = match &auth {
                Some(a) if *a == good => {
                    "HTTP/1.1 200 OK\r\nServer: mini-httpd/1.19\r\nContent-Length: 2\r\n\r\nok"
                }
                _ => {
                    "HTTP/1.1 401 Unauthorized\r\nServer: mini-httpd/1.19\r\nWWW-Authenticate: Basic realm=\"PBX admin\"\r\nContent-Length: 0\r\n\r\n"
                }
            };
            if let Some(a) = auth {
                t.lock().unwrap().push(a);
            }
            let _ = s.write_all(answer.as_bytes());
            let _ = s.flush();
            let mut sink = [0u8; 1];
            let _ = s.set_read_timeout(Some(Duration::from_millis(1)));
            let _ = s.read(&mut sink);
        }
    });
    (port, tried)
}

fn base64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn exposure_finds_an_admin_page_on_a_vendor_default_login_and_stops_there() {
    let (port, tried) = admin_page("admin", "adminpass");
    let closed = free_port(WEB_IP).to_string();
    let out = tollguard(&[
        "exposure",
        "--target",
        &format!("{WEB_IP}:{closed}"),
        "--i-own-this",
        "--sip-ports",
        "",
        "--no-guest-call",
        "--web-ports",
        &port.to_string(),
        "--wait-ms",
        "500",
        "--rate",
        "50",
        "--format",
        "json",
    ]);
    let v = json_of(&out);
    let hit = findings(&v, "web-default-login");
    assert_eq!(hit.len(), 1, "{v:#}");
    assert!(
        hit[0]["title"]
            .as_str()
            .unwrap()
            .contains("panasonic-tgp-admin"),
        "{v:#}"
    );
    assert_eq!(out.status.code(), Some(1));
    // The vendor logins in list order, up to the one that worked and no further.
    let tried = tried.lock().unwrap().clone();
    assert_eq!(
        tried.last().unwrap(),
        &format!("Basic {}", base64("admin:adminpass"))
    );
    assert_eq!(tried.len(), 5, "{tried:?}");
    assert_eq!(findings(&v, "version-disclosure").len(), 1, "{v:#}");
}

#[test]
fn fleet_summarises_per_tenant_escapes_the_html_report_and_refuses_a_foreign_row_before_sending() {
    if !kamailio_ready() {
        return;
    }
    let k = Kamailio::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("fleet.csv");
    let html = dir.path().join("audit.html");
    // A row that is not ours stops the whole run before any packet is sent.
    std::fs::write(
        &fleet,
        format!("tenant,target,transport,extensions\nacme,{0},udp,201\nrogue,203.0.113.9:5060,udp,201\n", k.target()),
    )
    .unwrap();
    let guard = k.guard_toml();
    let refused = tollguard(&[
        "credentials",
        "--targets",
        fleet.to_str().unwrap(),
        "--config",
        guard.to_str().unwrap(),
    ]);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(k.seen("AUDIT-ATTEMPT").is_empty(), "{}", k.log());

    std::fs::write(
        &fleet,
        format!(
            "tenant,target,transport,extensions\nacme <b>&amp;</b>,{0},udp,201\nbeta,{0},tcp,203\n",
            k.target()
        ),
    )
    .unwrap();
    let out = tollguard(&[
        "credentials",
        "--targets",
        fleet.to_str().unwrap(),
        "--config",
        guard.to_str().unwrap(),
        "--rate",
        "40",
        "--format",
        "json",
        "--html",
        html.to_str().unwrap(),
    ]);
    let v = json_of(&out);
    assert_eq!(out.status.code(), Some(1), "{v:#}");
    let tenants = v["tenants"].as_array().unwrap();
    let of = |t: &str| {
        tenants
            .iter()
            .find(|x| x["tenant"] == t)
            .unwrap_or_else(|| panic!("{v:#}"))
    };
    assert_eq!(of("acme <b>&amp;</b>")["critical"], 1);
    assert_eq!(of("beta")["critical"], 0);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("acme &lt;b&gt;&amp;amp;&lt;/b&gt;"), "{page}");
    assert!(!page.contains("<b>&amp;</b>"));
    assert!(
        page.contains("yealink-admin") && !page.contains(">admin<"),
        "no password in the report"
    );
}

fn fixture(dir: &str) -> Vec<String> {
    let d = concat!(env!("CARGO_MANIFEST_DIR"), "/../audit/tests/fixtures/").to_owned() + dir;
    let mut v: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn config_audit_exit_status_and_report_forms() {
    let good = fixture("good");
    let mut args = vec!["config"];
    args.extend(good.iter().map(String::as_str));
    let out = tollguard(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("no finding"));

    let bypass = fixture("bypass");
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("config.html");
    let mut args = vec![
        "config",
        "--format",
        "json",
        "--tenant",
        "acme",
        "--html",
        html.to_str().unwrap(),
    ];
    args.extend(bypass.iter().map(String::as_str));
    let out = tollguard(&args);
    let v = json_of(&out);
    assert_eq!(out.status.code(), Some(1), "{v:#}");
    let f = &v["sites"][0]["findings"][0];
    assert_eq!(f["kind"], "block-bypass");
    assert_eq!(f["severity"], "critical");
    assert!(
        f["location"]
            .as_str()
            .unwrap()
            .ends_with("bypass/extensions.conf:6"),
        "{f}"
    );
    assert!(f["fix"].as_str().unwrap().len() > 20);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("block-bypass") || page.contains("blocks _010."),
        "{page}"
    );
}
