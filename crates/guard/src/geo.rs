//! Reading `[geo]` and the tenants' login limits from the guard's TOML. The database, countries and the
//! limits themselves live in the decision layer ([`decide::geo`]), re-exported here.

pub use decide::geo::*;

use std::net::IpAddr;
use std::ops::Range;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use crate::config::{Network, Settings, Tenant};

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
        assert_eq!(login.tenant.countries, vec![Country::parse("JP").unwrap()]);
        let (r205, scope) = login.rule_for("206");
        assert_eq!(scope, LimitScope::Account);
        assert_eq!(r205.networks, nets, "networks left out are the tenant's");
        assert_eq!(r205.countries, vec![Country::parse("SL").unwrap()]);
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
