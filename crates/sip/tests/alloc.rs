//! Zero heap allocation on the hot path: parse the ~720-byte INVITE, decode the typed headers a guard
//! reads, and forward it into a reused buffer. Counted with a global allocator that counts per thread, so
//! the test harness's own threads do not disturb the figure.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: forwarding to the system allocator with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr was allocated by System with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: forwarding to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const INVITE: &[u8] = include_bytes!("fixtures/invite720.sip");

fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCS.with(Cell::get);
    f();
    ALLOCS.with(Cell::get) - before
}

fn decode(buf: &[u8]) -> usize {
    let m = sip::Message::parse(buf).expect("fixture parses");
    let mut acc = m.request_uri().map_or(0, |u| u.as_str().len());
    for v in m.via() {
        acc +=
            v.branch().map_or(0, str::len) + v.sent_by().len() + usize::from(v.rport().is_some());
    }
    acc += m.from_tag().map_or(0, str::len) + m.to_tag().map_or(0, str::len);
    acc += m.call_id().map_or(0, str::len);
    acc += m.cseq().map_or(0, |c| c.seq as usize);
    acc += m.max_forwards().map_or(0, usize::from);
    acc += m.content_length().map_or(0, |c| c as usize);
    acc += m.contacts().count();
    acc += m.user_agent().map_or(0, str::len);
    acc += m.transaction_key().map_or(0, |k| k.branch.len());
    acc
}

#[test]
fn parse_and_typed_decode_do_not_allocate() {
    assert!(decode(INVITE) > 0);
    let n = allocations_in(|| {
        std::hint::black_box(decode(std::hint::black_box(INVITE)));
    });
    assert_eq!(n, 0, "allocations on the parse + decode path");
}

#[test]
fn the_counter_sees_allocations() {
    // Guards against a counter that always reads zero.
    let n = allocations_in(|| {
        std::hint::black_box(vec![1u8; 16]);
    });
    assert_eq!(n, 1);
}

#[test]
fn forwarding_into_a_reused_buffer_does_not_allocate() {
    let m = sip::Message::parse(INVITE).expect("fixture parses");
    let mut out = Vec::with_capacity(2048);
    let n = allocations_in(|| {
        for _ in 0..3 {
            out.clear();
            sip::Forward::new(&m)
                .push_via("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKguard1")
                .record_route("<sip:192.0.2.1;lr>")
                .decrement_max_forwards()
                .request_uri("sip:+442079460123@10.0.0.5")
                .write_to(&mut out)
                .expect("forward");
        }
    });
    assert_eq!(n, 0, "allocations while forwarding into a reused buffer");
    let mut resp = Vec::with_capacity(1024);
    let n = allocations_in(|| {
        sip::ResponseBuilder::new(&m, 403)
            .to_tag("gd1")
            .reason("destination blocked")
            .write_to(&mut resp)
            .expect("response");
    });
    assert_eq!(
        n, 0,
        "allocations while building a response into a reused buffer"
    );
}
