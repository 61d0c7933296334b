//! RFC 4475 and RFC 5118 torture messages and sipvicious scanner captures from ../shared/testdata/sip.
//! Every `accept` file parses with its typed values checked, every `reject` file fails with the named error,
//! every `parse` file parses and shows what its RFC section says a proxy must notice.

mod common;

use sip::{Anomaly, HeaderName, Message, Method, ParseError, Transport, UriError, ValueError};

fn bad(header: &'static str, line: usize, reason: ValueError) -> ParseError {
    ParseError::BadHeader {
        header,
        line,
        reason,
    }
}

/// The error each RFC 4475 section 3.1.2 / RFC 5118 section 4.2 message is rejected with.
fn expected_rejection(file: &str) -> ParseError {
    match file {
        "badaspec" => bad("To", 5, ValueError::SpaceInAngleBrackets),
        "baddate" => bad("Date", 8, ValueError::BadDate),
        "baddn" => bad("From", 4, ValueError::BadDisplayName),
        "badinv01" => bad("Via", 7, ValueError::EmptyParameter),
        "badvers" => ParseError::UnsupportedVersion,
        "bigcode" => ParseError::BadStatusCode,
        "clerr" => ParseError::ContentLengthExceedsBody {
            declared: 9999,
            available: 154,
        },
        "escruri" => ParseError::RequestUriWithHeaders,
        "ltgtruri" => ParseError::RequestUriInAngleBrackets,
        "lwsruri" => ParseError::BadRequestUri(UriError::Whitespace),
        "lwsstart" => ParseError::StartLineWhitespace,
        "mismatch01" | "mismatch02" => ParseError::CSeqMethodMismatch,
        "ncl" => bad("Content-Length", 10, ValueError::Negative),
        "quotbal" => bad("To", 2, ValueError::UnterminatedQuote),
        "regbadct" => bad("Contact", 8, ValueError::UnbracketedUri),
        "scalar02" => bad("CSeq", 5, ValueError::Overflow),
        "scalarlg" => bad("CSeq", 5, ValueError::Overflow),
        "trws" => ParseError::StartLineWhitespace,
        "ipv6-bad" => ParseError::BadRequestUri(UriError::BadPort),
        other => panic!("no expected rejection for {other}"),
    }
}

#[test]
fn every_classified_message_meets_its_class() {
    let Some(dir) = common::testdata() else {
        return;
    };
    let mut rejected_4475 = 0;
    let mut seen = 0;
    for (file, corpus, class, expected) in common::classes(&dir) {
        seen += 1;
        let bytes = common::load(&dir, &file, &corpus);
        let result = Message::parse(&bytes);
        if expected == "accept" || expected.starts_with("parse") {
            assert!(
                result.is_ok(),
                "{file} ({class}) must parse: {:?}",
                result.err()
            );
        } else if expected == "reject" {
            assert_eq!(
                result.err(),
                Some(expected_rejection(&file)),
                "{file} ({class})"
            );
            if corpus == "rfc4475" {
                rejected_4475 += 1;
            }
        }
    }
    assert_eq!(seen, 62, "classes.tsv rows");
    assert_eq!(
        rejected_4475, 19,
        "all 19 invalid RFC 4475 messages are rejected"
    );
}

fn parse_file(file: &str) -> Option<(Vec<u8>, String)> {
    let dir = common::testdata()?;
    let corpus = if file.ends_with(".dat") {
        "rfc4475"
    } else {
        "rfc5118"
    };
    let name = file.trim_end_matches(".dat");
    Some((common::load(&dir, name, corpus), name.to_string()))
}

macro_rules! msg {
    ($file:expr) => {{
        let Some((bytes, _)) = parse_file($file) else {
            return;
        };
        bytes
    }};
}

struct Expect {
    file: &'static str,
    method: Option<&'static str>,
    status: Option<u16>,
    ruri: Option<&'static str>,
    branch: Option<&'static str>,
    call_id: &'static str,
    cseq: u32,
    cseq_method: &'static str,
}

