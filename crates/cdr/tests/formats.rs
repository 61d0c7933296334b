//! Every reader against the hand-written fixtures in tests/fixtures (see tests/fixtures/README.md for what each
//! line is there to show).

use std::net::IpAddr;

use cdr::{
    AsteriskColumns, CallRecord, CdrFormat, CdrLineError, CdrLineErrorKind, CdrReader, Disposition,
    GenericCsvMapping, ReadOptions, detect_format,
};
use chrono::{DateTime, TimeZone, Utc};

fn jst(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Tokyo
        .with_ymd_and_hms(y, mo, d, h, mi, s)
        .unwrap()
        .with_timezone(&Utc)
}

fn read_bytes(data: &[u8], opts: ReadOptions) -> (Vec<CallRecord>, Vec<CdrLineError>) {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for item in CdrReader::new(data, opts).expect("options") {
        match item {
            Ok(r) => ok.push(r),
            Err(e) => errors.push(e),
        }
    }
    (ok, errors)
}

/// Reads through `next_ref` (the borrowed fast path) and returns owned copies, to check both paths agree.
fn read_ref(data: &[u8], opts: ReadOptions) -> (Vec<CallRecord>, Vec<CdrLineError>) {
    let mut reader = CdrReader::new(data, opts).expect("options");
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    while let Some(item) = reader.next_ref() {
        match item {
            Ok(r) => ok.push(r.to_owned_record()),
            Err(e) => errors.push(e),
        }
    }
    (ok, errors)
}

const MASTER_18: &[u8] = include_bytes!("fixtures/asterisk_master_18.csv");

#[test]
fn asterisk_master_18_columns() {
    assert_eq!(detect_format(MASTER_18), Some(CdrFormat::AsteriskCsv));
    let (calls, errors) = read_bytes(MASTER_18, ReadOptions::default());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(calls.len(), 6);

    let c = &calls[0];
    assert_eq!(c.line, 1);
    assert_eq!(c.call_id, "1748823302.1");
    assert_eq!(c.start, jst(2025, 6, 2, 9, 15, 2));
    assert_eq!(c.answer, Some(jst(2025, 6, 2, 9, 15, 9)));
    assert_eq!(c.end, jst(2025, 6, 2, 9, 18, 41));
    assert_eq!((c.duration_secs, c.billable_secs), (219, 212));
    assert_eq!(c.caller, "201");
    assert_eq!(c.caller_name, "Sato Hanako");
    assert_eq!(c.dialed, "0312345678");
    assert_eq!(
        c.account, "201",
        "no accountcode: the extension from PJSIP/201-00000001"
    );
    assert_eq!(c.disposition, Disposition::Answered);
    assert_eq!(c.context, "from-internal");
    assert_eq!(c.dst_channel, "PJSIP/ntt-trunk-00000002");
    assert_eq!(c.last_app, "Dial");
    assert_eq!(c.last_data, "PJSIP/0312345678@ntt-trunk,60,T");
    assert_eq!(c.tenant, None);

    let c = &calls[1];
    assert_eq!(c.answer, None, "unanswered: empty answer field");
    assert_eq!(c.disposition, Disposition::NoAnswer);
    assert_eq!(c.account, "205", "chan_sip channel SIP/205-0000001a");

    let c = &calls[2];
    assert_eq!(c.account, "sales", "accountcode wins over the channel");
    assert_eq!(
        c.caller_name, "Suzuki, Ichiro",
        "comma inside a quoted field"
    );
    assert_eq!(c.userfield, "campaign \"June\"", "doubled quotes collapse");
    assert_eq!(c.disposition, Disposition::Busy);

    assert_eq!(calls[3].context, "from-trunk");
    assert_eq!(calls[3].userfield, "inbound");
    assert_eq!(calls[4].disposition, Disposition::Failed);
    assert_eq!(calls[4].dst_channel, "");
    assert_eq!(calls[5].disposition, Disposition::Congestion);

    // The borrowed path gives the same records.
    let (by_ref, _) = read_ref(MASTER_18, ReadOptions::default());
    assert_eq!(by_ref, calls);
}

