//! The key of a transaction of the guard: the branch it sent its request with and the request's method
//! (RFC 3261 section 17.1.3: a response matches the client transaction whose top Via branch and CSeq method
//! it carries). Both compare exactly, byte for byte, as the two strings they replace did.
//!
//! The guard's branches are `z9hG4bKtg` and 16 lower-case hex digits of a keyed hash (16.11): such a branch
//! is kept as its number, and the standard methods as a tag, so that matching a response builds no string.
//! Any other text (a branch the guard never made, an extension method) is kept as text.

use std::hash::{BuildHasher, Hash, Hasher};

use sip::Method;

use super::ids::BRANCH_PREFIX;
#[cfg(test)]
use super::ids::BranchText;

/// A branch of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Branch {
    /// `z9hG4bKtg` and exactly these 16 lower-case hex digits.
    Ours(u64),
    /// Any other text (never made by the guard's forwarding; a test or a restored dialog may bring one).
    Text(Box<str>),
}

/// A method of a transaction: a standard one by its tag, an extension method by its exact text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TxMethod {
    Known(Method<'static>),
    Other(Box<str>),
}

/// The key of a transaction: branch and method, compared exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TxKey {
    branch: Branch,
    method: TxMethod,
}

impl TxKey {
    /// The key of a request sent with one of the guard's own branches.
    pub(super) fn ours(branch: u64, method: Method<'_>) -> TxKey {
        TxKey {
            branch: Branch::Ours(branch),
            method: tx_method(method),
        }
    }

    /// The key of a branch and method as written in a message (a response's top Via and CSeq).
    pub(super) fn new(branch: &str, method: Method<'_>) -> TxKey {
        TxKey {
            branch: match parse_ours(branch) {
                Some(n) => Branch::Ours(n),
                None => Branch::Text(branch.into()),
            },
            method: tx_method(method),
        }
    }

    /// Whether this is the transaction of an INVITE (it lives longer).
    pub(super) fn is_invite(&self) -> bool {
        self.method == TxMethod::Known(Method::Invite)
    }
}

impl Hash for TxKey {
    /// The branch only: the guard's branches are already keyed hashes (an outsider cannot choose them), and
    /// the few transactions that share a branch (an INVITE and its CANCEL) differ by method.
    fn hash<H: Hasher>(&self, state: &mut H) {
        match &self.branch {
            Branch::Ours(n) => state.write_u64(*n),
            Branch::Text(t) => t.hash(state),
        }
    }
}

/// The number of one of the guard's branches; None for any other text (upper-case digits included: the
/// branch compares exactly).
fn parse_ours(branch: &str) -> Option<u64> {
    let digits = branch.strip_prefix(BRANCH_PREFIX)?.as_bytes();
    if digits.len() != 16 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &c| {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        Some(n << 4 | u64::from(d))
    })
}

fn tx_method(m: Method<'_>) -> TxMethod {
    TxMethod::Known(match m {
        Method::Invite => Method::Invite,
        Method::Ack => Method::Ack,
        Method::Bye => Method::Bye,
        Method::Cancel => Method::Cancel,
        Method::Register => Method::Register,
        Method::Options => Method::Options,
        Method::Info => Method::Info,
        Method::Update => Method::Update,
        Method::Prack => Method::Prack,
        Method::Subscribe => Method::Subscribe,
        Method::Notify => Method::Notify,
        Method::Refer => Method::Refer,
        Method::Message => Method::Message,
        Method::Publish => Method::Publish,
        Method::Other(s) => return TxMethod::Other(s.into()),
    })
}

/// Hashes a transaction key as it is: its branch number is a keyed hash already, so hashing it again
/// (SipHash, on every message) buys nothing.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct BranchHash;

impl BuildHasher for BranchHash {
    type Hasher = BranchHasher;
    fn build_hasher(&self) -> BranchHasher {
        BranchHasher(0)
    }
}

/// See [`BranchHash`]: a branch number passes through; other text (rare) is folded in with FNV-1a mixed by
/// a multiply. Text branches come from the guard itself or its store, never from an outsider (an
/// outsider's branch is only looked up), so their chains cannot be grown from outside.
pub(super) struct BranchHasher(u64);

impl Hasher for BranchHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0 ^ 0xcbf2_9ce4_8422_2325;
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const METHODS: &[&str] = &[
        "INVITE",
        "ACK",
        "BYE",
        "CANCEL",
        "REGISTER",
        "OPTIONS",
        "INFO",
        "UPDATE",
        "PRACK",
        "SUBSCRIBE",
        "NOTIFY",
        "REFER",
        "MESSAGE",
        "PUBLISH",
        "invite",
        "Invite",
        "FOO",
    ];

    fn key(branch: &str, method: &str) -> TxKey {
        TxKey::new(branch, Method::parse(method))
    }

    #[test]
    fn the_guards_branch_is_kept_as_its_number_and_reads_back() {
        for n in [0, 1, 0xdead_beef, u64::MAX] {
            let text = BranchText::new(n);
            assert_eq!(text.as_str(), format!("z9hG4bKtg{n:016x}"));
            assert_eq!(key(text.as_str(), "INVITE"), TxKey::ours(n, Method::Invite));
        }
    }

    #[test]
    fn branches_compare_exactly_like_their_text() {
        let ours = BranchText::new(0xabcd_ef01_2345_6789);
        let upper = ours.as_str().replace("abcdef", "ABCDEF");
        // RFC 3261 17.1.3 compares the branch as the guard sent it: other case, another branch.
        assert_ne!(key(ours.as_str(), "BYE"), key(&upper, "BYE"));
        assert_ne!(
            key(ours.as_str(), "BYE"),
            key(&format!("{}0", ours.as_str()), "BYE")
        );
        assert_ne!(key(ours.as_str(), "BYE"), key("z9hG4bKx", "BYE"));
        assert_eq!(key("z9hG4bKx", "BYE"), key("z9hG4bKx", "BYE"));
        // Methods are case-sensitive (RFC 3261 7.1).
        assert_ne!(key(ours.as_str(), "INVITE"), key(ours.as_str(), "invite"));
        assert_ne!(key(ours.as_str(), "INVITE"), key(ours.as_str(), "CANCEL"));
        assert!(key(ours.as_str(), "INVITE").is_invite());
        assert!(!key(ours.as_str(), "invite").is_invite());
    }

    fn branch_text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<u64>().prop_map(|n| BranchText::new(n).as_str().to_owned()),
            "z9hG4bKtg[0-9a-fA-F]{14,18}",
            "z9hG4bK[a-zA-Z0-9.!%*_+`'~-]{0,30}",
        ]
    }

    proptest! {
        /// The compact key matches exactly when the two strings it replaces were equal.
        #[test]
        fn keys_are_equal_exactly_when_the_strings_were(
            b1 in branch_text(),
            b2 in branch_text(),
            m1 in proptest::sample::select(METHODS),
            m2 in proptest::sample::select(METHODS),
        ) {
            let strings_equal = (b1.as_str(), m1) == (b2.as_str(), m2);
            let (k1, k2) = (key(&b1, m1), key(&b2, m2));
            prop_assert_eq!(k1 == k2, strings_equal);
            prop_assert_eq!(k1 == key(&b1.clone(), m1), true);
            if k1 == k2 {
                let build = BranchHash;
                prop_assert_eq!(build.hash_one(&k1), build.hash_one(&k2));
            }
        }
    }
}
