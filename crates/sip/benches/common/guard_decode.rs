// The decode a guard needs of every request, shared (by `include!`) by the criterion bench `parse`, the
// instruction-counting example `parse_loop` and the peer comparison in bench/sip-compare, so that all three
// measure the same work: R-URI, every Via (branch, sent-by), From/To tags, Call-ID, CSeq, Max-Forwards,
// Content-Length, Contact URIs, User-Agent, summed into a number so that nothing is optimised away.

/// Parses `buf` and reads the typed headers; 0 when it does not parse.
pub fn decode_sip(buf: &[u8]) -> usize {
    let Ok(m) = sip::Message::parse(buf) else {
        return 0;
    };
    let mut acc = m.request_uri().map_or(0, |u| u.as_str().len());
    for v in m.via() {
        acc += v.branch().map_or(0, str::len) + v.sent_by().len();
    }
    acc += m.from_tag().map_or(0, str::len) + m.to_tag().map_or(0, str::len);
    acc += m.call_id().map_or(0, str::len);
    acc += m
        .cseq()
        .map_or(0, |c| c.seq as usize + c.method.as_str().len());
    acc += m.max_forwards().map_or(0, usize::from);
    acc += m.content_length().map_or(0, |c| c as usize);
    acc += m
        .contacts()
        .filter_map(|c| c.addr().map(|a| a.uri().as_str().len()))
        .sum::<usize>();
    acc += m.user_agent().map_or(0, str::len);
    acc
}