#[test]
fn asterisk_usegmtime_files_read_in_utc() {
    let opts = ReadOptions::default().with_time_zone("UTC").unwrap();
    let (calls, _) = read_bytes(MASTER_18, opts);
    assert_eq!(
        calls[0].start,
        Utc.with_ymd_and_hms(2025, 6, 2, 9, 15, 2).unwrap()
    );
}

#[test]
fn asterisk_column_sets_can_change_mid_file() {
    // Lines 1..8: 16, 17 (uniqueid), 17 (userfield), 18, 19, 20 (uniqueid), 20 (userfield), 21 columns.
    let data = include_bytes!("fixtures/asterisk_master_mixed_columns.csv");
    let (calls, errors) = read_bytes(data, ReadOptions::default());
    assert!(errors.is_empty(), "{errors:?}");
    let got: Vec<(&str, &str, &str)> = calls
        .iter()
        .map(|c| {
            (
                c.call_id.as_str(),
                c.userfield.as_str(),
                c.linked_id.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("", "", ""),
            ("1748823360.3", "", ""),
            ("", "customer 42", ""),
            ("1748823480.7", "customer 43", ""),
            ("1748823540.9", "", "1748823540.9"),
            ("1748823600.11", "", "1748823600.11"),
            ("1748823660.13", "legit", "1748823660.13"),
            ("1748823720.15", "legit", "1748823720.15"),
        ],
        "call_id falls back to linkedid when uniqueid is not logged"
    );
    assert!(
        calls
            .iter()
            .all(|c| c.billable_secs == 60 || c.billable_secs == 212)
    );
}

#[test]
fn asterisk_fixed_columns_reject_other_counts() {
    let data = include_bytes!("fixtures/asterisk_master_mixed_columns.csv");
    let opts = ReadOptions {
        asterisk_columns: AsteriskColumns::Fixed {
            uniqueid: true,
            userfield: true,
            new_columns: false,
        },
        ..ReadOptions::for_format(CdrFormat::AsteriskCsv)
    };
    let (calls, errors) = read_bytes(data, opts);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].line, 4);
    assert_eq!(errors.len(), 7);
}

#[test]
fn asterisk_broken_lines_are_reported_and_skipped() {
    let data = include_bytes!("fixtures/asterisk_master_broken.csv");
    for (calls, errors) in [
        read_bytes(data, ReadOptions::default()),
        read_ref(data, ReadOptions::default()),
    ] {
        let lines: Vec<u64> = calls.iter().map(|c| c.line).collect();
        assert_eq!(lines, vec![1, 7, 8, 10], "every good line is kept");
        let err: Vec<(u64, &CdrLineErrorKind)> = errors.iter().map(|e| (e.line, &e.kind)).collect();
        assert_eq!(err.len(), 5, "{err:?}");
        assert!(matches!(
            err[0],
            (2, CdrLineErrorKind::ColumnCount { found: 10, .. })
        ));
        assert!(matches!(
            err[1],
            (
                4,
                CdrLineErrorKind::BadTime {
                    column: "start",
                    ..
                }
            )
        ));
        assert!(matches!(
            err[2],
            (
                5,
                CdrLineErrorKind::BadNumber {
                    column: "duration",
                    ..
                }
            )
        ));
        assert!(matches!(
            err[3],
            (6, CdrLineErrorKind::UnterminatedQuote { column: 18 })
        ));
        assert!(matches!(
            err[4],
            (9, CdrLineErrorKind::ColumnCount { found: 1, .. })
        ));
        assert_eq!(
            calls[2].caller_name, "\u{FFFD}c\u{FFFD}\u{FFFD}",
            "invalid UTF-8 replaced, record kept"
        );
        assert_eq!(calls[2].dialed, "0312345674");
        assert!(errors.iter().all(|e| !e.is_fatal()));
    }
    let (_, errors) = read_bytes(data, ReadOptions::default());
    assert_eq!(
        errors[1].to_string(),
        "line 4: start: not a time: \"2025-06-02 25:17:00\"",
        "errors read as a sentence with the line number"
    );
}

