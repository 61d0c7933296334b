//! `tollguard audit config FILE…`: reads a PBX's configuration files and flags the weak spots attackers use —
//! weak, default and shared secrets, guests, missing ACLs and call limits, dial plans that let unauthenticated,
//! inbound or all callers reach international or premium numbers (also through `#`, `*`, `184` or carrier-code
//! prefixes), DISA, IVR fall-through, operator exits, forwarding and transfers to the outside. Each finding has
//! its file:line, a severity, why it matters and what to write instead.

mod asterisk;
mod checks;
pub mod dialplan;
mod freeswitch;
mod ini;
mod kamailio;
pub mod model;

use std::path::{Path, PathBuf};

use numbering::Numbering;

use crate::AuditError;
use crate::candidates::CandidateLists;
use crate::finding::Finding;
use model::Model;

/// The kind of a configuration file, from its name (and, for XML, nothing more is needed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    SipConf,
    PjsipConf,
    ExtensionsConf,
    FreeswitchXml,
    KamailioSubscribers,
}

impl FileKind {
    /// `pjsip*.conf`, `sip*.conf`, `extensions*.conf`, `*.xml`, `*.csv`/`*.tsv`/`subscriber*`.
    pub fn of(path: &Path) -> Option<FileKind> {
        let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
        if name.ends_with(".xml") {
            Some(FileKind::FreeswitchXml)
        } else if name.ends_with(".csv") || name.ends_with(".tsv") || name.starts_with("subscriber")
        {
            Some(FileKind::KamailioSubscribers)
        } else if name.starts_with("pjsip") && name.ends_with(".conf") {
            Some(FileKind::PjsipConf)
        } else if name.starts_with("sip") && name.ends_with(".conf") {
            Some(FileKind::SipConf)
        } else if name.starts_with("extensions") && name.ends_with(".conf") {
            Some(FileKind::ExtensionsConf)
        } else {
            None
        }
    }
}

/// Reads every file of one PBX and returns its findings, most severe first.
pub fn audit_files(paths: &[PathBuf], numbering: &Numbering) -> Result<Vec<Finding>, AuditError> {
    let mut texts = Vec::with_capacity(paths.len());
    for p in paths {
        let kind =
            FileKind::of(p).ok_or_else(|| AuditError::UnknownFile(p.display().to_string()))?;
        let text = std::fs::read_to_string(p).map_err(|e| AuditError::Io {
            what: format!("cannot read {}", p.display()),
            source: e,
        })?;
        texts.push(ConfigText {
            kind,
            name: p.display().to_string(),
            text,
        });
    }
    Ok(audit_texts(&texts, numbering))
}

/// One configuration file already in memory: its kind, the name findings cite, its text.
#[derive(Debug, Clone)]
pub struct ConfigText {
    pub kind: FileKind,
    pub name: String,
    pub text: String,
}

/// [`audit_files`] on texts in memory (what the fuzz target and property tests drive). Never fails: what cannot
/// be read is skipped.
pub fn audit_texts(files: &[ConfigText], numbering: &Numbering) -> Vec<Finding> {
    let mut m = Model::default();
    for f in files {
        let (file, text) = (f.name.as_str(), f.text.as_str());
        match f.kind {
            FileKind::SipConf => asterisk::read_sip_conf(file, text, &mut m),
            FileKind::PjsipConf => asterisk::read_pjsip_conf(file, text, &mut m),
            FileKind::ExtensionsConf => asterisk::read_extensions_conf(file, text, &mut m),
            FileKind::FreeswitchXml => freeswitch::read_xml(file, text, &mut m),
            FileKind::KamailioSubscribers => kamailio::read_subscribers(file, text, &mut m),
        }
    }
    let lists = CandidateLists::shipped();
    let mut findings = std::mem::take(&mut m.findings);
    findings.extend(checks::secret_findings(&m.secrets, &lists));
    findings.extend(checks::dialplan_findings(&m, &checks::probes(numbering)));
    findings.extend(checks::call_limit_finding(&m));
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.location.cmp(&b.location))
    });
    findings
}