const ACCEPTED: &[Expect] = &[
    Expect {
        file: "dblreq.dat",
        method: Some("REGISTER"),
        status: None,
        ruri: Some("sip:example.com"),
        branch: Some("z9hG4bKkdjuw23492"),
        call_id: "dblreq.0ha0isndaksdj99sdfafnl3lk233412",
        cseq: 8,
        cseq_method: "REGISTER",
    },
    Expect {
        file: "esc01.dat",
        method: Some("INVITE"),
        status: None,
        ruri: Some("sip:sips%3Auser%40example.com@example.net"),
        branch: Some("z9hG4bKkdjuw"),
        call_id: "esc01.239409asdfakjkn23onasd0-3234",
        cseq: 234234,
        cseq_method: "INVITE",
    },
    Expect {
        file: "esc02.dat",
        method: Some("RE%47IST%45R"),
        status: None,
        ruri: Some("sip:registrar.example.com"),
        branch: Some("z9hG4bK209%fzsnel234"),
        call_id: "esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf",
        cseq: 29344,
        cseq_method: "RE%47IST%45R",
    },
    Expect {
        file: "escnull.dat",
        method: Some("REGISTER"),
        status: None,
        ruri: Some("sip:example.com"),
        branch: Some("z9hG4bKkdjuw"),
        call_id: "escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd",
        cseq: 14398234,
        cseq_method: "REGISTER",
    },
    Expect {
        file: "intmeth.dat",
        method: Some("!interesting-Method0123456789_*+`.%indeed'~"),
        status: None,
        ruri: Some(
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
        ),
        branch: Some("z9hG4bK-.!%66*_+`'~"),
        call_id: "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{",
        cseq: 139122385,
        cseq_method: "!interesting-Method0123456789_*+`.%indeed'~",
    },
    Expect {
        file: "longreq.dat",
        method: Some("INVITE"),
        status: None,
        ruri: Some("sip:user@example.com"),
        branch: None,
        call_id: "longreq.onereallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallylongcallid",
        cseq: 3882340,
        cseq_method: "INVITE",
    },
    Expect {
        file: "lwsdisp.dat",
        method: Some("OPTIONS"),
        status: None,
        ruri: Some("sip:user@example.com"),
        branch: Some("z9hG4bKkdjuw"),
        call_id: "lwsdisp.1234abcd@funky.example.com",
        cseq: 60,
        cseq_method: "OPTIONS",
    },
    Expect {
        file: "mpart01.dat",
        method: Some("MESSAGE"),
        status: None,
        ruri: Some("sip:kumiko@example.org"),
        branch: Some("z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-"),
        call_id: "3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..",
        cseq: 1,
        cseq_method: "MESSAGE",
    },
    Expect {
        file: "noreason.dat",
        method: None,
        status: Some(100),
        ruri: None,
        branch: Some("z9hG4bK2398ndaoe"),
        call_id: "noreason.asndj203insdf99223ndf",
        cseq: 35,
        cseq_method: "INVITE",
    },
    Expect {
        file: "semiuri.dat",
        method: Some("OPTIONS"),
        status: None,
        ruri: Some("sip:user;par=u%40example.net@example.com"),
        branch: Some("z9hG4bKkdjuw"),
        call_id: "semiuri.0ha0isndaksdj",
        cseq: 8,
        cseq_method: "OPTIONS",
    },
    Expect {
        file: "transports.dat",
        method: Some("OPTIONS"),
        status: None,
        ruri: Some("sip:user@example.com"),
        branch: Some("z9hG4bKkdjuw"),
        call_id: "transports.kijh4akdnaqjkwendsasfdj",
        cseq: 60,
        cseq_method: "OPTIONS",
    },
    Expect {
        file: "unreason.dat",
        method: None,
        status: Some(200),
        ruri: None,
        branch: Some("z9hG4bK1324923"),
        call_id: "unreason.1234ksdfak3j2erwedfsASdf",
        cseq: 35,
        cseq_method: "INVITE",
    },
    Expect {
        file: "wsinv.dat",
        method: Some("INVITE"),
        status: None,
        ruri: Some("sip:vivekg@chair-dnrc.example.com;unknownparam"),
        branch: Some("390skdjuw"),
        call_id: "wsinv.ndaksdj@192.0.2.1",
        cseq: 9,
        cseq_method: "INVITE",
    },
    Expect {
        file: "ipv4-mapped-ipv6",
        method: Some("INVITE"),
        status: None,
        ruri: Some("sip:user@example.com"),
        branch: Some("z9hG4bKbh19"),
        call_id: "SSG9559905523997077@hlau_4100",
        cseq: 612,
        cseq_method: "INVITE",
    },
    Expect {
        file: "ipv6-bug-abnf-3-colons",
        method: Some("OPTIONS"),
        status: None,
        ruri: Some("sip:user@[2001:db8:::192.0.2.1]"),
        branch: Some("z9hG4bKas3-111"),
        call_id: "G9559905523997077@hlau_4100",
        cseq: 689,
        cseq_method: "OPTIONS",
    },
    Expect {
        file: "ipv6-correct-abnf-2-colons",
        method: Some("OPTIONS"),
        status: None,
        ruri: Some("sip:user@[2001:db8::192.0.2.1]"),
        branch: Some("z9hG4bKas3-111"),
        call_id: "G9559905523997077@hlau_4100",
        cseq: 689,
        cseq_method: "OPTIONS",
    },
    Expect {
        file: "ipv6-good",
        method: Some("REGISTER"),
        status: None,
        ruri: Some("sip:[2001:db8::10]"),
        branch: Some("z9hG4bKas3-111"),
        call_id: "SSG9559905523997077@hlau_4100",
        cseq: 98176,
        cseq_method: "REGISTER",
    },
    Expect {
        file: "ipv6-in-sdp",
        method: Some("INVITE"),
        status: None,
        ruri: Some("sip:user@[2001:db8::10]"),
        branch: Some("z9hG4bKas3-111"),
        call_id: "SSG9559905523997077@hlau_4100",
        cseq: 8612,
        cseq_method: "INVITE",
    },
    Expect {
        file: "mult-ip-in-header",
        method: Some("BYE"),
        status: None,
        ruri: Some("sip:user@host.example.net"),
        branch: Some("z9hG4bKas3-111"),
        call_id: "997077@lau_4100",
        cseq: 89187,
        cseq_method: "BYE",
    },
    Expect {
        file: "mult-ip-in-sdp",
        method: Some("INVITE"),
        status: None,
        ruri: Some("sip:user@[2001:db8::10]"),
        branch: Some("z9hG4bKas3-111"),
        call_id: "SSG9559905523997077@hlau_4100",
        cseq: 8912,
        cseq_method: "INVITE",
    },
    Expect {
        file: "port-ambiguous",
        method: Some("REGISTER"),
        status: None,
        ruri: Some("sip:[2001:db8::10:5070]"),
        branch: Some("z9hG4bKas3-111"),
        call_id: "SSG9559905523997077@hlau_4100",
        cseq: 98176,
        cseq_method: "REGISTER",
    },
    Expect {
        file: "port-unambiguous",
        method: Some("REGISTER"),
        status: None,
        ruri: Some("sip:[2001:db8::10]:5070"),
        branch: Some("z9hG4bKas3-111"),
        call_id: "SSG9559905523997077@hlau_4100",
        cseq: 98176,
        cseq_method: "REGISTER",
    },
    Expect {
        file: "via-received-param-no-delim",
        method: Some("OPTIONS"),
        status: None,
        ruri: Some("sip:[2001:db8::10]"),
        branch: Some("z9hG4bKas3"),
        call_id: "SSG95523997077@hlau_4100",
        cseq: 921,
        cseq_method: "OPTIONS",
    },
    Expect {
        file: "via-received-param-with-delim",
        method: Some("BYE"),
        status: None,
        ruri: Some("sip:[2001:db8::10]"),
        branch: Some("z9hG4bKas3-111"),
        call_id: "SSG9559905523997077@hlau_4100",
        cseq: 321,
        cseq_method: "BYE",
    },
];

