//! Shared set-up of the end-to-end tests: the real `tollguard serve` binary in a temporary directory, SIPp
//! with the repository's scenarios, free ports, processes killed when dropped. Phones and scanners use
//! 127.0.0.1, the PBX 127.0.0.2, the carrier 127.0.0.3 (all of 127/8 is loopback on Linux).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../guard/tests/sipp");
/// Saturday 2025-01-18 23:00 JST: after office hours, as in 2015.
pub const SATURDAY_NIGHT: i64 = 1_737_208_800_000;

pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A port free for both UDP and TCP on `ip`.
pub fn free_port(ip: &str) -> u16 {
    let ip: IpAddr = ip.parse().unwrap();
    for _ in 0..100 {
        let u = UdpSocket::bind((ip, 0)).unwrap();
        let port = u.local_addr().unwrap().port();
        if TcpListener::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on {ip}");
}

/// The four ports of the usual set-up: the guard's access and PBX-side listeners on 127.0.0.1, the PBX on
/// 127.0.0.2, the carrier on 127.0.0.3 — as `(ga, gp, pbx, car)`, the names the tests give them.
pub fn guard_ports() -> (u16, u16, u16, u16) {
    (
        free_port("127.0.0.1"),
        free_port("127.0.0.1"),
        free_port("127.0.0.2"),
        free_port("127.0.0.3"),
    )
}

/// A process started by a test; killed (by its own handle) when dropped.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    pub fn wait(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not finish within {within:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // A peer started in its own process group (`process_group(0)`, e.g. Kamailio, whose workers are forked
        // children) is killed with its whole group: killing the main process alone left the workers running
        // and holding the port after the test. For other processes there is no such group and this is a no-op.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Guard {
    _proc: Proc,
    pub dir: tempfile::TempDir,
    /// What `tollguard serve` printed before "ready" (listeners, the API address, a first-start token).
    pub banner: Vec<String>,
}

impl Guard {
    pub fn start(config: &str) -> Guard {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("guard.toml"), config).unwrap();
        Self::start_in(dir, "guard.log")
    }

    /// kill -9, then start again on the same files.
    pub fn crash_and_restart(mut self) -> Guard {
        let _ = self._proc.child.kill();
        let _ = self._proc.child.wait();
        let Guard { _proc, dir, .. } = self;
        drop(_proc);
        Self::start_in(dir, "guard2.log")
    }

    pub fn start_in(dir: tempfile::TempDir, log: &str) -> Guard {
        let path = dir.path().join("guard.toml");
        let stderr = std::fs::File::create(dir.path().join(log)).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tollguard"))
            .args(["serve", "--config"])
            .arg(&path)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let proc = Proc {
            child,
            name: "tollguard serve".into(),
        };
        let log = log.to_owned();
        let mut g = Guard {
            _proc: proc,
            dir,
            banner: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(l) if l.contains("ready") => break,
                Ok(l) => g.banner.push(l),
                Err(_) => {
                    if let Ok(Some(status)) = g._proc.child.try_wait() {
                        panic!(
                            "tollguard serve exited ({status}) before it was ready: {}",
                            std::fs::read_to_string(g.path(&log)).unwrap_or_default()
                        );
                    }
                    assert!(
                        Instant::now() < deadline,
                        "guard not ready: {}",
                        std::fs::read_to_string(g.path(&log)).unwrap_or_default()
                    );
                }
            }
        }
        g
    }

    /// The guard's log and the errors SIPp traced, for failure messages.
    pub fn log(&self) -> String {
        let mut s = std::fs::read_to_string(self.dir.path().join("guard.log")).unwrap_or_default();
        if let Ok(rd) = std::fs::read_dir(self.dir.path()) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                s.push_str(&format!("\n(file {name})"));
                if name.ends_with("_errors.log") || name.ends_with("_screen.log") {
                    s.push_str(&format!("\n--- {name}\n"));
                    s.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
                }
            }
        }
        s
    }

    pub fn pid(&self) -> u32 {
        self._proc.child.id()
    }

    /// Waits until the log file `name` contains `what`.
    pub fn wait_log(&self, name: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let t = std::fs::read_to_string(self.path(name)).unwrap_or_default();
            if t.contains(what) {
                return;
            }
            assert!(Instant::now() < deadline, "{name} never said {what:?}: {t}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn db(&self) -> store::Store {
        store::Store::open(&self.path("guard.db")).unwrap()
    }
}