#[test]
fn asterisk_header_row_from_an_export_is_skipped() {
    let mut data = b"accountcode,src,dst,dcontext,clid,channel,dstchannel,lastapp,lastdata,start,answer,end,duration,billsec,disposition,amaflags,uniqueid,userfield\n".to_vec();
    data.extend_from_slice(MASTER_18);
    assert_eq!(detect_format(&data), Some(CdrFormat::AsteriskCsv));
    let (calls, errors) = read_bytes(&data, ReadOptions::default());
    assert!(errors.is_empty());
    assert_eq!(calls.len(), 6);
    assert_eq!(calls[0].line, 2);
}

#[test]
fn asterisk_crlf_bom_and_missing_final_newline() {
    let mut data = b"\xEF\xBB\xBF".to_vec();
    data.extend_from_slice(
        &String::from_utf8_lossy(MASTER_18)
            .replace('\n', "\r\n")
            .into_bytes(),
    );
    data.truncate(data.len() - 2);
    let (calls, errors) = read_bytes(&data, ReadOptions::default());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(calls.len(), 6);
    assert_eq!(calls[5].call_id, "1749205860.9");
}

#[test]
fn asterisk_overlong_line_is_skipped_with_bounded_memory() {
    let mut data = MASTER_18.to_vec();
    data.extend(std::iter::repeat_n(b'x', 200_000));
    data.push(b'\n');
    data.extend_from_slice(MASTER_18);
    let (calls, errors) = read_bytes(
        &data,
        ReadOptions {
            max_line_bytes: 4096,
            ..ReadOptions::default()
        },
    );
    assert_eq!(calls.len(), 12, "only the junk line is lost");
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].kind,
        CdrLineErrorKind::LineTooLong { limit: 4096 }
    );
    assert_eq!(errors[0].line, 7);
}

#[test]
fn asterisk_cdr_custom_sample_mapping() {
    let data = include_bytes!("fixtures/asterisk_custom_master.csv");
    assert_eq!(detect_format(data), Some(CdrFormat::AsteriskCustom));
    let (calls, errors) = read_bytes(data, ReadOptions::default());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].caller_name, "Sato Hanako");
    assert_eq!(calls[0].call_id, "1748823302.1");
    assert_eq!(calls[0].billable_secs, 212);
    assert_eq!(calls[0].account, "201");
    assert_eq!(calls[1].answer, None);
    assert_eq!(calls[1].account, "tanaka-acct");
    assert_eq!(calls[1].userfield, "note, with comma");
}

#[test]
fn freeswitch_csv_example_template() {
    let data = include_bytes!("fixtures/freeswitch_master.csv");
    assert_eq!(detect_format(data), Some(CdrFormat::FreeSwitchCsv));
    let (calls, errors) = read_bytes(data, ReadOptions::default());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(calls.len(), 3);
    let c = &calls[0];
    assert_eq!(c.call_id, "0f6c2e0a-5d1b-4a8e-9f51-6f1d2f8a3b01");
    assert_eq!(c.linked_id, "7d3c1b7e-2f4a-4c55-8e1e-0c9b5e3f2a10");
    assert_eq!(
        (
            c.caller.as_str(),
            c.caller_name.as_str(),
            c.account.as_str()
        ),
        ("1001", "Sato Hanako", "1001")
    );
    assert_eq!(c.disposition, Disposition::Answered);
    assert_eq!(c.start, jst(2025, 6, 2, 9, 15, 2));
    assert_eq!(calls[1].disposition, Disposition::NoAnswer);
    assert_eq!(calls[1].account, "acct-77");
    assert_eq!(calls[2].disposition, Disposition::Busy, "CALL_REJECTED");
    assert_eq!(calls[2].hangup_cause, "CALL_REJECTED");
}

