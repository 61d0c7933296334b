//! Who is counted as whom: source keys (IPv4, IPv4-mapped IPv6, IPv6 networks), password guessing from one
//! source and spread over many, logins of an account (its known sources and countries), callers outside the
//! account list, foreign caller IDs, and the cap on bans.

mod common;

use std::net::{IpAddr, SocketAddr};

use common::*;
use engine::{
    Action, AuthKind, AuthOutcome, BarScope, Engine, Level, Policy, Snapshot, UNKNOWN_ACCOUNT,
    Verdict,
};

const ALLOW_ALL: &str =
    "[defaults.destinations]\nallow_countries = [\"*\"]\nblock_risk_at = \"never\"\n";

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

fn fail(sim: &mut Sim, at: i64, from: &str, user: &str) -> Verdict {
    sim.auth(at, ip(from), user, AuthKind::Register, AuthOutcome::Failure)
}

fn login(sim: &mut Sim, at: i64, from: &str, user: &str) -> Verdict {
    sim.auth(at, ip(from), user, AuthKind::Register, AuthOutcome::Success)
}

fn bans_of(sim: &Sim) -> Vec<(IpAddr, String)> {
    sim.out
        .iter()
        .filter_map(|d| match d.action {
            Action::Ban { source, .. } => Some((source, d.reason.clone())),
            _ => None,
        })
        .collect()
}

// ----- 1. source keys -------------------------------------------------------------------------------------

#[test]
fn an_ipv6_guesser_changing_address_inside_its_64_is_one_source_and_is_banned_as_the_network() {
    let mut sim = Sim::new(Policy::default());
    let t = monday_10();
    let addrs = [
        "2001:db8:1:2::1",
        "2001:db8:1:2:ffff::9",
        "2001:db8:1:2:1:2:3:4",
    ];
    let verdicts: Vec<Verdict> = addrs
        .iter()
        .enumerate()
        .map(|(i, a)| fail(&mut sim, t + i as i64 * 1000, a, &format!("20{i}")))
        .collect();
    assert!(verdicts[2].is_block(), "{verdicts:?} {:?}", sim.out);
    let bans = bans_of(&sim);
    assert_eq!(bans.len(), 1, "{bans:?}");
    assert_eq!(bans[0].0, ip("2001:db8:1:2::"));
    assert!(bans[0].1.contains("2001:db8:1:2::/64"), "{}", bans[0].1);
    let critical = sim
        .out
        .iter()
        .find(|d| d.rule == "auth_source_hour" && d.level == Level::Critical)
        .expect("auth_source_hour critical");
    assert_eq!(critical.key(), "source 2001:db8:1:2::/64");
    assert_eq!(
        critical.subject,
        engine::Subject::Source {
            source: ip("2001:db8:1:2::"),
            ipv6_prefix: 64
        }
    );
    assert!(
        critical
            .reason
            .starts_with("2001:db8:1:2::/64 failed to log in 3 times in 1 h (limit 2)"),
        "{}",
        critical.reason
    );
    let held = sim.engine.bans(t + 5000);
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].source, ip("2001:db8:1:2::"));
    // Any address of the network is refused; the next network is not.
    sim.source = Some(SocketAddr::new(ip("2001:db8:1:2::77"), 5060));
    let (_, v) = sim.attempt(t + 6000, "205", &domestic(1));
    assert!(v.is_block());
    assert!(
        sim.out
            .last()
            .is_some_and(|d| d.reason.contains("2001:db8:1:2::/64 is banned")),
        "{:?}",
        sim.out.last()
    );
    assert!(!fail(&mut sim, t + 7000, "2001:db8:1:3::1", "205").is_block());
    // The operator lifts the ban by any address of the network.
    assert!(sim.engine.lift_ban(ip("2001:db8:1:2::abcd")).is_some());
    assert!(sim.engine.bans(t + 8000).is_empty());
}

