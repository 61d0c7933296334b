//! `tollguard ctl` (the real binary) against a real guard and its operator API on loopback: the commands an
//! operator types, their tables and JSON, refusals with the server's sentence and a non-zero exit, and the
//! token never echoed.

use std::path::PathBuf;
use std::process::{Command, Output};

struct Running {
    url: String,
    admin: String,
    dir: tempfile::TempDir,
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn free_udp() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A guard and its API on their own thread and runtime (the test thread runs blocking `ctl` processes).
fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let store: PathBuf = dir.path().join("guard.db");
    let config = format!(
        "[[listen]]\naddress = \"127.0.0.1:{}\"\nrole = \"access\"\n\n[[listen]]\naddress = \"127.0.0.1:{}\"\nrole = \"pbx\"\n\n\
[pbx]\naddress = \"127.0.0.2:5070\"\n\n[trunk]\naddress = \"127.0.0.3:5080\"\n\n[[tenant]]\nname = \"acme\"\n\n\
[store]\npath = \"{}\"\n\n[api]\nlisten = \"127.0.0.1:0\"\n",
        free_udp(),
        free_udp(),
        store.display()
    );
    let path = dir.path().join("tollguard.toml");
    std::fs::write(&path, config).unwrap();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let api_config = api::ApiConfig::load(&path).unwrap().unwrap();
            let guard = guard::Guard::start(&path).await.unwrap();
            let handle = guard.handle();
            let admin = api::bootstrap_admin(&api_config, &store).unwrap().unwrap();
            let bound = api::bind(api_config, handle.clone(), store).await.unwrap();
            let url = format!("http://{}", bound.local_addr());
            let (g_tx, g_rx) = tokio::sync::oneshot::channel::<()>();
            let (a_tx, a_rx) = tokio::sync::oneshot::channel::<()>();
            let g = tokio::spawn(guard.run(async move {
                let _ = g_rx.await;
            }));
            let a = tokio::spawn(bound.run(async move {
                let _ = a_rx.await;
            }));
            ready_tx.send((url, admin)).unwrap();
            // Wait for the test to finish without blocking the runtime's only thread.
            let _ = tokio::task::spawn_blocking(move || stop_rx.recv()).await;
            let _ = a_tx.send(());
            let _ = g_tx.send(());
            let _ = a.await;
            let _ = g.await;
        });
    });
    let (url, admin) = ready_rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .unwrap();
    Running {
        url,
        admin,
        dir,
        stop: Some(stop_tx),
        thread: Some(thread),
    }
}

impl Running {
    /// Runs `tollguard ctl` with the token in TOLLGUARD_TOKEN (as the docs advise).
    fn ctl(&self, token: Option<&str>, args: &[&str]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tollguard"));
        c.arg("ctl").args(args).env("TOLLGUARD_URL", &self.url);
        match token {
            Some(t) => c.env("TOLLGUARD_TOKEN", t),
            None => c.env_remove("TOLLGUARD_TOKEN"),
        };
        c.output().unwrap()
    }

    fn ok(&self, token: &str, args: &[&str]) -> String {
        let o = self.ctl(Some(token), args);
        let (out, err) = (text(&o.stdout), text(&o.stderr));
        assert!(o.status.success(), "ctl {args:?} failed: {err}");
        assert!(
            !out.contains(token) && !err.contains(token),
            "the token was echoed"
        );
        out
    }

    fn fails(&self, token: Option<&str>, args: &[&str]) -> String {
        let o = self.ctl(token, args);
        assert!(
            !o.status.success(),
            "ctl {args:?} should fail: {}",
            text(&o.stdout)
        );
        text(&o.stderr)
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn ctl_operates_a_running_guard_and_reports_refusals() {
    let r = start();
    let admin = r.admin.clone();

    let out = r.ok(&admin, &["status"]);
    assert!(out.contains("calls in progress: 0"), "{out}");
    assert!(out.contains("role admin"), "{out}");
    let err = r.fails(None, &["status"]);
    assert!(
        err.contains("needs a token") && err.contains("HTTP 401"),
        "{err}"
    );

    // Kill switch on, listed (table and JSON), refused to a viewer, off.
    let out = r.ok(
        &admin,
        &[
            "kill-switch",
            "on",
            "--scope",
            "tenant:acme",
            "--class",
            "international,premium",
            "--why",
            "pump",
        ],
    );
    assert!(
        out.contains("in force: tenant:acme barred from international,premium"),
        "{out}"
    );
    let out = r.ok(&admin, &["kill-switch", "list"]);
    assert!(out.lines().next().unwrap().starts_with("ID"), "{out}");
    assert!(out.contains("tenant:acme") && out.contains("pump"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&r.ok(&admin, &["kill-switch", "list", "--format", "json"])).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1);

    let created = r.ok(
        &admin,
        &[
            "token",
            "create",
            "--role",
            "viewer",
            "--label",
            "wall screen",
        ],
    );
    let viewer = created.lines().next().unwrap().trim().to_owned();
    assert!(viewer.starts_with("tg_"), "{created}");
    let err = r.fails(
        Some(&viewer),
        &[
            "kill-switch",
            "on",
            "--scope",
            "all",
            "--class",
            "international",
            "--why",
            "x",
        ],
    );
    assert!(
        err.contains("operator role") && err.contains("HTTP 403"),
        "{err}"
    );
    let out = r.ok(&viewer, &["alerts", "--unacked"]);
    assert!(out.contains("(none)"), "{out}");

    let out = r.ok(
        &admin,
        &[
            "kill-switch",
            "off",
            "--scope",
            "tenant:acme",
            "--why",
            "false alarm",
        ],
    );
    assert!(out.contains("1 kill switch(es) lifted"), "{out}");
    let err = r.fails(
        Some(&admin),
        &["kill-switch", "off", "--scope", "tenant:acme"],
    );
    assert!(err.contains("no kill switch in force"), "{err}");

    // Bans.
    let out = r.ok(
        &admin,
        &[
            "ban",
            "add",
            "203.0.113.9",
            "--minutes",
            "30",
            "--why",
            "scanner",
        ],
    );
    assert!(out.contains("banned 203.0.113.9"), "{out}");
    let out = r.ok(&admin, &["ban", "list"]);
    assert!(
        out.contains("203.0.113.9") && out.contains("scanner"),
        "{out}"
    );
    r.ok(&admin, &["ban", "lift", "203.0.113.9"]);
    assert!(r.ok(&admin, &["ban", "list"]).contains("(none)"));

    // A policy with an error: the line is named, exit non-zero.
    let bad = r.dir.path().join("bad-policy.toml");
    std::fs::write(&bad, "[defaults]\nmode = \"sometimes\"\n").unwrap();
    let err = r.fails(Some(&admin), &["policy", "validate", bad.to_str().unwrap()]);
    assert!(
        err.contains("bad-policy.toml") && err.contains("line 2"),
        "{err}"
    );

    // The audit log has the changes, by token id; revoking the viewer locks it out.
    let out = r.ok(&admin, &["audit"]);
    for action in [
        "kill_switch.set",
        "kill_switch.lift",
        "ban.add",
        "ban.lift",
        "token.create",
    ] {
        assert!(out.contains(action), "{action} missing: {out}");
    }
    r.ok(&admin, &["token", "revoke", &viewer]);
    let err = r.fails(Some(&viewer), &["status"]);
    assert!(err.contains("HTTP 401"), "{err}");
    // Nothing on disk holds a token's secret.
    let secret = admin.rsplit('_').next().unwrap();
    for e in std::fs::read_dir(r.dir.path()).unwrap() {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }
}
