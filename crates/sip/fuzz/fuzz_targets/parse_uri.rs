//! URI, name-addr, Via and credentials parsers on arbitrary text.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sip::{Auth, NameAddr, Uri, Via};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(u) = Uri::parse(s) {
        assert_eq!(u.as_str(), s);
        let _ = (u.scheme(), u.user());
        if let Some(x) = u.as_sip() {
            let _ = (
                x.user_decoded(),
                x.password(),
                x.host().ip(),
                x.host().name(),
                x.port(),
                x.host_port(),
            );
            let _ = (x.params().iter().count(), x.transport(), x.headers());
        }
        if let Some(t) = u.as_tel() {
            let _ = (t.digits().count(), t.phone_context());
        }
    }
    if let Ok(n) = NameAddr::parse(s) {
        let _ = (n.display_name(), n.tag(), n.params().iter().count());
    }
    if let Ok(v) = Via::parse(s) {
        let _ = (v.branch(), v.rport(), v.received(), v.sent_by());
    }
    if let Ok(a) = Auth::parse(s) {
        let _ = (a.username(), a.params().iter().count());
    }
    let _ = sip::percent_decode(s);
});
