//! A finding of any check, in the words a PBX administrator acts on: where, how bad, why it matters, what to
//! write instead.

use serde::Serialize;

/// How urgently a finding must be fixed. `Critical` makes `tollguard audit` exit with status 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// One weak spot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable name of the kind of finding ("weak-password", "guest-endpoint", "enumeration-leak" …).
    pub kind: &'static str,
    pub severity: Severity,
    /// `file:line` of a configuration finding, or `host:port/transport` (or an account) of a network one.
    pub location: String,
    pub title: String,
    pub why: String,
    pub fix: String,
}

impl Finding {
    pub fn new(
        kind: &'static str,
        severity: Severity,
        location: impl Into<String>,
        title: impl Into<String>,
        why: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            kind,
            severity,
            location: location.into(),
            title: title.into(),
            why: why.into(),
            fix: fix.into(),
        }
    }
}

/// The most severe of `findings`, if any.
pub fn worst(findings: &[Finding]) -> Option<Severity> {
    findings.iter().map(|f| f.severity).max()
}
