//! The geo database: what `geo::testdb` writes, the `maxminddb` crate reads (so tests and demos can give the
//! guard made-up countries); a missing, corrupt or non-country database is refused when it is opened and
//! located in the configuration; a database replaced on disk is picked up by a reload, and a broken
//! replacement leaves the old one in use.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::IpAddr;
use std::path::Path;

use guard::Settings;
use guard::geo::testdb::{self, Entry};
use guard::geo::{GeoDb, GeoError};
use proptest::prelude::*;

/// Counts the allocations of the current thread, to show that a lookup makes none.
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is passed on to the system allocator unchanged; the count is a const-initialised
// thread-local without a destructor, so touching it never allocates or re-enters the allocator.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's layout is passed on as it came.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Deliberately listed most specific first: the order of entries must not matter.
const ENTRIES: &[(&str, &str)] = &[
    ("127.0.0.9/32", "SL"),
    ("2001:db8::/32", "US"),
    ("127.0.0.0/24", "JP"),
    ("::1/128", "JP"),
    ("2001:db8:5::/48", "KR"),
];

#[test]
fn the_maxminddb_crate_reads_what_the_writer_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("country.mmdb");
    testdb::write(&path, ENTRIES).unwrap();

    let reader = maxminddb::Reader::open_readfile(&path).unwrap();
    reader.verify().unwrap();
    assert_eq!(reader.metadata().database_type, testdb::DATABASE_TYPE);
    assert_eq!(reader.metadata().ip_version, 6);
    let iso = |a: &str| -> Option<String> {
        let found = reader.lookup(ip(a)).unwrap();
        let c: Option<maxminddb::geoip2::Country> = found.decode().unwrap();
        c.and_then(|c| c.country.iso_code.map(str::to_owned))
    };
    assert_eq!(iso("127.0.0.1").as_deref(), Some("JP"));
    assert_eq!(iso("127.0.0.255").as_deref(), Some("JP"));
    assert_eq!(
        iso("127.0.0.9").as_deref(),
        Some("SL"),
        "more specific wins"
    );
    assert_eq!(iso("127.0.0.8").as_deref(), Some("JP"));
    assert_eq!(iso("127.0.0.10").as_deref(), Some("JP"));
    assert_eq!(iso("::1").as_deref(), Some("JP"));
    assert_eq!(iso("2001:db8:ffff::1").as_deref(), Some("US"));
    assert_eq!(iso("2001:db8:5::1").as_deref(), Some("KR"));
    assert_eq!(iso("127.0.1.0"), None);
    assert_eq!(iso("10.0.0.1"), None);
    assert_eq!(iso("::2"), None);
    assert_eq!(iso("2001:db9::1"), None);
    assert!(!reader.lookup(ip("8.8.8.8")).unwrap().has_data());

    let db = GeoDb::open(&path).unwrap();
    let cc = |a: &str| db.country(ip(a)).map(|c| c.as_str().to_owned());
    assert_eq!(cc("127.0.0.1").as_deref(), Some("JP"));
    assert_eq!(cc("127.0.0.9").as_deref(), Some("SL"));
    assert_eq!(
        cc("::ffff:127.0.0.9").as_deref(),
        Some("SL"),
        "IPv4-mapped looked up as IPv4"
    );
    assert_eq!(cc("::ffff:127.0.0.1").as_deref(), Some("JP"));
    assert_eq!(cc("::1").as_deref(), Some("JP"));
    assert_eq!(cc("2001:db8::7").as_deref(), Some("US"));
    assert_eq!(cc("10.0.0.1"), None);
    assert_eq!(cc("::ffff:10.0.0.1"), None);
    assert_eq!(cc("2001:db9::1"), None);
}

#[test]
fn a_lookup_allocates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("country.mmdb");
    testdb::write(&path, ENTRIES).unwrap();
    let db = GeoDb::open(&path).unwrap();
    let addrs = [
        ip("127.0.0.9"),
        ip("::ffff:127.0.0.1"),
        ip("2001:db8:5::1"),
        ip("10.0.0.1"),
    ];
    let probe = allocations();
    drop(std::hint::black_box(vec![0u8; 8]));
    assert!(allocations() > probe, "the counter sees allocations");
    let before = allocations();
    let mut found = 0;
    for _ in 0..100 {
        for a in addrs {
            found += usize::from(db.country(a).is_some());
        }
    }
    let made = allocations() - before;
    assert_eq!(found, 300);
    assert_eq!(made, 0, "{made} allocations in 400 lookups");
}

