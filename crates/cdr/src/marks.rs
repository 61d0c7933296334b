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

/// Most fields a line may have to be taken by the split (longer lines take the scalar path).
pub(crate) const MAX_COLS: usize = 32;

/// Slots of [`Cols::bounds`]: the fields of a block are written at `k & (SLOTS - 1)` without a bounds check, and
/// a block is only walked while `k` ≤ [`MAX_COLS`], so `k` < `MAX_COLS + 65` ≤ `SLOTS` and no slot is reused.
const SLOTS: usize = 128;

/// Blocks classified before their fields are walked (the two loops each keep their state in registers).
const CHUNK: usize = 8;

/// The fields of one line as [`split_marked`] found them, and its scratch space (kept across lines).
#[derive(Clone, Debug)]
pub(crate) struct Cols {
    /// `(start, end)` of each field's text in the line (the first `n`), quotes excluded. A field with doubled
    /// quotes (bit set in `doubled`) still holds them (`a ""b""`): the caller collapses it.
    pub bounds: [(u32, u32); SLOTS],
    /// Number of fields in the line (at most [`MAX_COLS`] when the split took it).
    pub n: usize,
    /// Bit `k`: field `k` holds doubled quotes.
    pub doubled: u32,
    /// The CPU runs [`split_avx2`] (detected once, in [`Cols::new`]).
    avx2: bool,
    /// Per block of the chunk being split: field ends, quotes just before each byte, second quotes of pairs.
    ends: [u64; CHUNK],
    quote_before: [u64; CHUNK],
    pairs: [u64; CHUNK],
}

impl Cols {
    pub fn new() -> Cols {
        Cols {
            avx2: avx2_detected(),
            bounds: [(0, 0); SLOTS],
            n: 0,
            doubled: 0,
            ends: [0; CHUNK],
            quote_before: [0; CHUNK],
            pairs: [0; CHUNK],
        }
    }
}

/// A line that [`split_marked`] found to be all ASCII: its sub-slices are `str`s without a UTF-8 check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AsciiLine<'a>(&'a [u8]);

impl<'a> AsciiLine<'a> {
    /// Bytes `s..e` of the line as text, `None` when out of range.
    #[inline(always)]
    pub fn get(self, s: usize, e: usize) -> Option<&'a str> {
        let bytes = self.0.get(s..e)?;
        // SAFETY: an `AsciiLine` is only built by `split_with`, and only when its `high` test found no byte
        // ≥ 0x80 in the whole line (`buf[..len]`, which is `self.0`): ASCII bytes, and so any range of them,
        // are valid UTF-8. The test `a_line_with_a_high_byte_is_never_ascii` holds this.
        Some(unsafe { std::str::from_utf8_unchecked(bytes) })
    }

    /// The whole line as bytes.
    #[inline(always)]
    pub fn bytes(self) -> &'a [u8] {
        self.0
    }
}

/// What [`split_marked`] made of a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Marked<'a> {
    /// The line is ASCII, well formed and has at most [`MAX_COLS`] fields: `Cols` holds its fields.
    Fields(AsciiLine<'a>),
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

/// AVX2: 32 bytes per compare, `movemask` turns a compare into 32 mask bits. Like [`classify_sse2`], without
/// pointers: the 32 bytes are loaded as four `u64`s.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn classify_avx2(block: &[u8; 64], delim: u8, exact_high: bool) -> Masks {
    use std::arch::x86_64::{
        __m128i, __m256i, _mm_set_epi64x, _mm256_cmpeq_epi8, _mm256_movemask_epi8, _mm256_or_si256,
        _mm256_set_m128i, _mm256_set1_epi8,
    };
    let q = _mm256_set1_epi8(b'"' as i8);
    let d = _mm256_set1_epi8(delim as i8);
    let quarter = |i: usize| -> __m128i {
        let v = block
            .get(i..i + 16)
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .map_or(0, u128::from_le_bytes);
        _mm_set_epi64x((v >> 64) as i64, v as i64)
    };
    let half = |k: usize| -> __m256i { _mm256_set_m128i(quarter(32 * k + 16), quarter(32 * k)) };
    let (lo, hi) = (half(0), half(1));
    let bits = |x: __m256i, y: __m256i| {
        u64::from(_mm256_movemask_epi8(x) as u32) | u64::from(_mm256_movemask_epi8(y) as u32) << 32
    };
    Masks {
        quote: bits(_mm256_cmpeq_epi8(lo, q), _mm256_cmpeq_epi8(hi, q)),
        delim: bits(_mm256_cmpeq_epi8(lo, d), _mm256_cmpeq_epi8(hi, d)),
        high: if exact_high {
            bits(lo, hi)
        } else {
            u64::from(_mm256_movemask_epi8(_mm256_or_si256(lo, hi)) as u32)
        },
    }
}

