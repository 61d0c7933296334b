//! The guard's own identifiers as text, written on the stack: branches of the requests it forwards
//! (`z9hG4bKtg` and 16 hex digits of a keyed hash, RFC 3261 16.11) and the To-tags of its own answers.

/// What the guard's own branches start with (loop detection recognises it too).
pub(super) const BRANCH_PREFIX: &str = "z9hG4bKtg";
const BRANCH_LEN: usize = BRANCH_PREFIX.len() + 16;
const TAG_LEN: usize = 2 + 12;

/// The guard's branch text of a number: `z9hG4bKtg` and 16 lower-case hex digits, on the stack.
#[derive(Clone, Copy)]
pub(super) struct BranchText([u8; BRANCH_LEN]);

impl BranchText {
    pub(super) fn new(n: u64) -> BranchText {
        let mut b = [0u8; BRANCH_LEN];
        b[..BRANCH_PREFIX.len()].copy_from_slice(BRANCH_PREFIX.as_bytes());
        hex_into(&mut b[BRANCH_PREFIX.len()..], n);
        BranchText(b)
    }

    pub(super) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or(BRANCH_PREFIX)
    }
}

/// Writes the low `out.len()` hex digits of `n`, lower case, most significant first.
pub(super) fn hex_into(out: &mut [u8], mut n: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for c in out.iter_mut().rev() {
        *c = DIGITS[(n & 0xf) as usize];
        n >>= 4;
    }
}

/// The To-tag of the guard's own answers to a call: `tg` and 12 hex digits, on the stack.
#[derive(Clone, Copy)]
pub(super) struct TagText([u8; TAG_LEN]);

impl TagText {
    pub(super) fn new(n: u64) -> TagText {
        let mut b = [0u8; TAG_LEN];
        b[..2].copy_from_slice(b"tg");
        hex_into(&mut b[2..], n);
        TagText(b)
    }

    pub(super) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("tg")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_read_as_their_formatted_text() {
        for n in [0u64, 7, 0x0123_4567_89ab_cdef, u64::MAX] {
            assert_eq!(BranchText::new(n).as_str(), format!("z9hG4bKtg{n:016x}"));
            assert_eq!(
                TagText::new(n).as_str(),
                format!("tg{:012x}", n & 0xffff_ffff_ffff)
            );
        }
    }
}
