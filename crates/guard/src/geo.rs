//! Where a login may come from: the country of an address, read from a MaxMind-format database the operator
//! supplies (`[geo] database`, GeoLite2-Country or -City), and the login limits of each tenant and account
//! (`login_networks`, `login_countries`) that the proxy checks on access-side REGISTER/INVITE from untrusted
//! sources. They exist because the 2015 attacker logged in with the vendor's default password from abroad and
//! never failed a login: counting failures cannot see that, where it came from can.

pub mod testdb;

use std::fmt;
use std::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use crate::config::{Network, Settings, Tenant};

/// An ISO 3166-1 alpha-2 country code, upper case (`JP`, `SL`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country([u8; 2]);

impl Country {
    /// Two ASCII letters in either case; anything else is not a country code.
    pub fn parse(s: &str) -> Option<Country> {
        match s.as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Some(Country([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
            }
            _ => None,
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII letters get in (see `parse`), so this is always valid UTF-8.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    pub fn code(self) -> [u8; 2] {
        self.0
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Country({})", self.as_str())
    }
}

/// Why a geo database could not be used. The text says which file, what is wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error(
        "cannot read the geo database {}: {source}; download GeoLite2-Country.mmdb (free, from MaxMind) and point [geo] database at it",
        path.display()
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} is not a usable MaxMind-format database ({message}); replace it with a fresh copy of GeoLite2-Country.mmdb or GeoLite2-City.mmdb",
        path.display()
    )]
    Invalid { path: PathBuf, message: String },
    #[error(
        "{} is a \"{database_type}\" database, which holds no countries; use a country or city database (GeoLite2-Country.mmdb, GeoLite2-City.mmdb)",
        path.display()
    )]
    NoCountries {
        path: PathBuf,
        database_type: String,
    },
}

/// Larger than any country or city database; a bigger file is a wrong path, not something to read into memory.
const MAX_DATABASE_BYTES: u64 = 1 << 30;

/// What identifies one version of the file on disk, to notice that it was replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: Option<std::time::SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp_of(path: &Path) -> Option<FileStamp> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let inode = 0;
    Some(FileStamp {
        modified: m.modified().ok(),
        len: m.len(),
        inode,
    })
}

/// The parts of a GeoIP2/GeoLite2 Country or City record that say the country; everything else is skipped
/// without being decoded, and the code is borrowed from the database, so a lookup allocates nothing.
#[derive(Deserialize)]
struct CountryRecord<'a> {
    #[serde(borrow)]
    country: Option<IsoCode<'a>>,
    #[serde(borrow)]
    registered_country: Option<IsoCode<'a>>,
}

#[derive(Deserialize)]
struct IsoCode<'a> {
    iso_code: Option<&'a str>,
}

/// An opened, verified MaxMind-format country (or city) database.
///
/// The whole file is read into memory rather than mapped: the operator replaces the file on disk when a new
/// edition comes out, and a mapped file cut short under a running guard would crash it.
pub struct GeoDb {
    path: PathBuf,
    reader: maxminddb::Reader<Vec<u8>>,
    stamp: Option<FileStamp>,
}

impl fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeoDb")
            .field("path", &self.path)
            .field("database_type", &self.database_type())
            .field("build_epoch", &self.build_epoch())
            .finish()
    }
}