/// [`prefix_xor`] by one carry-less multiply by all ones.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "pclmulqdq")]
#[inline]
fn prefix_xor_clmul(x: u64) -> u64 {
    use std::arch::x86_64::{_mm_clmulepi64_si128, _mm_cvtsi128_si64, _mm_set_epi64x};
    let product = _mm_clmulepi64_si128(_mm_set_epi64x(0, x as i64), _mm_set_epi64x(0, -1), 0);
    _mm_cvtsi128_si64(product) as u64
}

/// The CPU has what [`split_avx2`] is compiled for.
fn avx2_detected() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("bmi1")
            && std::is_x86_feature_detected!("popcnt")
            && std::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
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
/// that break a rule, hold a byte ≥ 0x80 or more than [`MAX_COLS`] fields give [`Marked::Other`] (`cols` is then
/// meaningless).
pub(crate) fn split_marked<'a>(
    buf: &'a [u8],
    len: usize,
    delim: u8,
    cols: &mut Cols,
) -> Marked<'a> {
    #[cfg(target_arch = "x86_64")]
    if cols.avx2 {
        // SAFETY: `split_avx2` requires AVX2, BMI1, POPCNT and PCLMULQDQ; `cols.avx2` is set only by
        // `Cols::new`, from `avx2_detected`, which found all four on this CPU at run time.
        return unsafe { split_avx2(buf, len, delim, cols) };
    }
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        split_marked_sse2(buf, len, delim, cols)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    split_with(buf, len, delim, cols, classify_swar, prefix_xor)
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
fn split_sse2<'a>(buf: &'a [u8], len: usize, delim: u8, cols: &mut Cols) -> Marked<'a> {
    split_with(
        buf,
        len,
        delim,
        cols,
        |b, d, exact| classify_sse2(b, d, exact),
        prefix_xor,
    )
}

/// The split with 32-byte compares, the prefix-xor by carry-less multiply, and BMI1/POPCNT for the mask walks.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,bmi1,popcnt,pclmulqdq")]
fn split_avx2<'a>(buf: &'a [u8], len: usize, delim: u8, cols: &mut Cols) -> Marked<'a> {
    split_with(
        buf,
        len,
        delim,
        cols,
        |b, d, exact| classify_avx2(b, d, exact),
        |x| prefix_xor_clmul(x),
    )
}

/// Without SSE2, the tests' SSE2 split is the SWAR one.
#[cfg(all(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
pub(crate) use self::split_marked_swar as split_marked_sse2;

/// [`split_marked`] with the SSE2 masks whatever else the CPU has (its path without AVX2, and the tests').
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
pub(crate) fn split_marked_sse2<'a>(
    buf: &'a [u8],
    len: usize,
    delim: u8,
    cols: &mut Cols,
) -> Marked<'a> {
    // SAFETY: `split_sse2` only requires the SSE2 target feature, and this function is compiled only when SSE2
    // is enabled for the whole build (`cfg(target_feature = "sse2")`, part of every x86_64 target), so any CPU
    // that runs this code has it.
    unsafe { split_sse2(buf, len, delim, cols) }
}