#[test]
fn an_ipv4_mapped_ipv6_source_is_the_ipv4_address() {
    let mut sim = Sim::new(Policy::default());
    let t = monday_10();
    assert!(!fail(&mut sim, t, "198.51.100.7", "205").is_block());
    assert!(!fail(&mut sim, t + 1000, "::ffff:198.51.100.7", "206").is_block());
    assert!(fail(&mut sim, t + 2000, "198.51.100.7", "207").is_block());
    assert_eq!(sim.engine.bans(t + 3000)[0].source, ip("198.51.100.7"));
    sim.source = Some(SocketAddr::new(ip("::ffff:198.51.100.7"), 5060));
    assert!(sim.attempt(t + 4000, "205", &domestic(1)).1.is_block());
    assert!(sim.engine.lift_ban(ip("::ffff:198.51.100.7")).is_some());
    // An operator's ban of the mapped form bans the IPv4 address.
    sim.engine.ban(
        ip("::ffff:203.0.113.9"),
        t,
        t + HOUR,
        "op",
        "seen in the logs",
    );
    assert_eq!(sim.engine.bans(t)[0].source, ip("203.0.113.9"));
}

#[test]
fn the_ipv6_network_length_is_a_policy_option() {
    let p = Policy::from_toml_str("[sources]\nipv6_prefix = 128\n").expect("policy");
    assert_eq!(p.source_key(ip("2001:db8:1:2::5")), ip("2001:db8:1:2::5"));
    assert_eq!(
        Policy::default().source_key(ip("2001:db8:1:2::5")),
        ip("2001:db8:1:2::")
    );
    assert_eq!(Policy::default().sources.ipv6_prefix, 64);
    let mut sim = Sim::new(p);
    let t = monday_10();
    for (i, a) in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2::3"]
        .iter()
        .enumerate()
    {
        // One account each: three sources failing on one account would be a distributed guess.
        assert!(!fail(&mut sim, t + i as i64 * 1000, a, &format!("20{i}")).is_block());
    }
    for bad in [
        "[sources]\nipv6_prefix = 20\n",
        "[sources]\nipv6_prefix = 129\n",
    ] {
        let e = Policy::from_toml_str(bad).expect_err(bad);
        assert!(e.to_string().contains("sources.ipv6_prefix"), "{e}");
    }
    let e = Policy::from_toml_str("[sources]\nipv6_prefx = 64\n").expect_err("typo");
    assert!(e.to_string().contains("ipv6_prefx"), "{e}");
}

// ----- 2. password guessing from one source ---------------------------------------------------------------

#[test]
fn a_source_is_banned_at_its_third_failed_guess_on_any_account() {
    let mut sim = Sim::new(Policy::default());
    let t = monday_10();
    let src = ip("198.51.100.7");
    assert_eq!(
        sim.auth(t, src, "205", AuthKind::Register, AuthOutcome::Failure),
        Verdict::Allow
    );
    // An unknown user name is a failed guess too.
    assert_eq!(
        sim.auth(
            t + MIN,
            src,
            "999",
            AuthKind::Call,
            AuthOutcome::UnknownUser
        ),
        Verdict::Warn
    );
    let w = sim.take();
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].rule, "auth_source_hour");
    assert!(
        w[0].reason
            .contains("failed to log in 2 times in 1 h (limit 1)")
            && w[0].reason.contains("no such user")
            && w[0]
                .reason
                .contains("at 3 failures within 1 h it is banned for 24 h"),
        "{}",
        w[0].reason
    );
    assert!(
        sim.auth(
            t + 30 * MIN,
            src,
            "206",
            AuthKind::Register,
            AuthOutcome::Failure
        )
        .is_block()
    );
    let bans = bans_of(&sim);
    assert_eq!(bans.len(), 1, "{:?}", sim.out);
    match sim
        .out
        .iter()
        .find(|d| matches!(d.action, Action::Ban { .. }))
    {
        Some(d) => assert_eq!(
            d.action,
            Action::Ban {
                source: src,
                until: t + 30 * MIN + DAY
            }
        ),
        None => unreachable!(),
    }
    assert!(
        bans[0]
            .1
            .contains("198.51.100.7 failed to log in 3 times in 1 h (limit 2)"),
        "{}",
        bans[0].1
    );
    // No fourth guess: even the right password is refused now.
    assert!(login(&mut sim, t + 31 * MIN, "198.51.100.7", "205").is_block());
    // Three failures more than an hour apart are no burst.
    let slow = ip("198.51.100.8");
    for i in 0..3 {
        let v = sim.auth(
            t + i * 61 * MIN,
            slow,
            "205",
            AuthKind::Register,
            AuthOutcome::Failure,
        );
        assert!(!v.is_block(), "failure {i}");
    }
}