impl GeoDb {
    /// Opens and checks a database: a missing, corrupt or non-country file is an error here, never later.
    pub fn open(path: &Path) -> Result<GeoDb, GeoError> {
        let read_err = |source| GeoError::Read {
            path: path.to_owned(),
            source,
        };
        let invalid = |e: maxminddb::MaxMindDbError| GeoError::Invalid {
            path: path.to_owned(),
            message: e.to_string(),
        };
        // Taken before reading: a replacement written meanwhile then shows up as a change.
        let stamp = stamp_of(path);
        let len = std::fs::metadata(path).map_err(read_err)?.len();
        if len > MAX_DATABASE_BYTES {
            return Err(GeoError::Invalid {
                path: path.to_owned(),
                message: format!("{len} bytes, larger than any country or city database"),
            });
        }
        let bytes = std::fs::read(path).map_err(read_err)?;
        let reader = maxminddb::Reader::from_source(bytes).map_err(invalid)?;
        // Walks the whole tree and data section once, so that a damaged file fails at start and a lookup
        // never meets a broken record later.
        reader.verify().map_err(invalid)?;
        let database_type = reader.metadata().database_type.to_ascii_lowercase();
        if !["country", "city", "enterprise"]
            .iter()
            .any(|w| database_type.contains(w))
        {
            return Err(GeoError::NoCountries {
                path: path.to_owned(),
                database_type: reader.metadata().database_type.clone(),
            });
        }
        Ok(GeoDb {
            path: path.to_owned(),
            reader,
            stamp,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The database's own name for its kind, e.g. `GeoLite2-Country`.
    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// When the database was built, seconds since 1970.
    pub fn build_epoch(&self) -> u64 {
        self.reader.metadata().build_epoch
    }

    /// The country of an address: `country.iso_code`, else `registered_country.iso_code` (anonymous proxies
    /// and satellite providers have only the latter). IPv4-mapped IPv6 addresses are looked up as IPv4.
    /// `None` when the database does not know the address.
    pub fn country(&self, ip: IpAddr) -> Option<Country> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let found = self.reader.lookup(ip).ok()?;
        let record: CountryRecord<'_> = found.decode().ok().flatten()?;
        let code = |c: Option<IsoCode<'_>>| c.and_then(|c| c.iso_code).and_then(Country::parse);
        code(record.country).or_else(|| code(record.registered_country))
    }

    /// True when the file on disk is no longer the one that was read (replaced, rewritten or removed).
    pub fn changed_on_disk(&self) -> bool {
        stamp_of(&self.path) != self.stamp
    }

    /// Reads the file again into a new database; `self` is untouched, so a caller that shares the database
    /// (`Arc<GeoDb>`) swaps in the result and keeps the old one when the new file is unusable.
    pub fn reopen(&self) -> Result<GeoDb, GeoError> {
        GeoDb::open(&self.path)
    }

    /// Reads the file again. On error the database in use stays as it was.
    pub fn reload(&mut self) -> Result<(), GeoError> {
        *self = self.reopen()?;
        Ok(())
    }

    /// Reads the file again if it changed on disk; `Ok(true)` when a new version is now in use. A file
    /// half-copied at the time gives an error and is tried again at the next call.
    pub fn reload_if_changed(&mut self) -> Result<bool, GeoError> {
        if !self.changed_on_disk() {
            return Ok(false);
        }
        self.reload()?;
        Ok(true)
    }
}

/// Where logins to some accounts may come from: a login passes when its source is in one of `networks` or
/// its country is one of `countries`. Both empty: no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginRule {
    pub networks: Vec<Network>,
    pub countries: Vec<Country>,
}

impl LoginRule {
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty() && self.countries.is_empty()
    }

    /// "192.0.2.0/24 or from JP, KR", for the admin.
    fn allowed(&self) -> String {
        let nets = self
            .networks
            .iter()
            .map(network_text)
            .collect::<Vec<_>>()
            .join(", ");
        let countries = self
            .countries
            .iter()
            .map(Country::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        match (nets.is_empty(), countries.is_empty()) {
            (false, false) => format!("{nets} or from {countries}"),
            (false, true) => nets,
            _ => countries,
        }
    }
}

fn network_text(n: &Network) -> String {
    let full = if n.addr.is_ipv4() { 32 } else { 128 };
    if n.prefix == full {
        n.addr.to_string()
    } else {
        format!("{}/{}", n.addr, n.prefix)
    }
}

/// A rule of its own for some accounts of a tenant (`[[tenant.account_limits]]`). Keys the table leaves out
/// were taken from the tenant's rule when the file was read, so `rule` is complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRule {
    pub accounts: Vec<String>,
    pub rule: LoginRule,
}

/// A tenant's login limits: its own rule, and the accounts that have one of their own (each account is in at
/// most one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginLimits {
    pub tenant: LoginRule,
    pub accounts: Vec<AccountRule>,
}

impl LoginLimits {
    /// True when no login of the tenant is limited.
    pub fn is_empty(&self) -> bool {
        self.tenant.is_empty() && self.accounts.iter().all(|a| a.rule.is_empty())
    }

    /// The rule for an account: its own if it has one, else the tenant's.
    pub fn rule_for(&self, account: &str) -> (&LoginRule, LimitScope) {
        match self
            .accounts
            .iter()
            .find(|a| a.accounts.iter().any(|x| x == account))
        {
            Some(a) => (&a.rule, LimitScope::Account),
            None => (&self.tenant, LimitScope::Tenant),
        }
    }
}