#[test]
fn accepted_messages_have_the_right_typed_values() {
    let Some(dir) = common::testdata() else {
        return;
    };
    let accepts: Vec<String> = common::classes(&dir)
        .into_iter()
        .filter(|r| r.3 == "accept")
        .map(|r| r.0)
        .collect();
    assert_eq!(
        accepts.len(),
        ACCEPTED.len(),
        "a typed expectation for every accept file"
    );
    for e in ACCEPTED {
        let Some((bytes, name)) = parse_file(e.file) else {
            return;
        };
        assert!(accepts.contains(&name), "{name} is an accept file");
        let m = Message::parse(&bytes).unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(m.method().map(|x| x.as_str()), e.method, "{name} method");
        assert_eq!(m.status(), e.status, "{name} status");
        assert_eq!(m.request_uri().map(|u| u.as_str()), e.ruri, "{name} R-URI");
        assert_eq!(
            m.top_via().and_then(|v| v.branch()),
            e.branch,
            "{name} branch"
        );
        assert_eq!(m.call_id(), Some(e.call_id), "{name} Call-ID");
        let c = m.cseq().expect("CSeq");
        assert_eq!(
            (c.seq, c.method.as_str()),
            (e.cseq, e.cseq_method),
            "{name} CSeq"
        );
    }
}

