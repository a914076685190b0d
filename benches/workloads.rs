//! The issue-9 workloads, pygc against every peer with the same node shapes, one criterion
//! benchmark per (workload, system), each in a fresh process. See benches/README.md.
//!
//! Node shapes (identical for every collector; rust-gc's cell is its `GcCell`):
//! - `N1 { e: RefCell<Option<Gc<N1>>> }`: one edge;
//! - `N4 { e: RefCell<[Option<Gc<N4>>; 4]> }`: four edges;
//! - `Root { v: RefCell<Vec<Gc<N4>>> }`: W3's root container, a heap object held by one
//!   external handle.
//!
//! Every node also carries a zero-sized `Tally` whose `Drop` counts frees, so each case checks
//! what the system actually freed (a collector that frees less than the workload's garbage
//! fails the run instead of looking fast).
//!
//! Workloads (automatic collection off for W1–W3; the graph is built untimed; only the one
//! full collection is timed):
//! - W1: n/2 garbage 2-cycles a <-> b;
//! - W2: one garbage ring of n nodes;
//! - W3: n live N4 nodes with 4 seeded random edges each, all held by the root: a collection
//!   that frees nothing;
//! - W4: churn `b = new(); a.e = b; a = b` for n steps with automatic collection **on**, then
//!   one collection; the whole loop is timed (Rc is the floor: it has no collector);
//! - W5a: allocate 32 B, write 8 B, free, repeated, on an otherwise empty allocator;
//! - W5b: 10,000 live blocks of random size 8..=512 B; each step frees a random one and
//!   allocates a random size in its slot.
//!
//! `cargo bench --manifest-path benches/Cargo.toml --bench workloads` runs everything: the
//! parent process runs each case in a child (this executable again, with `PYGC_WORKLOAD`
//! set) on an 8 MiB-stack thread; a child that dies (a recursive collector overflowing the
//! stack) is recorded as `overflow` in `<target>/criterion/workloads-outcomes.txt`. A filter
//! argument selects cases by name, e.g. `-- W3_1M`.
#![allow(missing_docs, unsafe_code)]
// gc_derive 0.5 expands to impls inside a const block.
#![allow(non_local_definitions)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::hint::black_box;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};

const STACK: usize = 8 << 20;
const SEED: u64 = 0x5eed_1234_abcd_ef01;
const ENV: &str = "PYGC_WORKLOAD";

// ---- the cases ------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum W {
    W1,
    W2,
    W3,
    W4,
    W5a,
    W5b,
}

/// (workload, n, systems). For W5, n is the number of alloc+free pairs per iteration.
const CASES: &[(W, usize, &[&str])] = &[
    (W::W1, 1_000_000, COLLECTORS),
    (W::W1, 100_000, COLLECTORS),
    (W::W2, 1_000_000, COLLECTORS),
    (W::W3, 1_000_000, COLLECTORS),
    (W::W3, 100_000, COLLECTORS),
    (W::W4, 1_000_000, CHURNERS),
    (W::W5a, 1_000_000, ALLOCATORS),
    (W::W5b, 1_000_000, ALLOCATORS),
];
const COLLECTORS: &[&str] = &[
    "pygc",
    "rust_cc",
    "bacon_rajan_cc",
    "rust_gc",
    "dumpster",
    "gcmodule",
];
const CHURNERS: &[&str] = &[
    "pygc",
    "rc",
    "rust_cc",
    "bacon_rajan_cc",
    "rust_gc",
    "dumpster",
    "gcmodule",
];
const ALLOCATORS: &[&str] = &["pygc", "mimalloc", "glibc"];

fn case_name(w: W, n: usize) -> String {
    let size = if n >= 1_000_000 {
        format!("{}M", n / 1_000_000)
    } else {
        format!("{}k", n / 1000)
    };
    match w {
        W::W5a => "W5a".into(),
        W::W5b => "W5b".into(),
        _ => format!("{w:?}_{size}"),
    }
}

// ---- counting frees -------------------------------------------------------------------------

thread_local! {
    static FREED: Cell<usize> = const { Cell::new(0) };
}

/// A zero-sized field of every node: its drop counts one freed node.
struct Tally;
impl Drop for Tally {
    #[inline]
    fn drop(&mut self) {
        FREED.with(|f| f.set(f.get() + 1));
    }
}
fn freed() -> usize {
    FREED.with(Cell::get)
}

