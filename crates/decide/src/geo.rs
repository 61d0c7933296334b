//! Where a login may come from: the country of an address, read from a MaxMind-format database the operator
//! supplies (`[geo] database`, GeoLite2-Country or -City), and the login limits of each tenant and account
//! (`login_networks`, `login_countries`) that the proxy checks on access-side REGISTER/INVITE from untrusted
//! sources. They exist because the 2015 attacker logged in with the vendor's default password from abroad and
//! never failed a login: counting failures cannot see that, where it came from can.

pub mod testdb;

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::tenant::{Network, Tenant};

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