// ----- 3. distributed guessing at one account -------------------------------------------------------------

#[test]
fn a_guess_spread_over_sources_bans_every_source_from_the_third_but_never_the_real_phone() {
    let mut sim = Sim::toml(ALLOW_ALL);
    let t = monday_10();
    let phone = "192.0.2.10";
    assert_eq!(login(&mut sim, t, phone, "205"), Verdict::Allow);
    let v1 = fail(&mut sim, t + MIN, "198.51.100.1", "205");
    let v2 = fail(&mut sim, t + 2 * MIN, "198.51.101.1", "205");
    assert_eq!((v1, v2), (Verdict::Allow, Verdict::Warn), "{:?}", sim.out);
    assert!(sim.has("auth_account_sources"));
    sim.out.clear();
    assert!(fail(&mut sim, t + 3 * MIN, "198.51.102.1", "205").is_block());
    let alert = sim
        .out
        .iter()
        .find(|d| d.rule == "auth_account_sources")
        .expect("alert");
    assert_eq!(alert.level, Level::Critical);
    assert_eq!((alert.measured, alert.threshold), (3, 2));
    assert!(
        alert.reason.starts_with(
            "3 different sources failed to log in to ext 205 of acme in 1 h (limit 2)"
        ),
        "{}",
        alert.reason
    );
    assert_eq!(bans_of(&sim)[0].0, ip("198.51.102.1"));
    // Every further source is banned at its first failure.
    sim.out.clear();
    assert!(fail(&mut sim, t + 4 * MIN, "203.0.113.9", "205").is_block());
    assert_eq!(bans_of(&sim)[0].0, ip("203.0.113.9"));
    // The real phone, with a mistyped password, is not banned and the account is not barred.
    sim.out.clear();
    assert!(!fail(&mut sim, t + 5 * MIN, phone, "205").is_block());
    assert!(bans_of(&sim).is_empty(), "{:?}", sim.out);
    assert!(!login(&mut sim, t + 6 * MIN, phone, "205").is_block());
    assert!(sim.engine.kill_switches().is_empty());
    assert!(!sim.attempt(t + 7 * MIN, "205", &us(1)).1.is_block());
    assert_eq!(sim.engine.bans(t + 8 * MIN).len(), 2);
}

#[test]
fn the_account_failure_rule_never_bans_a_source_the_account_logged_in_from() {
    // Per-source rules loosened, so that only the account's rule speaks.
    let mut sim = Sim::toml(
        "[defaults.rules.auth_source_minute]\ncritical = \"off\"\n[defaults.rules.auth_source_hour]\nwarning = \"off\"\ncritical = \"off\"\n[defaults.rules.auth_account_sources]\nenabled = false\n",
    );
    let t = monday_10();
    let phone = "192.0.2.10";
    login(&mut sim, t, phone, "205");
    for i in 0..15 {
        assert!(!fail(&mut sim, t + MIN + i * 1000, "198.51.100.1", "205").is_block());
    }
    sim.out.clear();
    // The 16th failure of the hour: the phone is not banned, the admin is told why.
    assert_eq!(fail(&mut sim, t + 2 * MIN, phone, "205"), Verdict::Warn);
    assert!(bans_of(&sim).is_empty());
    let d = sim
        .out
        .iter()
        .find(|d| d.rule == "auth_account_hour")
        .expect("alert");
    assert_eq!(d.level, Level::Warning);
    assert!(
        d.reason
            .contains("192.0.2.10 is not banned: ext 205 of acme logged in from there before"),
        "{}",
        d.reason
    );
    // An outsider failing on it now is banned.
    assert!(fail(&mut sim, t + 3 * MIN, "198.51.100.2", "205").is_block());
}