/// xorshift64*: the same W3 graph for every system.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as usize % n
    }
}

// ---- one collector, as the workloads see it -------------------------------------------------

/// What W1–W4 need from a collector. `H1`/`H4`/`R` are strong handles to N1, N4 and Root.
trait Collector {
    type H1: Clone;
    type H4: Clone;
    type R;
    /// Automatic collection on (W4) or off (W1–W3).
    fn set_auto(&self, on: bool);
    fn new1(&self) -> Self::H1;
    fn set1(&self, a: &Self::H1, b: &Self::H1);
    fn new4(&self) -> Self::H4;
    fn set4(&self, a: &Self::H4, i: usize, b: &Self::H4);
    /// Clears all four edges (untimed teardown without deep recursion).
    fn clear4(&self, a: &Self::H4);
    fn root(&self, v: Vec<Self::H4>) -> Self::R;
    fn root_items(&self, r: &Self::R) -> Vec<Self::H4>;
    fn collect(&self);
    /// Bytes the system holds for its objects right now, where it can say (pygc: its pools'
    /// arenas plus large blocks); the profile mode divides it by n.
    fn footprint(&self) -> Option<usize> {
        None
    }
}

thread_local! {
    /// `Collector::footprint` just before the timed collection of the last W1–W3 run.
    static FOOTPRINT: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Builds W1–W3 untimed, times one collection, checks what was freed, tears down untimed.
fn run_collect<C: Collector>(c: &C, w: W, n: usize) -> Duration {
    c.set_auto(false);
    let before = freed();
    let (root, expected) = match w {
        W::W1 => {
            for _ in 0..n / 2 {
                let a = c.new1();
                let b = c.new1();
                c.set1(&a, &b);
                c.set1(&b, &a);
            }
            (None, n)
        }
        W::W2 => {
            let first = c.new1();
            let mut prev = first.clone();
            for _ in 1..n {
                let node = c.new1();
                c.set1(&prev, &node);
                prev = node;
            }
            c.set1(&prev, &first);
            (None, n)
        }
        W::W3 => {
            // Each node's construction handle is cloned into the root's list and then let go,
            // as code that builds a node, stores it and drops its local does. That decrement
            // makes every node a candidate root for the trial-deletion collectors (rust-cc,
            // bacon-rajan-cc, gcmodule's and dumpster's buffers); with no decrement at all
            // their collect has nothing to scan (measured: 0.0 ns per object), which is not a
            // collection of a live 1M-object heap.
            let nodes: Vec<C::H4> = (0..n)
                .map(|_| {
                    let local = c.new4();
                    let kept = local.clone();
                    drop(local);
                    kept
                })
                .collect();
            let mut rng = Rng(SEED);
            for node in &nodes {
                for i in 0..4 {
                    c.set4(node, i, &nodes[rng.below(n)]);
                }
            }
            (Some(c.root(nodes)), 0)
        }
        _ => unreachable!(),
    };
    assert_eq!(
        freed() - before,
        0,
        "{w:?}: something was freed while building"
    );
    FOOTPRINT.with(|f| f.set(c.footprint()));
    let start = Instant::now();
    c.collect();
    let elapsed = start.elapsed();
    assert_eq!(
        freed() - before,
        expected,
        "{w:?}: the collection freed the wrong number of nodes"
    );
    if let Some(root) = root {
        for node in c.root_items(&root) {
            c.clear4(&node);
        }
        drop(root);
        c.collect();
        assert_eq!(freed() - before, expected + n + 1, "{w:?}: teardown");
    }
    elapsed
}

/// W4: churn with automatic collection on, then one collection; all timed.
fn run_churn<C: Collector>(c: &C, n: usize) -> Duration {
    c.set_auto(true);
    let before = freed();
    let start = Instant::now();
    let mut a = c.new1();
    for _ in 0..n {
        let b = c.new1();
        c.set1(&a, &b);
        a = b;
    }
    drop(a);
    c.collect();
    let elapsed = start.elapsed();
    assert_eq!(freed() - before, n + 1, "W4: every node is freed");
    elapsed
}

// ---- pygc -----------------------------------------------------------------------------------

mod pygc_nodes {
    use super::*;
    use pygc::{Gc, Trace};

    #[derive(Trace)]
    pub struct N1 {
        pub e: RefCell<Option<Gc<N1>>>,
        #[trace(skip)]
        pub _t: Tally,
    }
    #[derive(Trace)]
    pub struct N4 {
        pub e: RefCell<[Option<Gc<N4>>; 4]>,
        #[trace(skip)]
        pub _t: Tally,
    }
    #[derive(Trace)]
    pub struct Root {
        pub v: RefCell<Vec<Gc<N4>>>,
        #[trace(skip)]
        pub _t: Tally,
    }

    pub struct Pygc(pub pygc::Heap);
    impl Collector for Pygc {
        type H1 = Gc<N1>;
        type H4 = Gc<N4>;
        type R = Gc<Root>;
        fn set_auto(&self, on: bool) {
            if on {
                self.0.enable()
            } else {
                self.0.disable()
            }
        }
        fn new1(&self) -> Gc<N1> {
            self.0.alloc(N1 {
                e: RefCell::new(None),
                _t: Tally,
            })
        }
        fn set1(&self, a: &Gc<N1>, b: &Gc<N1>) {
            *a.e.borrow_mut() = Some(b.clone());
        }
        fn new4(&self) -> Gc<N4> {
            self.0.alloc(N4 {
                e: RefCell::new([None, None, None, None]),
                _t: Tally,
            })
        }
        fn set4(&self, a: &Gc<N4>, i: usize, b: &Gc<N4>) {
            a.e.borrow_mut()[i] = Some(b.clone());
        }
        fn clear4(&self, a: &Gc<N4>) {
            *a.e.borrow_mut() = [None, None, None, None];
        }
        fn root(&self, v: Vec<Gc<N4>>) -> Gc<Root> {
            self.0.alloc(Root {
                v: RefCell::new(v),
                _t: Tally,
            })
        }
        fn root_items(&self, r: &Gc<Root>) -> Vec<Gc<N4>> {
            r.v.borrow().clone()
        }
        fn collect(&self) {
            self.0.collect();
        }
        fn footprint(&self) -> Option<usize> {
            let s = self.0.alloc_stats();
            Some(s.total_bytes + s.large_bytes)
        }
    }
}

// ---- Rc (W4's floor: no collector) ----------------------------------------------------------

mod rc_nodes {
    use super::*;
    use std::rc::Rc;

    pub struct N1 {
        pub e: RefCell<Option<Rc<N1>>>,
        pub _t: Tally,
    }
    pub struct RcSys;
    impl Collector for RcSys {
        type H1 = Rc<N1>;
        type H4 = ();
        type R = ();
        fn set_auto(&self, _: bool) {}
        fn new1(&self) -> Rc<N1> {
            Rc::new(N1 {
                e: RefCell::new(None),
                _t: Tally,
            })
        }
        fn set1(&self, a: &Rc<N1>, b: &Rc<N1>) {
            *a.e.borrow_mut() = Some(b.clone());
        }
        fn new4(&self) {}
        fn set4(&self, _: &(), _: usize, _: &()) {}
        fn clear4(&self, _: &()) {}
        fn root(&self, _: Vec<()>) {}
        fn root_items(&self, _: &()) -> Vec<()> {
            Vec::new()
        }
        fn collect(&self) {}
    }
}

// ---- rust-cc --------------------------------------------------------------------------------

mod rust_cc_nodes {
    use super::*;
    use rust_cc::{Cc, Finalize, Trace};

    #[derive(Trace, Finalize)]
    pub struct N1 {
        pub e: RefCell<Option<Cc<N1>>>,
        #[rust_cc(ignore)]
        pub _t: Tally,
    }
    #[derive(Trace, Finalize)]
    pub struct N4 {
        pub e: RefCell<[Option<Cc<N4>>; 4]>,
        #[rust_cc(ignore)]
        pub _t: Tally,
    }
    #[derive(Trace, Finalize)]
    pub struct Root {
        pub v: RefCell<Vec<Cc<N4>>>,
        #[rust_cc(ignore)]
        pub _t: Tally,
    }
    pub struct RustCc;
    impl Collector for RustCc {
        type H1 = Cc<N1>;
        type H4 = Cc<N4>;
        type R = Cc<Root>;
        fn set_auto(&self, on: bool) {
            rust_cc::config::config(|c| c.set_auto_collect(on)).expect("rust-cc config");
        }
        fn new1(&self) -> Cc<N1> {
            Cc::new(N1 {
                e: RefCell::new(None),
                _t: Tally,
            })
        }
        fn set1(&self, a: &Cc<N1>, b: &Cc<N1>) {
            *a.e.borrow_mut() = Some(b.clone());
        }
        fn new4(&self) -> Cc<N4> {
            Cc::new(N4 {
                e: RefCell::new([None, None, None, None]),
                _t: Tally,
            })
        }
        fn set4(&self, a: &Cc<N4>, i: usize, b: &Cc<N4>) {
            a.e.borrow_mut()[i] = Some(b.clone());
        }
        fn clear4(&self, a: &Cc<N4>) {
            *a.e.borrow_mut() = [None, None, None, None];
        }
        fn root(&self, v: Vec<Cc<N4>>) -> Cc<Root> {
            Cc::new(Root {
                v: RefCell::new(v),
                _t: Tally,
            })
        }
        fn root_items(&self, r: &Cc<Root>) -> Vec<Cc<N4>> {
            r.v.borrow().clone()
        }
        fn collect(&self) {
            rust_cc::collect_cycles();
        }
    }
}

// ---- bacon-rajan-cc -------------------------------------------------------------------------

mod bacon_nodes {
    use super::*;
    use bacon_rajan_cc::{Cc, Trace, Tracer};

    pub struct N1 {
        pub e: RefCell<Option<Cc<N1>>>,
        pub _t: Tally,
    }
    impl Trace for N1 {
        fn trace(&self, tracer: &mut Tracer) {
            if let Some(e) = &*self.e.borrow() {
                e.trace(tracer);
            }
        }
    }
    pub struct N4 {
        pub e: RefCell<[Option<Cc<N4>>; 4]>,
        pub _t: Tally,
    }
    impl Trace for N4 {
        fn trace(&self, tracer: &mut Tracer) {
            for e in self.e.borrow().iter().flatten() {
                e.trace(tracer);
            }
        }
    }
    pub struct Root {
        pub v: RefCell<Vec<Cc<N4>>>,
        pub _t: Tally,
    }
    impl Trace for Root {
        fn trace(&self, tracer: &mut Tracer) {
            for e in self.v.borrow().iter() {
                e.trace(tracer);
            }
        }
    }
    pub struct Bacon;
    impl Collector for Bacon {
        type H1 = Cc<N1>;
        type H4 = Cc<N4>;
        type R = Cc<Root>;
        /// bacon-rajan-cc never collects on its own.
        fn set_auto(&self, _: bool) {}
        fn new1(&self) -> Cc<N1> {
            Cc::new(N1 {
                e: RefCell::new(None),
                _t: Tally,
            })
        }
        fn set1(&self, a: &Cc<N1>, b: &Cc<N1>) {
            *a.e.borrow_mut() = Some(b.clone());
        }
        fn new4(&self) -> Cc<N4> {
            Cc::new(N4 {
                e: RefCell::new([None, None, None, None]),
                _t: Tally,
            })
        }
        fn set4(&self, a: &Cc<N4>, i: usize, b: &Cc<N4>) {
            a.e.borrow_mut()[i] = Some(b.clone());
        }
        fn clear4(&self, a: &Cc<N4>) {
            *a.e.borrow_mut() = [None, None, None, None];
        }
        fn root(&self, v: Vec<Cc<N4>>) -> Cc<Root> {
            Cc::new(Root {
                v: RefCell::new(v),
                _t: Tally,
            })
        }
        fn root_items(&self, r: &Cc<Root>) -> Vec<Cc<N4>> {
            r.v.borrow().clone()
        }
        fn collect(&self) {
            bacon_rajan_cc::collect_cycles();
        }
    }
}

// ---- rust-gc (`gc`) -------------------------------------------------------------------------

mod rust_gc_nodes {
    use super::*;
    use gc::{Finalize, Gc, GcCell, Trace};

    #[derive(Trace, Finalize)]
    pub struct N1 {
        pub e: GcCell<Option<Gc<N1>>>,
        #[unsafe_ignore_trace]
        pub _t: Tally,
    }
    #[derive(Trace, Finalize)]
    pub struct N4 {
        pub e: GcCell<[Option<Gc<N4>>; 4]>,
        #[unsafe_ignore_trace]
        pub _t: Tally,
    }
    #[derive(Trace, Finalize)]
    pub struct Root {
        pub v: GcCell<Vec<Gc<N4>>>,
        #[unsafe_ignore_trace]
        pub _t: Tally,
    }
    pub struct RustGc;
    impl Collector for RustGc {
        type H1 = Gc<N1>;
        type H4 = Gc<N4>;
        type R = Gc<Root>;
        fn set_auto(&self, on: bool) {
            // rust-gc collects when its allocated bytes pass a threshold (default 100 KiB,
            // growing); off = never.
            gc::configure(|c| c.threshold = if on { 100 << 10 } else { usize::MAX });
        }
        fn new1(&self) -> Gc<N1> {
            Gc::new(N1 {
                e: GcCell::new(None),
                _t: Tally,
            })
        }
        fn set1(&self, a: &Gc<N1>, b: &Gc<N1>) {
            *a.e.borrow_mut() = Some(b.clone());
        }
        fn new4(&self) -> Gc<N4> {
            Gc::new(N4 {
                e: GcCell::new([None, None, None, None]),
                _t: Tally,
            })
        }
        fn set4(&self, a: &Gc<N4>, i: usize, b: &Gc<N4>) {
            a.e.borrow_mut()[i] = Some(b.clone());
        }
        fn clear4(&self, a: &Gc<N4>) {
            *a.e.borrow_mut() = [None, None, None, None];
        }
        fn root(&self, v: Vec<Gc<N4>>) -> Gc<Root> {
            Gc::new(Root {
                v: GcCell::new(v),
                _t: Tally,
            })
        }
        fn root_items(&self, r: &Gc<Root>) -> Vec<Gc<N4>> {
            r.v.borrow().clone()
        }
        fn collect(&self) {
            gc::force_collect();
        }
    }
}

// ---- dumpster (unsync) ----------------------------------------------------------------------

mod dumpster_nodes {
    use super::*;
    use dumpster::unsync::Gc;

    unsafe impl<V: dumpster::Visitor> dumpster::TraceWith<V> for Tally {
        fn accept(&self, _: &mut V) -> Result<(), ()> {
            Ok(())
        }
    }

    #[derive(dumpster::Trace)]
    pub struct N1 {
        pub e: RefCell<Option<Gc<N1>>>,
        pub _t: Tally,
    }
    #[derive(dumpster::Trace)]
    pub struct N4 {
        pub e: RefCell<[Option<Gc<N4>>; 4]>,
        pub _t: Tally,
    }
    #[derive(dumpster::Trace)]
    pub struct Root {
        pub v: RefCell<Vec<Gc<N4>>>,
        pub _t: Tally,
    }
    pub struct Dumpster;
    impl Collector for Dumpster {
        type H1 = Gc<N1>;
        type H4 = Gc<N4>;
        type R = Gc<Root>;
        fn set_auto(&self, on: bool) {
            if on {
                dumpster::unsync::set_collect_condition(
                    dumpster::unsync::default_collect_condition,
                );
            } else {
                dumpster::unsync::set_collect_condition(|_| false);
            }
        }
        fn new1(&self) -> Gc<N1> {
            Gc::new(N1 {
                e: RefCell::new(None),
                _t: Tally,
            })
        }
        fn set1(&self, a: &Gc<N1>, b: &Gc<N1>) {
            *a.e.borrow_mut() = Some(b.clone());
        }
        fn new4(&self) -> Gc<N4> {
            Gc::new(N4 {
                e: RefCell::new([None, None, None, None]),
                _t: Tally,
            })
        }
        fn set4(&self, a: &Gc<N4>, i: usize, b: &Gc<N4>) {
            a.e.borrow_mut()[i] = Some(b.clone());
        }
        fn clear4(&self, a: &Gc<N4>) {
            *a.e.borrow_mut() = [None, None, None, None];
        }
        fn root(&self, v: Vec<Gc<N4>>) -> Gc<Root> {
            Gc::new(Root {
                v: RefCell::new(v),
                _t: Tally,
            })
        }
        fn root_items(&self, r: &Gc<Root>) -> Vec<Gc<N4>> {
            r.v.borrow().clone()
        }
        fn collect(&self) {
            dumpster::unsync::collect();
        }
    }
}

// ---- gcmodule -------------------------------------------------------------------------------

mod gcmodule_nodes {
    use super::*;
    use gcmodule::{Cc, Trace, Tracer};

    // Trace written by hand: gcmodule_derive 0.3's `is_type_tracked` recurses forever on a
    // recursive type.
    pub struct N1 {
        pub e: RefCell<Option<Cc<N1>>>,
        pub _t: Tally,
    }
    impl Trace for N1 {
        fn trace(&self, tracer: &mut Tracer) {
            self.e.trace(tracer);
        }
    }
    pub struct N4 {
        pub e: RefCell<[Option<Cc<N4>>; 4]>,
        pub _t: Tally,
    }
    impl Trace for N4 {
        fn trace(&self, tracer: &mut Tracer) {
            for e in self.e.borrow().iter().flatten() {
                e.trace(tracer);
            }
        }
    }
    pub struct Root {
        pub v: RefCell<Vec<Cc<N4>>>,
        pub _t: Tally,
    }
    impl Trace for Root {
        fn trace(&self, tracer: &mut Tracer) {
            self.v.trace(tracer);
        }
    }
    pub struct Gcmodule;
    impl Collector for Gcmodule {
        type H1 = Cc<N1>;
        type H4 = Cc<N4>;
        type R = Cc<Root>;
        /// gcmodule never collects on its own.
        fn set_auto(&self, _: bool) {}
        fn new1(&self) -> Cc<N1> {
            Cc::new(N1 {
                e: RefCell::new(None),
                _t: Tally,
            })
        }
        fn set1(&self, a: &Cc<N1>, b: &Cc<N1>) {
            *a.e.borrow_mut() = Some(b.clone());
        }
        fn new4(&self) -> Cc<N4> {
            Cc::new(N4 {
                e: RefCell::new([None, None, None, None]),
                _t: Tally,
            })
        }
        fn set4(&self, a: &Cc<N4>, i: usize, b: &Cc<N4>) {
            a.e.borrow_mut()[i] = Some(b.clone());
        }
        fn clear4(&self, a: &Cc<N4>) {
            *a.e.borrow_mut() = [None, None, None, None];
        }
        fn root(&self, v: Vec<Cc<N4>>) -> Cc<Root> {
            Cc::new(Root {
                v: RefCell::new(v),
                _t: Tally,
            })
        }
        fn root_items(&self, r: &Cc<Root>) -> Vec<Cc<N4>> {
            r.v.borrow().clone()
        }
        fn collect(&self) {
            gcmodule::collect_thread_cycles();
        }
    }
}

// ---- W5: allocators -------------------------------------------------------------------------

trait Alloc {
    fn alloc(&mut self, l: Layout) -> *mut u8;
    /// # Safety
    /// `p` came from `alloc` with `l` and is freed once.
    unsafe fn free(&mut self, p: *mut u8, l: Layout);
}
struct PygcAlloc(pygc::alloc::Allocator);
impl Alloc for PygcAlloc {
    #[inline(always)]
    fn alloc(&mut self, l: Layout) -> *mut u8 {
        self.0
            .alloc(l)
            .map_or(std::ptr::null_mut(), NonNull::as_ptr)
    }
    #[inline(always)]
    unsafe fn free(&mut self, p: *mut u8, l: Layout) {
        // SAFETY: forwarded contract; `alloc` never returned null here (checked by the caller).
        unsafe { self.0.dealloc(NonNull::new_unchecked(p), l) }
    }
}
struct Glibc;
impl Alloc for Glibc {
    #[inline(always)]
    fn alloc(&mut self, l: Layout) -> *mut u8 {
        // SAFETY: non-zero size.
        unsafe { System.alloc(l) }
    }
    #[inline(always)]
    unsafe fn free(&mut self, p: *mut u8, l: Layout) {
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(p, l) }
    }
}
struct Mi;
impl Alloc for Mi {
    #[inline(always)]
    fn alloc(&mut self, l: Layout) -> *mut u8 {
        // SAFETY: non-zero size.
        unsafe { mimalloc::MiMalloc.alloc(l) }
    }
    #[inline(always)]
    unsafe fn free(&mut self, p: *mut u8, l: Layout) {
        // SAFETY: forwarded contract.
        unsafe { mimalloc::MiMalloc.dealloc(p, l) }
    }
}