#[test]
fn wsinv_whitespace_folding_and_compact_forms() {
    let b = msg!("wsinv.dat");
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.to_tag(), Some("1918181833n"));
    assert_eq!(m.from_tag(), Some("98asjd8"));
    assert_eq!(
        m.from().unwrap().display_name(),
        Some(r#"J Rosenberg \\\""#)
    );
    assert_eq!(m.max_forwards(), Some(68));
    assert_eq!(m.content_length(), Some(150));
    let vias: Vec<_> = m.via().collect();
    assert_eq!(vias.len(), 3);
    assert_eq!(
        (vias[1].transport(), vias[1].sent_by(), vias[1].branch()),
        (Transport::Tcp, "spindle.example.com", Some("z9hG4bK9ikj8"))
    );
    assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
    let contact = m.contacts().next().unwrap();
    let c = contact.addr().unwrap();
    assert_eq!(c.display_name(), Some(r#"Quoted string \"\""#));
    assert_eq!(c.param("newparam"), Some("newvalue"));
    assert_eq!(c.param("q"), Some("0.33"));
    assert!(c.params().contains("secondparam"));
    assert_eq!(m.header(HeaderName::Subject), Some(""));
    assert_eq!(
        m.headers_named("NewFangledHeader").next(),
        Some("newfangled value\r\n continued newfangled value")
    );
    assert_eq!(
        m.routes()
            .next()
            .unwrap()
            .uri()
            .as_sip()
            .unwrap()
            .params()
            .get("unknownwith"),
        Some("value")
    );
    assert_eq!(m.body().len(), 150);
}

#[test]
fn escapes_are_kept_and_decoded_on_request() {
    let b = msg!("esc01.dat");
    let m = Message::parse(&b).unwrap();
    let ruri = m.request_uri().unwrap();
    assert_eq!(
        &*ruri.as_sip().unwrap().user_decoded().unwrap(),
        b"sips:user@example.com"
    );
    let to = m.to().unwrap().uri();
    assert_eq!(&*to.as_sip().unwrap().user_decoded().unwrap(), b"user");
    assert_eq!(
        m.from().unwrap().uri().as_sip().unwrap().user(),
        Some("I%20have%20spaces")
    );
    let b = msg!("escnull.dat");
    let m = Message::parse(&b).unwrap();
    assert_eq!(
        &*m.to()
            .unwrap()
            .uri()
            .as_sip()
            .unwrap()
            .user_decoded()
            .unwrap(),
        b"null-\0-null"
    );
    assert_eq!(m.contacts().count(), 2);
    let b = msg!("esc02.dat");
    let m = Message::parse(&b).unwrap();
    assert!(matches!(m.method(), Some(Method::Other("RE%47IST%45R"))));
    assert_eq!(
        m.contacts().count(),
        2,
        "C%6Fntact is an unknown header, not Contact"
    );
    assert_eq!(m.headers_named("C%6Fntact").count(), 1);
}

#[test]
fn intmeth_unusual_tokens_and_quoted_controls() {
    let b = msg!("intmeth.dat");
    let m = Message::parse(&b).unwrap();
    let ruri = m.request_uri().unwrap();
    let s = ruri.as_sip().unwrap();
    assert_eq!(
        s.user(),
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    assert_eq!(
        s.password(),
        Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
    );
    assert_eq!(
        m.to().unwrap().display_name(),
        Some("BEL:\\\x07 NUL:\\\0 DEL:\\\x7f")
    );
    assert_eq!(
        m.from().unwrap().display_name(),
        Some("token1~` token2'+_ token3*%!.-")
    );
    assert_eq!(m.from_tag(), Some("_token~1'+`*%!-."));
    assert_eq!(m.max_forwards(), Some(255));
}

#[test]
fn longreq_many_vias_and_long_values() {
    let b = msg!("longreq.dat");
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.via_count(), 34);
    assert_eq!(m.top_via().unwrap().sent_by(), "sip33.example.com");
    assert_eq!(m.via().last().unwrap().received(), Some("192.0.2.5"));
    assert!(
        m.to()
            .unwrap()
            .display_name()
            .unwrap()
            .contains("extremeextreme")
    );
    assert!(m.anomalies().contains(Anomaly::MissingBranch));
}

#[test]
fn dblreq_datagram_keeps_only_the_first_message() {
    let b = msg!("dblreq.dat");
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.method(), Some(Method::Register));
    assert!(m.body().is_empty());
    assert!(m.anomalies().contains(Anomaly::TrailingBytes));
    // On a stream, the same bytes are two messages.
    let mut f = sip::StreamFramer::default();
    let sip::Frame::Message { message, len } = f.next_frame(&b).unwrap() else {
        panic!("first message")
    };
    assert_eq!(message.method(), Some(Method::Register));
    let rest = &b[len..];
    let sip::Frame::KeepAlive { len: ka } = f.next_frame(rest).unwrap() else {
        panic!("CRLF between")
    };
    let sip::Frame::Message { message, .. } = f.next_frame(&rest[ka..]).unwrap() else {
        panic!("second")
    };
    assert_eq!(message.method(), Some(Method::Invite));
    assert_eq!(message.body().len(), 150);
}

#[test]
fn transports_and_multipart() {
    let b = msg!("transports.dat");
    let m = Message::parse(&b).unwrap();
    let t: Vec<_> = m.via().map(|v| v.transport()).collect();
    assert_eq!(
        t,
        vec![
            Transport::Udp,
            Transport::Sctp,
            Transport::Tls,
            Transport::Other("UNKNOWN"),
            Transport::Tcp
        ]
    );
    let b = msg!("mpart01.dat");
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.body().len(), 553);
    assert_eq!(m.user_agent(), Some("SIPimp.org/0.2.5 (curses)"));
    assert_eq!(m.top_via().unwrap().rport(), Some(None));
}