#[test]
fn freeswitch_json_single_document() {
    let data = include_bytes!("fixtures/freeswitch_single.cdr.json");
    assert_eq!(detect_format(data), Some(CdrFormat::FreeSwitchJson));
    let (calls, errors) = read_bytes(data, ReadOptions::default());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(calls.len(), 1);
    let c = &calls[0];
    assert_eq!(c.line, 1);
    assert_eq!(c.call_id, "0f6c2e0a-5d1b-4a8e-9f51-6f1d2f8a3b01");
    assert_eq!(c.dialed, "+23276123456", "URL-encoded value decoded");
    assert_eq!(c.caller_name, "Sato Hanako");
    assert_eq!(c.account, "1001", "empty accountcode: the SIP From user");
    assert_eq!(c.tenant.as_deref(), Some("office.example.jp"));
    assert_eq!(c.source_ip, Some("203.0.113.45".parse::<IpAddr>().unwrap()));
    assert_eq!(c.user_agent.as_deref(), Some("Zoiper rv2.10.20.5"));
    assert_eq!(
        c.start.timestamp_micros(),
        1_749_205_805_123_456,
        "microsecond start kept"
    );
    assert_eq!(c.answer.map(|t| t.timestamp()), Some(1_749_205_807));
    assert_eq!((c.duration_secs, c.billable_secs), (32, 30));
    assert_eq!(c.context, "default");
    assert_eq!(c.disposition, Disposition::Answered);
}

#[test]
fn freeswitch_json_one_per_line_with_broken_documents() {
    let data = include_bytes!("fixtures/freeswitch_lines.json");
    let (calls, errors) = read_bytes(data, ReadOptions::default());
    let ids: Vec<(&str, u64)> = calls.iter().map(|c| (c.call_id.as_str(), c.line)).collect();
    assert_eq!(ids, vec![("a1", 1), ("a3", 6)]);
    assert_eq!(calls[0].answer, None, "answer_epoch 0 = unanswered");
    assert_eq!(calls[0].disposition, Disposition::NoAnswer);
    assert_eq!(calls[0].tenant.as_deref(), Some("tenant-a"));
    assert_eq!(
        calls[1].source_ip,
        Some("198.51.100.7".parse::<IpAddr>().unwrap()),
        "callflow fallback"
    );
    assert_eq!(calls[1].billable_secs, 60);
    let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![2, 7], "{errors:?}");
    assert!(errors[1].to_string().contains("no start time"));
}

#[test]
fn freeswitch_json_array_of_documents() {
    let data = br#"[{"variables":{"uuid":"x1","destination_number":"100","start_epoch":"1749205805","end_epoch":"1749205810"}},
{"variables":{"uuid":"x2","destination_number":"101","start_epoch":"1749205815","end_epoch":"1749205820","answer_epoch":"1749205816"}}]"#;
    let (calls, errors) = read_bytes(data, ReadOptions::default());
    assert!(errors.is_empty());
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].billable_secs, 4);
    assert_eq!(calls[1].disposition, Disposition::Answered);
}

