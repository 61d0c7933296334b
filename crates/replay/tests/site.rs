//! A site's own settings reach the replay: its tariffs price the calls the money rules count, its risk list
//! blocks what the defaults let through, its tenants attribute the calls, and its protected sources are never
//! banned. Each test replays the same records with the defaults and with the site's settings and checks that the
//! verdicts differ where, and only where, the settings say so.
//!
//! The records are written here: a Friday of ordinary office calls from five extensions to Tokyo numbers.

use std::sync::Arc;

use cdr::{CallRecord, Disposition};
use engine::{Policy, Verdict};
use numbering::{Numbering, RateTable, parse_user_list};
use replay::{LaterDecisions, Network, Outcome, Sink, Site, Tenant, Totals, replay_records};

/// 2015-03-13 09:00 JST (a Friday), in UTC seconds.
const FRIDAY_9: i64 = 1_426_204_800;

/// 40 answered office calls, one every 12 minutes from 09:00, extensions 201–205 in turn, 5 minutes each, to
/// 03-1234-00nn (Tokyo), in end-time order as a PBX writes them.
fn office() -> Vec<CallRecord> {
    calls(|i| format!("031234{i:04}"))
}

/// The same office calling New York (010 1 212 736 00nn) instead.
fn office_calling_new_york() -> Vec<CallRecord> {
    calls(|i| format!("0101212736{i:04}"))
}

fn calls(dialed: impl Fn(i64) -> String) -> Vec<CallRecord> {
    (0..40)
        .map(|i| {
            let start = FRIDAY_9 + i * 12 * 60;
            let at = |s: i64| chrono::DateTime::from_timestamp(s, 0).unwrap_or_default();
            let mut r = CallRecord::empty(i as u64 + 1, at(start));
            r.call_id = format!("office.{i}");
            r.account = format!("{}", 201 + i % 5);
            r.dialed = dialed(i);
            r.answer = Some(at(start + 5));
            r.end = at(start + 305);
            r.duration_secs = 305;
            r.billable_secs = 300;
            r.disposition = Disposition::Answered;
            r.userfield = "legit:office".into();
            r
        })
        .collect()
}

/// Every call's verdict and tenant, by call id.
#[derive(Default)]
struct Verdicts {
    calls: Vec<(String, String, bool, Verdict)>,
    rules: Vec<String>,
    /// Decisions that say a protected source was not banned.
    spared: usize,
}

