//! Passive weak-password detection in the proxy core (no sockets): a phone logs in through the guard with a
//! digest computed from a vendor-default password, the PBX accepts it, and the guard raises the
//! `weak_password` alert and bars the account's international calls; a strong password or a refused login
//! sets off nothing.

mod common;
use common::*;

use audit::digest::{Algorithm, DigestParams};
use engine::KillSwitch;

/// International calls are allowed by this site's policy: only a kill switch refuses them.
const OPEN: &str =
    "[policy.defaults.destinations]\nallow_countries = [\"*\"]\nblock_risk_at = \"never\"\n";
/// A New York number dialed from Japan (010 1 212…).
const NEW_YORK: &str = "01012125551234";

fn register_with(user: &str, password: &str, branch: &str) -> String {
    let d = DigestParams {
        algorithm: Algorithm::Md5,
        username: user.into(),
        realm: "asterisk".into(),
        nonce: "5f1e9a77".into(),
        method: "REGISTER".into(),
        uri: "sip:127.0.0.1".into(),
        qop: Some("auth".into()),
        nc: "00000001".into(),
        cnonce: "0a4f113b".into(),
        opaque: None,
    };
    format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7:5066;branch={branch};rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:{user}@127.0.0.1>;tag=r{branch}\r\nTo: <sip:{user}@127.0.0.1>\r\n\
Call-ID: reg-{branch}\r\nCSeq: 2 REGISTER\r\nContact: <sip:{user}@198.51.100.7:5066>\r\n\
Authorization: {}\r\nUser-Agent: Yealink SIP-T46S\r\nContent-Length: 0\r\n\r\n",
        d.authorization(password)
    )
}

/// Ext 205's phone REGISTERs through the guard and the PBX answers it with `status`.
fn login(c: &mut Core, password: &str, status: u16, at: i64) -> Output {
    login_as(c, "205", password, status, at)
}

fn login_as(c: &mut Core, user: &str, password: &str, status: u16, at: i64) -> Output {
    let mut out = Output::default();
    let branch = format!("z9hG4bKreg{user}x{at}");
    c.on_inbound(
        &inb(&register_with(user, password, &branch), PHONE, 0),
        now(at),
        &mut out,
    );
    let (fwd, dest) = one(&mut out);
    assert_eq!(dest, PBX.parse().unwrap(), "the REGISTER reaches the PBX");
    let answer = response_to(
        &fwd,
        status,
        "pbxreg",
        &format!("sip:{user}@198.51.100.7:5066"),
    );
    c.on_inbound(&inb(&answer, PBX, 0), now(at + 20), &mut out);
    let to_phone = out
        .sends
        .iter()
        .position(|s| s.hop.dest == PHONE.parse().unwrap())
        .expect("the answer goes back to the phone");
    let back = out.sends.remove(to_phone);
    assert!(text(&back.data).starts_with(&format!("SIP/2.0 {status} ")));
    out
}

fn weak_alerts(out: &Output) -> Vec<engine::Decision> {
    out.persist
        .iter()
        .filter_map(|p| match p {
            Persist::Alerts { decisions, .. } => Some(decisions.clone()),
            _ => None,
        })
        .flatten()
        .filter(|d| d.rule == "weak_password")
        .collect()
}

fn switches(out: &Output) -> Vec<KillSwitch> {
    out.persist
        .iter()
        .filter_map(|p| match p {
            Persist::KillSwitch(k) => Some(k.clone()),
            _ => None,
        })
        .collect()
}

/// The PBX places a call from ext 205; the answer the PBX gets (a 403) or the INVITE towards the carrier.
fn call(c: &mut Core, dialed: &str, id: &str, at: i64) -> Result<String, String> {
    let mut out = Output::default();
    let branch = format!("z9hG4bK{id}");
    c.on_inbound(
        &inb(
            &invite(dialed, "205", "127.0.0.2:5070", id, &branch),
            PBX,
            1,
        ),
        now(at),
        &mut out,
    );
    if out.sends.len() == 2 {
        let (fwd, dest) = forwarded_invite(&mut out);
        assert_eq!(dest, CARRIER.parse().unwrap());
        Ok(text(&fwd))
    } else {
        let (r, _) = one(&mut out);
        Err(text(&r))
    }
}