#[test]
fn unreason_and_noreason_status_lines() {
    let b = msg!("unreason.dat");
    let m = Message::parse(&b).unwrap();
    assert!(
        m.reason_phrase()
            .unwrap()
            .starts_with("= 2**3 * 5**2 но сто")
    );
    let b = msg!("noreason.dat");
    assert_eq!(Message::parse(&b).unwrap().reason_phrase(), Some(""));
}

#[test]
fn rfc5118_ipv6_hosts() {
    let b = msg!("ipv6-good");
    let m = Message::parse(&b).unwrap();
    let ruri = m.request_uri().unwrap();
    assert_eq!(
        ruri.as_sip().unwrap().host().ip(),
        Some("2001:db8::10".parse().unwrap())
    );
    assert_eq!(m.top_via().unwrap().host().as_str(), "[2001:db8::9:1]");
    let b = msg!("port-ambiguous");
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.request_uri().unwrap().as_sip().unwrap().port(), None);
    let b = msg!("port-unambiguous");
    let m = Message::parse(&b).unwrap();
    assert_eq!(
        m.request_uri().unwrap().as_sip().unwrap().port(),
        Some(5070)
    );
    let b = msg!("mult-ip-in-header");
    let m = Message::parse(&b).unwrap();
    let v: Vec<_> = m.via().collect();
    assert_eq!(v[0].port(), Some(6050));
    assert_eq!(v[2].received(), Some("192.0.2.200"));
    let b = msg!("via-received-param-no-delim");
    assert_eq!(
        Message::parse(&b).unwrap().top_via().unwrap().received(),
        Some("2001:db8::9:255")
    );
    let b = msg!("via-received-param-with-delim");
    assert_eq!(
        Message::parse(&b).unwrap().top_via().unwrap().received(),
        Some("[2001:db8::9:255]")
    );
    let b = msg!("ipv4-mapped-ipv6");
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.top_via().unwrap().port(), Some(19823));
    assert_eq!(
        m.contacts().next().unwrap().addr().unwrap().display_name(),
        Some("T. desk phone")
    );
    let b = msg!("ipv6-bug-abnf-3-colons");
    let m = Message::parse(&b).unwrap();
    assert_eq!(
        m.request_uri().unwrap().as_sip().unwrap().host().ip(),
        None,
        "accepted as received, not an address std reads"
    );
}

