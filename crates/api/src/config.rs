//! The `[api]` table of tollguard's one configuration file: where the operator API listens, its TLS
//! certificate, where tokens are kept and how fast failed logins are refused. Defaults are the safe ones:
//! loopback only, and a non-loopback address without TLS is refused unless explicitly allowed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The operator API's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Address and port to listen on. Default 127.0.0.1:8080 (loopback: reachable from this host only).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// PEM certificate chain for HTTPS (with `tls_key`).
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS (with `tls_cert`).
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address. Off by default: tokens would cross the network in clear.
    #[serde(default)]
    pub allow_plaintext_non_loopback: bool,
    /// Separate SQLite file for the API tokens (hashes only). Default: the store's database (`[store] path`).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Failed authentications allowed per source address per minute (burst of the same size); beyond, the
    /// address gets 429 with Retry-After until it has waited. Default 10.
    #[serde(default = "default_failed_logins")]
    pub failed_logins_per_minute: u32,
    /// What `POST /api/v1/decide` answers when the guard cannot decide in time: "closed" (refuse; default)
    /// or "open" (allow). Emergency numbers are allowed either way. See docs/integrations/README.md.
    #[serde(default)]
    pub decide_fail: crate::decide::FailMode,
    /// How long a decision may take before the failure mode answers (default 200 ms).
    #[serde(default = "default_decide_timeout")]
    pub decide_timeout_ms: u64,
    /// The configuration file this came from (for `policy show` of an inline `[policy]`); set by [`ApiConfig::load`].
    #[serde(skip)]
    pub config_path: Option<PathBuf>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_decide_timeout() -> u64 {
    200
}

fn default_failed_logins() -> u32 {
    10
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: default_listen(),
            tls_cert: None,
            tls_key: None,
            allow_plaintext_non_loopback: false,
            token_file: None,
            failed_logins_per_minute: default_failed_logins(),
            decide_fail: crate::decide::FailMode::Closed,
            decide_timeout_ms: default_decide_timeout(),
            config_path: None,
        }
    }
}

/// A configuration error in the `[api]` table, located in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: [api] {message}")]
pub struct ApiConfigError {
    /// 1-based; 0 when the error concerns the table as a whole.
    pub line: usize,
    pub column: usize,
    pub message: String,
}

#[derive(Deserialize)]
struct File {
    // Other tables belong to the guard and to notifications: ignored here (they check their own).
    #[serde(default)]
    api: Option<ApiConfig>,
}

/// One line:column convention for every section of the file: the guard's.
use numbering::line_col;

/// Byte offset of the `[api]` header (0 when not found).
fn api_header_offset(text: &str) -> usize {
    let mut off = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        if t.starts_with("[api]") || t.starts_with("api") {
            return off + (line.len() - t.len());
        }
        off += line.len();
    }
    0
}

impl ApiConfig {
    /// Parses the `[api]` table of the whole configuration file. `Ok(None)`: there is no `[api]` table (the
    /// API is not served).
    pub fn from_toml_str(text: &str) -> Result<Option<ApiConfig>, ApiConfigError> {
        let at = |offset: usize, message: String| {
            let (line, column) = line_col(text, offset);
            ApiConfigError {
                line,
                column,
                message,
            }
        };
        let file: File = toml::from_str(text).map_err(|e| {
            let mut message = e.message().to_owned();
            if message.starts_with("unknown field") {
                message.push_str(" (see docs/api.md for the [api] settings)");
            }
            at(e.span().map(|s| s.start).unwrap_or(0), message)
        })?;
        let Some(config) = file.api else {
            return Ok(None);
        };
        config.check().map_err(|m| at(api_header_offset(text), m))?;
        Ok(Some(config))
    }

    /// Reads the `[api]` table of a configuration file and makes its paths relative to the file's folder.
    pub fn load(path: &Path) -> Result<Option<ApiConfig>, ApiConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ApiConfigError {
            line: 0,
            column: 0,
            message: format!("cannot read {}: {e}", path.display()),
        })?;
        let Some(mut c) = Self::from_toml_str(&text)? else {
            return Ok(None);
        };
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [&mut c.tls_cert, &mut c.tls_key, &mut c.token_file]
            .into_iter()
            .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        c.config_path = Some(path.to_path_buf());
        Ok(Some(c))
    }

    /// The rules that make the control surface safe; also checked when binding.
    pub fn check(&self) -> Result<(), String> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => {
                return Err("tls_cert is set without tls_key: set both or neither".into());
            }
            (None, Some(_)) => {
                return Err("tls_key is set without tls_cert: set both or neither".into());
            }
            _ => {}
        }
        if !self.listen.ip().is_loopback() && !self.tls() && !self.allow_plaintext_non_loopback {
            return Err(format!(
                "listen = \"{}\" is reachable from the network but TLS is not configured: tokens would cross \
                 the network in clear. Set tls_cert and tls_key, or listen on 127.0.0.1, or (only behind a \
                 TLS-terminating proxy) set allow_plaintext_non_loopback = true",
                self.listen
            ));
        }
        if self.failed_logins_per_minute == 0 {
            return Err("failed_logins_per_minute must be at least 1".into());
        }
        Ok(())
    }

    /// HTTPS is configured.
    pub fn tls(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_table_means_no_api_and_defaults_are_loopback() {
        assert_eq!(
            ApiConfig::from_toml_str("[pbx]\naddress = \"x\"\n"),
            Ok(None)
        );
        let c = ApiConfig::from_toml_str("[api]\n").unwrap().unwrap();
        assert_eq!(c, ApiConfig::default());
        assert!(c.listen.ip().is_loopback());
    }

    #[test]
    fn settings_are_read_and_other_tables_ignored() {
        let c = ApiConfig::from_toml_str(
            "[notify]\nx = 1\n[api]\nlisten = \"[::1]:9443\"\nfailed_logins_per_minute = 3\n[pbx]\naddress = \"y\"\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.listen, "[::1]:9443".parse().unwrap());
        assert_eq!(c.failed_logins_per_minute, 3);
    }

    #[test]
    fn unknown_keys_are_errors_with_their_line() {
        let e = ApiConfig::from_toml_str(
            "[pbx]\naddress = \"y\"\n\n[api]\nlisten = \"127.0.0.1:1\"\npasword = \"x\"\n",
        )
        .unwrap_err();
        assert_eq!((e.line, e.column), (6, 1), "{e}");
        assert!(e.message.contains("pasword"), "{e}");
    }

    #[test]
    fn bad_values_are_errors_with_their_line() {
        let e = ApiConfig::from_toml_str("\n[api]\nlisten = \"nowhere\"\n").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
    }

    #[test]
    fn non_loopback_without_tls_is_refused_unless_allowed() {
        let e = ApiConfig::from_toml_str("[api]\nlisten = \"0.0.0.0:8080\"\n").unwrap_err();
        assert!(e.message.contains("TLS is not configured"), "{e}");
        assert_eq!(e.line, 1);
        let ok = ApiConfig::from_toml_str(
            "[api]\nlisten = \"0.0.0.0:8080\"\nallow_plaintext_non_loopback = true\n",
        );
        assert!(matches!(ok, Ok(Some(_))));
        let tls = ApiConfig::from_toml_str(
            "[api]\nlisten = \"0.0.0.0:8443\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n",
        );
        assert!(matches!(tls, Ok(Some(c)) if c.tls()));
        let half = ApiConfig::from_toml_str("[api]\ntls_cert = \"c.pem\"\n").unwrap_err();
        assert!(half.message.contains("without tls_key"), "{half}");
    }
}