/// Whose rule refused a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitScope {
    /// The tenant's `login_networks` / `login_countries`.
    Tenant,
    /// The account's `[[tenant.account_limits]]`.
    Account,
}

/// Why a login was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The source is in no allowed network and its country is not an allowed one.
    NotAllowed,
    /// Countries are limited and the database does not know the source's country (refused: fail closed).
    UnknownCountry,
    /// Countries are limited and no geo database was given to the check (refused: fail closed).
    NoGeoDatabase,
}

/// A refused login, with the sentence for the admin (`Display`), e.g. "login to ext 205 from 203.0.113.9
/// (country SL) refused: ext 205 may log in only from JP (limit of tenant acme)".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct LoginRefusal {
    pub account: String,
    /// Where the login came from.
    pub from: IpAddr,
    pub country: Option<Country>,
    pub kind: RefusalKind,
    pub scope: LimitScope,
    message: String,
}

impl LoginRefusal {
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl Tenant {
    /// Whether `account` may log in from `source`. Networks are tried first, so a source in an allowed
    /// network costs no lookup; with countries limited, a source whose country is unknown is refused.
    pub fn check_login(
        &self,
        account: &str,
        source: IpAddr,
        geo: Option<&GeoDb>,
    ) -> Result<(), LoginRefusal> {
        let (rule, scope) = self.login.rule_for(account);
        if rule.is_empty() || rule.networks.iter().any(|n| n.contains(source)) {
            return Ok(());
        }
        let country = geo.and_then(|g| g.country(source));
        if country.is_some_and(|c| rule.countries.contains(&c)) {
            return Ok(());
        }
        let kind = match (rule.countries.is_empty(), geo, country) {
            (false, None, _) => RefusalKind::NoGeoDatabase,
            (false, Some(_), None) => RefusalKind::UnknownCountry,
            _ => RefusalKind::NotAllowed,
        };
        let seen = match (country, kind) {
            (Some(c), _) => format!(" (country {c})"),
            (None, RefusalKind::NoGeoDatabase) => " (country unknown: no geo database)".to_owned(),
            (None, _) if geo.is_some() => " (country unknown)".to_owned(),
            (None, _) => String::new(),
        };
        let whose = match (scope, self.name.is_empty()) {
            (LimitScope::Tenant, true) => "tenant limit".to_owned(),
            (LimitScope::Tenant, false) => format!("limit of tenant {}", self.name),
            (LimitScope::Account, true) => "account limit".to_owned(),
            (LimitScope::Account, false) => format!("account limit in tenant {}", self.name),
        };
        let unknown = match kind {
            RefusalKind::NotAllowed => "",
            RefusalKind::UnknownCountry => {
                "; a source whose country the geo database does not know is refused"
            }
            RefusalKind::NoGeoDatabase => {
                "; without a geo database no country can be confirmed, so it is refused"
            }
        };
        Err(LoginRefusal {
            account: account.to_owned(),
            from: source,
            country,
            kind,
            scope,
            message: format!(
                "login to ext {account} from {source}{seen} refused: ext {account} may log in only from {} ({whose}){unknown}",
                rule.allowed()
            ),
        })
    }
}

impl Settings {
    /// True when logins of this tenant are limited or a geo database is configured (whose country goes with
    /// every authentication outcome); when false the proxy skips [`Settings::check_login`] and
    /// [`Settings::country_of`] entirely.
    pub fn limits_apply(&self, tenant: &Tenant) -> bool {
        self.geo.is_some() || !tenant.login.is_empty()
    }

    /// The country of an address in the configured geo database; `None` without one or when it does not
    /// know the address.
    pub fn country_of(&self, ip: IpAddr) -> Option<Country> {
        self.geo.as_deref().and_then(|g| g.country(ip))
    }

    /// [`Tenant::check_login`] with the configured geo database.
    pub fn check_login(
        &self,
        tenant: &Tenant,
        account: &str,
        source: IpAddr,
    ) -> Result<(), LoginRefusal> {
        tenant.check_login(account, source, self.geo.as_deref())
    }
}

// ---- reading the configuration file (called by `config`) ----

/// `[geo]` in the guard's TOML.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct GeoFile {
    /// A MaxMind-format country or city database (GeoLite2-Country.mmdb).
    database: Option<Spanned<PathBuf>>,
}

impl GeoFile {
    pub(crate) fn configured(&self) -> bool {
        self.database.is_some()
    }
}