impl Sink for Verdicts {
    fn call(&mut self, o: Outcome<'_>) {
        self.calls.push((
            o.call.call_id().to_string(),
            o.call.tenant().to_string(),
            o.call.authenticated(),
            o.verdict,
        ));
        self.rules
            .extend(o.decisions.iter().map(|d| format!("{:?}", d.action)));
        self.spared += o
            .decisions
            .iter()
            .filter(|d| d.reason.contains("not banned"))
            .count();
    }
    fn later(&mut self, _: LaterDecisions<'_>) {}
}

fn totals(site: Site, records: &[CallRecord]) -> Totals {
    let mut t = Totals::default();
    replay_records(site, records, 4 * 3600, &mut t);
    t
}

fn policy(text: &str) -> Policy {
    Policy::from_toml_str(text).unwrap_or_else(|e| panic!("test policy: {e}"))
}

/// Calls to the US allowed, and a low daily money limit per account: 1,000 JPY (money rules count the watched
/// destinations: international, premium, satellite).
const LOW_MONEY: &str = "[defaults.destinations]\nallow_countries = [\"US\"]\n\n[defaults.rules.money_account_day]\nwarning = 500\ncritical = 1000\n";

#[test]
fn the_defaults_let_an_ordinary_office_day_through() {
    let t = totals(Site::defaults(), &office());
    assert_eq!((t.calls, t.answered, t.blocked), (40, 40, 0), "{t:?}");
    assert_eq!(t.legit, 40);
    assert!(t.money_millis > 0, "the calls are priced: {t:?}");
}

#[test]
fn the_sites_tariff_and_money_limit_change_the_verdict() {
    let records = office_calling_new_york();
    // The default policy bars the US.
    assert_eq!(totals(Site::defaults(), &records).blocked, 40);
    // The low limit alone, with the embedded estimates (9 JPY a minute to the US), stops nothing.
    let numbering = Arc::new(Numbering::japan_defaults());
    let low = totals(Site::new(numbering, policy(LOW_MONEY)), &records);
    assert_eq!(low.blocked, 0, "estimates: {low:?}");

    // The site's carrier charges 500 JPY a minute to New York: 2,500 JPY a call, so each extension's second
    // call of the day is over the limit.
    let mut n = Numbering::japan_defaults();
    n.set_user_tariffs(
        RateTable::from_csv(
            "prefix,name,per_minute,currency\n1212,New York (site tariff),500,JPY\n",
            "site.csv",
        )
        .unwrap_or_else(|e| panic!("{e}")),
    );
    let site = totals(Site::new(Arc::new(n), policy(LOW_MONEY)), &records);
    assert!(
        site.money_millis >= 5 * 2_500_000,
        "priced at the site's tariff: {site:?}"
    );
    assert!(
        site.blocked >= 30,
        "the money limit stops the extensions: {site:?}"
    );
    assert_eq!(site.calls, 40);
}

#[test]
fn the_sites_risk_list_blocks_what_the_defaults_let_through() {
    let records = office();
    let mut n = Numbering::japan_defaults();
    // One Tokyo range (03-1234-001x) is a number range the site has seen abused.
    let rules = parse_user_list("deny,prefix,+8131234001,abused range\n", "risk.csv")
        .unwrap_or_else(|e| panic!("{e}"));
    n.add_risk_rules(&rules);
    let mut site = Verdicts::default();
    replay_records(
        Site::new(Arc::new(n), Policy::default()),
        &records,
        4 * 3600,
        &mut site,
    );
    let blocked: Vec<&str> = site
        .calls
        .iter()
        .filter(|c| c.3.is_block())
        .map(|c| c.0.as_str())
        .collect();
    let want: Vec<String> = (10..20).map(|i| format!("office.{i}")).collect();
    assert_eq!(blocked, want, "exactly the calls into the denied range");
    assert_eq!(totals(Site::defaults(), &records).blocked, 0);
}

#[test]
fn tenants_attribute_calls_and_unknown_accounts_are_unauthenticated() {
    let mut records = office();
    for r in records.iter_mut().take(10) {
        r.source_ip = "192.0.2.7".parse().ok();
    }
    let net = |s: &str| Network::parse(s).unwrap_or_else(|| panic!("{s}"));
    let tenants = vec![
        Tenant {
            name: "acme".into(),
            pbx_sources: vec![net("10.0.0.0/8")],
            accounts: ["201", "202", "203", "204"].map(String::from).to_vec(),
        },
        Tenant {
            name: "globex".into(),
            pbx_sources: vec![net("192.0.2.0/24")],
            accounts: Vec::new(),
        },
    ];
    let mut seen = Verdicts::default();
    replay_records(
        Site::defaults().with_tenants(tenants),
        &records,
        4 * 3600,
        &mut seen,
    );
    for (i, (id, tenant, authenticated, _)) in seen.calls.iter().enumerate() {
        let n: usize = id
            .trim_start_matches("office.")
            .parse()
            .unwrap_or(usize::MAX);
        if n < 10 {
            assert_eq!((tenant.as_str(), *authenticated), ("globex", true), "{id}");
        } else {
            // The default tenant lists 201–204: 205 is not one of its accounts.
            let ext = 201 + n % 5;
            assert_eq!(tenant, "acme", "{i}: {id}");
            assert_eq!(*authenticated, ext != 205, "{id}");
        }
    }
    // Without tenants the record's own (none here) stands and every account is known.
    let mut plain = Verdicts::default();
    replay_records(Site::defaults(), &records, 4 * 3600, &mut plain);
    assert!(plain.calls.iter().all(|c| c.1.is_empty() && c.2));
}

#[test]
fn a_protected_source_is_not_banned_for_its_scanner_mark() {
    // A PBX that writes its own address and a scanner-like User-Agent into every record (a misconfigured
    // device): unprotected, its first call bans the source and every later call is refused; protected, it is
    // never banned (as the guard never bans its PBX): each decision says so and the calls are judged on their
    // own merits.
    let mut records = office();
    for r in &mut records {
        r.source_ip = "198.51.100.20".parse().ok();
        r.user_agent = Some("friendly-scanner".into());
    }
    let plain = totals(Site::defaults(), &records);
    assert_eq!(plain.blocked, 40, "{plain:?}");
    let protected = Site::defaults().with_facts(engine::Site {
        protected: vec![Network::parse("198.51.100.0/24").expect("a network")],
        block_status: None,
    });
    let mut seen = Verdicts::default();
    replay_records(protected, &records, 4 * 3600, &mut seen);
    assert_eq!(seen.calls.len(), 40);
    assert!(
        seen.calls.iter().all(|c| !c.3.is_block()),
        "no call refused for the mark of a protected source: {:?}",
        seen.calls
    );
    assert!(
        seen.rules.iter().all(|r| !r.starts_with("Ban")),
        "{:?}",
        seen.rules
    );
    assert_eq!(
        seen.spared, 40,
        "each call's scanner decision says why it did not ban"
    );
}
