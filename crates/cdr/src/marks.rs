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

/// Masks of one 64-byte block: bit `i` describes byte `i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Masks {
    quote: u64,
    delim: u64,
    high: u64,
}

/// SSE2: 16 bytes per compare, `movemask` turns a compare into 16 mask bits. The intrinsics are safe functions
/// (Rust 1.87) inside a function that enables SSE2; the 16 bytes are loaded as two `u64`s (`_mm_set_epi64x`),
/// without pointers.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
#[inline]
fn classify_sse2(block: &[u8; 64], delim: u8) -> Masks {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_movemask_epi8, _mm_set_epi64x, _mm_set1_epi8,
    };
    let q = _mm_set1_epi8(b'"' as i8);
    let d = _mm_set1_epi8(delim as i8);
    let mut m = Masks {
        quote: 0,
        delim: 0,
        high: 0,
    };
    for k in 0..4 {
        let (lo, hi) = (word(block, 16 * k), word(block, 16 * k + 8));
        let v: __m128i = _mm_set_epi64x(hi as i64, lo as i64);
        let bits = |x: __m128i| u64::from(_mm_movemask_epi8(x) as u32 & 0xffff) << (16 * k);
        m.quote |= bits(_mm_cmpeq_epi8(v, q));
        m.delim |= bits(_mm_cmpeq_epi8(v, d));
        m.high |= bits(v);
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
fn classify_swar(block: &[u8; 64], delim: u8) -> Masks {
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
    for k in 0..8 {
        let w = word(block, 8 * k);
        let shift = 8 * k;
        m.quote |= gather(zero_bytes(w ^ qpat)) << shift;
        m.delim |= gather(zero_bytes(w ^ dpat)) << shift;
        m.high |= gather(w & HIGH) << shift;
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
    split_with(buf, len, delim, cols, |b, d| classify_sse2(b, d))
}

#[inline(always)]
fn split_with(
    buf: &[u8],
    len: usize,
    delim: u8,
    cols: &mut Cols,
    classify: impl Fn(&[u8; 64], u8) -> Masks,
) -> Marked {
    if len > buf.len() || len >= u32::MAX as usize - 64 {
        return Marked::Other;
    }
    // State carried from one block to the next (bit 0 speaks of the byte before the block).
    let mut inside = 0u64; // all ones when the previous block ended inside quotes
    let mut prev_quote = 0u64; // the byte before is a quote
    let mut prev_open_ok = 1u64; // the byte before is a quote or a field end (the line start counts)
    let mut pending_close = 0u64; // the byte before is a parity-closing quote: this one must be a quote or end
    let mut open_pair = false; // a doubled pair seen in the field still open at the block's end
    let mut bad = 0u64;
    let mut high = 0u64;
    let mut field_start = 0u32;
    let mut k = 0usize;
    let mut doubled = 0u32;
    let mut base = 0usize;
    let mut pad = [0u8; 64];
    // Blocks cover 0..=len: the end of the line is a virtual delimiter at `len`.
    while base <= len {
        let rest = len - base;
        let block: &[u8; 64] = match buf.get(base..base + 64).and_then(|b| b.try_into().ok()) {
            Some(b) => b,
            None => {
                // Only the last block of a line can land here, so `pad` is still all zeros.
                let tail = buf.get(base..len).unwrap_or(&[]);
                if let Some(dst) = pad.get_mut(..tail.len()) {
                    dst.copy_from_slice(tail);
                }
                &pad
            }
        };
        let m = classify(block, delim);
        let (valid, end_bit) = if rest < 64 {
            ((1u64 << rest) - 1, 1u64 << rest)
        } else {
            (!0, 0)
        };
        let q = m.quote & valid;
        high |= m.high & valid;
        let p = prefix_xor(q) ^ inside;
        inside = ((p as i64) >> 63) as u64;
        let ends = (m.delim & valid & !p) | end_bit;
        let closing = q & !p;
        let opening = q & p;
        let quote_or_end = q | ends;
        bad |= pending_close & !quote_or_end;
        bad |= closing & !(quote_or_end >> 1) & !(1 << 63);
        pending_close = closing >> 63;
        bad |= opening & !((quote_or_end << 1) | prev_open_ok);
        prev_open_ok = quote_or_end >> 63;
        let quote_before = (q << 1) | prev_quote;
        prev_quote = q >> 63;
        // Second quotes of doubled pairs (an opening quote follows a field end, never a quote).
        let mut pairs = opening & quote_before;
        let mut e_bits = ends;
        while e_bits != 0 {
            let bit = e_bits.trailing_zeros();
            let e = (base as u32) + bit;
            let below = (1u64 << bit) - 1;
            // A quoted field ends with its closing quote, the byte before its end.
            let quoted = ((quote_before >> bit) & 1) as u32;
            let has_pair = open_pair || pairs & below != 0;
            pairs &= !below;
            open_pair = false;
            if let Some(slot) = cols.bounds.get_mut(k) {
                *slot = (field_start + quoted, e.wrapping_sub(quoted));
                doubled |= u32::from(has_pair) << k;
            }
            k += 1;
            field_start = e + 1;
            e_bits &= e_bits - 1;
        }
        open_pair |= pairs != 0;
        base += 64;
    }
    cols.n = k;
    cols.doubled = doubled;
    if bad | high | inside != 0 {
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
            proptest::prop_assert_eq!(unsafe { classify_sse2(&block, delim) }, classify_swar(&block, delim));
        }
    }

    #[test]
    fn swar_masks_by_byte() {
        let mut block = [b'a'; 64];
        block[0] = b'"';
        block[7] = b',';
        block[8] = 0xC3;
        block[63] = b'"';
        let m = classify_swar(&block, b',');
        assert_eq!(m.quote, 1 | 1 << 63);
        assert_eq!(m.delim, 1 << 7);
        assert_eq!(m.high, 1 << 8);
    }
}
