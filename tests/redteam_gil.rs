//! Red-team tests against `pygc::gil` (safe code only). Each test is a candidate hole; the
//! comment above it says whether it is confirmed and how.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use pygc::gil::{Py, SharedHeap, SwitchPolicy};
use pygc::{Gc, Heap, Trace};

const ITERS: usize = if cfg!(miri) { 20 } else { 200_000 };

/// An object of a plain (single-threaded) heap that holds a `Py` of a shared heap: plain-heap
/// allocation needs no `Send`, and `Py` is `Trace`.
#[derive(Trace)]
struct Holder(Py<Cell<u64>>);

/// HOLE: `Heap::referents` of a plain-heap object holding a `Py` runs `Py`'s `Trace`, which
/// reports its edge whenever the calling thread holds the shared heap's lock; `referents`
/// turns each reported edge into an `AnyGc` (a new strong count). So a `Gc` of a
/// shared-heap object leaves `with_gil`, and this thread then clones, drops and derefs it
/// while another thread holds the lock and does the same through the `Py`: a data race on the
/// non-atomic count and on the `Cell`.
#[test]
fn plain_heap_referents_leak_a_shared_gc() {
    let shared = SharedHeap::new(Default::default(), SwitchPolicy::New);
    let plain = Heap::new();
    let target: Py<Cell<u64>> = shared.with_gil(|py| py.alloc(Cell::new(0)).unbind());
    let holder = shared.with_gil(|py| plain.alloc(Holder(target.clone_ref(py))));
    // The escape: `referents` under the lock hands back an `AnyGc` of the shared object.
    let escaped = shared.with_gil(|_py| plain.referents(&holder));
    if escaped.is_empty() {
        return; // fixed: the edge is not handed to introspection
    }
    let leaked: Gc<Cell<u64>> = escaped[0].downcast::<Cell<u64>>().unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let other = {
        let (shared, stop) = (shared.clone(), stop.clone());
        thread::spawn(move || {
            // Under the lock, as the rules say: clone/drop the count, bump the Cell.
            for _ in 0..ITERS {
                shared.with_gil(|py| {
                    let b = target.bind(py);
                    b.set(b.get() + 1);
                });
            }
            stop.store(true, Ordering::SeqCst);
            target
        })
    };
    // Without the lock: the same through the escaped `Gc`.
    let mut mine = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let g = leaked.clone();
        g.set(g.get() + 1);
        mine += 1;
        drop(g);
    }
    let target = other.join().unwrap();
    let total = shared.with_gil(|py| target.bind(py).get());
    drop(escaped);
    drop(leaked);
    drop(holder);
    drop(target);
    // With mutual exclusion the Cell would hold exactly ITERS + mine (natively, tens of
    // thousands of increments are lost; under Miri the race itself is reported).
    assert_eq!(
        total,
        ITERS as u64 + mine,
        "lost updates: unsynchronised access"
    );
    panic!("HOLE: Heap::referents handed out a strong handle to a shared-heap object");
}

thread_local! {
    static PARKED: std::cell::RefCell<Option<Py<Cell<u64>>>> = const { std::cell::RefCell::new(None) };
}

/// CANDIDATE: a `Py` kept in a `thread_local!` is dropped by the thread's TLS destructors.
/// With no `SharedHeap` left, `park` takes the lock itself; on a thread that never held it,
/// `record_acquisition` calls `std::thread::current()` under the state mutex, during TLS
/// destruction.
#[test]
fn py_in_thread_local_dropped_at_thread_exit_after_heap() {
    let shared = SharedHeap::new(Default::default(), SwitchPolicy::New);
    let p: Py<Cell<u64>> = shared.with_gil(|py| py.alloc(Cell::new(7)).unbind());
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let t = thread::spawn(move || {
        PARKED.with(|s| *s.borrow_mut() = Some(p));
        rx.recv().unwrap();
    });
    drop(shared); // the last SharedHeap: only the Py in the other thread's TLS is left
    tx.send(()).unwrap();
    t.join().unwrap();
}

/// A `tracing` subscriber (user code) that panics on the lock's own events.
struct PanickingSubscriber;

