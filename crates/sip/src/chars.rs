//! Character classes of the RFC 3261 grammar as lookup tables, and the small lexical helpers (LWS skipping,
//! quoted strings) that every typed header parser shares. Folded lines are kept in the buffer as received, so
//! CR and LF inside a header value count as linear white space here.

const fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

const fn build(set: &[u8], alnum: bool) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alnum && is_alnum(i as u8);
        i += 1;
    }
    let mut j = 0;
    while j < set.len() {
        t[set[j] as usize] = true;
        j += 1;
    }
    t
}

/// `token` of RFC 3261 section 25.1.
pub(crate) static TOKEN: [bool; 256] = build(b"-.!%*_+`'~", true);
/// `word` (Call-ID parts).
pub(crate) static WORD: [bool; 256] = build(b"-.!%*_+`'~()<>:\\\"/[]?{}", true);
/// userinfo user part: unreserved / escaped / user-unreserved.
pub(crate) static USER: [bool; 256] = build(b"-_.!~*'()%&=+$,;?/", true);
/// userinfo password part.
pub(crate) static PASSWORD: [bool; 256] = build(b"-_.!~*'()%&=+$,", true);
/// URI parameter characters (paramchar) plus the separator '='.
pub(crate) static PARAM: [bool; 256] = build(b"-_.!~*'()%[]/:&+$", true);
/// URI header characters (hnv-unreserved / unreserved / escaped).
pub(crate) static HNV: [bool; 256] = build(b"-_.!~*'()%[]/?:+$", true);
/// Host name characters (lenient: '_' is seen in the field).
pub(crate) static HOSTNAME: [bool; 256] = build(b"-._", true);
/// Header parameter value characters: token plus what a host or IPv6 address needs (RFC 5118 section 4.5
/// shows an unbracketed IPv6 `received`).
pub(crate) static GEN_VALUE: [bool; 256] = build(b"-.!%*_+`'~:[]", true);
/// Characters allowed in an opaque URI of an unknown scheme (no white space, no controls, no '<' '>' '"').
pub(crate) static OPAQUE: [bool; 256] = build(b"-_.!~*'()%;/?:@&=+$,#[]{}|^`\\", true);
/// tel URI characters (number, visual separators, parameters).
pub(crate) static TEL: [bool; 256] = build(b"+-.()*#;=%:/[]&$!~_'", true);

/// A control byte that may never appear raw in a start line or a header (HT is white space).
#[inline]
pub(crate) fn is_ctl(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

#[inline]
pub(crate) fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Skips linear white space (including folded line breaks) from `i`.
#[inline]
pub(crate) fn skip_lws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_lws(s[i]) {
        i += 1;
    }
    i
}

/// Trims linear white space on both ends.
#[inline]
pub(crate) fn trim_lws(s: &str) -> &str {
    let b = s.as_bytes();
    let mut i = 0;
    let mut j = b.len();
    while i < j && is_lws(b[i]) {
        i += 1;
    }
    while j > i && is_lws(b[j - 1]) {
        j -= 1;
    }
    // Both ends stop at ASCII bytes, so they are char boundaries.
    s.get(i..j).unwrap_or("")
}

/// Length of the run of bytes of class `t` starting at `i`.
#[inline]
pub(crate) fn run(s: &[u8], i: usize, t: &[bool; 256]) -> usize {
    let mut j = i;
    // Four bytes per step with one branch (the lookups are AND-ed, not short-circuited): runs are names,
    // hosts and tokens of 3-20 bytes, where the per-byte branch was the cost.
    while let Some(w) = s.get(j..j + 4) {
        let Ok([a, b, c, d]) = <[u8; 4]>::try_from(w) else {
            break;
        };
        if !(t[a as usize] & t[b as usize] & t[c as usize] & t[d as usize]) {
            break;
        }
        j += 4;
    }
    while j < s.len() && t[s[j] as usize] {
        j += 1;
    }
    j - i
}

