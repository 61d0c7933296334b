//! The credentials an attacker tries first, in the order they try them: vendor defaults and documented
//! examples (the project's `data/defaults.toml`, each with its public source), the extension number itself and
//! simple variants of it, then the most common passwords of leaked lists, and finally a user's own list.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::AuditError;

/// The shipped list, compiled in so that the binary needs no data files.
const DEFAULTS: &str = include_str!("../data/defaults.toml");

/// Where a candidate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A vendor's default or a documented example configuration.
    VendorDefault,
    /// The extension number or a simple variant of it.
    ExtensionVariant,
    /// One of the most common passwords of leaked lists.
    Common,
    /// A line of the user's `--list` file.
    UserList,
}

/// One password to try, with what to say when it matches (never the password itself by default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// Stable name of the list entry ("yealink-admin", "variant:ext-reversed", "common:3", "list:12").
    pub id: String,
    pub origin: Origin,
    /// The public document the entry comes from, or the file and line of a user list.
    pub source: String,
    #[serde(skip)]
    pub password: String,
}

/// A vendor entry as written in `defaults.toml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VendorEntry {
    pub id: String,
    pub vendor: String,
    pub product: String,
    /// Login name on the vendor's own page; `{ext}` for the extension.
    pub username: String,
    /// `{ext}` stands for the extension.
    pub password: String,
    pub scope: String,
    pub source: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommonList {
    source: String,
    passwords: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultsFile {
    entry: Vec<VendorEntry>,
    common: CommonList,
}

/// Every list the audit tries, loaded once.
#[derive(Debug, Clone)]
pub struct CandidateLists {
    pub vendor: Vec<VendorEntry>,
    common_source: String,
    common: Vec<String>,
    user: Vec<Candidate>,
}

impl CandidateLists {
    /// The lists shipped with the project.
    pub fn shipped() -> CandidateLists {
        // The file is part of the source tree and covered by a test: failing to parse it is a broken build.
        let f: DefaultsFile = toml::from_str(DEFAULTS).expect("data/defaults.toml is valid");
        CandidateLists {
            vendor: f.entry,
            common_source: f.common.source,
            common: f.common.passwords,
            user: Vec::new(),
        }
    }

    /// Adds the passwords of a user's list (one per line; blank lines and `#` comments skipped).
    pub fn with_user_list(mut self, path: &Path) -> Result<CandidateLists, AuditError> {
        let text = std::fs::read_to_string(path).map_err(|e| AuditError::Io {
            what: format!("password list {}", path.display()),
            source: e,
        })?;
        for (i, line) in text.lines().enumerate() {
            let p = line.trim_end_matches('\r');
            if p.trim().is_empty() || p.starts_with('#') {
                continue;
            }
            self.user.push(Candidate {
                id: format!("list:{}", i + 1),
                origin: Origin::UserList,
                source: format!("{}:{}", path.display(), i + 1),
                password: p.to_owned(),
            });
        }
        Ok(self)
    }

    /// The candidates for account `ext`, in attack order, each password once (its first entry wins).
    pub fn for_account(&self, ext: &str) -> Vec<Candidate> {
        let mut out: Vec<Candidate> = Vec::new();
        let mut push = |c: Candidate| {
            if !c.password.is_empty() && !out.iter().any(|o| o.password == c.password) {
                out.push(c);
            }
        };
        for e in &self.vendor {
            push(Candidate {
                id: e.id.clone(),
                origin: Origin::VendorDefault,
                source: e.source.clone(),
                password: e.password.replace("{ext}", ext),
            });
        }
        for (id, password) in variants(ext) {
            push(Candidate {
                id: format!("variant:{id}"),
                origin: Origin::ExtensionVariant,
                source: "the extension number and simple variants of it".into(),
                password,
            });
        }
        for (i, p) in self.common.iter().enumerate() {
            push(Candidate {
                id: format!("common:{}", i + 1),
                origin: Origin::Common,
                source: self.common_source.clone(),
                password: p.clone(),
            });
        }
        for c in &self.user {
            push(c.clone());
        }
        out
    }

    /// Login name and password pairs for an administration web page: the vendor entries.
    pub fn web_logins(&self) -> Vec<(Candidate, String)> {
        self.vendor
            .iter()
            .filter(|e| !e.username.contains("{ext}"))
            .map(|e| {
                let c = Candidate {
                    id: e.id.clone(),
                    origin: Origin::VendorDefault,
                    source: e.source.clone(),
                    password: e.password.clone(),
                };
                (c, e.username.clone())
            })
            .collect()
    }
}

/// The extension itself and the variants people derive from it.
fn variants(ext: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ext", ext.to_owned()),
        ("ext-twice", format!("{ext}{ext}")),
        ("ext-reversed", ext.chars().rev().collect()),
        ("ext-123", format!("{ext}123")),
        ("1234", "1234".to_owned()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_list_parses_and_every_vendor_entry_names_its_source() {
        let l = CandidateLists::shipped();
        assert!(l.vendor.len() >= 8);
        for e in &l.vendor {
            assert!(
                e.source.contains("https://"),
                "{} has no public source",
                e.id
            );
            assert!(
                ["web", "sip", "both"].contains(&e.scope.as_str()),
                "{}",
                e.id
            );
        }
    }

    #[test]
    fn order_is_vendor_then_variants_then_common_without_duplicates() {
        let c = CandidateLists::shipped().for_account("201");
        let ids: Vec<&str> = c.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids[0], "asterisk-docs-example");
        assert_eq!(c[0].password, "201");
        // "201" (the extension) was already tried as the Asterisk example: not twice.
        assert!(!ids.contains(&"variant:ext"));
        assert!(ids.contains(&"variant:ext-reversed"));
        let rev = c.iter().find(|c| c.id == "variant:ext-reversed").unwrap();
        assert_eq!(rev.password, "102");
        let first_common = ids.iter().position(|i| i.starts_with("common:")).unwrap();
        let last_variant = ids.iter().rposition(|i| i.starts_with("variant:")).unwrap();
        assert!(last_variant < first_common);
        let mut pw: Vec<&str> = c.iter().map(|c| c.password.as_str()).collect();
        pw.sort();
        pw.dedup();
        assert_eq!(pw.len(), c.len());
    }

    #[test]
    fn user_list_comes_last_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mine.txt");
        std::fs::write(&p, "# ours\n\nSecret-2015\n").unwrap();
        let c = CandidateLists::shipped()
            .with_user_list(&p)
            .unwrap()
            .for_account("200");
        let last = c.last().unwrap();
        assert_eq!(last.id, "list:3");
        assert_eq!(last.password, "Secret-2015");
        assert!(last.source.ends_with("mine.txt:3"));
    }
}
