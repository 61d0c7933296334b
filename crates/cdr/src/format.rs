//! The CDR formats this crate reads, reader options, and format auto-detection from the first lines.

use std::fmt;
use std::str::FromStr;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::csv::{Field, split_in_place};
use crate::error::CdrConfigError;
use crate::generic::GenericCsvMapping;
use crate::time::parse_datetime_fields;

/// A CDR file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CdrFormat {
    /// Asterisk `cdr_csv` `Master.csv`: 16 to 21 columns depending on `cdr.conf` (`loguniqueid`, `loguserfield`,
    /// `newcdrcolumns`).
    AsteriskCsv,
    /// Asterisk `cdr_custom` with the sample `Master.csv` mapping of `cdr_custom.conf` (19 columns, `clid` first).
    AsteriskCustom,
    /// FreeSWITCH `mod_cdr_csv` with the default `example` template (15 columns; `snom`/`linksys` templates too).
    FreeSwitchCsv,
    /// FreeSWITCH `mod_json_cdr` documents, one per file or one per line.
    FreeSwitchJson,
    /// Kamailio/OpenSIPS `acc` rows (CSV or tab-separated DB export): INVITE and BYE rows paired by Call-ID.
    KamailioAcc,
    /// Any CSV, read through a [`GenericCsvMapping`] given in [`ReadOptions::generic`].
    GenericCsv,
}

impl CdrFormat {
    /// Every format, for `--help` texts.
    pub const ALL: [CdrFormat; 6] = [
        CdrFormat::AsteriskCsv,
        CdrFormat::AsteriskCustom,
        CdrFormat::FreeSwitchCsv,
        CdrFormat::FreeSwitchJson,
        CdrFormat::KamailioAcc,
        CdrFormat::GenericCsv,
    ];

    /// The name used on the command line and in config (`asterisk-csv`, ...).
    pub fn name(self) -> &'static str {
        match self {
            CdrFormat::AsteriskCsv => "asterisk-csv",
            CdrFormat::AsteriskCustom => "asterisk-custom",
            CdrFormat::FreeSwitchCsv => "freeswitch-csv",
            CdrFormat::FreeSwitchJson => "freeswitch-json",
            CdrFormat::KamailioAcc => "kamailio-acc",
            CdrFormat::GenericCsv => "generic-csv",
        }
    }
}

impl fmt::Display for CdrFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error for an unknown format name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown CDR format {0:?}: use asterisk-csv, asterisk-custom, freeswitch-csv, freeswitch-json, kamailio-acc or generic-csv"
)]
pub struct UnknownFormatName(pub String);

impl FromStr for CdrFormat {
    type Err = UnknownFormatName;
    fn from_str(s: &str) -> Result<CdrFormat, UnknownFormatName> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "asterisk-csv" | "asterisk" | "cdr_csv" | "master.csv" => CdrFormat::AsteriskCsv,
            "asterisk-custom" | "cdr_custom" => CdrFormat::AsteriskCustom,
            "freeswitch-csv" | "freeswitch" | "mod_cdr_csv" => CdrFormat::FreeSwitchCsv,
            "freeswitch-json" | "json" | "mod_json_cdr" => CdrFormat::FreeSwitchJson,
            "kamailio-acc" | "kamailio" | "opensips" | "acc" => CdrFormat::KamailioAcc,
            "generic-csv" | "generic" => CdrFormat::GenericCsv,
            _ => return Err(UnknownFormatName(s.to_owned())),
        })
    }
}

/// Which optional columns an Asterisk `cdr_csv` file has. `Auto` decides per line from the column count, so a
/// `Master.csv` that grew columns when `cdr.conf` changed mid-file still reads; with 17 or 20 columns (only one of
/// `uniqueid`/`userfield` enabled) it looks at the value: a uniqueid is `[system-]digits.digits`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum AsteriskColumns {
    /// Decide per line (default).
    #[default]
    Auto,
    /// Exactly these options of `cdr.conf` `[csv]`; lines with another column count are errors.
    Fixed {
        /// `loguniqueid=yes`
        uniqueid: bool,
        /// `loguserfield=yes`
        userfield: bool,
        /// `newcdrcolumns=yes` (peeraccount, linkedid, sequence)
        new_columns: bool,
    },
}

