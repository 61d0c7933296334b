//! Property tests: no input makes a reader panic, and records written as Asterisk Master.csv read back equal.

use cdr::{AsteriskCsvWriter, CallRecord, CdrFormat, CdrReader, Disposition, ReadOptions};
use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

fn drain(data: &[u8], opts: ReadOptions) -> (usize, usize) {
    let Ok(mut reader) = CdrReader::new(data, opts) else {
        return (0, 0);
    };
    let (mut ok, mut err) = (0, 0);
    while let Some(item) = reader.next_ref() {
        match item {
            Ok(_) => ok += 1,
            Err(_) => err += 1,
        }
    }
    (ok, err)
}

fn every_format() -> Vec<ReadOptions> {
    let mut v = vec![ReadOptions::default()];
    for f in CdrFormat::ALL {
        if f != CdrFormat::GenericCsv {
            v.push(ReadOptions {
                max_line_bytes: 256,
                max_json_bytes: 512,
                ..ReadOptions::for_format(f)
            });
        }
    }
    v
}

/// Text that resembles CDRs more than random bytes do, to reach deeper into the parsers.
fn cdr_like() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("\"".to_owned()),
            Just(",".to_owned()),
            Just("\n".to_owned()),
            Just("\t".to_owned()),
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just("\"2025-06-02 09:15:02\"".to_owned()),
            Just("1749205805".to_owned()),
            Just("INVITE".to_owned()),
            Just("BYE".to_owned()),
            Just("200".to_owned()),
            Just("callid".to_owned()),
            Just("method".to_owned()),
            "[a-z0-9 :.%-]{0,6}",
        ],
        0..120,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        for opts in every_format() {
            let _ = drain(&data, opts);
        }
    }

    #[test]
    fn cdr_like_text_never_panics(text in cdr_like()) {
        for opts in every_format() {
            let _ = drain(text.as_bytes(), opts);
        }
    }

    #[test]
    fn a_good_line_survives_any_broken_neighbour(junk in "[^\n]{0,200}") {
        let good = "\"\",\"201\",\"0312345678\",\"from-internal\",\"<201>\",\"PJSIP/201-00000001\",\"\",\"Dial\",\"x\",\"2025-06-02 09:15:02\",,\"2025-06-02 09:15:30\",28,0,\"NO ANSWER\",\"DOCUMENTATION\"";
        let data = format!("{good}\n{junk}\n{good}\n");
        let mut reader = CdrReader::new(data.as_bytes(), ReadOptions::for_format(CdrFormat::AsteriskCsv)).unwrap();
        let mut good_lines = Vec::new();
        while let Some(item) = reader.next_ref() {
            if let Ok(r) = item {
                good_lines.push(r.line);
            }
        }
        prop_assert!(good_lines.contains(&1) && good_lines.contains(&3), "{good_lines:?}");
    }
}

fn text() -> impl Strategy<Value = String> {
    // Anything but newlines (Asterisk does not escape them) and NUL; quotes and commas included on purpose.
    "[^\n\r\u{0}]{0,24}"
}

fn number() -> impl Strategy<Value = String> {
    "[0-9#*+]{1,16}"
}

prop_compose! {
    fn record()(
        start in 1_600_000_000i64..1_900_000_000,
        ring in 0u32..120,
        talk in prop::option::of(0u32..7200),
        caller in "[0-9]{3,11}",
        name in "[^\n\r\u{0}\"<]{0,16}",
        dialed in number(),
        ext in "[0-9]{3,4}",
        context in text(),
        last_data in text(),
        userfield in text(),
        uniqueid in "[0-9]{10}\\.[0-9]{1,6}",
        disposition in prop_oneof![
            Just(Disposition::NoAnswer), Just(Disposition::Busy), Just(Disposition::Failed), Just(Disposition::Congestion)
        ],
    ) -> CallRecord {
        let start = DateTime::<Utc>::from_timestamp(start, 0).unwrap();
        let mut r = CallRecord::empty(0, start);
        r.answer = talk.map(|_| start + Duration::seconds(i64::from(ring)));
        r.end = start + Duration::seconds(i64::from(ring + talk.unwrap_or(0)));
        r.duration_secs = ring + talk.unwrap_or(0);
        r.billable_secs = talk.unwrap_or(0);
        r.caller = caller;
        r.caller_name = name.trim().to_owned();
        r.dialed = dialed;
        r.account = ext.clone();
        r.channel = format!("PJSIP/{ext}-0000001a");
        r.dst_channel = "PJSIP/trunk-0000001b".into();
        r.context = context;
        r.last_app = "Dial".into();
        r.last_data = last_data;
        r.userfield = userfield;
        r.call_id = uniqueid.clone();
        r.linked_id = uniqueid;
        r.disposition = if talk.is_some() { Disposition::Answered } else { disposition };
        r.hangup_cause = r.disposition.as_asterisk().to_owned();
        r
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn asterisk_write_then_read_is_identity(
        records in prop::collection::vec(record(), 1..20),
        uniqueid in any::<bool>(),
        userfield in any::<bool>(),
        new_columns in any::<bool>(),
        tz in prop_oneof![Just(chrono_tz::Asia::Tokyo), Just(chrono_tz::UTC), Just(chrono_tz::Europe::London)],
    ) {
        let mut w = AsteriskCsvWriter::new(tz, uniqueid, userfield, new_columns);
        let mut text = String::new();
        for r in &records {
            w.format_line(r, &mut text);
        }
        let opts = ReadOptions {
            site_tz: tz,
            asterisk_columns: cdr::AsteriskColumns::Fixed { uniqueid, userfield, new_columns },
            ..ReadOptions::for_format(CdrFormat::AsteriskCsv)
        };
        let mut reader = CdrReader::new(text.as_bytes(), opts).unwrap();
        let mut i = 0;
        while let Some(item) = reader.next_ref() {
            let got = item.map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            let want = &records[i];
            i += 1;
            // DST: an ambiguous local time (London's repeated hour) reads as its earlier instant.
            let ambiguous = tz == chrono_tz::Europe::London;
            if !ambiguous {
                prop_assert_eq!(got.start, want.start);
                prop_assert_eq!(got.answer, want.answer);
                prop_assert_eq!(got.end, want.end);
            }
            prop_assert_eq!(got.line, i as u64);
            prop_assert_eq!(got.duration_secs, want.duration_secs);
            prop_assert_eq!(got.billable_secs, want.billable_secs);
            prop_assert_eq!(got.caller, want.caller.as_str());
            prop_assert_eq!(got.caller_name, want.caller_name.as_str());
            prop_assert_eq!(got.dialed, want.dialed.as_str());
            prop_assert_eq!(got.account, want.account.as_str());
            prop_assert_eq!(got.context, want.context.as_str());
            prop_assert_eq!(got.last_data, want.last_data.as_str());
            prop_assert_eq!(got.disposition, want.disposition);
            if userfield {
                prop_assert_eq!(got.userfield, want.userfield.as_str());
            }
            if uniqueid || new_columns {
                prop_assert_eq!(got.call_id, want.call_id.as_str());
            }
        }
        prop_assert_eq!(i, records.len());
    }
}