#[test]
fn accepted_login_with_a_vendor_default_alerts_and_bars_international_calls() {
    let mut c = core_with(OPEN);
    // The Yealink phones' documented default administrator password.
    let out = login(&mut c, "admin", 200, 0);

    let alerts = weak_alerts(&out);
    assert_eq!(alerts.len(), 1, "{:?}", out.persist);
    let d = &alerts[0];
    assert_eq!(d.level, engine::Level::Critical);
    for words in [
        "ext 205 of acme logged in with a vendor-default password",
        "Yealink default",
        "https://",
        "attackers try it first",
        "change it",
        "international calls from ext 205 are barred until then",
    ] {
        assert!(
            d.reason.contains(words),
            "{words:?} missing in {}",
            d.reason
        );
    }
    assert!(!d.reason.contains("admin\""), "the password is never said");

    let ks = switches(&out);
    assert_eq!(ks.len(), 1, "the kill switch is persisted");
    assert_eq!(
        ks[0].scope,
        BarScope::Account {
            tenant: "acme".into(),
            account: "205".into()
        }
    );
    assert_eq!(ks[0].classes, ClassSet::INTERNATIONAL);
    assert_eq!(c.engine().kill_switches().len(), 1);

    let refused = call(&mut c, NEW_YORK, "intl1", 1_000).expect_err("international is barred");
    assert!(refused.starts_with("SIP/2.0 403"), "{refused}");
    for words in [
        "international calls of ext 205 of acme are barred",
        "vendor-default password",
        "change the password",
    ] {
        assert!(refused.contains(words), "the refusal says why: {refused}");
    }
    // Emergency and domestic calls of the same account still pass.
    assert!(call(&mut c, "110", "police", 2_000).is_ok());
    assert!(call(&mut c, "0312345678", "tokyo", 3_000).is_ok());
}

#[test]
fn the_same_account_is_not_checked_again_within_the_hour() {
    let mut c = core_with(OPEN);
    assert_eq!(weak_alerts(&login(&mut c, "admin", 200, 0)).len(), 1);
    // The phone re-registers every minute: no second alert, no second switch.
    let again = login(&mut c, "admin", 200, 60_000);
    assert!(weak_alerts(&again).is_empty());
    assert!(switches(&again).is_empty());
    assert_eq!(c.engine().kill_switches().len(), 1);
}

#[test]
fn strong_password_sets_off_nothing() {
    let mut c = core_with(OPEN);
    let out = login(&mut c, "q7#Lp-93vX!e", 200, 0);
    assert!(weak_alerts(&out).is_empty());
    assert!(switches(&out).is_empty());
    assert!(c.engine().kill_switches().is_empty());
    assert!(call(&mut c, NEW_YORK, "intl2", 1_000).is_ok());
    // The detector is on: ext 206's default password is caught, and only 206 is barred.
    let out = login_as(&mut c, "206", "admin", 200, 2_000);
    assert_eq!(weak_alerts(&out).len(), 1);
    assert!(weak_alerts(&out)[0].reason.contains("ext 206 of acme"));
    assert!(call(&mut c, NEW_YORK, "intl2b", 3_000).is_ok());
}

#[test]
fn refused_login_with_a_default_password_sets_off_nothing() {
    let mut c = core_with(OPEN);
    // A scanner's guess from the same list, refused by the PBX: not this account's password.
    let out = login(&mut c, "admin", 401, 0);
    assert!(weak_alerts(&out).is_empty());
    assert!(switches(&out).is_empty());
    assert!(c.engine().kill_switches().is_empty());
    assert!(call(&mut c, NEW_YORK, "intl3", 1_000).is_ok());
    // The refusal did not count as the account's check: the same password accepted is caught at once, and
    // the international call still ringing is cancelled with the words.
    let out = login(&mut c, "admin", 200, 2_000);
    assert_eq!(weak_alerts(&out).len(), 1);
    let cancel = out
        .sends
        .iter()
        .map(|s| text(&s.data))
        .find(|t| t.starts_with("CANCEL "))
        .expect("the call in progress is cancelled");
    assert!(cancel.contains("Call-ID: intl3\r\n"), "{cancel}");
    assert!(cancel.contains("vendor-default password"), "{cancel}");
    assert!(call(&mut c, NEW_YORK, "intl3b", 3_000).is_err());
}

#[test]
fn policy_alert_only_alerts_and_off_checks_nothing() {
    let mut c = core_with(&format!("[enforce]\nweak_password = \"alert\"\n{OPEN}"));
    let out = login(&mut c, "admin", 200, 0);
    let alerts = weak_alerts(&out);
    assert_eq!(alerts.len(), 1);
    assert!(!alerts[0].reason.contains("barred"), "{}", alerts[0].reason);
    assert!(switches(&out).is_empty());
    assert!(call(&mut c, NEW_YORK, "intl4", 1_000).is_ok());

    let mut c = core_with(&format!("[enforce]\nweak_password = \"off\"\n{OPEN}"));
    let out = login(&mut c, "admin", 200, 0);
    assert!(weak_alerts(&out).is_empty());
    assert!(c.engine().kill_switches().is_empty());
}

#[test]
fn a_wrong_policy_value_is_refused_with_its_line_and_the_choices() {
    let text = format!("[enforce]\nweak_password = \"block\"\n{CONFIG}");
    let Err(err) = Settings::parse(&text, Path::new("guard.toml")) else {
        panic!("weak_password = \"block\" was accepted");
    };
    let err = err.to_string();
    assert!(err.contains("guard.toml:2"), "{err}");
    for word in ["bar", "alert", "off"] {
        assert!(err.contains(word), "{err}");
    }
}
