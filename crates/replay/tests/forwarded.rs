//! Calls that leave because another came in, as Asterisk CDRs show them: a call from an inbound context (an
//! outside caller forwarded, or dialling out through DISA) and a trunk-to-trunk hairpin reach abroad only past
//! `forwarded_international`; the same legs to a mobile at home pass, and so do the extensions' own calls.

use cdr::{CallRecord, Disposition};
use engine::{Policy, RuleId, Verdict};
use replay::{LaterDecisions, Outcome, Sink, Site, replay_records};

/// 2025-06-02 10:00 JST (a Monday), in UTC seconds.
const MONDAY_10: i64 = 1_748_826_000;

/// An answered 2-minute call `i` minutes after 10:00.
fn record(
    i: i64,
    channel: &str,
    dst_channel: &str,
    context: &str,
    last_app: &str,
    dialed: &str,
) -> CallRecord {
    let at = |s: i64| chrono::DateTime::from_timestamp(s, 0).unwrap_or_default();
    let start = MONDAY_10 + i * 60;
    let mut r = CallRecord::empty(i as u64 + 1, at(start));
    r.call_id = format!("leg.{i}");
    r.caller = "0312345678".into();
    r.channel = channel.into();
    r.dst_channel = dst_channel.into();
    r.context = context.into();
    r.last_app = last_app.into();
    r.dialed = dialed.into();
    r.answer = Some(at(start + 5));
    r.end = at(start + 125);
    r.duration_secs = 125;
    r.billable_secs = 120;
    r.disposition = Disposition::Answered;
    r
}

#[derive(Default)]
struct Verdicts(Vec<(String, Verdict, Vec<RuleId>, String)>);

impl Sink for Verdicts {
    fn call(&mut self, o: Outcome<'_>) {
        self.0.push((
            o.call.call_id().to_owned(),
            o.verdict,
            o.decisions.iter().map(|d| d.rule).collect(),
            o.decisions
                .first()
                .map(|d| d.reason.clone())
                .unwrap_or_default(),
        ));
    }
    fn later(&mut self, _: LaterDecisions<'_>) {}
}

#[test]
fn an_outside_caller_passed_abroad_is_refused_and_the_same_leg_to_a_mobile_passes() {
    let records = [
        // Extension 201 calls New York itself: allowed (the US is).
        record(
            0,
            "PJSIP/201-00000001",
            "PJSIP/ntt-trunk-00000002",
            "from-internal",
            "Dial",
            "0101212555123",
        ),
        // An outside caller forwarded out of the inbound context to New York.
        record(
            1,
            "PJSIP/ntt-trunk-00000003",
            "PJSIP/ntt-trunk-00000004",
            "from-pstn",
            "Dial",
            "0101212555124",
        ),
        // Trunk to trunk from a neutral context: a hairpin.
        record(
            2,
            "SIP/carrier-00000005",
            "SIP/carrier-00000006",
            "default",
            "Dial",
            "0101212555125",
        ),
        // Dialling out through DISA.
        record(
            3,
            "PJSIP/ntt-trunk-00000007",
            "PJSIP/ntt-trunk-00000008",
            "disa-out",
            "DISA",
            "0101212555126",
        ),
        // The forwarded leg to a mobile at home, and an emergency call through DISA: both pass.
        record(
            4,
            "PJSIP/ntt-trunk-00000009",
            "PJSIP/ntt-trunk-0000000a",
            "from-pstn",
            "Dial",
            "09012345678",
        ),
        record(
            5,
            "PJSIP/ntt-trunk-0000000b",
            "PJSIP/ntt-trunk-0000000c",
            "disa-out",
            "DISA",
            "110",
        ),
    ];
    let policy = Policy::from_toml_str("[defaults.destinations]\nallow_countries = [\"US\"]\n")
        .expect("policy");
    let site = Site::new(
        std::sync::Arc::new(numbering::Numbering::japan_defaults()),
        policy,
    );
    let mut v = Verdicts::default();
    replay_records(site, records.iter(), 4 * 3600, &mut v);
    let of = |id: &str| v.0.iter().find(|c| c.0 == id).expect("replayed");
    assert_eq!(of("leg.0").1, Verdict::Allow, "{:?}", of("leg.0"));
    for id in ["leg.1", "leg.2", "leg.3"] {
        let (_, verdict, rules, reason) = of(id);
        assert!(verdict.is_block(), "{id}: {rules:?}");
        assert_eq!(rules.first(), Some(&RuleId::ForwardedInternational), "{id}");
        assert!(reason.contains("from 0312345678"), "{id}: {reason}");
    }
    assert!(of("leg.2").3.contains("(hairpin)"), "{}", of("leg.2").3);
    assert_eq!(of("leg.4").1, Verdict::Allow, "{:?}", of("leg.4"));
    assert_eq!(of("leg.5").1, Verdict::Allow, "{:?}", of("leg.5"));
}