/// `[[tenant.account_limits]]`: a rule of their own for some accounts. A key left out is the tenant's; an
/// empty list lifts that limit for these accounts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountLimitsFile {
    accounts: Spanned<Vec<Spanned<String>>>,
    login_networks: Option<Vec<Spanned<String>>>,
    login_countries: Option<Vec<Spanned<String>>>,
}

/// The tenant's keys for login limits, as written in `[[tenant]]`.
pub(crate) struct TenantLoginFile<'f> {
    pub(crate) tenant: &'f str,
    /// The tenant's known accounts (empty: any).
    pub(crate) known_accounts: &'f [String],
    pub(crate) login_networks: &'f [Spanned<String>],
    pub(crate) login_countries: &'f [Spanned<String>],
    pub(crate) account_limits: &'f [AccountLimitsFile],
}

/// Problems found while reading these settings: where in the file (a byte range) and what to do. `config`
/// turns them into located errors.
pub(crate) type Problems = Vec<(Range<usize>, String)>;

/// Opens the `[geo] database` (relative paths from the configuration file's folder).
pub(crate) fn open_configured(
    file: &GeoFile,
    base: &Path,
    problems: &mut Problems,
) -> Option<Arc<GeoDb>> {
    let db = file.database.as_ref()?;
    match GeoDb::open(&base.join(db.get_ref())) {
        Ok(g) => Some(Arc::new(g)),
        Err(e) => {
            problems.push((db.span(), format!("geo.database: {e}")));
            None
        }
    }
}

fn networks(
    tenant: &str,
    key: &str,
    list: &[Spanned<String>],
    problems: &mut Problems,
) -> Vec<Network> {
    let mut out = Vec::with_capacity(list.len());
    for s in list {
        match Network::parse(s.get_ref()) {
            Some(n) => out.push(n),
            None => problems.push((
                s.span(),
                format!(
                    "tenant \"{tenant}\": {key}: \"{}\" is not a network; write an address or address/prefix such as \"192.0.2.0/24\" or \"2001:db8::/32\"",
                    s.get_ref()
                ),
            )),
        }
    }
    out
}

fn countries(
    tenant: &str,
    key: &str,
    list: &[Spanned<String>],
    geo_configured: bool,
    problems: &mut Problems,
) -> Vec<Country> {
    let mut out = Vec::with_capacity(list.len());
    for s in list {
        match Country::parse(s.get_ref().trim()) {
            Some(c) if !out.contains(&c) => out.push(c),
            Some(_) => {}
            None => problems.push((
                s.span(),
                format!(
                    "tenant \"{tenant}\": {key}: \"{}\" is not a country code; write two letters (ISO 3166-1 alpha-2) such as \"JP\"",
                    s.get_ref()
                ),
            )),
        }
    }
    if let Some(first) = list.first()
        && !geo_configured
    {
        problems.push((
            first.span(),
            format!(
                "tenant \"{tenant}\": {key} needs a country database: add [geo] database = \"/path/GeoLite2-Country.mmdb\" (a MaxMind-format country or city database, e.g. GeoLite2-Country from MaxMind), or limit logins by login_networks only"
            ),
        ));
    }
    out
}

