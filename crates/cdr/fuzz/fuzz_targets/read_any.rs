//! Arbitrary bytes read as a CDR file: once with the format auto-detected, then with each format forced.
//! Invariants: no panic; every call to `next_ref` ends (the input is finite, so the number of items yielded is
//! bounded by the number of lines); `ReadStats` counts what was yielded; the owned iterator yields what
//! `next_ref` lends. Memory stays bounded by the small line limits chosen here (libFuzzer's `-rss_limit_mb`).
//!
//! The first byte is a control byte: BufReader capacity, line limits and Kamailio's open-call limit.
#![no_main]
use std::io::BufReader;

use cdr::{
    CallRecord, CdrFormat, CdrLineError, CdrReader, ColumnRef, GenericColumns, GenericCsvMapping,
    ReadOptions,
};
use libfuzzer_sys::fuzz_target;

type Item = Result<CallRecord, CdrLineError>;

/// Generic CSV mappings: by index without a header, by name with one.
fn mapping(by_name: bool) -> GenericCsvMapping {
    let col = |i: usize, name: &str| {
        Some(if by_name {
            ColumnRef::Name(name.to_owned())
        } else {
            ColumnRef::Index(i)
        })
    };
    GenericCsvMapping {
        delimiter: if by_name { ';' } else { ',' },
        has_header: by_name,
        time_zone: None,
        columns: GenericColumns {
            start: col(0, "start"),
            dialed: col(1, "dst"),
            call_id: col(2, "id"),
            answer: col(3, "answer"),
            end: col(4, "end"),
            duration: col(5, "duration"),
            billsec: col(6, "billsec"),
            caller: col(7, "src"),
            disposition: col(8, "disposition"),
            source_ip: col(9, "ip"),
            ..GenericColumns::default()
        },
    }
}

fn read(data: &[u8], capacity: usize, opts: ReadOptions) -> Vec<Item> {
    let Ok(mut reader) = CdrReader::new(BufReader::with_capacity(capacity, data), opts) else {
        return Vec::new();
    };
    // Each item comes from at least one line (Kamailio may emit held calls at the end, one per INVITE row).
    let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
    let bound = 2 * lines + 2;
    let mut out = Vec::new();
    while let Some(item) = reader.next_ref() {
        out.push(item.map(|r| r.to_owned_record()));
        assert!(
            out.len() <= bound,
            "more items than lines: {} > {bound}",
            out.len()
        );
    }
    // The end is sticky.
    assert!(reader.next_ref().is_none());
    let stats = reader.stats();
    let errors = out.iter().filter(|i| i.is_err()).count() as u64;
    assert_eq!(stats.errors, errors);
    assert_eq!(stats.records, out.len() as u64 - errors);
    // After a fatal error nothing more is yielded.
    if let Some(p) = out
        .iter()
        .position(|i| i.as_ref().is_err_and(CdrLineError::is_fatal))
    {
        assert_eq!(p + 1, out.len(), "items after a fatal error");
    }
    out
}

fn read_owned(data: &[u8], capacity: usize, opts: ReadOptions) -> Vec<Item> {
    let Ok(reader) = CdrReader::new(BufReader::with_capacity(capacity, data), opts) else {
        return Vec::new();
    };
    let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
    reader.take(2 * lines + 3).collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, data)) = data.split_first() else {
        return;
    };
    let capacity = match control & 3 {
        0 => 8 * 1024,
        1 => 64 * 1024,
        2 => 1 + usize::from(control >> 2) % 16,
        _ => 1 + usize::from(control >> 2) * 4,
    };
    let opts = |format: Option<CdrFormat>| ReadOptions {
        format,
        generic: (format == Some(CdrFormat::GenericCsv)).then(|| mapping(control & 4 != 0)),
        max_line_bytes: if control & 8 != 0 { 64 } else { 4096 },
        max_json_bytes: if control & 16 != 0 { 64 } else { 16 * 1024 },
        max_open_calls: if control & 32 != 0 { 2 } else { 1000 },
        ..ReadOptions::default()
    };

    let auto = read(data, capacity, opts(None));
    assert_eq!(
        auto,
        read_owned(data, capacity, opts(None)),
        "iterator and next_ref differ"
    );
    for format in CdrFormat::ALL {
        read(data, capacity, opts(Some(format)));
    }
});