#[test]
fn the_same_entries_give_the_same_bytes_in_any_order() {
    let mut reversed = ENTRIES.to_vec();
    reversed.reverse();
    let entries = |list: &[(&'static str, &'static str)]| -> Vec<Entry<'static>> {
        list.iter()
            .map(|&(network, cc)| Entry {
                network,
                country: Some(cc),
                registered_country: Some(cc),
            })
            .collect()
    };
    let a = testdb::build(&entries(ENTRIES), testdb::DATABASE_TYPE).unwrap();
    let b = testdb::build(&entries(&reversed), testdb::DATABASE_TYPE).unwrap();
    assert!(a == b, "the order of entries changed the bytes");
    assert!(testdb::write(Path::new("/nonexistent/x.mmdb"), &[("10.0.0.0/33", "JP")]).is_err());
}

#[test]
fn registered_country_answers_when_country_is_absent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("country.mmdb");
    testdb::write_entries(
        &path,
        &[
            Entry {
                network: "192.0.2.0/24",
                country: None,
                registered_country: Some("NL"),
            },
            Entry {
                network: "198.51.100.0/24",
                country: Some("DE"),
                registered_country: Some("NL"),
            },
            Entry {
                network: "203.0.113.0/24",
                country: None,
                registered_country: None,
            },
        ],
    )
    .unwrap();
    let db = GeoDb::open(&path).unwrap();
    assert_eq!(db.country(ip("192.0.2.1")).unwrap().as_str(), "NL");
    assert_eq!(db.country(ip("198.51.100.1")).unwrap().as_str(), "DE");
    assert_eq!(
        db.country(ip("203.0.113.1")),
        None,
        "a record without a country"
    );
}

#[test]
fn whole_address_spaces_can_be_given_a_country() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("country.mmdb");
    testdb::write(
        &path,
        &[("0.0.0.0/0", "JP"), ("127.0.0.9", "SL"), ("::/0", "US")],
    )
    .unwrap();
    let db = GeoDb::open(&path).unwrap();
    let cc = |a: &str| db.country(ip(a)).map(|c| c.as_str().to_owned());
    assert_eq!(cc("8.8.8.8").as_deref(), Some("JP"));
    assert_eq!(cc("127.0.0.9").as_deref(), Some("SL"));
    assert_eq!(cc("2001:db8::1").as_deref(), Some("US"));
}