/// W5a: `n` pairs of (alloc 32 B, write 8 B, free) on an allocator with nothing else live.
fn w5a<A: Alloc>(a: &mut A, n: usize) -> Duration {
    let l = Layout::from_size_align(32, 8).unwrap();
    let start = Instant::now();
    for i in 0..n {
        let p = a.alloc(l);
        assert!(!p.is_null());
        // SAFETY: a fresh 32-byte block, 8-aligned.
        unsafe { p.cast::<u64>().write_volatile(i as u64) };
        // SAFETY: allocated just above with `l`.
        unsafe { a.free(black_box(p), l) };
    }
    start.elapsed()
}

/// W5b: 10,000 live random-size blocks; `n` steps of (free a random one, allocate a random
/// size in its slot). The slots and sizes are drawn before timing, identical for everyone.
fn w5b<A: Alloc>(a: &mut A, n: usize) -> Duration {
    const LIVE: usize = 10_000;
    let mut rng = Rng(SEED);
    let layout = |s: usize| Layout::from_size_align(s, 8).unwrap();
    let mut live: Vec<(*mut u8, usize)> = (0..LIVE)
        .map(|_| {
            let s = 8 + rng.below(505);
            let p = a.alloc(layout(s));
            assert!(!p.is_null());
            (p, s)
        })
        .collect();
    let steps: Vec<(u32, u16)> = (0..n)
        .map(|_| (rng.below(LIVE) as u32, (8 + rng.below(505)) as u16))
        .collect();
    let start = Instant::now();
    for &(slot, size) in &steps {
        let (p, s) = live[slot as usize];
        // SAFETY: `p` is live with size `s`.
        unsafe { a.free(p, layout(s)) };
        let q = a.alloc(layout(size as usize));
        assert!(!q.is_null());
        // SAFETY: a fresh block of at least 8 bytes.
        unsafe { q.cast::<u64>().write(slot as u64) };
        live[slot as usize] = (q, size as usize);
    }
    let elapsed = start.elapsed();
    for (p, s) in live {
        // SAFETY: still live with its size.
        unsafe { a.free(p, layout(s)) };
    }
    elapsed
}