// ----- 4. a login after failures ---------------------------------------------------------------------------

#[test]
fn a_login_after_failures_bars_the_account_only_when_they_share_its_network() {
    let mut sim = Sim::toml(ALLOW_ALL);
    let t = monday_10();
    // Failures on 205 from six networks, then a login from a seventh: a warning, no bar.
    for i in 0..6u8 {
        fail(
            &mut sim,
            t + i64::from(i) * MIN,
            &format!("198.51.{}.1", 100 + i),
            "205",
        );
    }
    sim.out.clear();
    assert_eq!(
        login(&mut sim, t + 10 * MIN, "192.0.2.10", "205"),
        Verdict::Warn
    );
    let d = sim
        .out
        .iter()
        .find(|d| d.rule == "auth_success_after_failures")
        .expect("warning");
    assert_eq!(d.level, Level::Warning);
    assert!(
        d.reason.contains("after 6 failed attempts in 1 h (limit 5), none of them from that address or its network 192.0.2.0/24"),
        "{}",
        d.reason
    );
    assert!(sim.engine.kill_switches().is_empty());
    assert!(!sim.attempt(t + 11 * MIN, "205", &us(1)).1.is_block());
    // Failures on 206 from one network, then a login from it: barred.
    for i in 0..6u8 {
        fail(
            &mut sim,
            t + 20 * MIN + i64::from(i) * MIN,
            &format!("203.0.113.{i}"),
            "206",
        );
    }
    sim.out.clear();
    assert_eq!(
        login(&mut sim, t + 30 * MIN, "203.0.113.50", "206"),
        Verdict::Warn
    );
    let d = sim
        .out
        .iter()
        .find(|d| d.rule == "auth_success_after_failures")
        .expect("critical");
    assert_eq!((d.level, d.measured), (Level::Critical, 6));
    assert!(
        d.reason.contains("after 6 failed attempts in 1 h from that address or its network 203.0.113.0/24 (limit 5)"),
        "{}",
        d.reason
    );
    assert!(
        sim.out
            .iter()
            .any(|d| matches!(d.action, Action::Bar { .. }))
    );
    assert!(sim.attempt(t + 31 * MIN, "206", &us(2)).1.is_block());
}

// ----- 5. callers outside the account list ------------------------------------------------------------------

#[test]
fn callers_outside_the_account_list_share_one_bucket_whatever_from_user_they_send() {
    let mut sim = Sim::new(Policy::default());
    sim.authenticated = false;
    let t = monday_10();
    let verdicts: Vec<Verdict> = (0..11)
        .map(|i| {
            sim.attempt(t + i * 1000, &format!("9{i:03}"), &domestic(i as u32))
                .1
        })
        .collect();
    assert!(
        !verdicts[..10].iter().any(Verdict::is_block),
        "{verdicts:?}"
    );
    assert!(verdicts[10].is_block(), "{verdicts:?}");
    let d = sim
        .out
        .iter()
        .find(|d| d.rule == "velocity_account_minute" && d.level == Level::Critical)
        .expect("critical");
    assert!(
        d.reason.starts_with(
            "calls from accounts not in the configured list of acme (last as \"9010\") made 11 call attempts in 1 min (limit 10)"
        ),
        "{}",
        d.reason
    );
    // The escalation bars the shared account, not an extension.
    assert!(sim.out.iter().any(|d| matches!(
        &d.action,
        Action::Bar { scope: BarScope::Account { tenant, account }, .. }
            if tenant == "acme" && account == UNKNOWN_ACCOUNT
    )));
    // Listed accounts are not in the bucket.
    sim.authenticated = true;
    assert_eq!(
        sim.attempt(t + 12_000, "205", &domestic(99)).1,
        Verdict::Allow
    );
}