#[test]
fn kamailio_acc_tab_export_pairs_invite_and_bye() {
    let data = include_bytes!("fixtures/kamailio_acc.tsv");
    assert_eq!(detect_format(data), Some(CdrFormat::KamailioAcc));
    for (calls, errors) in [
        read_bytes(data, ReadOptions::default()),
        read_ref(data, ReadOptions::default()),
    ] {
        let got: Vec<(&str, u64, Disposition)> = calls
            .iter()
            .map(|c| (c.call_id.as_str(), c.line, c.disposition))
            .collect();
        assert_eq!(
            got,
            vec![
                ("call-2@pbx", 3, Disposition::Busy),
                ("call-1@pbx", 2, Disposition::Answered),
                ("call-3@pbx", 4, Disposition::Answered),
            ]
        );
        let c = &calls[1];
        assert_eq!(c.answer, Some(jst(2025, 6, 6, 19, 30, 7)));
        assert_eq!(
            c.end,
            jst(2025, 6, 6, 19, 30, 37),
            "the BYE ends it; the re-INVITE is ignored"
        );
        assert_eq!(c.billable_secs, 30);
        assert_eq!(
            c.dialed, "010232761234567",
            "dst_ouser: the number as dialed"
        );
        assert_eq!(c.account, "204");
        assert_eq!(c.tenant.as_deref(), Some("office.example.jp"));
        assert_eq!(c.source_ip, Some("203.0.113.99".parse::<IpAddr>().unwrap()));
        assert_eq!(c.user_agent.as_deref(), Some("friendly-scanner"));
        assert_eq!(calls[0].hangup_cause, "486 Busy Here");
        assert_eq!(calls[0].answer, None);
        assert_eq!(
            calls[2].billable_secs, 0,
            "no BYE before the end: emitted at its answer"
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 7);
        assert!(matches!(
            errors[0].kind,
            CdrLineErrorKind::BadNumber {
                column: "sip_code",
                ..
            }
        ));
    }
}

#[test]
fn kamailio_acc_headerless_canonical_order_with_epochs() {
    let data = include_bytes!("fixtures/kamailio_acc_headerless.csv");
    assert_eq!(detect_format(data), Some(CdrFormat::KamailioAcc));
    let (calls, errors) = read_bytes(data, ReadOptions::default());
    assert!(errors.is_empty(), "{errors:?}");
    let got: Vec<(&str, u32, Disposition)> = calls
        .iter()
        .map(|c| (c.call_id.as_str(), c.billable_secs, c.disposition))
        .collect();
    assert_eq!(
        got,
        vec![
            ("c1@10.0.0.1", 30, Disposition::Answered),
            ("c2@10.0.0.1", 0, Disposition::NoAnswer),
            ("c3@10.0.0.1", 0, Disposition::Answered),
        ]
    );
}

#[test]
fn kamailio_open_calls_are_capped() {
    let mut data = String::from("method,from_tag,to_tag,callid,sip_code,sip_reason,time\n");
    for i in 0..50 {
        data.push_str(&format!("INVITE,f,t,c{i},200,OK,{}\n", 1_749_205_800 + i));
    }
    data.push_str("BYE,f,t,c49,200,OK,1749205900\n");
    let opts = ReadOptions {
        max_open_calls: 10,
        ..ReadOptions::default()
    };
    let mut reader = CdrReader::new(data.as_bytes(), opts).unwrap();
    let mut n = 0;
    let mut max_open_emitted_early = 0;
    while let Some(item) = reader.next_ref() {
        let c = item.unwrap();
        n += 1;
        if c.call_id == "c49" {
            assert_eq!(c.billable_secs, 51);
        }
        let early = c.call_id != "c49";
        if early && reader.stats().lines < 52 {
            max_open_emitted_early += 1;
        }
    }
    assert_eq!(n, 50);
    assert!(
        max_open_emitted_early >= 39,
        "the oldest open calls leave early: {max_open_emitted_early}"
    );
}

#[test]
fn opensips_cdr_mode_rows_are_whole_calls() {
    let data = "method,from_tag,to_tag,callid,sip_code,sip_reason,time,duration,ms_duration,setuptime,created\n\
                INVITE,f,t,os-1,200,OK,2025-06-06 19:30:07,30,30000,5,2025-06-06 19:30:02\n";
    let (calls, errors) = read_bytes(data.as_bytes(), ReadOptions::default());
    assert!(errors.is_empty());
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].start, jst(2025, 6, 6, 19, 30, 2));
    assert_eq!(calls[0].answer, Some(jst(2025, 6, 6, 19, 30, 7)));
    assert_eq!(calls[0].end, jst(2025, 6, 6, 19, 30, 37));
    assert_eq!((calls[0].duration_secs, calls[0].billable_secs), (35, 30));
}