// ---- dispatch -------------------------------------------------------------------------------

/// One timed run of `lib` on `(w, n)`. Collectors get a fresh heap per run where they have one
/// (pygc); the others are thread-global and start each run with nothing live.
fn run_once(lib: &str, w: W, n: usize) -> Duration {
    fn go<C: Collector>(c: &C, w: W, n: usize) -> Duration {
        if w == W::W4 {
            run_churn(c, n)
        } else {
            run_collect(c, w, n)
        }
    }
    match (lib, w) {
        ("pygc", W::W5a) => w5a(&mut PygcAlloc(pygc::alloc::Allocator::new_silent()), n),
        ("pygc", W::W5b) => w5b(&mut PygcAlloc(pygc::alloc::Allocator::new_silent()), n),
        ("mimalloc", W::W5a) => w5a(&mut Mi, n),
        ("mimalloc", W::W5b) => w5b(&mut Mi, n),
        ("glibc", W::W5a) => w5a(&mut Glibc, n),
        ("glibc", W::W5b) => w5b(&mut Glibc, n),
        ("pygc", _) => go(&pygc_nodes::Pygc(pygc::Heap::new()), w, n),
        ("rc", _) => go(&rc_nodes::RcSys, w, n),
        ("rust_cc", _) => go(&rust_cc_nodes::RustCc, w, n),
        ("bacon_rajan_cc", _) => go(&bacon_nodes::Bacon, w, n),
        ("rust_gc", _) => go(&rust_gc_nodes::RustGc, w, n),
        ("dumpster", _) => go(&dumpster_nodes::Dumpster, w, n),
        ("gcmodule", _) => go(&gcmodule_nodes::Gcmodule, w, n),
        _ => panic!("unknown system {lib} for {w:?}"),
    }
}

