//! A small writer of MaxMind DB files, **for tests and demos only**: it lets them give the guard a country
//! database that says what they need ("127.0.0.9 is in SL") without shipping or downloading real
//! geolocation data. It writes the public format (<https://maxmind.github.io/MaxMind-DB/>, version 2.0): an
//! IPv6 search tree with IPv4 at `::/96`, 24-bit records, 16 zero bytes, the data section (one map per
//! distinct answer, `{"country": {"iso_code": ..}, "registered_country": {"iso_code": ..}}`, the shape of
//! GeoLite2-Country), then the metadata marker and map. It is not meant for large databases: the tree is
//! built in memory and 24-bit records hold at most about 16 million nodes and data bytes together.

use std::io;
use std::net::IpAddr;
use std::path::Path;

use crate::tenant::Network;

/// `database_type` written in the metadata.
pub const DATABASE_TYPE: &str = "Tollguard-Test-Country";

/// One network and what the database says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// `"127.0.0.0/24"`, `"2001:db8::/32"` or a single address.
    pub network: &'a str,
    /// `country.iso_code`.
    pub country: Option<&'a str>,
    /// `registered_country.iso_code` (GeoLite2 has it alone for some anonymous and satellite networks).
    pub registered_country: Option<&'a str>,
}

/// Writes a database that maps each network to a country (`country` and `registered_country` both set),
/// e.g. `write(path, &[("127.0.0.0/24", "JP"), ("127.0.0.9/32", "SL"), ("::1/128", "JP")])`. A more
/// specific network wins over a wider one wherever they overlap, whatever their order; of two identical
/// networks the later wins. Addresses outside every network are not in the database.
pub fn write(path: &Path, entries: &[(&str, &str)]) -> io::Result<()> {
    let entries: Vec<Entry<'_>> = entries
        .iter()
        .map(|&(network, cc)| Entry {
            network,
            country: Some(cc),
            registered_country: Some(cc),
        })
        .collect();
    write_entries(path, &entries)
}