#[test]
fn missing_corrupt_and_non_country_databases_are_refused_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.mmdb");
    let e = GeoDb::open(&missing).unwrap_err();
    assert!(matches!(e, GeoError::Read { .. }), "{e}");
    assert!(
        e.to_string().contains("cannot read the geo database"),
        "{e}"
    );

    let garbage = dir.path().join("garbage.mmdb");
    std::fs::write(&garbage, b"not a database at all").unwrap();
    let e = GeoDb::open(&garbage).unwrap_err();
    assert!(matches!(e, GeoError::Invalid { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("not a usable MaxMind-format database"),
        "{e}"
    );

    // A good file cut short in its data section, and one with the search tree overwritten.
    let good = testdb::build(
        &[Entry {
            network: "127.0.0.0/24",
            country: Some("JP"),
            registered_country: Some("JP"),
        }],
        testdb::DATABASE_TYPE,
    )
    .unwrap();
    let marker = good
        .windows(14)
        .position(|w| w == b"\xAB\xCD\xEFMaxMind.com")
        .unwrap();
    let mut cut = good[..marker - 10].to_vec();
    cut.extend_from_slice(&good[marker..]);
    let cut_path = dir.path().join("cut.mmdb");
    std::fs::write(&cut_path, &cut).unwrap();
    assert!(matches!(
        GeoDb::open(&cut_path),
        Err(GeoError::Invalid { .. })
    ));
    let mut scribbled = good.clone();
    for b in &mut scribbled[..24] {
        *b = 0xff;
    }
    let scribbled_path = dir.path().join("scribbled.mmdb");
    std::fs::write(&scribbled_path, &scribbled).unwrap();
    assert!(matches!(
        GeoDb::open(&scribbled_path),
        Err(GeoError::Invalid { .. })
    ));

    let asn = dir.path().join("asn.mmdb");
    std::fs::write(&asn, testdb::build(&[], "GeoLite2-ASN").unwrap()).unwrap();
    let e = GeoDb::open(&asn).unwrap_err();
    assert!(matches!(e, GeoError::NoCountries { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("\"GeoLite2-ASN\" database, which holds no countries"),
        "{e}"
    );
}

#[test]
fn check_config_locates_a_missing_or_corrupt_geo_database() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("guard.toml");
    let text = "[[listen]]\naddress = \"127.0.0.1:5060\"\n[pbx]\naddress = \"127.0.0.2:5070\"\n\
                [geo]\ndatabase = \"GeoLite2-Country.mmdb\"\n\
                [[tenant]]\nname = \"acme\"\nlogin_countries = [\"JP\"]\n";
    std::fs::write(&config, text).unwrap();
    let e = Settings::load(&config).unwrap_err();
    assert_eq!(e.0.len(), 1, "no second error about login_countries: {e}");
    let line = e.0[0].to_string();
    assert!(
        line.starts_with(&format!(
            "{}:6:12: geo.database: cannot read the geo database ",
            config.display()
        )),
        "{line}"
    );
    assert!(line.contains("GeoLite2-Country.mmdb"), "{line}");

    // A relative path is read from the configuration file's folder.
    std::fs::write(dir.path().join("GeoLite2-Country.mmdb"), b"\x00garbage").unwrap();
    let e = Settings::load(&config).unwrap_err();
    assert!(e.0[0].to_string().contains(":6:12: geo.database: "), "{e}");
    assert!(
        e.0[0]
            .message
            .contains("not a usable MaxMind-format database"),
        "{e}"
    );

    testdb::write(&dir.path().join("GeoLite2-Country.mmdb"), ENTRIES).unwrap();
    let s = Settings::load(&config).unwrap();
    assert_eq!(s.country_of(ip("127.0.0.9")).unwrap().as_str(), "SL");
}

#[test]
fn a_replaced_database_is_reloaded_and_a_broken_one_leaves_the_old_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("country.mmdb");
    testdb::write(&path, &[("127.0.0.0/24", "JP")]).unwrap();
    let mut db = GeoDb::open(&path).unwrap();
    assert!(!db.changed_on_disk());
    assert!(!db.reload_if_changed().unwrap());
    assert_eq!(db.country(ip("127.0.0.9")).unwrap().as_str(), "JP");

    // A new edition (a different size, so the change shows even where file times are coarse).
    testdb::write(&path, &[("127.0.0.0/24", "JP"), ("127.0.0.9", "SL")]).unwrap();
    assert!(db.changed_on_disk());
    assert!(db.reload_if_changed().unwrap());
    assert_eq!(db.country(ip("127.0.0.9")).unwrap().as_str(), "SL");
    assert!(!db.changed_on_disk());

    // Half-copied: the reload fails and the database in use answers as before.
    std::fs::write(&path, b"\xAB\xCD\xEFMaxMind.com").unwrap();
    assert!(db.reload_if_changed().is_err());
    assert!(db.reload().is_err());
    assert_eq!(db.country(ip("127.0.0.9")).unwrap().as_str(), "SL");
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(db.reload(), Err(GeoError::Read { .. })));
    assert_eq!(db.country(ip("127.0.0.1")).unwrap().as_str(), "JP");
}

const CODES: [&str; 4] = ["JP", "SL", "US", "KR"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random overlapping IPv4 networks inside 10.0.0.0/8: every address gets the country of the most
    /// specific network that holds it (the later of two identical ones), and none outside all of them.
    #[test]
    fn lookups_give_the_most_specific_entry(
        nets in prop::collection::vec((any::<u32>(), 8u8..=32, 0usize..4), 1..12),
        probes in prop::collection::vec(any::<u32>(), 16),
    ) {
        let nets: Vec<(u32, u8, &str)> = nets
            .into_iter()
            .map(|(a, p, c)| ((a & 0x00ff_ffff) | 0x0a00_0000, p, CODES[c]))
            .collect();
        let texts: Vec<String> = nets
            .iter()
            .map(|(a, p, _)| format!("{}/{p}", std::net::Ipv4Addr::from(*a)))
            .collect();
        let entries: Vec<(&str, &str)> = texts
            .iter()
            .zip(&nets)
            .map(|(t, (_, _, c))| (t.as_str(), *c))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.mmdb");
        testdb::write(&path, &entries).unwrap();
        let db = GeoDb::open(&path).unwrap();
        let mask = |p: u8| u32::MAX.checked_shl(32 - u32::from(p)).unwrap_or(0);
        let addrs = nets
            .iter()
            .map(|(a, _, _)| *a)
            .chain(probes.iter().map(|p| (p & 0x00ff_ffff) | 0x0a00_0000))
            .chain(probes.iter().copied());
        for a in addrs {
            let mut best: Option<(u8, &str)> = None;
            for (n, p, c) in &nets {
                if n & mask(*p) == a & mask(*p) && best.is_none_or(|(bp, _)| *p >= bp) {
                    best = Some((*p, c));
                }
            }
            let got = db.country(IpAddr::V4(a.into()));
            prop_assert_eq!(got.map(|c| c.as_str().to_owned()), best.map(|(_, c)| c.to_owned()), "{}", std::net::Ipv4Addr::from(a));
        }
    }
}