impl tracing::Subscriber for PanickingSubscriber {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if event.metadata().target() == "pygc::gil" {
            panic!("subscriber panics on a gil event");
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// LIVENESS HOLE (no UB): `Gil::acquire_as` emits its `tracing` events after taking the lock
/// but before `acquire` has built the guard. A subscriber that panics there unwinds out of
/// `with_gil` with the lock taken and no guard to release it: every other thread then
/// blocks forever (here: the second thread never gets the lock).
#[test]
fn panicking_tracing_subscriber_leaks_the_lock() {
    let shared = SharedHeap::new(Default::default(), SwitchPolicy::New);
    let first = {
        let shared = shared.clone();
        thread::spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                tracing::subscriber::with_default(PanickingSubscriber, || {
                    shared.with_gil(|py| py.live_objects())
                })
            }));
            assert!(
                r.is_err(),
                "the subscriber's panic reached with_gil's caller"
            );
            // The thread lives on (as a real program's would), never to release the lock.
            thread::sleep(std::time::Duration::from_secs(if cfg!(miri) {
                1
            } else {
                3
            }));
        })
    };
    thread::sleep(std::time::Duration::from_millis(200));
    let (tx, rx) = std::sync::mpsc::channel();
    let second = {
        let shared = shared.clone();
        thread::spawn(move || {
            shared.with_gil(|py| py.live_objects());
            tx.send(()).unwrap();
        })
    };
    let got = rx.recv_timeout(std::time::Duration::from_secs(2));
    first.join().unwrap();
    assert!(
        got.is_ok(),
        "HOLE: the lock stays taken after a panicking subscriber unwound out of with_gil"
    );
    second.join().unwrap();
}

/// An object of one shared heap that owns the last handle of another.
#[derive(Trace)]
struct OwnsHeap {
    edges: std::cell::RefCell<Vec<Py<OwnsHeap>>>,
    #[trace(skip)]
    #[allow(dead_code)] // owned, dropped by the collection
    other: Option<SharedHeap>,
}

/// CHECKED (sound): the last `SharedHeap` of heap B is dropped by a `Drop` run by heap A's
/// collection (thread-local COLLECTING set, B's lock not held: B's heap is leaked, not queued
/// in PENDING_SHUTDOWNS). A `Py` of B on another thread then drops its object (park,
/// handles == 0, drain under the lock).
#[test]
fn last_handle_dropped_during_another_heaps_collection() {
    let a = SharedHeap::new(Default::default(), SwitchPolicy::New);
    let b = SharedHeap::new(Default::default(), SwitchPolicy::New);
    let pb: Py<OwnsHeap> = b.with_gil(|py| {
        let x = py.alloc(OwnsHeap {
            edges: Default::default(),
            other: None,
        });
        let y = py.alloc(OwnsHeap {
            edges: Default::default(),
            other: None,
        });
        // a cycle in B too, only the final collection (skipped) would free it
        x.edges.borrow_mut().push(y.clone().unbind());
        y.edges.borrow_mut().push(x.clone().unbind());
        x.unbind()
    });
    a.with_gil(|py| {
        let p = py.alloc(OwnsHeap {
            edges: Default::default(),
            other: Some(b),
        });
        let q = py.alloc(OwnsHeap {
            edges: Default::default(),
            other: None,
        });
        p.edges.borrow_mut().push(q.clone().unbind());
        q.edges.borrow_mut().push(p.unbind());
    });
    let t = thread::spawn(move || {
        thread::sleep(std::time::Duration::from_millis(50));
        drop(pb);
    });
    assert_eq!(a.with_gil(|py| py.collect()), 2);
    t.join().unwrap();
}

/// An object holding a `Py` of another shared heap.
#[derive(Trace)]
struct Cross(
    std::cell::RefCell<Vec<Py<Cell<u64>>>>,
    std::cell::RefCell<Vec<Py<Cross>>>,
);