fn parse_w(s: &str) -> W {
    match s {
        "W1" => W::W1,
        "W2" => W::W2,
        "W3" => W::W3,
        "W4" => W::W4,
        "W5a" => W::W5a,
        "W5b" => W::W5b,
        _ => panic!("unknown workload {s}"),
    }
}

/// Child: criterion on one case, on an 8 MiB-stack thread.
fn child(spec: &str) {
    let mut parts = spec.split(':');
    let lib = parts.next().expect("system").to_string();
    let w = parse_w(parts.next().expect("workload"));
    let n: usize = parts.next().expect("n").parse().expect("n");
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || {
            let mut c = Criterion::default()
                .sample_size(10)
                .warm_up_time(Duration::from_secs(1))
                .measurement_time(Duration::from_secs(3))
                .configure_from_args();
            let mut g = c.benchmark_group(case_name(w, n));
            g.throughput(Throughput::Elements(n as u64));
            g.sampling_mode(SamplingMode::Flat);
            g.bench_function(lib.as_str(), |b| {
                b.iter_custom(|iters| (0..iters).map(|_| run_once(&lib, w, n)).sum());
            });
            g.finish();
        })
        .expect("spawn 8 MiB thread")
        .join()
        .expect("benchmark thread");
}

/// A resident-set figure of this process from /proc/self/status (`VmRSS` or `VmHWM`), bytes.
fn proc_status_bytes(key: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Profile mode, `PYGC_PROFILE=system:W:n:iters`: `iters` runs without criterion (for
/// callgrind, the 10M-node scale row and memory per object). Prints the median ns per object
/// and the peak resident growth per object over the process's start (the root's `Vec` of
/// handles included: 8 bytes per node for every system).
fn profile(spec: &str) {
    let parts: Vec<&str> = spec.split(':').collect();
    let (lib, w) = (parts[0].to_string(), parse_w(parts[1]));
    let n: usize = parts[2].parse().expect("n");
    let iters: usize = parts.get(3).map_or(1, |s| s.parse().expect("iters"));
    let rss0 = proc_status_bytes("VmRSS:");
    let (mut times, footprint): (Vec<f64>, _) = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || {
            let times = (0..iters)
                .map(|_| run_once(&lib, w, n).as_nanos() as f64 / n as f64)
                .collect();
            (times, FOOTPRINT.with(Cell::get))
        })
        .expect("spawn 8 MiB thread")
        .join()
        .expect("profile run");
    times.sort_by(f64::total_cmp);
    let peak = proc_status_bytes("VmHWM:").saturating_sub(rss0);
    if let Some(bytes) = footprint {
        println!(
            "{spec}: the system's own memory before the collection: {:.1} B/object",
            bytes as f64 / n as f64
        );
    }
    println!(
        "{spec}: median {:.1} ns/object over {iters} runs (min {:.1}, max {:.1}); peak RSS growth {:.1} B/object",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
        peak as f64 / n as f64
    );
}

/// Parent: every selected case in a fresh child process; outcomes next to criterion's data.
fn main() {
    if let Ok(spec) = std::env::var(ENV) {
        child(&spec);
        return;
    }
    if let Ok(spec) = std::env::var("PYGC_PROFILE") {
        profile(&spec);
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let quick = args.iter().any(|a| a == "--quick" || a == "--test");
    let exe = std::env::current_exe().expect("current_exe");
    let mut outcomes = String::from("# case system outcome\n");
    let mut failed = false;
    for &(w, n, libs) in CASES {
        for lib in libs {
            let name = format!("{}/{lib}", case_name(w, n));
            if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
                continue;
            }
            if quick {
                // `cargo test --benches` / smoke: one small run in-process per case.
                let small = (n / 100).max(1000);
                let d = std::thread::Builder::new()
                    .stack_size(STACK)
                    .spawn({
                        let lib = lib.to_string();
                        move || run_once(&lib, w, small)
                    })
                    .unwrap()
                    .join();
                println!(
                    "{name} (n={small}): {}",
                    if d.is_ok() { "ok" } else { "failed" }
                );
                failed |= d.is_err();
                continue;
            }
            let mut cmd = std::process::Command::new(&exe);
            cmd.env(ENV, format!("{lib}:{w:?}:{n}")).arg("--bench");
            for a in &args {
                if a.starts_with('-') && a != "--bench" {
                    cmd.arg(a);
                }
            }
            let status = cmd.status().expect("spawn child");
            let outcome = if status.success() {
                "ok".to_string()
            } else {
                format!("failed({status}): a stack overflow or a wrong freed count")
            };
            eprintln!("{name}: {outcome}");
            outcomes.push_str(&format!("{} {lib} {outcome}\n", case_name(w, n)));
        }
    }
    if !quick {
        // <target>/release/deps/workloads-<hash> -> <target>/criterion/
        if let Some(target) = exe
            .parent()
            .and_then(|d| d.parent())
            .and_then(|d| d.parent())
        {
            let dir = target.join("criterion");
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(dir.join("workloads-outcomes.txt"), outcomes);
        }
    }
    if failed {
        std::process::exit(1);
    }
}