/// Resolves a tenant's login limits; a per-account table's missing keys are taken from the tenant.
pub(crate) fn login_limits(
    file: &TenantLoginFile<'_>,
    geo_configured: bool,
    problems: &mut Problems,
) -> LoginLimits {
    let t = file.tenant;
    let tenant = LoginRule {
        networks: networks(t, "login_networks", file.login_networks, problems),
        countries: countries(
            t,
            "login_countries",
            file.login_countries,
            geo_configured,
            problems,
        ),
    };
    let mut accounts: Vec<AccountRule> = Vec::with_capacity(file.account_limits.len());
    for a in file.account_limits {
        if a.accounts.get_ref().is_empty() {
            problems.push((
                a.accounts.span(),
                format!("tenant \"{t}\": account_limits.accounts is empty: list the accounts this limit is for, e.g. [\"205\", \"206\"]"),
            ));
        }
        if a.login_networks.is_none() && a.login_countries.is_none() {
            problems.push((
                a.accounts.span(),
                format!("tenant \"{t}\": account_limits for these accounts sets neither login_networks nor login_countries: add one (an empty list lifts the tenant's limit for them)"),
            ));
        }
        let mut names = Vec::with_capacity(a.accounts.get_ref().len());
        for name in a.accounts.get_ref() {
            let n = name.get_ref();
            if names.contains(n) || accounts.iter().any(|r| r.accounts.contains(n)) {
                problems.push((
                    name.span(),
                    format!(
                        "tenant \"{t}\": account \"{n}\" is in account_limits twice: keep it in one"
                    ),
                ));
            } else if !file.known_accounts.is_empty() && !file.known_accounts.contains(n) {
                problems.push((
                    name.span(),
                    format!("tenant \"{t}\": account_limits names \"{n}\", which is not in the tenant's accounts: check the spelling or add it to accounts"),
                ));
            } else {
                names.push(n.clone());
            }
        }
        let rule = LoginRule {
            networks: match &a.login_networks {
                Some(l) => networks(t, "account_limits.login_networks", l, problems),
                None => tenant.networks.clone(),
            },
            countries: match &a.login_countries {
                Some(l) => countries(
                    t,
                    "account_limits.login_countries",
                    l,
                    geo_configured,
                    problems,
                ),
                None => tenant.countries.clone(),
            },
        };
        accounts.push(AccountRule {
            accounts: names,
            rule,
        });
    }
    LoginLimits { tenant, accounts }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Enough of a guard file to parse; each test adds `[geo]` and a tenant.
    const BASE: &str = r#"
[[listen]]
address = "127.0.0.1:5060"
[pbx]
address = "127.0.0.2:5070"
"#;

    /// 127.0.0.0/24 in JP except 127.0.0.9 in SL, ::1 in JP; the rest unknown.
    fn db(dir: &tempfile::TempDir) -> PathBuf {
        let p = dir.path().join("country.mmdb");
        testdb::write(
            &p,
            &[
                ("127.0.0.0/24", "JP"),
                ("127.0.0.9/32", "SL"),
                ("::1", "JP"),
            ],
        )
        .unwrap();
        p
    }

    fn parse(geo: Option<&Path>, tenant: &str) -> Result<Settings, crate::ConfigErrors> {
        let geo = geo
            .map(|p| format!("[geo]\ndatabase = \"{}\"\n", p.display()))
            .unwrap_or_default();
        Settings::parse(
            &format!("{BASE}{geo}{tenant}"),
            Path::new("/etc/tollguard/guard.toml"),
        )
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn country_codes_are_two_letters_in_upper_case() {
        assert_eq!(Country::parse("jp").unwrap().as_str(), "JP");
        assert_eq!(Country::parse("Sl").unwrap().code(), *b"SL");
        for bad in ["", "J", "JPN", "J1", "日本", "j "] {
            assert!(Country::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn login_limits_are_read_upper_cased_and_account_tables_inherit_missing_keys() {
        let dir = tempfile::tempdir().unwrap();
        let s = parse(
            Some(&db(&dir)),
            r#"
[[tenant]]
name = "acme"
login_networks = ["192.0.2.0/24", "2001:db8::/32"]
login_countries = ["jp", "JP"]
[[tenant.account_limits]]
accounts = ["205", "206"]
login_countries = ["sl"]
[[tenant.account_limits]]
accounts = ["207"]
login_networks = []
login_countries = []
"#,
        )
        .unwrap();
        let login = &s.tenants[0].login;
        let nets = vec![
            Network::parse("192.0.2.0/24").unwrap(),
            Network::parse("2001:db8::/32").unwrap(),
        ];
        assert_eq!(login.tenant.networks, nets);
        assert_eq!(login.tenant.countries, vec![Country(*b"JP")]);
        let (r205, scope) = login.rule_for("206");
        assert_eq!(scope, LimitScope::Account);
        assert_eq!(r205.networks, nets, "networks left out are the tenant's");
        assert_eq!(r205.countries, vec![Country(*b"SL")]);
        assert!(
            login.rule_for("207").0.is_empty(),
            "empty lists lift the limit"
        );
        assert_eq!(login.rule_for("201").1, LimitScope::Tenant);
        assert!(s.geo.is_some());
    }

    #[test]
    fn bad_networks_and_country_codes_are_located() {
        let dir = tempfile::tempdir().unwrap();
        let e = parse(
            Some(&db(&dir)),
            "[[tenant]]\nname = \"acme\"\nlogin_networks = [\"192.0.2.0/33\"]\nlogin_countries = [\"JPN\"]\n\
             [[tenant.account_limits]]\naccounts = [\"205\"]\nlogin_countries = [\"J\"]\n",
        )
        .unwrap_err();
        let at = |line: usize, col: usize, words: &str| {
            assert!(
                e.0.iter()
                    .any(|x| x.line == line && x.column == col && x.message.contains(words)),
                "{line}:{col} {words}: {e}"
            )
        };
        // BASE is 5 lines, [geo] 2, so the tenant starts on line 8.
        at(10, 19, "\"192.0.2.0/33\" is not a network");
        at(11, 20, "\"JPN\" is not a country code");
        at(14, 20, "\"J\" is not a country code");
        assert_eq!(e.0.len(), 3, "{e}");
        assert!(
            e.to_string()
                .starts_with("/etc/tollguard/guard.toml:10:19: tenant \"acme\": login_networks:"),
            "{e}"
        );
    }

    #[test]
    fn login_countries_without_a_geo_database_asks_for_one() {
        let e = parse(
            None,
            "[[tenant]]\nname = \"acme\"\n[[tenant.account_limits]]\naccounts = [\"205\"]\nlogin_countries = [\"JP\"]\n",
        )
        .unwrap_err();
        assert_eq!(e.0.len(), 1, "{e}");
        assert_eq!((e.0[0].line, e.0[0].column), (10, 20), "{e}");
        assert!(
            e.0[0]
                .message
                .contains("needs a country database: add [geo] database ="),
            "{e}"
        );
        assert!(e.0[0].message.contains("MaxMind-format"), "{e}");
        // Networks alone need no database.
        let s = parse(
            None,
            "[[tenant]]\nname = \"acme\"\nlogin_networks = [\"192.0.2.0/24\"]\n",
        )
        .unwrap();
        assert!(s.geo.is_none());
        assert!(!s.tenants[0].login.is_empty());
    }

    #[test]
    fn account_tables_name_each_known_account_once_and_limit_something() {
        let e = parse(
            None,
            r#"
[[tenant]]
name = "acme"
accounts = ["205", "206"]
[[tenant.account_limits]]
accounts = ["205", "205"]
login_networks = ["192.0.2.0/24"]
[[tenant.account_limits]]
accounts = ["206", "250"]
[[tenant.account_limits]]
accounts = []
login_networks = []
"#,
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains(":11:20: tenant \"acme\": account \"205\" is in account_limits twice"),
            "{text}"
        );
        assert!(
            text.contains(
                ":14:12: tenant \"acme\": account_limits for these accounts sets neither"
            ),
            "{text}"
        );
        assert!(text.contains(":14:20: tenant \"acme\": account_limits names \"250\", which is not in the tenant's accounts"), "{text}");
        assert!(
            text.contains(":16:12: tenant \"acme\": account_limits.accounts is empty"),
            "{text}"
        );
        assert_eq!(e.0.len(), 4, "{text}");
    }

    fn acme(geo: Option<&Path>, limits: &str) -> Settings {
        parse(geo, &format!("[[tenant]]\nname = \"acme\"\n{limits}")).unwrap()
    }

    #[test]
    fn networks_limit_where_logins_come_from() {
        let s = acme(
            None,
            "login_networks = [\"192.0.2.0/24\", \"2001:db8::/32\", \"198.51.100.7\"]\n",
        );
        let t = &s.tenants[0];
        assert!(s.check_login(t, "205", ip("192.0.2.77")).is_ok());
        assert!(s.check_login(t, "205", ip("2001:db8:5::1")).is_ok());
        assert!(s.check_login(t, "205", ip("::ffff:192.0.2.1")).is_ok());
        let r = s.check_login(t, "205", ip("203.0.113.9")).unwrap_err();
        assert_eq!(r.kind, RefusalKind::NotAllowed);
        assert_eq!(
            r.to_string(),
            "login to ext 205 from 203.0.113.9 refused: ext 205 may log in only from 192.0.2.0/24, 2001:db8::/32, 198.51.100.7 (limit of tenant acme)"
        );
    }

    #[test]
    fn countries_limit_where_logins_come_from() {
        let dir = tempfile::tempdir().unwrap();
        let s = acme(Some(&db(&dir)), "login_countries = [\"JP\"]\n");
        let t = &s.tenants[0];
        assert!(s.check_login(t, "205", ip("127.0.0.1")).is_ok());
        assert!(s.check_login(t, "205", ip("::1")).is_ok());
        let r = s.check_login(t, "205", ip("127.0.0.9")).unwrap_err();
        assert_eq!(
            (r.kind, r.country),
            (RefusalKind::NotAllowed, Country::parse("SL"))
        );
        assert_eq!(
            r.to_string(),
            "login to ext 205 from 127.0.0.9 (country SL) refused: ext 205 may log in only from JP (limit of tenant acme)"
        );
        let r = s.check_login(t, "205", ip("::ffff:127.0.0.9")).unwrap_err();
        assert_eq!(
            r.country,
            Country::parse("SL"),
            "mapped IPv4 looked up as IPv4"
        );
    }

    #[test]
    fn a_network_or_a_country_lets_a_login_in() {
        let dir = tempfile::tempdir().unwrap();
        let s = acme(
            Some(&db(&dir)),
            "login_networks = [\"127.0.0.9\"]\nlogin_countries = [\"JP\"]\n",
        );
        let t = &s.tenants[0];
        assert!(
            s.check_login(t, "205", ip("127.0.0.9")).is_ok(),
            "SL, but in the network"
        );
        assert!(s.check_login(t, "205", ip("127.0.0.3")).is_ok(), "JP");
        let r = s.check_login(t, "205", ip("127.0.1.1")).unwrap_err();
        assert!(
            r.to_string()
                .contains("may log in only from 127.0.0.9 or from JP"),
            "{r}"
        );
    }

    #[test]
    fn an_account_limit_beats_the_tenant_limit() {
        let dir = tempfile::tempdir().unwrap();
        let s = acme(
            Some(&db(&dir)),
            "login_countries = [\"JP\"]\n[[tenant.account_limits]]\naccounts = [\"205\"]\nlogin_countries = [\"SL\"]\n\
             [[tenant.account_limits]]\naccounts = [\"299\"]\nlogin_countries = []\n",
        );
        let t = &s.tenants[0];
        assert!(
            s.check_login(t, "205", ip("127.0.0.9")).is_ok(),
            "205 may come from SL"
        );
        let r = s.check_login(t, "205", ip("127.0.0.1")).unwrap_err();
        assert_eq!(r.scope, LimitScope::Account);
        assert_eq!(
            r.to_string(),
            "login to ext 205 from 127.0.0.1 (country JP) refused: ext 205 may log in only from SL (account limit in tenant acme)"
        );
        assert!(
            s.check_login(t, "201", ip("127.0.0.9")).is_err(),
            "201 has the tenant's limit"
        );
        assert!(
            s.check_login(t, "299", ip("10.9.9.9")).is_ok(),
            "299's limit is lifted"
        );
    }

    #[test]
    fn an_unknown_country_is_refused_when_countries_are_limited() {
        let dir = tempfile::tempdir().unwrap();
        let s = acme(Some(&db(&dir)), "login_countries = [\"JP\"]\n");
        let t = &s.tenants[0];
        let r = s.check_login(t, "205", ip("10.0.0.1")).unwrap_err();
        assert_eq!((r.kind, r.country), (RefusalKind::UnknownCountry, None));
        assert_eq!(
            r.to_string(),
            "login to ext 205 from 10.0.0.1 (country unknown) refused: ext 205 may log in only from JP (limit of tenant acme); a source whose country the geo database does not know is refused"
        );
        // The same limits checked with no database at hand: refused too, and said why.
        let r = t.check_login("205", ip("127.0.0.1"), None).unwrap_err();
        assert_eq!(r.kind, RefusalKind::NoGeoDatabase);
        assert!(
            r.to_string().contains("(country unknown: no geo database)"),
            "{r}"
        );
    }

    #[test]
    fn limits_apply_only_with_a_limit_or_a_database() {
        let dir = tempfile::tempdir().unwrap();
        let none = acme(None, "");
        assert!(!none.limits_apply(&none.tenants[0]));
        assert!(
            none.check_login(&none.tenants[0], "205", ip("203.0.113.9"))
                .is_ok()
        );
        assert_eq!(none.country_of(ip("127.0.0.9")), None);
        let nets = acme(None, "login_networks = [\"192.0.2.0/24\"]\n");
        assert!(nets.limits_apply(&nets.tenants[0]));
        let geo = acme(Some(&db(&dir)), "");
        assert!(
            geo.limits_apply(&geo.tenants[0]),
            "the country goes with every login"
        );
        assert_eq!(geo.country_of(ip("127.0.0.9")).unwrap().as_str(), "SL");
    }
}
