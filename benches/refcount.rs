//! Object-graph (refcount) benchmarks: pygc against `Rc<RefCell<_>>` and gcmodule, all in
//! the same run. See benches/README.md ("Object graph (refcount)") for what each group
//! measures and how to read the numbers.
//!
//! - `churn/*`: allocate `CHURN_N` small objects, link object i to object i-1 (a handle
//!   stored through a `RefCell`), then drop all handles newest first (so no implementation
//!   recurses: this measures counting, not deep teardown). Whole loop timed; ns/object is
//!   the median divided by `CHURN_N`.
//! - `clone_drop/*`: one handle clone plus its drop.
//! - `deep_teardown/*`: drop the head of a `DEEP_N`-long chain (each object owns the next).
//!   `Rc` recurses once per link, so its run happens on a thread with a 1 GiB stack.
#![allow(missing_docs)]

use std::cell::RefCell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use pygc::{Gc, Heap, HeapConfig, Trace};

/// Objects per churn iteration.
const CHURN_N: usize = 1_000_000;
/// Length of the chain torn down in `deep_teardown`.
const DEEP_N: usize = 1_000_000;
/// Stack of the thread that tears down the `Rc` chain (recursion ~100 B per link).
const RC_DEEP_STACK: usize = 1 << 30;

// ---- node types (one handle field each) --------------------------------------------------

#[derive(Trace)]
struct PNode {
    link: RefCell<Option<Gc<PNode>>>,
}

struct RNode {
    link: Option<Rc<RefCell<RNode>>>,
}

struct GNode {
    link: Option<gcmodule::Cc<RefCell<GNode>>>,
}

// By hand: gcmodule_derive 0.3's `is_type_tracked` recurses forever on recursive types.
impl gcmodule::Trace for GNode {
    fn trace(&self, tracer: &mut gcmodule::Tracer) {
        self.link.trace(tracer);
    }
}

// ---- churn -----------------------------------------------------------------------------

fn churn_pygc(heap: &Heap, v: &mut Vec<Gc<PNode>>) {
    for _ in 0..CHURN_N {
        let obj = heap.alloc(PNode {
            link: RefCell::new(None),
        });
        if let Some(prev) = v.last() {
            *obj.link.borrow_mut() = Some(prev.clone());
        }
        v.push(obj);
    }
    while let Some(obj) = v.pop() {
        drop(obj);
    }
}

fn churn_rc(v: &mut Vec<Rc<RefCell<RNode>>>) {
    for _ in 0..CHURN_N {
        let obj = Rc::new(RefCell::new(RNode { link: None }));
        if let Some(prev) = v.last() {
            obj.borrow_mut().link = Some(prev.clone());
        }
        v.push(obj);
    }
    while let Some(obj) = v.pop() {
        drop(obj);
    }
}

fn churn_gcmodule(v: &mut Vec<gcmodule::Cc<RefCell<GNode>>>) {
    for _ in 0..CHURN_N {
        let obj = gcmodule::Cc::new(RefCell::new(GNode { link: None }));
        if let Some(prev) = v.last() {
            obj.borrow_mut().link = Some(prev.clone());
        }
        v.push(obj);
    }
    while let Some(obj) = v.pop() {
        drop(obj);
    }
}

/// Time `iters` runs of `f`, reusing one handle vector (its capacity survives `pop`).
fn timed<T>(iters: u64, v: &mut Vec<T>, mut f: impl FnMut(&mut Vec<T>)) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f(v);
    }
    start.elapsed()
}

fn bench_churn(c: &mut Criterion) {
    let mut g = c.benchmark_group("churn");
    g.throughput(Throughput::Elements(CHURN_N as u64));
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));

    g.bench_function("pygc_gc_enabled", |b| {
        let heap = Heap::new(); // default: thresholds (700, 10, 10), automatic gc on
        assert!(heap.is_enabled());
        let mut v = Vec::with_capacity(CHURN_N);
        b.iter_custom(|iters| timed(iters, &mut v, |v| churn_pygc(&heap, v)));
        assert_eq!(heap.live_objects(), 0);
    });
    g.bench_function("pygc_gc_disabled", |b| {
        let heap = Heap::with_config(HeapConfig {
            enabled: false,
            ..HeapConfig::default()
        });
        let mut v = Vec::with_capacity(CHURN_N);
        b.iter_custom(|iters| timed(iters, &mut v, |v| churn_pygc(&heap, v)));
        assert_eq!(heap.live_objects(), 0);
    });
    g.bench_function("rc_refcell", |b| {
        let mut v = Vec::with_capacity(CHURN_N);
        b.iter_custom(|iters| timed(iters, &mut v, churn_rc));
    });
    g.bench_function("gcmodule", |b| {
        let mut v = Vec::with_capacity(CHURN_N);
        b.iter_custom(|iters| timed(iters, &mut v, churn_gcmodule));
        assert_eq!(gcmodule::count_thread_tracked(), 0);
    });
    g.finish();
}

// ---- clone + drop ------------------------------------------------------------------------

fn bench_clone_drop(c: &mut Criterion) {
    let mut g = c.benchmark_group("clone_drop");
    g.throughput(Throughput::Elements(1));
    g.bench_function("pygc", |b| {
        let heap = Heap::new();
        let h = heap.alloc(PNode {
            link: RefCell::new(None),
        });
        b.iter(|| {
            let c = Gc::clone(black_box(&h));
            drop(black_box(c));
        });
    });
    g.bench_function("rc", |b| {
        let h = Rc::new(RefCell::new(RNode { link: None }));
        b.iter(|| {
            let c = Rc::clone(black_box(&h));
            drop(black_box(c));
        });
    });
    g.finish();
}

// ---- deep teardown -------------------------------------------------------------------------

fn pygc_chain(heap: &Heap, n: usize) -> Gc<PNode> {
    let mut head = heap.alloc(PNode {
        link: RefCell::new(None),
    });
    for _ in 1..n {
        head = heap.alloc(PNode {
            link: RefCell::new(Some(head)),
        });
    }
    head
}

fn rc_chain(n: usize) -> Rc<RefCell<RNode>> {
    let mut head = Rc::new(RefCell::new(RNode { link: None }));
    for _ in 1..n {
        head = Rc::new(RefCell::new(RNode { link: Some(head) }));
    }
    head
}

fn bench_deep_teardown(c: &mut Criterion) {
    let mut g = c.benchmark_group("deep_teardown");
    g.throughput(Throughput::Elements(DEEP_N as u64));
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("pygc", |b| {
        let heap = Heap::new();
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let head = pygc_chain(&heap, DEEP_N);
                let start = Instant::now();
                drop(head);
                total += start.elapsed();
            }
            total
        });
        assert_eq!(heap.live_objects(), 0);
    });
    g.bench_function("rc_1gib_stack_thread", |b| {
        b.iter_custom(|iters| {
            // `Rc`'s drop recurses once per link: 1M links need far more than the 8 MiB of
            // the main thread, so build and drop on a thread with a 1 GiB stack.
            std::thread::Builder::new()
                .stack_size(RC_DEEP_STACK)
                .spawn(move || {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let head = rc_chain(DEEP_N);
                        let start = Instant::now();
                        drop(head);
                        total += start.elapsed();
                    }
                    total
                })
                .expect("spawn big-stack thread")
                .join()
                .expect("Rc teardown thread")
        });
    });
    g.finish();
}

criterion_group!(benches, bench_churn, bench_clone_drop, bench_deep_teardown);
criterion_main!(benches);