/// How to read a CDR file. `Default` is: auto-detect the format, site time zone Asia/Tokyo.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// The format, or `None` to detect it from the first lines.
    pub format: Option<CdrFormat>,
    /// Time zone of times written without a zone (all PBX formats here). `chrono_tz::UTC` for Asterisk
    /// `usegmtime=yes`.
    pub site_tz: Tz,
    /// Optional Asterisk `cdr_csv` columns.
    pub asterisk_columns: AsteriskColumns,
    /// The column mapping for [`CdrFormat::GenericCsv`] (required for it, ignored otherwise).
    pub generic: Option<GenericCsvMapping>,
    /// Longest accepted line in bytes; longer lines are reported and skipped (memory stays bounded).
    pub max_line_bytes: usize,
    /// Longest accepted JSON document in bytes.
    pub max_json_bytes: usize,
    /// Kamailio/OpenSIPS: most answered calls kept waiting for their BYE; beyond, the oldest is emitted as is.
    pub max_open_calls: usize,
}

impl Default for ReadOptions {
    fn default() -> ReadOptions {
        ReadOptions {
            format: None,
            site_tz: chrono_tz::Asia::Tokyo,
            asterisk_columns: AsteriskColumns::Auto,
            generic: None,
            max_line_bytes: 64 * 1024,
            max_json_bytes: 4 * 1024 * 1024,
            max_open_calls: 100_000,
        }
    }
}

impl ReadOptions {
    /// Options for one explicit format.
    pub fn for_format(format: CdrFormat) -> ReadOptions {
        ReadOptions {
            format: Some(format),
            ..ReadOptions::default()
        }
    }

    /// Sets the site time zone by IANA name (`Asia/Tokyo`, `UTC`, `Europe/London`).
    pub fn with_time_zone(mut self, name: &str) -> Result<ReadOptions, CdrConfigError> {
        self.site_tz = name
            .parse::<Tz>()
            .map_err(|_| CdrConfigError::UnknownTimeZone(name.to_owned()))?;
        Ok(self)
    }
}

const SIP_METHODS: [&str; 8] = [
    "INVITE", "BYE", "ACK", "CANCEL", "REGISTER", "MESSAGE", "OPTIONS", "UPDATE",
];

/// Guesses the format from the start of a file (a few lines are enough). `None` when nothing matches.
pub fn detect_format(sample: &[u8]) -> Option<CdrFormat> {
    let sample = sample.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(sample);
    let mut lines = sample
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let mut fields = Vec::new();
    // A header row or two may precede the data (exports); look at up to five non-blank lines.
    for line in lines
        .by_ref()
        .filter(|l| !l.trim_ascii().is_empty())
        .take(5)
    {
        let trimmed = line.trim_ascii_start();
        if trimmed.starts_with(b"{") || trimmed.starts_with(b"[") {
            return Some(CdrFormat::FreeSwitchJson);
        }
        let tabs = line.iter().filter(|&&b| b == b'\t').count();
        let commas = line.iter().filter(|&&b| b == b',').count();
        let delim = if tabs > commas { b'\t' } else { b',' };
        let mut buf = line.to_vec();
        let Ok(len) = split_in_place(&mut buf, delim, &mut fields) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..len]);
        let get = |i: usize| {
            fields
                .get(i)
                .and_then(|f: &Field| text.get(f.start..f.end))
                .unwrap_or("")
        };
        let lower: Vec<String> = (0..fields.len())
            .map(|i| get(i).trim().to_ascii_lowercase())
            .collect();
        if lower.iter().any(|f| f == "callid") && lower.iter().any(|f| f == "method") {
            return Some(CdrFormat::KamailioAcc);
        }
        if (0..2).any(|i| SIP_METHODS.contains(&get(i).trim())) {
            return Some(CdrFormat::KamailioAcc);
        }
        let is_time = |i: usize| parse_datetime_fields(get(i).as_bytes()).is_some();
        let is_time_or_empty = |i: usize| get(i).is_empty() || is_time(i);
        let n = fields.len();
        if (16..=21).contains(&n) && is_time(9) && is_time_or_empty(10) && is_time(11) {
            return Some(CdrFormat::AsteriskCsv);
        }
        if (18..=19).contains(&n) && is_time(8) && is_time_or_empty(9) && is_time(10) {
            return Some(CdrFormat::AsteriskCustom);
        }
        if n >= 13 && is_time(4) && is_time_or_empty(5) && is_time(6) {
            return Some(CdrFormat::FreeSwitchCsv);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip() {
        for f in CdrFormat::ALL {
            assert_eq!(f.name().parse::<CdrFormat>(), Ok(f));
        }
        assert!("nonsense".parse::<CdrFormat>().is_err());
    }

    #[test]
    fn time_zone_names() {
        assert!(
            ReadOptions::default()
                .with_time_zone("Europe/London")
                .is_ok()
        );
        assert_eq!(
            ReadOptions::default().with_time_zone("Mars/Olympus").err(),
            Some(CdrConfigError::UnknownTimeZone("Mars/Olympus".into()))
        );
    }
}
