//! `NumberingConfig`: the serde section that the engine/guard configuration embeds (`[numbering]`), with safe
//! defaults (a Japanese site, the embedded risk list and JPY estimates) and `deny_unknown_fields`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How numbering is set up for a site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NumberingConfig {
    pub dial_plan: DialPlanConfig,
    pub risk: RiskConfig,
    pub tariffs: TariffConfig,
    /// Cache classification results by leading digits (much faster; see the crate README for the one caveat).
    pub prefix_cache: bool,
}

impl Default for NumberingConfig {
    fn default() -> Self {
        Self {
            dial_plan: DialPlanConfig::default(),
            risk: RiskConfig::default(),
            tariffs: TariffConfig::default(),
            prefix_cache: true,
        }
    }
}

/// The site's dial plan. Everything but `country` defaults to that country's usual plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DialPlanConfig {
    /// ISO 3166-1 alpha-2 of the site ("JP", "US", "GB"…).
    pub country: String,
    pub international_prefix: Option<String>,
    /// Every prefix the site's network reads as international, the main one first: `["010", "00"]` for a
    /// Japanese site whose PBX or carrier also accepts `00`. Replaces `international_prefix` (give one or the
    /// other, or the same main prefix in both). A number after any of them is international, unflagged.
    pub international_prefixes: Option<Vec<String>>,
    /// Other countries' international prefixes to read and flag as such (`foreign_prefix`, risk at least
    /// high): digits, `x` for any digit ("00xx"). Default: `numbering::FOREIGN_INTERNATIONAL_PREFIXES` less
    /// the site's own prefixes and carrier codes; `[]` turns the reading off.
    pub foreign_prefixes: Option<Vec<String>>,
    pub trunk_prefix: Option<String>,
    /// Digit the PBX users dial for an outside line ("0" or "9").
    pub outside_line: Option<String>,
    pub carrier_codes: Option<Vec<String>>,
    pub caller_id_prefixes: Option<Vec<String>>,
    /// Shortest and longest internal extension, e.g. [2, 4].
    pub extension_lengths: Option<[u8; 2]>,
    /// PBX/GSM feature codes that may precede a number (defaults: call forwarding and caller-ID codes).
    pub feature_codes: Option<Vec<String>>,
}

impl Default for DialPlanConfig {
    fn default() -> Self {
        Self {
            country: "JP".into(),
            international_prefix: None,
            international_prefixes: None,
            foreign_prefixes: None,
            trunk_prefix: None,
            outside_line: None,
            carrier_codes: None,
            caller_id_prefixes: None,
            extension_lengths: None,
            feature_codes: None,
        }
    }
}

/// Risk lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskConfig {
    /// Use the embedded default high-risk list (curated hot spots, tfps blacklist and country risk).
    pub default_list: bool,
    /// User lists, CSV `action,match,number[,note]`; later files win over earlier ones for the same entry.
    pub lists: Vec<PathBuf>,
}

impl Default for RiskConfig {
    fn default() -> Self {
        Self {
            default_list: true,
            lists: Vec::new(),
        }
    }
}

/// Rate table.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TariffConfig {
    /// The carrier's rate table, CSV `prefix,name,per_minute,currency[,increment[,setup]]`.
    pub file: Option<PathBuf>,
    /// Ignore the embedded JPY estimates entirely (else they price what the user's table does not cover).
    pub replace_defaults: bool,
}

/// 1-based line and column (in characters) of a byte offset in a TOML text, for configuration errors
/// (numbering, policy, guard and API files all report positions this way).
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_toml_and_rejects_unknown_fields() {
        let cfg: Result<NumberingConfig, _> = toml::from_str(
            "[dial_plan]\ncountry = \"JP\"\noutside_line = \"0\"\nextension_lengths = [3, 4]\n[risk]\nlists = [\"deny.csv\"]\n",
        );
        let cfg = cfg.unwrap_or_default();
        assert_eq!(cfg.dial_plan.outside_line.as_deref(), Some("0"));
        assert_eq!(cfg.risk.lists.len(), 1);
        assert!(cfg.risk.default_list && cfg.prefix_cache);
        let bad: Result<NumberingConfig, _> = toml::from_str("[dial_plan]\ncountyr = \"JP\"\n");
        assert!(bad.is_err());
    }
}
