//! Differential: the same bytes read as Asterisk `Master.csv` (and `cdr_custom`) through a large `BufReader`
//! (every line lies whole in the buffer and is lent from it: the bitmask fast path, which may look at the bytes
//! after the line), a medium one (lines cut by the buffer's end: some lent, some copied) and one of 1 to 7 bytes
//! (no line is ever whole in the buffer: every line takes the copying path). All three must yield the same
//! records (`to_owned_record`) and the same line errors (line numbers and kinds), in the same order.
//!
//! The first byte is a control byte: how many valid lines of `cdr::synth`'s benchmark mix come first (so the
//! fuzzer reaches the fast path after the first line at once), the tiny and medium capacities, the format, the
//! optional-column setting and the line limit.
#![no_main]
use std::io::BufReader;
use std::sync::OnceLock;

use cdr::{AsteriskColumns, CallRecord, CdrFormat, CdrLineError, CdrReader, ReadOptions};
use libfuzzer_sys::fuzz_target;

type Item = Result<CallRecord, CdrLineError>;

/// Valid `Master.csv` lines written by the scenario generator, one `Vec` per line (with its newline).
fn synth_lines() -> &'static [Vec<u8>] {
    static LINES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    LINES.get_or_init(|| {
        let mut text = Vec::new();
        if cdr::synth::write_bench_mix(7, 8, &mut text).is_err() {
            return Vec::new();
        }
        text.split_inclusive(|&b| b == b'\n')
            .map(<[u8]>::to_vec)
            .collect()
    })
}

fn read(data: &[u8], capacity: usize, opts: ReadOptions) -> Vec<Item> {
    let Ok(mut reader) = CdrReader::new(BufReader::with_capacity(capacity, data), opts) else {
        return Vec::new();
    };
    let bound = data.iter().filter(|&&b| b == b'\n').count() + 2;
    let mut out = Vec::new();
    while let Some(item) = reader.next_ref() {
        out.push(item.map(|r| r.to_owned_record()));
        assert!(out.len() <= bound, "more items than lines");
    }
    out
}

fn first_difference(a: &[Item], b: &[Item]) -> Option<usize> {
    (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i))
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let lines = synth_lines();
    let prefix = usize::from(control & 3).min(lines.len());
    let mut input: Vec<u8> = lines.iter().take(prefix).flatten().copied().collect();
    input.extend_from_slice(rest);

    let tiny = 1 + usize::from(control >> 2) % 7;
    let medium = 8 + usize::from(control) * 3;
    let format = if control & 0x20 != 0 {
        CdrFormat::AsteriskCustom
    } else {
        CdrFormat::AsteriskCsv
    };
    let asterisk_columns = match (control >> 6) & 3 {
        0 | 1 => AsteriskColumns::Auto,
        2 => AsteriskColumns::Fixed {
            uniqueid: true,
            userfield: true,
            new_columns: false,
        },
        _ => AsteriskColumns::Fixed {
            uniqueid: false,
            userfield: false,
            new_columns: false,
        },
    };
    let opts = || ReadOptions {
        asterisk_columns,
        max_line_bytes: if control & 0x40 != 0 && control & 0x80 == 0 {
            200
        } else {
            64 * 1024
        },
        ..ReadOptions::for_format(format)
    };

    let lent = read(&input, 1 << 16, opts());
    for capacity in [tiny, medium] {
        let copied = read(&input, capacity, opts());
        if let Some(i) = first_difference(&lent, &copied) {
            panic!(
                "item {i} differs between a {}-byte buffer and a {capacity}-byte one:\nlent:   {:?}\ncopied: {:?}",
                1 << 16,
                lent.get(i),
                copied.get(i)
            );
        }
    }
});