#[test]
fn generic_csv_with_mapping() {
    let mapping: GenericCsvMapping = toml::from_str(include_str!("fixtures/generic.toml")).unwrap();
    let data = include_bytes!("fixtures/generic.csv");
    let opts = ReadOptions {
        generic: Some(mapping),
        ..ReadOptions::default()
    };
    for (calls, errors) in [read_bytes(data, opts.clone()), read_ref(data, opts.clone())] {
        let ids: Vec<&str> = calls.iter().map(|c| c.call_id.as_str()).collect();
        assert_eq!(ids, vec!["g-1", "g-2", "g-4"]);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 4);
        assert!(matches!(
            errors[0].kind,
            CdrLineErrorKind::BadTime {
                column: "start",
                ..
            }
        ));
        let c = &calls[0];
        assert_eq!(c.start, jst(2025, 6, 2, 9, 15, 2), "RFC 3339 with Z");
        assert_eq!(c.dialed, "0101212555 0100");
        assert_eq!(c.billable_secs, 212);
        assert_eq!(c.end, c.start, "no end or duration column: end = start");
        assert_eq!(c.disposition, Disposition::Answered);
        assert_eq!(c.tenant.as_deref(), Some("acme"));
        assert_eq!(c.source_ip, Some("203.0.113.5".parse::<IpAddr>().unwrap()));
        assert_eq!(c.account, "0312345678", "no account column: the caller");
        assert_eq!(calls[1].disposition, Disposition::Busy);
        assert_eq!(
            calls[1].start,
            jst(2025, 6, 2, 9, 20, 0),
            "local time in the mapping's zone"
        );
        assert_eq!(
            calls[2].disposition,
            Disposition::Answered,
            "billsec > 0 and no status"
        );
        assert_eq!(calls[2].start.timestamp(), 1_748_823_302);
    }
}

#[test]
fn generic_csv_header_without_mapped_column_is_fatal() {
    let mapping: GenericCsvMapping = toml::from_str(include_str!("fixtures/generic.toml")).unwrap();
    let data = "Call ID;Start;Caller;Called\ng-1;2025-06-02 09:00:00;1;2\n";
    let (calls, errors) = read_bytes(
        data.as_bytes(),
        ReadOptions {
            generic: Some(mapping),
            ..ReadOptions::default()
        },
    );
    assert!(calls.is_empty());
    assert_eq!(errors.len(), 1);
    assert!(errors[0].is_fatal());
    assert!(errors[0].to_string().contains("Begin"), "{}", errors[0]);
}

#[test]
fn generic_format_without_mapping_is_a_config_error() {
    let r = CdrReader::new(&b""[..], ReadOptions::for_format(CdrFormat::GenericCsv));
    assert!(r.is_err());
}

#[test]
fn unknown_format_is_one_fatal_error() {
    let (calls, errors) = read_bytes(b"hello world\nthis is not a CDR\n", ReadOptions::default());
    assert!(calls.is_empty());
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].kind, CdrLineErrorKind::UnknownFormat);
}

#[test]
fn empty_input_is_no_records_and_no_errors() {
    assert_eq!(read_bytes(b"", ReadOptions::default()).0.len(), 0);
    assert_eq!(read_bytes(b"\n\n  \n", ReadOptions::default()).1.len(), 0);
}

#[test]
fn stats_count_lines_records_errors() {
    let data = include_bytes!("fixtures/asterisk_master_broken.csv");
    let mut reader = CdrReader::new(&data[..], ReadOptions::default()).unwrap();
    while reader.next_ref().is_some() {}
    let s = reader.stats();
    assert_eq!((s.lines, s.records, s.errors), (10, 4, 5));
    assert_eq!(reader.format(), Some(CdrFormat::AsteriskCsv));
}
