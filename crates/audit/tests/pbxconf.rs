//! `audit::pbxconf` on hand-written configuration fixtures (tests/fixtures, see its README): each directory
//! gives exactly its expected findings at their file:line, and a well configured PBX gives none.

use std::path::PathBuf;

use audit::Severity;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// (kind, severity, file:line relative to the fixtures) of every finding for the files of `dir`.
fn findings(dir: &str) -> Vec<(String, Severity, String)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(format!("{FIXTURES}/{dir}"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let numbering = numbering::Numbering::japan_defaults();
    let mut f: Vec<(String, Severity, String)> = audit::pbxconf::audit_files(&files, &numbering)
        .unwrap()
        .into_iter()
        .map(|f| {
            let loc = f
                .location
                .strip_prefix(&format!("{FIXTURES}/"))
                .unwrap_or(&f.location)
                .to_owned();
            (f.kind.to_owned(), f.severity, loc)
        })
        .collect();
    f.sort();
    f
}

fn expect(dir: &str, want: &[(&str, Severity, &str)]) {
    let mut want: Vec<(String, Severity, String)> = want
        .iter()
        .map(|(k, s, l)| ((*k).to_owned(), *s, (*l).to_owned()))
        .collect();
    want.sort();
    assert_eq!(findings(dir), want, "fixture {dir}");
}

use Severity::{Critical, Info, Warning};

#[test]
fn a_well_configured_pbx_gives_no_finding() {
    expect("good", &[]);
}

#[test]
fn chan_sip_general_settings() {
    expect(
        "alwaysauthreject",
        &[(
            "alwaysauthreject-off",
            Warning,
            "alwaysauthreject/sip.conf:4",
        )],
    );
    expect(
        "guest",
        &[
            ("guest-endpoint", Warning, "guest/sip.conf:3"),
            ("guest-reaches-trunk", Critical, "guest/extensions.conf:2"),
        ],
    );
    expect("nolimit", &[("no-call-limit", Info, "nolimit/sip.conf:4")]);
    expect(
        "inbound",
        &[(
            "inbound-reaches-trunk",
            Critical,
            "inbound/extensions.conf:6",
        )],
    );
}

#[test]
fn pjsip_endpoints_and_secrets() {
    expect(
        "anonymous",
        &[("guest-endpoint", Warning, "anonymous/pjsip.conf:2")],
    );
    expect("noacl", &[("no-acl", Warning, "noacl/pjsip.conf:1")]);
    expect("trunk", &[("trunk-secret", Info, "trunk/pjsip.conf:11")]);
    expect(
        "secrets",
        &[
            ("secret-equals-user", Critical, "secrets/pjsip.conf:10"),
            ("default-secret", Critical, "secrets/pjsip.conf:16"),
            ("weak-secret", Critical, "secrets/pjsip.conf:22"),
            ("short-secret", Warning, "secrets/pjsip.conf:28"),
            ("shared-secret", Warning, "secrets/pjsip.conf:34"),
            ("shared-secret", Warning, "secrets/pjsip.conf:40"),
            ("empty-secret", Critical, "secrets/pjsip.conf:46"),
        ],
    );
}

#[test]
fn dial_plans_that_reach_the_trunk() {
    expect(
        "phones",
        &[(
            "international-from-phones",
            Warning,
            "phones/extensions.conf:3",
        )],
    );
    // The block on _010. is real, but 0033 010 … (a carrier code first) and 0990 (premium) go out through _0X.
    expect(
        "bypass",
        &[
            ("block-bypass", Critical, "bypass/extensions.conf:6"),
            (
                "international-from-phones",
                Warning,
                "bypass/extensions.conf:6",
            ),
        ],
    );
    expect(
        "disa",
        &[
            ("disa", Critical, "disa/extensions.conf:3"),
            (
                "international-from-phones",
                Warning,
                "disa/extensions.conf:6",
            ),
        ],
    );
    expect(
        "ivr",
        &[
            ("ivr-fallthrough", Critical, "ivr/extensions.conf:3"),
            (
                "international-from-phones",
                Warning,
                "ivr/extensions.conf:9",
            ),
        ],
    );
    expect(
        "operator",
        &[
            (
                "voicemail-operator-exit",
                Critical,
                "operator/extensions.conf:3",
            ),
            ("disa", Critical, "operator/extensions.conf:6"),
            (
                "international-from-phones",
                Warning,
                "operator/extensions.conf:7",
            ),
        ],
    );
    expect(
        "forward",
        &[("call-forward-outside", Warning, "forward/extensions.conf:4")],
    );
    expect(
        "transfer",
        &[("transfer-to-outside", Warning, "transfer/extensions.conf:2")],
    );
}

#[test]
fn freeswitch_defaults_and_public_context() {
    expect(
        "freeswitch",
        &[
            ("default-secret", Critical, "freeswitch/vars.xml:3"),
            ("default-secret", Critical, "freeswitch/1000.xml:4"),
            ("guest-reaches-trunk", Critical, "freeswitch/public.xml:4"),
            ("no-call-limit", Info, "freeswitch/public.xml:2"),
        ],
    );
}

#[test]
fn kamailio_subscriber_export() {
    expect(
        "kamailio",
        &[
            ("secret-equals-user", Critical, "kamailio/subscriber.csv:2"),
            ("weak-secret", Critical, "kamailio/subscriber.csv:3"),
        ],
    );
}

#[test]
fn an_unknown_file_is_an_error_naming_it() {
    let e = audit::pbxconf::audit_files(
        &[PathBuf::from("/etc/hosts")],
        &numbering::Numbering::japan_defaults(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("/etc/hosts"), "{e}");
}

#[test]
fn freepbx_generated_files() {
    // FreePBX's "permit everything" is no ACL; its outbound route dials through Macro(dialout-trunk) and is
    // reached from from-internal through two includes.
    expect(
        "freepbx",
        &[
            ("no-acl", Warning, "freepbx/pjsip.endpoint.conf:2"),
            (
                "international-from-phones",
                Warning,
                "freepbx/extensions_additional.conf:13",
            ),
            (
                "no-call-limit",
                Info,
                "freepbx/extensions_additional.conf:1",
            ),
        ],
    );
}
