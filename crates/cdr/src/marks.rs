//! Field splitting by bitmasks, for the Asterisk fast path: 64 bytes of a line at a time become three 64-bit
//! masks (quotes, delimiters, bytes ≥ 0x80), quote parity comes from a prefix-xor of the quote mask, and the
//! field ends are the delimiters outside quotes, walked with `trailing_zeros`: no byte loop and no search call
//! per field.
//!
//! It only takes lines it can read *exactly* as [`crate::csv::split_in_place`] does: all ASCII, every quote at
//! a place RFC 4180 allows (see [`split_marked`]). Anything else (a stray quote in an unquoted field, text after a
//! closing quote, an unterminated quote, a non-ASCII byte) returns [`Marked::Other`] and the caller takes the
//! byte-exact scalar path ([`crate::csv::scan_fields`]), which also produces the error. A proptest holds the two
//! equal.
//!
//! The masks come from SSE2 on x86_64 (baseline there; the value intrinsics are safe functions since Rust 1.87)
//! and from a portable SWAR version elsewhere; a test holds both equal on every target that has SSE2.

/// Fields whose ranges are kept (the line's total field count is still counted past it).
pub(crate) const MAX_COLS: usize = 32;

/// The fields of one line as [`split_marked`] found them.
#[derive(Clone, Debug)]
pub(crate) struct Cols {
    /// `(start, end)` of each of the first [`MAX_COLS`] fields' text in the line, quotes excluded. A field with
    /// doubled quotes (bit set in `doubled`) still holds them (`a ""b""`): the caller collapses it.
    pub bounds: [(u32, u32); MAX_COLS],
    /// Number of fields in the line (may exceed [`MAX_COLS`]).
    pub n: usize,
    /// Bit `k`: field `k` (< [`MAX_COLS`]) holds doubled quotes.
    pub doubled: u32,
}

impl Cols {
    pub fn new() -> Cols {
        Cols {
            bounds: [(0, 0); MAX_COLS],
            n: 0,
            doubled: 0,
        }
    }
}

/// What [`split_marked`] made of a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Marked {
    /// The line is ASCII and well formed: `Cols` holds its fields.
    Fields,
    /// Anything else: read the line with the scalar path.
    Other,
}

/// Masks of one 64-byte block: bit `i` of `quote`/`delim` describes byte `i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Masks {
    quote: u64,
    delim: u64,
    /// With an exact classification bit `i` is set when byte `i` is ≥ 0x80; else only nonzero when any is.
    high: u64,
}

/// SSE2: 16 bytes per compare, `movemask` turns a compare into 16 mask bits. The intrinsics are safe functions
/// (Rust 1.87) inside a function that enables SSE2; the 16 bytes are loaded as two `u64`s (`_mm_set_epi64x`),
/// without pointers.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
#[inline]
fn classify_sse2(block: &[u8; 64], delim: u8, exact_high: bool) -> Masks {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_movemask_epi8, _mm_or_si128, _mm_set_epi64x, _mm_set1_epi8,
        _mm_setzero_si128,
    };
    let q = _mm_set1_epi8(b'"' as i8);
    let d = _mm_set1_epi8(delim as i8);
    let mut m = Masks {
        quote: 0,
        delim: 0,
        high: 0,
    };
    let mut any = _mm_setzero_si128();
    for k in 0..4 {
        let (lo, hi) = (word(block, 16 * k), word(block, 16 * k + 8));
        let v: __m128i = _mm_set_epi64x(hi as i64, lo as i64);
        let bits = |x: __m128i| u64::from(_mm_movemask_epi8(x) as u32 & 0xffff) << (16 * k);
        m.quote |= bits(_mm_cmpeq_epi8(v, q));
        m.delim |= bits(_mm_cmpeq_epi8(v, d));
        if exact_high {
            m.high |= bits(v);
        } else {
            any = _mm_or_si128(any, v);
        }
    }
    if !exact_high {
        m.high = u64::from(_mm_movemask_epi8(any) as u32 & 0xffff);
    }
    m
}