pub fn config(
    access: u16,
    pbx_side: u16,
    pbx: u16,
    carrier: u16,
    transport: &str,
    extra: &str,
) -> String {
    format!(
        r#"{extra}
[[listen]]
address = "127.0.0.1:{access}"
transport = "{transport}"
role = "access"

[[listen]]
address = "127.0.0.1:{pbx_side}"
transport = "{transport}"
role = "pbx"

[pbx]
address = "127.0.0.2:{pbx}"
transport = "{transport}"

[trunk]
address = "127.0.0.3:{carrier}"
transport = "{transport}"

[store]
path = "guard.db"
snapshot_secs = 1

[log]
level = "info"
"#
    )
}

/// SIPp with the common options: scenario from the repo, bound to `ip:port`, quiet, bounded in time.
pub fn sipp(
    dir: &Path,
    scenario: &str,
    ip: &str,
    port: u16,
    transport: &str,
    args: &[&str],
) -> Proc {
    // SIPp writes its traces beside the scenario: a copy in the test's directory keeps them there.
    let local = dir.join(scenario);
    if !local.exists() {
        std::fs::copy(format!("{SCENARIOS}/{scenario}"), &local).unwrap();
    }
    let mut c = Command::new("sipp");
    c.current_dir(dir)
        .arg("-sf")
        .arg(&local)
        .args(["-i", ip, "-bind_local", "-p", &port.to_string()])
        .args(["-t", if transport == "tcp" { "t1" } else { "u1" }])
        .args([
            "-nostdin",
            "-timeout",
            "60s",
            "-timeout_error",
            "-max_socket",
            "64",
        ])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Proc {
        child: c.spawn().unwrap(),
        name: format!("sipp {scenario} {}", args.join(" ")),
    }
}

pub fn skip_without(tools: &[&str]) -> bool {
    for t in tools {
        if !have(t) {
            println!("skipped: {t} is not installed");
            return true;
        }
    }
    false
}

impl Guard {
    /// The operator API's URL, from the line `serve` printed ("operator API on http://…").
    pub fn api_url(&self) -> String {
        self.banner
            .iter()
            .find_map(|l| l.split("operator API on ").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("serve printed no API address: {:?}", self.banner))
            .to_owned()
    }

    /// The first admin token, from the line `serve` printed once.
    pub fn admin_token(&self) -> String {
        self.banner
            .iter()
            .find_map(|l| l.split("first admin token").nth(1))
            .and_then(|rest| rest.split_whitespace().last())
            .filter(|t| t.starts_with("tg_"))
            .unwrap_or_else(|| panic!("serve printed no admin token: {:?}", self.banner))
            .to_owned()
    }

    /// Runs the real `tollguard ctl ARGS` against this guard's API, the token in TOLLGUARD_TOKEN.
    pub fn ctl(&self, token: &str, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_tollguard"))
            .arg("ctl")
            .args(args)
            .env("TOLLGUARD_URL", self.api_url())
            .env("TOLLGUARD_TOKEN", token)
            .output()
            .unwrap()
    }
}

/// SIPp's cumulative (successful, failed) call counts from the `-trace_screen` file it wrote at exit in `dir`.
pub fn sipp_counts(dir: &Path, scenario: &str, p: &Proc) -> Option<(u64, u64)> {
    let stem = scenario.strip_suffix(".xml").unwrap_or(scenario);
    let text =
        std::fs::read_to_string(dir.join(format!("{stem}_{}_screen.log", p.child.id()))).ok()?;
    let last = |what: &str| {
        text.lines()
            .rev()
            .find(|l| l.trim_start().starts_with(what))
            .and_then(|l| l.rsplit('|').next())
            .and_then(|n| n.trim().parse::<u64>().ok())
    };
    Some((last("Successful call")?, last("Failed call")?))
}

impl Guard {
    /// Stops `tollguard serve` (kill -9, by its own handle) and keeps its files for the test to read: what a
    /// querier sees when tollguard is down.
    pub fn stop(&mut self) {
        let _ = self._proc.child.kill();
        let _ = self._proc.child.wait();
    }
}