// ----- RFC 4475 sections 3.2-3.4: parsed, and what a proxy must notice -----

#[test]
fn semantic_problems_a_proxy_must_notice() {
    let refusal = |f: &str| {
        let (b, _) = parse_file(f).unwrap();
        Message::parse(&b).unwrap().anomalies().refusal()
    };
    if common::testdata().is_none() {
        return;
    }
    // 3.3.1 (zeromf): Max-Forwards 0 -> 483.
    assert_eq!(
        refusal("zeromf.dat"),
        Some((Anomaly::MaxForwardsExhausted, 483))
    );
    // 3.3.3 / 3.3.4 (unkscm, novelsc): unknown Request-URI scheme -> 416.
    assert_eq!(
        refusal("unkscm.dat"),
        Some((Anomaly::UnsupportedUriScheme, 416))
    );
    assert_eq!(
        refusal("novelsc.dat"),
        Some((Anomaly::UnsupportedUriScheme, 416))
    );
    // 3.3.12 (mcl01): several Content-Length values -> 400.
    assert_eq!(
        refusal("mcl01.dat"),
        Some((Anomaly::ConflictingContentLength, 400))
    );
    // 3.3.9 (multi01): several To/From/Call-ID/CSeq -> 400.
    assert_eq!(
        refusal("multi01.dat"),
        Some((Anomaly::DuplicateSingleValueHeader, 400))
    );
    // 3.3.2 (insuf): missing To, From, Call-ID, Max-Forwards -> 400.
    assert_eq!(
        refusal("insuf.dat"),
        Some((Anomaly::MissingMandatoryHeader, 400))
    );
    // 3.2.1 (badbranch): branch is only the magic cookie.
    assert_eq!(
        refusal("badbranch.dat"),
        Some((Anomaly::BareMagicCookie, 400))
    );
}

#[test]
fn semantic_details_of_each_parse_file() {
    if common::testdata().is_none() {
        return;
    }
    let parse = |f: &str| parse_file(f).unwrap().0;
    // 3.3.5 (unksm2): To/From/Contact with other schemes are kept opaque.
    let b = parse("unksm2.dat");
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.to().unwrap().uri().scheme(), "isbn");
    assert_eq!(m.from().unwrap().uri().scheme(), "http");
    assert!(m.anomalies().refusal().is_none());
    // 3.3.6 (bext01): Require/Proxy-Require with unknown extensions -> 420, visible to the guard.
    let b = parse("bext01.dat");
    let m = Message::parse(&b).unwrap();
    assert_eq!(
        m.header_values(HeaderName::Require).collect::<Vec<_>>(),
        vec!["nothingSupportsThis", "nothingSupportsThisEither"]
    );
    assert_eq!(m.header_values(HeaderName::ProxyRequire).count(), 2);
    // 3.3.7 (invut): unknown body type.
    let b = parse("invut.dat");
    assert_eq!(
        Message::parse(&b).unwrap().content_type(),
        Some("application/unknownformat")
    );
    // 3.3.8 (regaut01): unknown authorization scheme parsed generically.
    let b = parse("regaut01.dat");
    let m = Message::parse(&b).unwrap();
    let a = m.authorization().unwrap().unwrap();
    assert_eq!(
        (a.scheme(), a.is_digest(), a.param("opaque-data")),
        ("NoOneKnowsThisScheme", false, Some("here"))
    );
    // 3.3.10 (regescrt): Contact URI with escaped headers inside <>.
    let b = parse("regescrt.dat");
    let m = Message::parse(&b).unwrap();
    let c = m.contacts().next().unwrap();
    assert_eq!(
        c.addr().unwrap().uri().as_sip().unwrap().headers(),
        Some("Route=%3Csip:sip.example.com%3E")
    );
    // 3.3.11 / 3.3.13 (cparam01, cparam02): where the parameter belongs depends on the brackets.
    let b = parse("cparam01.dat");
    let m = Message::parse(&b).unwrap();
    let c = *m.contacts().next().unwrap().addr().unwrap();
    assert!(c.params().contains("unknownparam"));
    assert!(!c.uri().as_sip().unwrap().params().contains("unknownparam"));
    let b = parse("cparam02.dat");
    let m = Message::parse(&b).unwrap();
    let c = *m.contacts().next().unwrap().addr().unwrap();
    assert!(c.uri().as_sip().unwrap().params().contains("unknownparam"));
    // 3.3.14 (sdp01): Accept without SDP.
    let b = parse("sdp01.dat");
    assert_eq!(
        Message::parse(&b).unwrap().header(HeaderName::Accept),
        Some("text/nobodyKnowsThis")
    );
    // 3.3.15 (bcast): a response whose second Via is a broadcast address.
    let b = parse("bcast.dat");
    let m = Message::parse(&b).unwrap();
    assert!(m.via().nth(1).unwrap().host().ip().unwrap().to_string() == "255.255.255.255");
    // 3.4.1 (inv2543): RFC 2543 request: no branch cookie, no Content-Length, no Max-Forwards, no From tag.
    let b = parse("inv2543.dat");
    let m = Message::parse(&b).unwrap();
    let a = m.anomalies();
    assert!(a.contains(Anomaly::MissingBranch) && a.contains(Anomaly::MissingContentLength));
    assert_eq!(m.from_tag(), None);
    assert!(
        m.transaction_key().is_none(),
        "no RFC 3261 transaction key without a branch cookie"
    );
    // 3.3.12 again: with conflicting lengths the datagram body is everything after the headers.
    let b = parse("mcl01.dat");
    assert!(
        Message::parse(&b)
            .unwrap()
            .body()
            .starts_with(b"There's no way")
    );
    // Not referenced by the RFC: must not crash.
    let b = parse("test.dat");
    assert_eq!(Message::parse(&b).unwrap_err(), ParseError::BadStartLine);
}