// ----- 6. foreign caller ID -----------------------------------------------------------------------------------

#[test]
fn a_foreign_caller_id_warns_by_default_and_blocks_when_critical() {
    let mut sim = Sim::new(Policy::default());
    let t = monday_10();
    assert_eq!(sim.attempt(t, "205", &domestic(1)).1, Verdict::Allow);
    sim.caller_id_foreign = true;
    assert_eq!(sim.attempt(t + 1000, "205", &domestic(2)).1, Verdict::Warn);
    let d = sim.out.last().expect("warning");
    assert_eq!(
        (d.rule.as_str(), d.level),
        ("caller_id_foreign", Level::Warning)
    );
    assert!(
        d.reason.contains("presenting a caller ID (From/P-Asserted-Identity) that is not one of acme's own numbers"),
        "{}",
        d.reason
    );
    let mut strict = Sim::toml("[defaults.rules.caller_id_foreign]\ncritical = 0\n");
    strict.caller_id_foreign = true;
    assert!(strict.attempt(t, "205", &domestic(1)).1.is_block());
    strict.caller_id_foreign = false;
    assert!(!strict.attempt(t + 1000, "205", &domestic(1)).1.is_block());
}

// ----- 7. new country -------------------------------------------------------------------------------------------

#[test]
fn a_login_from_a_new_country_warns_once_it_has_a_home_country() {
    let mut sim = Sim::new(Policy::default());
    let t = monday_10();
    sim.country = Some("JP".into());
    assert_eq!(login(&mut sim, t, "192.0.2.10", "205"), Verdict::Allow);
    assert_eq!(
        login(&mut sim, t + HOUR, "192.0.2.11", "205"),
        Verdict::Allow
    );
    sim.country = Some("ng".into());
    assert_eq!(
        login(&mut sim, t + 2 * HOUR, "192.0.2.12", "205"),
        Verdict::Warn
    );
    let d = sim.out.last().expect("warning");
    assert_eq!(
        (d.rule.as_str(), d.level),
        ("auth_new_country", Level::Warning)
    );
    assert!(
        d.reason.contains(
            "logged in from 192.0.2.12 in NG, a country it never logged in from (before: JP)"
        ),
        "{}",
        d.reason
    );
    sim.out.clear();
    assert_eq!(
        login(&mut sim, t + 3 * HOUR, "192.0.2.12", "205"),
        Verdict::Allow
    );
    sim.country = None;
    assert_eq!(
        login(&mut sim, t + 4 * HOUR, "192.0.2.12", "205"),
        Verdict::Allow
    );
    // The countries survive a restart.
    let snap: Snapshot =
        serde_json::from_str(&serde_json::to_string(&sim.engine.snapshot()).expect("json"))
            .expect("snapshot");
    sim.engine = Engine::restore(Policy::default(), std::sync::Arc::new(Table), snap);
    sim.country = Some("JP".into());
    assert_eq!(
        login(&mut sim, t + 5 * HOUR, "192.0.2.10", "205"),
        Verdict::Allow
    );
    sim.country = Some("BR".into());
    assert_eq!(
        login(&mut sim, t + 6 * HOUR, "192.0.2.10", "205"),
        Verdict::Warn
    );
    assert!(sim.has("auth_new_country"));
}

#[test]
fn a_login_from_a_new_country_bars_the_account_when_critical() {
    let mut sim = Sim::toml(&format!(
        "{ALLOW_ALL}[defaults.rules.auth_new_country]\ncritical = 0\n"
    ));
    let t = monday_10();
    sim.country = Some("JP".into());
    login(&mut sim, t, "192.0.2.10", "205");
    assert!(!sim.attempt(t + MIN, "205", &us(1)).1.is_block());
    sim.country = Some("NG".into());
    login(&mut sim, t + HOUR, "198.51.100.1", "205");
    let d = sim
        .out
        .iter()
        .find(|d| d.rule == "auth_new_country")
        .expect("critical");
    assert_eq!(d.level, Level::Critical);
    assert!(
        d.reason.contains("its international calling is barred"),
        "{}",
        d.reason
    );
    assert!(sim.attempt(t + HOUR + MIN, "205", &us(2)).1.is_block());
}