/// What one block hands to the next (bit 0 of each speaks of the byte before the block).
struct Carry {
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
}

/// A block's masks, as its fields are walked: field ends, quotes just before each byte, second quotes of pairs.
struct Ends {
    ends: u64,
    quote_before: u64,
    pairs: u64,
}

impl Carry {
    /// Takes the block of masks `quote`/`delim` (already cut to the line); `end_bit` marks the line's end when it
    /// lies in this block (a virtual delimiter).
    #[inline(always)]
    fn block(&mut self, q: u64, delim: u64, end_bit: u64, prefix: impl Fn(u64) -> u64) -> Ends {
        let p = prefix(q) ^ self.inside;
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
        Ends {
            ends,
            quote_before,
            // Second quotes of doubled pairs: an opening quote after a quote (a field's first quote follows a
            // field end, never a quote).
            pairs: opening & quote_before,
        }
    }
}

/// Writes the fields that end in one block (starting at `base`) from field `*k` on; `PAIRS`: the block holds
/// second quotes of doubled pairs (`pairs`), whose fields are marked in `doubled`.
#[inline(always)]
fn walk<const PAIRS: bool>(
    e: &Ends,
    base: u32,
    k: &mut usize,
    field_start: &mut u32,
    doubled: &mut u64,
    bounds: &mut [(u32, u32); SLOTS],
) {
    let (mut bits, mut pairs) = (e.ends, e.pairs);
    let (mut kk, mut start) = (*k, *field_start);
    while bits != 0 {
        let bit = bits.trailing_zeros();
        let end = base + bit;
        // A quoted field ends with its closing quote, the byte before its end.
        let quoted = ((e.quote_before >> bit) & 1) as u32;
        if let Some(slot) = bounds.get_mut(kk & (SLOTS - 1)) {
            *slot = (start + quoted, end - quoted);
        }
        if PAIRS {
            // The bits up to this field end: a pair among them lies in this field.
            let upto = bits ^ (bits - 1);
            if pairs & upto != 0 {
                *doubled |= 1 << (kk & 63);
                pairs &= !upto;
            }
        }
        kk += 1;
        start = end + 1;
        bits &= bits - 1;
    }
    if PAIRS && pairs != 0 {
        // Pairs after the block's last field end: in the field that goes on into the next block.
        *doubled |= 1 << (kk & 63);
    }
    (*k, *field_start) = (kk, start);
}

