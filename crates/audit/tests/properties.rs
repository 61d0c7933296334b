//! Properties of the parsers of external input: configuration files of every kind, extension ranges and
//! Asterisk patterns never panic, whatever the text.

use audit::pbxconf::{ConfigText, FileKind, audit_texts};
use proptest::prelude::*;

const KINDS: [FileKind; 5] = [
    FileKind::SipConf,
    FileKind::PjsipConf,
    FileKind::ExtensionsConf,
    FileKind::FreeswitchXml,
    FileKind::KamailioSubscribers,
];

/// Lines that look like configuration, so that the readers get past their first checks.
fn config_line() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\[[a-z0-9_!(),+-]{0,12}\\]",
        "[a-z_-]{1,12} ?=>? ?[ -~]{0,30}",
        "exten ?=> ?_?[0-9XNZ.!\\[\\]*#o-]{1,10},[0-9n],[A-Za-z]{2,10}\\([ -~]{0,30}\\)?",
        "same ?=> ?n,[A-Za-z]{2,10}\\([ -~]{0,20}\\)",
        "include => [a-z-]{1,10}",
        "<(context|extension|user|gateway|condition|action|param|variable|X-PRE-PROCESS) [a-z-]+=\"[ -~]{0,20}\"( [a-z]+=\"[ -~]{0,20}\")?/?>",
        "[0-9a-z]{0,6}[,\t][a-z.]{0,8}[,\t][ -~]{0,12}",
        "[ -~]{0,40}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn configuration_readers_never_panic(kind in 0usize..5, lines in prop::collection::vec(config_line(), 0..30)) {
        let n = numbering::Numbering::japan_defaults();
        let f = ConfigText { kind: KINDS[kind], name: "f".into(), text: lines.join("\n") };
        for finding in audit_texts(&[f], &n) {
            prop_assert!(finding.location.starts_with("f:"), "{:?}", finding);
        }
    }

    #[test]
    fn extension_ranges_never_panic(spec in "[0-9, -]{0,20}") {
        if let Ok(v) = audit::parse_extensions(&spec) {
            prop_assert!(!v.is_empty() && v.len() <= 10_001 * 10);
        }
    }

    #[test]
    fn asterisk_patterns_never_panic(p in "_?[0-9XNZ.!\\[\\]*#-]{0,12}", d in "[0-9*#]{0,16}") {
        let _ = audit::pbxconf::dialplan::asterisk_match(&p, &d);
    }
}
