//! Loading of the reference SIP messages in ../shared/testdata/sip (never copied into the repo).
#![allow(dead_code)]

use std::path::PathBuf;

pub fn testdata() -> Option<PathBuf> {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/testdata/sip"
    ));
    if p.join("classes.tsv").is_file() {
        Some(p)
    } else {
        eprintln!("SKIPPED: reference data {} is absent", p.display());
        None
    }
}

/// (file, corpus, class, expected) rows of classes.tsv.
pub fn classes(dir: &std::path::Path) -> Vec<(String, String, String, String)> {
    let text = std::fs::read_to_string(dir.join("classes.tsv")).expect("classes.tsv readable");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (
                f[0].to_string(),
                f[1].to_string(),
                f[2].to_string(),
                f[3].to_string(),
            )
        })
        .collect()
}

/// The bytes of a reference message, fed as its RFC means it: RFC 5118 messages get CRLF line endings, a
/// terminated header block and a Content-Length equal to the real body length (see testdata README).
pub fn load(dir: &std::path::Path, file: &str, corpus: &str) -> Vec<u8> {
    if corpus == "rfc4475" {
        return std::fs::read(dir.join("rfc4475").join(format!("{file}.dat"))).expect("readable");
    }
    let raw = std::fs::read(dir.join("rfc5118").join(file)).expect("readable");
    let text = String::from_utf8(raw).expect("RFC 5118 messages are text");
    let (head, body) = match text.find("\n\n") {
        Some(i) => (&text[..i], &text[i + 2..]),
        None => (text.trim_end_matches('\n'), ""),
    };
    let body = body.replace('\n', "\r\n");
    let mut out = String::new();
    for line in head.lines() {
        if line.to_ascii_lowercase().starts_with("content-length") {
            out.push_str(&format!("Content-Length: {}\r\n", body.len()));
        } else {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("\r\n");
    out.push_str(&body);
    out.into_bytes()
}