#[inline(always)]
fn split_with<'a>(
    buf: &'a [u8],
    len: usize,
    delim: u8,
    cols: &mut Cols,
    classify: impl Fn(&[u8; 64], u8, bool) -> Masks,
    prefix: impl Fn(u64) -> u64 + Copy,
) -> Marked<'a> {
    let Some(line) = buf.get(..len) else {
        return Marked::Other;
    };
    if len >= u32::MAX as usize - 64 {
        return Marked::Other;
    }
    let mut carry = Carry {
        inside: 0,
        prev_quote: 0,
        prev_open_ok: 1,
        pending_close: 0,
        bad: 0,
    };
    let mut high = 0u64;
    let (mut k, mut field_start, mut doubled) = (0usize, 0u32, 0u64);
    let mut base = 0usize;
    let mut done = false;
    while !done {
        // Classify up to `CHUNK` blocks: whole blocks of the line (the line's end is a virtual delimiter at
        // `len`, so a line of 64 bytes ends in a block of its own), their high-bit test folded (any byte ≥
        // 0x80), then the last block, cut to the line.
        let chunk_base = base;
        let mut nb = 0usize;
        while nb < CHUNK {
            let e = if base + 64 <= len {
                let Some(block) = buf
                    .get(base..base + 64)
                    .and_then(|b| <&[u8; 64]>::try_from(b).ok())
                else {
                    return Marked::Other;
                };
                let m = classify(block, delim, false);
                high |= m.high;
                carry.block(m.quote, m.delim, 0, prefix)
            } else {
                // Bytes past the line are read when the buffer has them (or zeros), and cut off.
                let rest = len - base;
                let mut pad = [0u8; 64];
                let block = match buf
                    .get(base..base + 64)
                    .and_then(|b| <&[u8; 64]>::try_from(b).ok())
                {
                    Some(b) => b,
                    None => {
                        let tail = line.get(base..).unwrap_or(&[]);
                        if let Some(dst) = pad.get_mut(..tail.len()) {
                            dst.copy_from_slice(tail);
                        }
                        &pad
                    }
                };
                let m = classify(block, delim, true);
                let valid = (1u64 << rest) - 1;
                high |= m.high & valid;
                done = true;
                carry.block(m.quote & valid, m.delim & valid, 1 << rest, prefix)
            };
            if let (Some(a), Some(b), Some(c)) = (
                cols.ends.get_mut(nb),
                cols.quote_before.get_mut(nb),
                cols.pairs.get_mut(nb),
            ) {
                (*a, *b, *c) = (e.ends, e.quote_before, e.pairs);
            }
            nb += 1;
            base += 64;
            if done {
                break;
            }
        }
        // Walk the chunk's field ends.
        for i in 0..nb.min(CHUNK) {
            if k > MAX_COLS {
                return Marked::Other;
            }
            let (Some(&ends), Some(&quote_before), Some(&pairs)) = (
                cols.ends.get(i),
                cols.quote_before.get(i),
                cols.pairs.get(i),
            ) else {
                break;
            };
            let e = Ends {
                ends,
                quote_before,
                pairs,
            };
            let block_base = (chunk_base + 64 * i) as u32;
            let bounds = &mut cols.bounds;
            if pairs == 0 {
                walk::<false>(
                    &e,
                    block_base,
                    &mut k,
                    &mut field_start,
                    &mut doubled,
                    bounds,
                );
            } else {
                walk::<true>(
                    &e,
                    block_base,
                    &mut k,
                    &mut field_start,
                    &mut doubled,
                    bounds,
                );
            }
        }
    }
    cols.n = k;
    cols.doubled = doubled as u32;
    if carry.bad | high | carry.inside != 0 || k > MAX_COLS {
        Marked::Other
    } else {
        Marked::Fields(AsciiLine(line))
    }
}

