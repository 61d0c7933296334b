//! Figures as people read them: digits grouped by thousands with commas (`1,234,567`), the one way tollguard
//! writes amounts of money and call counts in notifications, reports and the demo (English and Japanese use
//! the same grouping). Here because every crate that writes such text already depends on `numbering`.

/// `1234567` → `"1,234,567"`, `-1234` → `"-1,234"`. Takes any integer up to 64 bits, signed or not.
pub fn group_thousands(n: impl Into<i128>) -> String {
    let n: i128 = n.into();
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::group_thousands;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(12), "12");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1000), "1,000");
        assert_eq!(group_thousands(5_000_000), "5,000,000");
        assert_eq!(group_thousands(-1234), "-1,234");
        assert_eq!(group_thousands(-999), "-999");
        assert_eq!(group_thousands(u64::MAX), "18,446,744,073,709,551,615");
        assert_eq!(group_thousands(i64::MIN), "-9,223,372,036,854,775,808");
    }
}
