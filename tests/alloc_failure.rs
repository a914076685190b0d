//! Allocation failure, with a `#[global_allocator]` that fails on demand (its own test binary,
//! `harness = false`, so the allocator is this process's and no other test allocates
//! concurrently).
//!
//! What pygc promises when memory runs out:
//! - `Heap::try_alloc` gives the value back, intact, as `Err(AllocError(value))`; the heap is
//!   unchanged (live objects, counts) and stays consistent and usable.
//! - `Heap::alloc` (and `alloc_with_finalizer`, `alloc_with_legacy_finalizer`, and the weak
//!   reference object `Gc::downgrade` allocates) calls `std::alloc::handle_alloc_error`, which
//!   aborts the process. That is checked in a child process, never in this one.
// A `GlobalAlloc` impl is necessarily unsafe.
#![allow(unsafe_code)]
// The value is big on purpose: only its box reaches the failing allocation size.
#![allow(clippy::result_large_err)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::RefCell;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use pygc::{AllocError, Gc, Heap, Trace};

/// Allocations of at least this many bytes fail (usize::MAX: none fail).
static FAIL_FROM_SIZE: AtomicUsize = AtomicUsize::new(usize::MAX);
/// Allocations refused so far.
static REFUSED: AtomicUsize = AtomicUsize::new(0);

struct FailOnDemand;

// SAFETY: forwards to `System`, or returns null (allowed: "allocation failed").
unsafe impl GlobalAlloc for FailOnDemand {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= FAIL_FROM_SIZE.load(Ordering::Relaxed) {
            REFUSED.fetch_add(1, Ordering::Relaxed);
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: every non-null pointer we handed out came from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: FailOnDemand = FailOnDemand;

/// Big enough that only its box reaches the failing size.
const BIG: usize = 64 * 1024;

#[derive(Trace)]
struct Big {
    #[trace(skip)]
    bytes: Box<[u8; 16]>,
    #[trace(skip)]
    pad: [u8; BIG],
    edges: RefCell<Vec<Gc<Big>>>,
}

fn big(tag: u8) -> Big {
    Big {
        bytes: Box::new([tag; 16]),
        pad: [tag; BIG],
        edges: RefCell::new(Vec::new()),
    }
}

/// Refuse allocations of at least `BIG` bytes while `f` runs.
fn failing<R>(f: impl FnOnce() -> R) -> R {
    FAIL_FROM_SIZE.store(BIG, Ordering::Relaxed);
    let r = f();
    FAIL_FROM_SIZE.store(usize::MAX, Ordering::Relaxed);
    r
}

fn try_alloc_gives_the_value_back() {
    let heap = Heap::new();
    let a = heap.alloc(big(1));
    a.edges.borrow_mut().push(a.clone());
    let (live, count) = (heap.live_objects(), heap.count());
    let refused = REFUSED.load(Ordering::Relaxed);
    let value = big(7); // allocated before failures start
    let result = failing(|| heap.try_alloc(value));
    let Err(AllocError(value)) = result else {
        panic!("try_alloc succeeded under a failing allocator")
    };
    assert!(
        REFUSED.load(Ordering::Relaxed) > refused,
        "the box allocation was not refused"
    );
    assert_eq!(*value.bytes, [7; 16], "value damaged");
    assert!(value.pad.iter().all(|&b| b == 7), "value damaged");
    assert_eq!(
        heap.live_objects(),
        live,
        "a failed allocation changed live_objects"
    );
    assert_eq!(heap.count(), count, "a failed allocation changed count()");
    heap.check_invariants();

    // Usable afterwards: the returned value allocates fine, cycles are still collected.
    let b = heap
        .try_alloc(value)
        .unwrap_or_else(|_| panic!("allocation after the failure"));
    b.edges.borrow_mut().push(a.clone());
    a.edges.borrow_mut().push(b.clone());
    drop((a, b));
    assert_eq!(heap.collect(), 2);
    assert_eq!(heap.live_objects(), 0);
    heap.check_invariants();
}

fn try_alloc_fails_repeatedly_without_drift() {
    let heap = Heap::new();
    let mut value = big(3);
    for _ in 0..100 {
        match failing(|| heap.try_alloc(value)) {
            Err(AllocError(v)) => value = v,
            Ok(_) => panic!("try_alloc succeeded under a failing allocator"),
        }
    }
    assert_eq!(heap.count(), [0, 0, 0]);
    assert_eq!(heap.live_objects(), 0);
    heap.check_invariants();
    let ok = heap
        .try_alloc(value)
        .ok()
        .expect("allocation after the failures");
    assert_eq!(*ok.bytes, [3; 16]);
}

/// In the child: `alloc` under failure must abort (handle_alloc_error), never return.
fn child_alloc_aborts() -> ! {
    let heap = Heap::new();
    let value = big(9);
    let g = failing(|| heap.alloc(value));
    drop(g);
    println!("alloc returned under a failing allocator");
    std::process::exit(0);
}

fn alloc_aborts_in_a_child_process() {
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .env("PYGC_ALLOC_FAILURE_CHILD", "1")
        .output()
        .expect("spawn child");
    assert!(
        !out.status.success(),
        "alloc returned under a failing allocator: {out:?}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("memory allocation"),
        "expected handle_alloc_error's message, got {stderr}"
    );
}

fn main() {
    if std::env::var_os("PYGC_ALLOC_FAILURE_CHILD").is_some() {
        child_alloc_aborts();
    }
    let tests: [(&str, fn()); 3] = [
        (
            "try_alloc_gives_the_value_back",
            try_alloc_gives_the_value_back,
        ),
        (
            "try_alloc_fails_repeatedly_without_drift",
            try_alloc_fails_repeatedly_without_drift,
        ),
        (
            "alloc_aborts_in_a_child_process",
            alloc_aborts_in_a_child_process,
        ),
    ];
    for (name, test) in tests {
        test();
        println!("test {name} ... ok");
    }
    println!("\ntest result: ok. {} passed", tests.len());
}