// ----- sipvicious captures -----

fn captures(file: &str) -> Vec<Vec<u8>> {
    let Some(dir) = common::testdata() else {
        return Vec::new();
    };
    let text = std::fs::read(dir.join("scanners").join(file)).expect("readable");
    let mut out = Vec::new();
    for chunk in text
        .split(|&b| b == b'\n')
        .collect::<Vec<_>>()
        .split(|l| l.starts_with(b"=== "))
    {
        if chunk.is_empty() {
            continue;
        }
        let mut msg = chunk.join(&b'\n');
        while msg.ends_with(b"\n") && !msg.ends_with(b"\r\n") {
            msg.pop();
        }
        out.push(msg);
    }
    out
}

#[test]
fn scanner_traffic_parses_and_exposes_fingerprints() {
    for file in ["svmap.txt", "svwar.txt", "svcrack.txt"] {
        let msgs = captures(file);
        if common::testdata().is_none() {
            return;
        }
        assert!(!msgs.is_empty(), "{file} has captures");
        for raw in &msgs {
            let m = Message::parse(raw)
                .unwrap_or_else(|e| panic!("{file}: {e}\n{}", String::from_utf8_lossy(raw)));
            assert_eq!(m.user_agent(), Some("friendly-scanner"), "{file}");
            assert!(
                m.top_via()
                    .unwrap()
                    .branch()
                    .unwrap()
                    .starts_with("z9hG4bK-")
            );
            assert!(
                m.from_tag()
                    .is_some_and(|t| t.bytes().all(|c| c.is_ascii_hexdigit())),
                "{file}: numeric/hex From tag"
            );
            assert!(m.anomalies().refusal().is_none());
        }
    }
    let crack = captures("svcrack.txt");
    let creds: Vec<_> = crack
        .iter()
        .filter_map(|raw| {
            Message::parse(raw).ok()?.authorization()?.ok().map(|a| {
                (
                    a.username().map(str::to_owned),
                    a.qop().map(str::to_owned),
                    a.nc().is_none(),
                    a.cnonce().is_none(),
                    a.response().map(str::len),
                )
            })
        })
        .collect();
    assert!(!creds.is_empty(), "svcrack sends digest credentials");
    for (user, qop, no_nc, no_cnonce, resp_len) in creds {
        assert_eq!(user.as_deref(), Some("100"));
        assert_eq!(qop.as_deref(), Some("auth"));
        assert!(
            no_nc && no_cnonce,
            "qop=auth without nc/cnonce is the svcrack fingerprint"
        );
        assert_eq!(resp_len, Some(32));
    }
}