// ----- 9. the cap on bans -------------------------------------------------------------------------------------

#[test]
fn the_ban_table_is_capped_and_drops_the_ban_that_ends_soonest() {
    let mut sim = Sim::toml("[sources]\nmax_bans = 3\n");
    let t = monday_10();
    for (i, hours) in [5, 1, 4, 2, 3].into_iter().enumerate() {
        sim.engine.ban(
            ip(&format!("198.51.100.{i}")),
            t,
            t + hours * HOUR,
            "op",
            "test",
        );
    }
    let left: Vec<i64> = sim
        .engine
        .bans(t)
        .iter()
        .map(|b| (b.until - t) / HOUR)
        .collect();
    assert_eq!(left, vec![5, 4, 3]);
    assert_eq!(sim.engine.stats().bans_evicted, 2);
    assert_eq!(sim.engine.sizes().bans, 3);
    // A ban that would end before every other one is the one dropped.
    sim.engine
        .ban(ip("198.51.100.9"), t, t + MIN, "op", "short");
    assert_eq!(sim.engine.bans(t).len(), 3);
    assert!(
        sim.engine
            .bans(t)
            .iter()
            .all(|b| b.by == "op" && b.why == "test")
    );
    assert_eq!(sim.engine.stats().bans_evicted, 3);
    let e = Policy::from_toml_str("[sources]\nmax_bans = 0\n").expect_err("no bans");
    assert!(e.to_string().contains("sources.max_bans"), "{e}");
}

// ----- 8. calls that leave because another came in ---------------------------------------------------------------

#[test]
fn a_forwarded_call_abroad_is_refused_and_a_forwarded_call_at_home_passes() {
    // US allowed: the destination alone would pass; only the leg it is says an outsider is reaching abroad.
    let mut sim = Sim::toml("[defaults.destinations]\nallow_countries = [\"US\"]\n");
    let t = monday_10();
    assert_eq!(sim.attempt(t, "205", &us(1)).1, Verdict::Allow);
    for leg in [
        engine::Leg::Forwarded,
        engine::Leg::Transferred,
        engine::Leg::Hairpin,
    ] {
        sim.leg = leg;
        sim.out.clear();
        assert!(sim.attempt(t + 1000, "205", &us(2)).1.is_block(), "{leg:?}");
        let d = sim.out.first().expect("decision");
        assert_eq!(d.rule, engine::RuleId::ForwardedInternational);
        assert_eq!(d.rule.kind(), engine::FindingKind::Fraud);
        assert!(
            d.reason.contains("from +81312345678") && d.reason.contains(leg.as_str()),
            "{}",
            d.reason
        );
        sim.out.clear();
        assert!(
            sim.attempt(t + 2000, "205", &satellite()).1.is_block(),
            "{leg:?}"
        );
        assert!(sim.has("forwarded_international"), "{:?}", sim.rules());
        // A forwarding to a mobile at home and an emergency call pass.
        assert_eq!(sim.attempt(t + 3000, "205", &domestic(3)).1, Verdict::Allow);
        assert_eq!(sim.attempt(t + 4000, "205", &emergency()).1, Verdict::Allow);
    }
    // A site that forwards abroad on purpose keeps a warning.
    let mut open = Sim::toml(
        "[defaults.destinations]\nallow_countries = [\"US\"]\n\
         [defaults.rules.forwarded_international]\ncritical = \"off\"\n",
    );
    open.leg = engine::Leg::Forwarded;
    assert_eq!(open.attempt(t, "205", &us(1)).1, Verdict::Warn);
}