#[cfg(test)]
pub(crate) fn split_marked_swar<'a>(
    buf: &'a [u8],
    len: usize,
    delim: u8,
    cols: &mut Cols,
) -> Marked<'a> {
    split_with(buf, len, delim, cols, classify_swar, prefix_xor)
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
            #[cfg(target_arch = "x86_64")]
            if avx2_detected() {
                // SAFETY: AVX2 was detected on this CPU just above.
                proptest::prop_assert_eq!(unsafe { classify_avx2(&block, delim, true) }, classify_swar(&block, delim, true));
                // SAFETY: as above.
                proptest::prop_assert_eq!(unsafe { classify_avx2(&block, delim, false) }.high != 0, !block.is_ascii());
            }
        }

        #[test]
        fn prefix_xor_by_multiply_is_prefix_xor(x in proptest::prelude::any::<u64>()) {
            #[cfg(target_arch = "x86_64")]
            if avx2_detected() {
                // SAFETY: PCLMULQDQ was detected on this CPU just above.
                proptest::prop_assert_eq!(unsafe { prefix_xor_clmul(x) }, prefix_xor(x));
            }
        }
    }

    /// The split this machine runs ([`split_avx2`] when the CPU has AVX2, BMI1, POPCNT and PCLMULQDQ, else the
    /// SSE2 one) gives the portable SWAR split's answer, fields and all, on lines of every shape: quoted fields,
    /// doubled quotes, empty fields, malformed quotes, high bytes, lines across 64-byte blocks and chunks. The
    /// test says which path it compared.
    #[test]
    fn the_machine_runs_the_avx2_split() {
        let long_quoted: Vec<u8> = (0..90)
            .flat_map(|i| format!("\"f{i} \"\"x\"\"\",{i},").into_bytes())
            .chain(*b"end")
            .collect();
        let lines: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"a,b,c".to_vec(),
            b",,,".to_vec(),
            b"\"acme\",\"205\",\"01023276123456\",\"2015-05-02 03:00:01\",30".to_vec(),
            b"\"a \"\"quoted\"\" word\",\"\",x".to_vec(),
            b"\"unterminated,a,b".to_vec(),
            b"a\"b,c".to_vec(),
            b"\"a\"b,c".to_vec(),
            "caf\u{e9},\"ext\"".as_bytes().to_vec(),
            (0..200)
                .map(|i| if i % 7 == 6 { b',' } else { b'a' })
                .collect(),
            (0..129)
                .map(|i| if i % 64 == 63 { b'"' } else { b'q' })
                .collect(),
            long_quoted,
        ];
        let avx2 = avx2_detected();
        assert_eq!(
            Cols::new().avx2,
            avx2,
            "Cols::new picks the path the CPU has"
        );
        if avx2 {
            eprintln!(
                "this CPU has AVX2/BMI1/POPCNT/PCLMULQDQ: split_avx2 compared with the SWAR split"
            );
        } else {
            eprintln!(
                "AVX2/BMI1/POPCNT/PCLMULQDQ missing: the SSE2 split compared with the SWAR split; split_avx2 is not tested here"
            );
        }
        let (mut fields, mut other) = (0, 0);
        for line in &lines {
            let len = line.len();
            // Bytes past the line are read to fill whole blocks: make them ones that would change the answer.
            let mut buf = line.clone();
            buf.extend(std::iter::repeat_n(b'"', 70));
            let (mut ours, mut swar) = (Cols::new(), Cols::new());
            let got = split_marked(&buf, len, b',', &mut ours);
            let want = split_marked_swar(&buf, len, b',', &mut swar);
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(line));
            match got {
                Marked::Fields(_) => {
                    fields += 1;
                    assert_eq!(
                        (ours.n, ours.doubled, &ours.bounds[..ours.n]),
                        (swar.n, swar.doubled, &swar.bounds[..swar.n]),
                        "{:?}",
                        String::from_utf8_lossy(line)
                    );
                }
                Marked::Other => other += 1,
            }
        }
        // Both answers were compared, not just one of them.
        assert!(fields >= 6 && other >= 3, "fields {fields}, other {other}");
    }

    proptest::proptest! {
        /// The proof behind [`AsciiLine`]: a line with a byte ≥ 0x80 anywhere (across blocks and chunks) is never
        /// taken, while the same line without it is, and bytes past the line do not count.
        #[test]
        fn a_line_with_a_high_byte_is_never_ascii(
            len in 1usize..1100,
            at in proptest::prelude::any::<proptest::sample::Index>(),
            high in 0x80u8..,
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..70),
        ) {
            let mut line: Vec<u8> = (0..len)
                .map(|i| match i % 40 {
                    39 => b',',
                    0 => b'"',
                    38 => b'"',
                    _ => b'a',
                })
                .collect();
            // The last field: unquoted, so that any length is well formed.
            for b in line.iter_mut().skip(len / 40 * 40) {
                *b = b'a';
            }
            line.extend_from_slice(&tail);
            let mut cols = Cols::new();
            for split in [split_marked, split_marked_sse2, split_marked_swar] {
                proptest::prop_assert_eq!(
                    split(&line, len, b',', &mut cols),
                    Marked::Fields(AsciiLine(&line[..len]))
                );
            }
            line[at.index(len)] = high;
            for split in [split_marked, split_marked_sse2, split_marked_swar] {
                proptest::prop_assert_eq!(split(&line, len, b',', &mut cols), Marked::Other);
            }
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
