//! A warm classification allocates nothing: the normaliser works in inline buffers, the prefix cache is a fixed
//! table and the risk reason is shared text. Counted with a global allocator; one test in this binary so that
//! no other test allocates while it counts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use numbering::{Numbering, RiskTier, Scope};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwards the caller's layout to the system allocator unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with this layout (every allocation goes through `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn warm_classification_does_not_allocate() {
    let n = Numbering::japan_defaults();
    let dialed = [
        "0312345678",
        "09012345678",
        "0120123456",
        "010442079460000",
        "+12125550123",
        "#010232761234567",
        "*010232761234567",
        "0033010232761234",
        "001-1-212-555-0123",
        "184 010 44 20 7946 0000",
        "03-1234-5678",
        "(03) 1234 5678",
        "tel:+23276123456",
        "sip:0102327612345@pbx.example;user=phone",
        "\"Front desk\" <sip:+81312345678@pbx>",
        "0108707720012345",
        "01097912345678",
        "110",
        "#110",
        "0-119",
        "1234",
        "*72",
        "*7201012125550123",
        "104",
        "abc",
        "",
        // Readings weighed against their rivals (another country's prefix, a call hidden after +81, another
        // country's phone-context): the slow path, still without allocating.
        "0011972592123456",
        "9011972592123456",
        "00532761234567",
        "0053450102327612345",
        "+8110232761234",
        "0112223333",
        "9011 999 123456789",
        "tel:110;phone-context=+1",
        "tel:01023276123456;phone-context=+1",
    ];
    // Warm: prefix cache filled, lazily written reasons written, lazy tables built.
    let expected: Vec<_> = dialed.iter().map(|d| n.classify(d)).collect();
    assert_eq!(expected[5].risk, RiskTier::Critical);
    assert_eq!(expected[17].scope, Scope::Emergency);

    ALLOCATIONS.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    let mut same = 0;
    for _ in 0..100 {
        for (d, e) in dialed.iter().zip(&expected) {
            let got = n.classify(std::hint::black_box(d));
            same += usize::from(&got == e);
        }
    }
    COUNTING.store(false, Ordering::Relaxed);
    assert_eq!(same, 100 * dialed.len());
    assert_eq!(
        ALLOCATIONS.load(Ordering::Relaxed),
        0,
        "allocations while classifying warm"
    );
}