/// Writes a database from entries that may set the two country fields separately.
pub fn write_entries(path: &Path, entries: &[Entry<'_>]) -> io::Result<()> {
    std::fs::write(path, build(entries, DATABASE_TYPE)?)
}

/// The bytes of a database of the given `database_type`.
pub fn build(entries: &[Entry<'_>], database_type: &str) -> io::Result<Vec<u8>> {
    // Each network as its first `prefix` bits of a 128-bit IPv6 address; IPv4 sits under ::/96.
    type Answer<'e> = (Option<&'e str>, Option<&'e str>);
    let mut wanted: Vec<(u32, u128, Answer<'_>)> = Vec::with_capacity(entries.len());
    for e in entries {
        let n = Network::parse(e.network).ok_or_else(|| {
            invalid(format!(
                "\"{}\" is not a network such as \"192.0.2.0/24\"",
                e.network
            ))
        })?;
        let (bits, prefix) = match n.addr {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), u32::from(n.prefix) + 96),
            IpAddr::V6(v6) => (u128::from(v6), u32::from(n.prefix)),
        };
        let host_bits = 128 - prefix;
        let bits = bits
            .checked_shr(host_bits)
            .unwrap_or(0)
            .checked_shl(host_bits)
            .unwrap_or(0);
        wanted.push((prefix, bits, (e.country, e.registered_country)));
    }
    // Wider networks first: a more specific one then splits the wider one's leaf and overrides its part.
    // Sorting by address too (stable, so the later of two identical networks still wins) makes the bytes
    // depend only on what the entries say, not on their order.
    wanted.sort_by_key(|&(prefix, bits, _)| (prefix, bits));
    let mut answers: Vec<Answer<'_>> = Vec::new();
    let mut nets: Vec<(u128, u32, usize)> = Vec::with_capacity(wanted.len());
    for (prefix, bits, answer) in wanted {
        let index = match answers.iter().position(|a| *a == answer) {
            Some(i) => i,
            None => {
                answers.push(answer);
                answers.len() - 1
            }
        };
        nets.push((bits, prefix, index));
    }

    let mut tree: Vec<[Record; 2]> = vec![[Record::Empty; 2]];
    for (bits, prefix, answer) in nets {
        if prefix == 0 {
            tree[0] = [Record::Data(answer); 2];
            continue;
        }
        let bit = |depth: u32| ((bits >> (127 - depth)) & 1) as usize;
        let mut node = 0;
        for depth in 0..prefix - 1 {
            let side = bit(depth);
            node = match tree[node][side] {
                Record::Node(next) => next,
                leaf => {
                    // Empty or a wider network's answer: both halves start out as that leaf.
                    tree.push([leaf; 2]);
                    let next = tree.len() - 1;
                    tree[node][side] = Record::Node(next);
                    next
                }
            };
        }
        tree[node][bit(prefix - 1)] = Record::Data(answer);
    }

    let mut data = Vec::new();
    let mut offsets = Vec::with_capacity(answers.len());
    for (country, registered) in &answers {
        offsets.push(data.len());
        let fields: Vec<(&str, &str)> =
            [("country", *country), ("registered_country", *registered)]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect();
        control(&mut data, MAP, fields.len());
        for (key, iso) in fields {
            string(&mut data, key);
            control(&mut data, MAP, 1);
            string(&mut data, "iso_code");
            string(&mut data, iso);
        }
    }

    let node_count = tree.len();
    let mut out = Vec::with_capacity(node_count * 6 + 16 + data.len() + 300);
    for node in &tree {
        for record in node {
            let value = match *record {
                Record::Node(n) => n,
                Record::Empty => node_count,
                Record::Data(a) => node_count + 16 + offsets.get(a).copied().unwrap_or(0),
            };
            if value > 0x00FF_FFFF {
                return Err(invalid(
                    "too many networks for 24-bit records (this writer is for small test databases)"
                        .to_owned(),
                ));
            }
            out.extend_from_slice(&(value as u32).to_be_bytes()[1..]);
        }
    }
    out.extend_from_slice(&[0; 16]);
    out.extend_from_slice(&data);
    out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
    let node_count = u32::try_from(node_count).map_err(|_| invalid("too many nodes".into()))?;
    control(&mut out, MAP, 9);
    string(&mut out, "node_count");
    uint(&mut out, UINT32, u64::from(node_count));
    string(&mut out, "record_size");
    uint(&mut out, UINT16, 24);
    string(&mut out, "ip_version");
    uint(&mut out, UINT16, 6);
    string(&mut out, "database_type");
    string(&mut out, database_type);
    string(&mut out, "languages");
    control(&mut out, ARRAY, 1);
    string(&mut out, "en");
    string(&mut out, "binary_format_major_version");
    uint(&mut out, UINT16, 2);
    string(&mut out, "binary_format_minor_version");
    uint(&mut out, UINT16, 0);
    // A fixed build time: the same entries always give the same bytes.
    string(&mut out, "build_epoch");
    uint(&mut out, UINT64, 0);
    string(&mut out, "description");
    control(&mut out, MAP, 1);
    string(&mut out, "en");
    string(
        &mut out,
        "tollguard test and demo database, not real geolocation",
    );
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Record {
    Empty,
    Node(usize),
    /// Index of an answer in the data section.
    Data(usize),
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

// Data types of the format (types above 7 are "extended": a 0 type in the control byte, then type - 7).
const STRING: u8 = 2;
const UINT16: u8 = 5;
const UINT32: u8 = 6;
const MAP: u8 = 7;
const UINT64: u8 = 9;
const ARRAY: u8 = 11;

/// Control byte(s): 3 bits of type, 5 bits of size; sizes from 29 on continue in 1, 2 or 3 more bytes.
fn control(out: &mut Vec<u8>, kind: u8, size: usize) {
    let (short, more): (u8, Vec<u8>) = if size < 29 {
        (size as u8, Vec::new())
    } else if size < 29 + 256 {
        (29, vec![(size - 29) as u8])
    } else if size < 285 + 65_536 {
        (30, ((size - 285) as u16).to_be_bytes().to_vec())
    } else {
        (31, ((size - 65_821) as u32).to_be_bytes()[1..].to_vec())
    };
    if kind <= 7 {
        out.push((kind << 5) | short);
    } else {
        out.push(short);
        out.push(kind - 7);
    }
    out.extend_from_slice(&more);
}

fn string(out: &mut Vec<u8>, s: &str) {
    control(out, STRING, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// Unsigned integers take as many big-endian bytes as they need (none for 0).
fn uint(out: &mut Vec<u8>, kind: u8, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = (v.leading_zeros() / 8) as usize;
    let used = bytes.get(skip..).unwrap_or(&[]);
    control(out, kind, used.len());
    out.extend_from_slice(used);
}
