//! Scanner fingerprints on the access side: the User-Agents of known tools (via `engine::scanner_in`) and the
//! deeper marks the tools leave even when the User-Agent is changed — sipvicious' hex-encoded From-tags
//! (`<hex>3133...`), its `branch=z9hG4bK-<digits>` Via branches, and the `sip:123@1.1.1.1` test contacts of
//! SIP scanners. Each mark comes with a sentence for the admin.

use engine::RuleId;
use sip::Message;

/// Why a request looks like a scanner's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannerMark {
    /// `ScannerUserAgent` or `ScannerFingerprint` (the rule of the decision and alert).
    pub rule: RuleId,
    pub reason: String,
}

/// The scanner mark of a request, if any. `deep` enables the marks beyond the User-Agent.
pub fn scanner_mark(msg: &Message<'_>, deep: bool) -> Option<ScannerMark> {
    if let Some(ua) = msg.user_agent()
        && let Some(tool) = engine::scanner_in(ua)
    {
        return Some(ScannerMark {
            rule: RuleId::ScannerUserAgent,
            reason: format!("User-Agent \"{}\" is the SIP scanner {tool}", clip(ua)),
        });
    }
    if !deep {
        return None;
    }
    if let Some(branch) = msg.top_via().and_then(|v| v.branch())
        && let Some(rest) = branch.strip_prefix("z9hG4bK-")
        && rest.len() >= 3
        && rest.bytes().all(|c| c.is_ascii_digit())
    {
        return Some(ScannerMark {
            rule: RuleId::ScannerFingerprint,
            reason: format!(
                "Via branch \"{}\" has the numeric form sipvicious generates",
                clip(branch)
            ),
        });
    }
    if let Some(tag) = msg.from_tag()
        && is_sipvicious_tag(tag)
    {
        return Some(ScannerMark {
            rule: RuleId::ScannerFingerprint,
            reason: format!(
                "From tag \"{}\" is hex-encoded digits, as sipvicious writes it",
                clip(tag)
            ),
        });
    }
    for c in msg.contacts() {
        if let Some(a) = c.addr()
            && let Some(u) = a.uri().as_sip()
            && u.user() == Some("123")
            && u.host().as_str() == "1.1.1.1"
        {
            return Some(ScannerMark {
                rule: RuleId::ScannerFingerprint,
                reason: "Contact sip:123@1.1.1.1 is the placeholder of SIP scanners".into(),
            });
        }
    }
    None
}

/// sipvicious writes its From-tag as the hex of ASCII digits followed by `01` + the hex of a counter
/// (e.g. `3336363632363538013433`): an even-length hex string whose bytes decode to digits and a 0x01.
fn is_sipvicious_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    if b.len() < 12 || !b.len().is_multiple_of(2) || !b.iter().all(|c| c.is_ascii_hexdigit()) {
        return false;
    }
    let mut digits = 0;
    let mut separator = false;
    for pair in b.chunks(2) {
        let byte = pair
            .iter()
            .fold(0u8, |a, c| a.wrapping_mul(16).wrapping_add(hex(*c)));
        match byte {
            b'0'..=b'9' => digits += 1,
            0x01 => separator = true,
            _ => return false,
        }
    }
    separator && digits >= 4
}

fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

/// At most 64 characters of attacker-written text in a sentence.
fn clip(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => s.get(..i).unwrap_or(s),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(ua: &str, branch: &str, tag: &str, contact: &str) -> Vec<u8> {
        format!(
            "OPTIONS sip:100@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9:5060;branch={branch}\r\n\
From: <sip:100@192.0.2.1>;tag={tag}\r\nTo: <sip:100@192.0.2.1>\r\nCall-ID: x1\r\nCSeq: 1 OPTIONS\r\n\
Max-Forwards: 70\r\n{ua}Contact: <{contact}>\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    fn mark(b: &[u8], deep: bool) -> Option<ScannerMark> {
        let m = Message::parse(b).unwrap();
        scanner_mark(&m, deep)
    }

    #[test]
    fn user_agents_of_scanners() {
        for ua in [
            "friendly-scanner",
            "sipcli/v1.8",
            "VaxSIPUserAgent/3.1",
            "sipvicious",
        ] {
            let b = req(
                &format!("User-Agent: {ua}\r\n"),
                "z9hG4bKabc",
                "a1",
                "sip:100@192.0.2.9",
            );
            let m = mark(&b, false).unwrap();
            assert_eq!(m.rule, engine::RuleId::ScannerUserAgent);
            assert!(m.reason.contains(ua), "{}", m.reason);
        }
        let b = req(
            "User-Agent: Yealink SIP-T46S\r\n",
            "z9hG4bKabc",
            "a1",
            "sip:100@192.0.2.9",
        );
        assert_eq!(mark(&b, true), None);
    }

    #[test]
    fn deeper_marks_without_user_agent() {
        let b = req("", "z9hG4bK-2837465", "a1", "sip:100@192.0.2.9");
        assert!(mark(&b, true).unwrap().reason.contains("numeric"));
        assert_eq!(mark(&b, false), None, "deep marks can be switched off");
        let b = req(
            "",
            "z9hG4bKabc",
            "3336363632363538013433",
            "sip:100@192.0.2.9",
        );
        assert!(mark(&b, true).unwrap().reason.contains("hex"));
        let b = req("", "z9hG4bKabc", "a1", "sip:123@1.1.1.1");
        assert!(mark(&b, true).unwrap().reason.contains("placeholder"));
    }

    #[test]
    fn ordinary_tags_are_not_marks() {
        for tag in ["as5f3c2a1b", "1234567890ab", "8f1e2d3c4b5a6978", "313233"] {
            assert!(!is_sipvicious_tag(tag), "{tag}");
        }
        assert!(is_sipvicious_tag("3336363632363538013433"));
    }
}
