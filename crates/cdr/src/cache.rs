//! A cache hint for the readers' callers: crates that replay records keep thousands of them in memory and come
//! back to each long after it was read. The one `unsafe` line lives here, where the crate's SIMD code is already
//! reviewed, so that those crates can forbid `unsafe` themselves.

/// Asks the CPU to start loading every cache line of `value` (a hint: nothing is read into the program, and
/// the program waits for nothing). Where the target has no prefetch instruction this does nothing.
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let p = std::ptr::from_ref(value).cast::<i8>();
        for line in (0..size_of::<T>()).step_by(64) {
            // SAFETY: a prefetch is only a hint to the cache: it reads nothing into the program, never faults
            // (even on a bad address) and writes no memory; the address is within `value` anyway.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(line)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefetching_changes_nothing() {
        let v = vec![[7u8; 300]; 3];
        for x in &v {
            super::prefetch(x);
        }
        super::prefetch(&());
        assert!(v.iter().all(|x| x.iter().all(|&b| b == 7)));
    }
}