/// Portable: eight bytes per word, an exact per-byte equality test (no carry crosses bytes), the byte flags
/// gathered into eight mask bits by one multiply.
#[cfg_attr(
    all(target_arch = "x86_64", target_feature = "sse2", not(test)),
    allow(dead_code)
)]
#[inline(always)]
fn classify_swar(block: &[u8; 64], delim: u8, exact_high: bool) -> Masks {
    const LO7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    /// 0x80 in every byte of `x` that is zero.
    fn zero_bytes(x: u64) -> u64 {
        !(((x & LO7).wrapping_add(LO7)) | x | LO7)
    }
    /// The 0x80 flags of the eight bytes as eight bits (byte 0 → bit 0).
    fn gather(flags: u64) -> u64 {
        ((flags >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
    }
    let qpat = ONES.wrapping_mul(u64::from(b'"'));
    let dpat = ONES.wrapping_mul(u64::from(delim));
    let mut m = Masks {
        quote: 0,
        delim: 0,
        high: 0,
    };
    let mut any = 0u64;
    for k in 0..8 {
        let w = word(block, 8 * k);
        let shift = 8 * k;
        m.quote |= gather(zero_bytes(w ^ qpat)) << shift;
        m.delim |= gather(zero_bytes(w ^ dpat)) << shift;
        if exact_high {
            m.high |= gather(w & HIGH) << shift;
        } else {
            any |= w;
        }
    }
    if !exact_high {
        m.high = any & HIGH;
    }
    m
}

/// The eight bytes of `block` at `i` (`i` ≤ 56; constant once the callers' loops are unrolled).
#[inline(always)]
fn word(block: &[u8; 64], i: usize) -> u64 {
    let bytes = block
        .get(i..i + 8)
        .and_then(|w| <[u8; 8]>::try_from(w).ok());
    u64::from_le_bytes(bytes.unwrap_or([0; 8]))
}

/// Bit `i` of the result: parity of the set bits of `x` at positions `0..=i`.
#[inline(always)]
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// Splits the line `buf[..len]` (bytes of `buf` past `len` are read to fill whole blocks but ignored) into
/// `cols`. `delim` must not be `"`.
///
/// With `p` the quote parity (odd inside quotes, counting the quote itself), a quote that makes it even
/// (closing, or first of a doubled pair) must be followed by a quote, a delimiter outside quotes or the end; a
/// quote that makes it odd (opening, or second of a pair) must follow a quote, a delimiter outside quotes or the
/// start; the line must end outside quotes. Then every field holding a quote starts and ends with one and holds
/// only doubled pairs in between: exactly the fields `split_in_place` reads, with the same boundaries. Lines
/// that break a rule, or hold a byte ≥ 0x80, give [`Marked::Other`] (`cols` is then meaningless).
pub(crate) fn split_marked(buf: &[u8], len: usize, delim: u8, cols: &mut Cols) -> Marked {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        // SAFETY: `split_sse2` only requires the SSE2 target feature, and this block is compiled only when
        // SSE2 is enabled for the whole build (`cfg(target_feature = "sse2")`, part of every x86_64 target), so
        // any CPU that runs this code has it.
        unsafe { split_sse2(buf, len, delim, cols) }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    split_with(buf, len, delim, cols, classify_swar)
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
fn split_sse2(buf: &[u8], len: usize, delim: u8, cols: &mut Cols) -> Marked {
    split_with(buf, len, delim, cols, |b, d, exact| {
        classify_sse2(b, d, exact)
    })
}

/// What one block hands to the next (bit 0 of each speaks of the byte before the block), and the results so far.
struct Scan {
    /// All ones when the previous block ended inside quotes.
    inside: u64,
    /// The byte before is a quote.
    prev_quote: u64,
    /// The byte before is a quote or a field end (the line start counts).
    prev_open_ok: u64,
    /// The byte before is a parity-closing quote: this one must be a quote or a field end.
    pending_close: u64,
    /// A quoting rule is broken somewhere.
    bad: u64,
    field_start: u32,
    k: usize,
    doubled: u32,
}

impl Scan {
    /// Takes the block of masks `quote`/`delim` (already cut to the line) starting at `base`; `end_bit` marks the
    /// line's end when it lies in this block (a virtual delimiter).
    #[inline(always)]
    fn block(&mut self, q: u64, delim: u64, end_bit: u64, base: u32, cols: &mut Cols) {
        let p = prefix_xor(q) ^ self.inside;
        self.inside = ((p as i64) >> 63) as u64;
        let ends = (delim & !p) | end_bit;
        let closing = q & !p;
        let opening = q & p;
        let quote_or_end = q | ends;
        self.bad |= self.pending_close & !quote_or_end;
        self.bad |= closing & !(quote_or_end >> 1) & !(1 << 63);
        self.pending_close = closing >> 63;
        self.bad |= opening & !((quote_or_end << 1) | self.prev_open_ok);
        self.prev_open_ok = quote_or_end >> 63;
        let quote_before = (q << 1) | self.prev_quote;
        self.prev_quote = q >> 63;
        // Second quotes of doubled pairs (an opening quote follows a field end, never a quote): rare, so the
        // field of each is found apart from the loop over field ends (the ends before it in this block).
        let mut pairs = opening & quote_before;
        while pairs != 0 {
            let before = ends & ((pairs & pairs.wrapping_neg()) - 1);
            let field = self.k + before.count_ones() as usize;
            if field < MAX_COLS {
                self.doubled |= 1 << field;
            }
            pairs &= pairs - 1;
        }
        let mut e_bits = ends;
        let (mut k, mut field_start) = (self.k, self.field_start);
        while e_bits != 0 {
            let bit = e_bits.trailing_zeros();
            let e = base + bit;
            // A quoted field ends with its closing quote, the byte before its end.
            let quoted = ((quote_before >> bit) & 1) as u32;
            if let Some(slot) = cols.bounds.get_mut(k) {
                *slot = (field_start + quoted, e - quoted);
            }
            k += 1;
            field_start = e + 1;
            e_bits &= e_bits - 1;
        }
        (self.k, self.field_start) = (k, field_start);
    }
}

#[inline(always)]
fn split_with(
    buf: &[u8],
    len: usize,
    delim: u8,
    cols: &mut Cols,
    classify: impl Fn(&[u8; 64], u8, bool) -> Masks,
) -> Marked {
    if len > buf.len() || len >= u32::MAX as usize - 64 {
        return Marked::Other;
    }
    let mut scan = Scan {
        inside: 0,
        prev_quote: 0,
        prev_open_ok: 1,
        pending_close: 0,
        bad: 0,
        field_start: 0,
        k: 0,
        doubled: 0,
    };
    let mut high = 0u64;
    // Whole blocks of the line (the line's end is a virtual delimiter at `len`, so a line of 64 bytes ends in
    // a block of its own); their high-bit test is folded (any byte ≥ 0x80).
    let mut base = 0usize;
    while base + 64 <= len {
        let Some(block) = buf
            .get(base..base + 64)
            .and_then(|b| <&[u8; 64]>::try_from(b).ok())
        else {
            return Marked::Other;
        };
        let m = classify(block, delim, false);
        high |= m.high;
        scan.block(m.quote, m.delim, 0, base as u32, cols);
        base += 64;
    }
    // The last block: bytes past the line are read when the buffer has them (or zeros), and cut off.
    let rest = len - base;
    let mut pad = [0u8; 64];
    let block = match buf
        .get(base..base + 64)
        .and_then(|b| <&[u8; 64]>::try_from(b).ok())
    {
        Some(b) => b,
        None => {
            let tail = buf.get(base..len).unwrap_or(&[]);
            if let Some(dst) = pad.get_mut(..tail.len()) {
                dst.copy_from_slice(tail);
            }
            &pad
        }
    };
    let m = classify(block, delim, true);
    let valid = (1u64 << rest) - 1;
    high |= m.high & valid;
    scan.block(
        m.quote & valid,
        m.delim & valid,
        1 << rest,
        base as u32,
        cols,
    );
    cols.n = scan.k;
    cols.doubled = scan.doubled;
    if scan.bad | high | scan.inside != 0 {
        Marked::Other
    } else {
        Marked::Fields
    }
}

#[cfg(test)]
pub(crate) fn split_marked_swar(buf: &[u8], len: usize, delim: u8, cols: &mut Cols) -> Marked {
    split_with(buf, len, delim, cols, classify_swar)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_xor_is_running_parity() {
        for x in [
            0u64,
            1,
            0b1001,
            0x8000_0000_0000_0001,
            !0,
            0x1234_5678_9abc_def0,
        ] {
            let mut want = 0u64;
            let mut parity = 0u64;
            for i in 0..64 {
                parity ^= (x >> i) & 1;
                want |= parity << i;
            }
            assert_eq!(prefix_xor(x), want, "{x:#x}");
        }
    }

    proptest::proptest! {
        #[test]
        fn sse2_and_swar_masks_agree(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 64), delim in proptest::prelude::any::<u8>()) {
            let block: [u8; 64] = bytes.try_into().expect("64 bytes");
            // SAFETY: as in `split_marked`: compiled only where SSE2 is enabled for the whole build.
            #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
            proptest::prop_assert_eq!(unsafe { classify_sse2(&block, delim, true) }, classify_swar(&block, delim, true));
            #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
            // SAFETY: as above.
            proptest::prop_assert_eq!(unsafe { classify_sse2(&block, delim, false) }.high != 0, classify_swar(&block, delim, false).high != 0);
            proptest::prop_assert_eq!(classify_swar(&block, delim, false).high != 0, !block.is_ascii());
        }
    }

    #[test]
    fn swar_masks_by_byte() {
        let mut block = [b'a'; 64];
        block[0] = b'"';
        block[7] = b',';
        block[8] = 0xC3;
        block[63] = b'"';
        let m = classify_swar(&block, b',', true);
        assert_eq!(m.quote, 1 | 1 << 63);
        assert_eq!(m.delim, 1 << 7);
        assert_eq!(m.high, 1 << 8);
    }
}
