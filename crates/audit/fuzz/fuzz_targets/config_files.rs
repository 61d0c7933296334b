//! The PBX configuration readers on arbitrary bytes: the first byte picks the kind of file (sip.conf,
//! pjsip.conf, extensions.conf, FreeSWITCH XML, Kamailio subscriber export), the rest is its text. Invariant:
//! no panic, and every finding cites the file it came from.
#![no_main]
use std::sync::OnceLock;

use audit::pbxconf::{ConfigText, FileKind, audit_texts};
use libfuzzer_sys::fuzz_target;

const KINDS: [FileKind; 5] = [
    FileKind::SipConf,
    FileKind::PjsipConf,
    FileKind::ExtensionsConf,
    FileKind::FreeswitchXml,
    FileKind::KamailioSubscribers,
];

fuzz_target!(|data: &[u8]| {
    static NUMBERING: OnceLock<numbering::Numbering> = OnceLock::new();
    let Some((&k, rest)) = data.split_first() else {
        return;
    };
    let f = ConfigText {
        kind: KINDS[usize::from(k) % KINDS.len()],
        name: "fuzz".into(),
        text: String::from_utf8_lossy(rest).into_owned(),
    };
    for finding in audit_texts(
        &[f],
        NUMBERING.get_or_init(numbering::Numbering::japan_defaults),
    ) {
        assert!(finding.location.starts_with("fuzz:"), "{finding:?}");
    }
});