/// Position of the first `needle` in `hay` (same contract as `memchr::memchr`). Header values and URIs are
/// short, where the call and set-up of the vectorised memchr cost more than this inlined word-at-a-time scan
/// (`y - 0x01..` borrows out of exactly the zero bytes of `y = word ^ needle`; the lowest flag is exact).
#[inline]
pub(crate) fn find_byte(needle: u8, hay: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let pat = u64::from(needle) * ONES;
    let mut i = 0;
    while let Some(w) = hay.get(i..i + 8) {
        let Ok(arr) = <[u8; 8]>::try_from(w) else {
            break;
        };
        let y = u64::from_le_bytes(arr) ^ pat;
        let hit = y.wrapping_sub(ONES) & !y & HIGH;
        if hit != 0 {
            return Some(i + (hit.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    while let Some(&c) = hay.get(i) {
        if c == needle {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Position of the first of three bytes in `hay` (the word-at-a-time scan of [`find_byte`], for each).
#[inline]
pub(crate) fn find_any(x: u8, y: u8, z: u8, hay: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_in = |w: u64| w.wrapping_sub(ONES) & !w & HIGH;
    let (px, py, pz) = (
        u64::from(x) * ONES,
        u64::from(y) * ONES,
        u64::from(z) * ONES,
    );
    let mut i = 0;
    while let Some(w) = hay.get(i..i + 8) {
        let Ok(arr) = <[u8; 8]>::try_from(w) else {
            break;
        };
        let w = u64::from_le_bytes(arr);
        // A flag word may flag bytes above its first true hit (the borrow), never below: the lowest flag of
        // the three OR-ed is the first hit of any.
        let hit = zero_in(w ^ px) | zero_in(w ^ py) | zero_in(w ^ pz);
        if hit != 0 {
            return Some(i + (hit.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    while let Some(&c) = hay.get(i) {
        if c == x || c == y || c == z {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Parses a quoted string starting at `i` (which must be '"'); returns the index after the closing quote.
/// Escapes (quoted-pair) may carry any byte but CR and LF.
pub(crate) fn quoted_end(s: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < s.len() {
        match s[j] {
            b'"' => return Some(j + 1),
            b'\\' => {
                let n = *s.get(j + 1)?;
                if n == b'\r' || n == b'\n' {
                    return None;
                }
                j += 2;
            }
            _ => j += 1,
        }
    }
    None
}

/// Checks that every control byte in a header value sits inside a quoted string right after a backslash (a
/// quoted-pair, which RFC 3261 allows for any byte but CR/LF) and that quotes balance.
pub(crate) fn controls_only_escaped(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b == b'"' {
            match quoted_end(s, i) {
                Some(e) => {
                    let inner = &s[i + 1..e - 1];
                    let mut k = 0;
                    while k < inner.len() {
                        if inner[k] == b'\\' {
                            k += 2;
                            continue;
                        }
                        if is_ctl(inner[k]) && !matches!(inner[k], b'\r' | b'\n') {
                            return false;
                        }
                        k += 1;
                    }
                    i = e;
                }
                None => return false,
            }
        } else if is_ctl(b) && !matches!(b, b'\r' | b'\n') {
            return false;
        } else {
            i += 1;
        }
    }
    true
}

/// Splits a header value on commas that are outside quoted strings and angle brackets. Empty elements are
/// returned (as empty, trimmed strings) so that validators can reject them.
#[derive(Clone, Debug)]
pub(crate) struct CommaSplit<'a> {
    s: &'a str,
    pos: usize,
    done: bool,
}

impl<'a> CommaSplit<'a> {
    pub(crate) fn new(s: &'a str) -> Self {
        CommaSplit {
            s,
            pos: 0,
            done: false,
        }
    }
}

impl<'a> Iterator for CommaSplit<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        if self.done {
            return None;
        }
        let b = self.s.as_bytes();
        let start = self.pos;
        // Fast path: no comma left means one element, whatever the quoting.
        if find_byte(b',', b.get(start..).unwrap_or(&[])).is_none() {
            self.done = true;
            return self.s.get(start..).map(trim_lws);
        }
        let mut i = start;
        let mut angle = false;
        // Jumps from one byte that matters to the next: outside angle brackets a quote, '<' or ','; inside,
        // a quote or '>' (every other byte, ',' within brackets included, changes nothing).
        loop {
            let rest = b.get(i..).unwrap_or(&[]);
            let hit = if angle {
                find_any(b'"', b'>', b'>', rest)
            } else {
                find_any(b'"', b'<', b',', rest)
            };
            let Some(k) = hit else { break };
            i += k;
            match b[i] {
                b'"' => match quoted_end(b, i) {
                    Some(e) => {
                        i = e;
                        continue;
                    }
                    None => break,
                },
                b'<' => angle = true,
                b'>' => angle = false,
                _ => {
                    self.pos = i + 1;
                    return self.s.get(start..i).map(trim_lws);
                }
            }
            i += 1;
        }
        self.done = true;
        self.s.get(start..).map(trim_lws)
    }
}

/// Parses an unsigned decimal made of ASCII digits only; `None` on empty, non-digit or overflow of u64.
pub(crate) fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

/// Classifies a decimal field that failed to parse: negative, overflowing, or not a number.
pub(crate) fn number_error(s: &[u8]) -> crate::error::ValueError {
    use crate::error::ValueError;
    if s.first() == Some(&b'-') {
        ValueError::Negative
    } else if !s.is_empty() && s.iter().all(u8::is_ascii_digit) {
        ValueError::Overflow
    } else if s.is_empty() {
        ValueError::Empty
    } else {
        ValueError::NotANumber
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-at-a-time split that the jumping one replaced.
    fn split_reference(s: &str) -> Vec<&str> {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let (mut start, mut i, mut angle) = (0, 0, false);
        while i < b.len() {
            match b[i] {
                b'"' => match quoted_end(b, i) {
                    Some(e) => {
                        i = e;
                        continue;
                    }
                    None => break,
                },
                b'<' => angle = true,
                b'>' => angle = false,
                b',' if !angle => {
                    out.push(trim_lws(&s[start..i]));
                    start = i + 1;
                }
                _ => {}
            }
            i += 1;
        }
        out.push(trim_lws(&s[start..]));
        out
    }

    proptest::proptest! {
        #[test]
        fn comma_split_splits_where_the_byte_loop_did(s in "[a<>\",\\\\ ;=]{0,40}") {
            let v: Vec<_> = CommaSplit::new(&s).collect();
            proptest::prop_assert_eq!(v, split_reference(&s));
        }
    }

    #[test]
    fn find_any_finds_the_first_of_three_bytes() {
        let hay = b"sip:a@b;x=1,\"q\" <c,d>, e>f";
        for start in 0..hay.len() {
            let h = &hay[start..];
            let naive = h.iter().position(|&c| c == b'"' || c == b'<' || c == b',');
            assert_eq!(find_any(b'"', b'<', b',', h), naive, "from {start}");
            let naive = h.iter().position(|&c| c == b'>');
            assert_eq!(find_any(b'>', b'>', b'>', h), naive, "from {start}");
        }
        // Bytes just above and below the needles (the borrow of the word-at-a-time scan).
        let tricky = [0x2b, 0x2d, 0x01, 0x00, 0x2c, 0x3b, 0x3d, 0x3c, 0x80, 0xff];
        assert_eq!(find_any(b'"', b'<', b',', &tricky), Some(4));
        assert_eq!(find_any(b'"', b'<', b'"', &tricky), Some(7));
    }

    #[test]
    fn comma_split_respects_quotes_and_brackets() {
        let v: Vec<_> = CommaSplit::new(r#""a, b" <sip:x@y;p=1,2>, <sip:z@w> , "#).collect();
        assert_eq!(v, vec![r#""a, b" <sip:x@y;p=1,2>"#, "<sip:z@w>", ""]);
    }

    #[test]
    fn controls_only_inside_quoted_pairs() {
        assert!(controls_only_escaped(
            b"\"BEL:\\\x07 NUL:\\\x00\" <sip:a@b>"
        ));
        assert!(!controls_only_escaped(b"\"BEL:\x07\" <sip:a@b>"));
        assert!(!controls_only_escaped(b"abc\x00"));
        assert!(!controls_only_escaped(b"\"unterminated"));
    }

    #[test]
    fn find_byte_agrees_with_memchr() {
        for len in 0..40 {
            for pos in 0..=len {
                for other in [None, Some(pos / 2), Some(pos + 1)] {
                    let mut v: Vec<u8> = (0..len).map(|k| 0x20 + (k as u8 % 90)).collect();
                    v.iter_mut().for_each(|c| {
                        if *c == b'@' {
                            *c = b'a'
                        }
                    });
                    for at in [Some(pos), other].into_iter().flatten() {
                        if let Some(c) = v.get_mut(at) {
                            *c = b'@';
                        }
                    }
                    assert_eq!(find_byte(b'@', &v), memchr::memchr(b'@', &v), "{v:?}");
                    let hi: Vec<u8> = v.iter().map(|c| c | 0x80).collect();
                    assert_eq!(find_byte(b'@', &hi), memchr::memchr(b'@', &hi));
                    assert_eq!(find_byte(0xc0, &hi), memchr::memchr(0xc0, &hi));
                }
            }
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_u64(b"0068"), Some(68));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(number_error(b"-999"), crate::error::ValueError::Negative);
        assert_eq!(
            number_error(b"99999999999999999999999"),
            crate::error::ValueError::Overflow
        );
        assert_eq!(number_error(b"12a"), crate::error::ValueError::NotANumber);
    }
}