/// CHECKED (sound): heap A's collection traces a `Py` into heap B while this thread holds both
/// locks (nested `with_gil`), and while another thread hammers B's object under B's lock.
#[test]
fn cross_heap_edges_traced_under_both_locks() {
    let a = SharedHeap::new(Default::default(), SwitchPolicy::New);
    let b = SharedHeap::new(Default::default(), SwitchPolicy::New);
    a.gil()
        .set_switch_interval(std::time::Duration::from_micros(10));
    b.gil()
        .set_switch_interval(std::time::Duration::from_micros(10));
    let target: Py<Cell<u64>> = b.with_gil(|py| py.alloc(Cell::new(0)).unbind());
    let stop = Arc::new(AtomicBool::new(false));
    let t = {
        let (b, stop, target) = (
            b.clone(),
            stop.clone(),
            b.with_gil(|py| target.clone_ref(py)),
        );
        thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                b.with_gil(|py| {
                    let x = target.bind(py);
                    x.set(x.get() + 1);
                    py.safe_point();
                });
            }
        })
    };
    for i in 0..(if cfg!(miri) { 3 } else { 200 }) {
        a.with_gil(|pa| {
            let edge = b.with_gil(|pb| target.clone_ref(pb));
            let p = pa.alloc(Cross(
                std::cell::RefCell::new(vec![edge]),
                Default::default(),
            ));
            let q = pa.alloc(Cross(Default::default(), Default::default()));
            p.1.borrow_mut().push(q.clone().unbind());
            q.1.borrow_mut().push(p.unbind());
            if i % 2 == 0 {
                // collect holding B's lock too: the Py edge is visited
                b.with_gil(|_| pa.collect());
            } else {
                pa.collect();
            }
            pa.safe_point();
        });
    }
    stop.store(true, Ordering::SeqCst);
    t.join().unwrap();
    b.with_gil(|py| assert_eq!(py.live_objects(), 1));
}

/// Panics on the lock module's events (the "last SharedHeap dropped during a collection" one,
/// and any other the drop path emits), whatever their level.
struct PanicOnGilWarn;

impl tracing::Subscriber for PanicOnGilWarn {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let m = event.metadata();
        if m.target() == "pygc::gil" {
            panic!("subscriber panics on the gil warning");
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

static GO: AtomicBool = AtomicBool::new(false);

/// A tracked shared-heap object (it may hold handles).
#[derive(Trace)]
struct Witness(std::cell::RefCell<Vec<Py<Witness>>>);

/// A plain-heap object owning the last handle of a shared heap.
#[derive(Trace)]
struct PlainOwner {
    edges: std::cell::RefCell<Vec<pygc::Gc<PlainOwner>>>,
    #[trace(skip)]
    shared: std::cell::RefCell<Option<SharedHeap>>,
}
impl Drop for PlainOwner {
    fn drop(&mut self) {
        if let Some(s) = self.shared.borrow_mut().take() {
            // SharedHeap::drop: fresh lock, collection running -> warns, then panics in
            // the subscriber before `mem::forget(heap)`: the `Option<Heap>` is dropped by
            // the unwind, which queues its final collection in PENDING_SHUTDOWNS.
            // (Whether an event is emitted there, and so whether the subscriber panics,
            // depends on the drop path; either way nothing may run without the lock.)
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(s)));
            GO.store(true, Ordering::SeqCst);
            thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

/// HOLE: a panic in the "final collection is skipped" warning of `SharedHeap::drop` (a
/// `tracing` subscriber is user code) drops the taken `Heap` during the unwind, inside
/// another heap's collection: its final collection is queued in this thread's
/// PENDING_SHUTDOWNS and runs when that collection ends, after the guard has released the
/// lock. Meanwhile another thread drops `Py`s of that heap (`park` finds no handle left and
/// takes the lock itself, then decrefs): the final collection reads and writes the same
/// headers without the lock. Natively nothing visible happens (the unlocked final collection
/// sees no `Py` edge, so frees nothing); Miri reports the data race.
#[test]
fn panicking_warning_queues_a_final_collection_without_the_lock() {
    let shared = SharedHeap::new(Default::default(), SwitchPolicy::New);
    let handles: Vec<Py<Witness>> = shared.with_gil(|py| {
        let a = py.alloc(Witness(Default::default()));
        let b = py.alloc(Witness(Default::default()));
        a.0.borrow_mut().push(b.clone().unbind());
        b.0.borrow_mut().push(a.clone().unbind());
        (0..8).map(|_| a.clone().unbind()).collect()
    });
    let t = thread::spawn(move || {
        while !GO.load(Ordering::SeqCst) {
            thread::yield_now();
        }
        // No SharedHeap is left: each drop parks, takes the lock and decrefs under it.
        for h in handles {
            drop(h);
            thread::sleep(std::time::Duration::from_millis(20));
        }
    });
    let plain = Heap::new();
    {
        let x = plain.alloc(PlainOwner {
            edges: Default::default(),
            shared: std::cell::RefCell::new(Some(shared)),
        });
        let y = plain.alloc(PlainOwner {
            edges: Default::default(),
            shared: Default::default(),
        });
        x.edges.borrow_mut().push(y.clone());
        y.edges.borrow_mut().push(x);
    }
    // The queued final collection runs at the end of this collection, without the lock.
    tracing::subscriber::with_default(PanicOnGilWarn, || plain.collect());
    t.join().unwrap();
}
