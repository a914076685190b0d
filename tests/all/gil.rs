//! The GIL (`pygc::gil`): mutual exclusion under each policy, the hand-over protocols, panic
//! safety, and one heap mutated by many threads through `SharedHeap`.
//!
//! Threads make these tests slow under Miri: there the thread and iteration counts shrink.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use pygc::Trace;
use pygc::gil::{Gil, Py, SharedHeap, SwitchPolicy};

const THREADS: usize = if cfg!(miri) { 2 } else { 4 };
const ITERS: usize = if cfg!(miri) { 16 } else { 5_000 };

const POLICIES: [SwitchPolicy; 3] = [
    SwitchPolicy::New,
    SwitchPolicy::Old { ticks: 10 },
    SwitchPolicy::PriorityHandoff,
];

/// Increments of a `Cell` in a shared-heap object: a non-atomic read-modify-write that only
/// the GIL protects (widened by a yield between the read and the write), with an atomic
/// "inside" count checking that no two threads are ever between acquire and release at once.
#[test]
fn mutual_exclusion_under_each_policy() {
    for policy in POLICIES {
        let heap = SharedHeap::new(Default::default(), policy);
        heap.gil().set_switch_interval(Duration::from_micros(50));
        let counter: Py<Cell<u64>> = heap.with_gil(|py| py.alloc(Cell::new(0)).unbind());
        let counter = Arc::new(counter);
        let inside = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let (heap, counter, inside) = (heap.clone(), counter.clone(), inside.clone());
                thread::spawn(move || {
                    heap.with_gil(|py| {
                        let c = counter.bind(py);
                        for i in 0..ITERS {
                            assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                            let v = c.get();
                            if i % 8 == 0 {
                                thread::yield_now();
                            }
                            c.set(v + 1);
                            inside.fetch_sub(1, Ordering::SeqCst);
                            py.safe_point();
                            if i % 64 == 0 {
                                // A blocking call: the lock is released and taken back.
                                py.allow_threads(thread::yield_now);
                            }
                        }
                    })
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        heap.with_gil(|py| {
            assert_eq!(
                counter.bind(py).get(),
                (THREADS * ITERS) as u64,
                "{policy:?}"
            );
        });
        let stats = heap.gil().stats();
        assert_eq!(
            stats.acquisitions,
            stats.per_thread.iter().map(|t| t.acquisitions).sum::<u64>()
        );
        assert_eq!(stats.wait_histogram.count(), stats.acquisitions);
        assert!(stats.per_thread.len() >= THREADS, "{stats:?}");
    }
}

/// Two CPU-bound threads that only call safe points: each policy makes them take turns
/// (switches happen, the holder gives way on request), and the old GIL's release/re-acquire
/// counts its releases as forced drops.
#[test]
fn cpu_bound_threads_take_turns() {
    for policy in POLICIES {
        let gil = Arc::new(Gil::new(policy));
        gil.set_switch_interval(Duration::from_micros(200));
        let stop = Arc::new(AtomicBool::new(false));
        let turns: Vec<Arc<AtomicUsize>> = (0..2).map(|_| Arc::new(AtomicUsize::new(0))).collect();
        let workers: Vec<_> = (0..2)
            .map(|k| {
                let (gil, stop, mine) = (gil.clone(), stop.clone(), turns[k].clone());
                thread::spawn(move || {
                    let guard = gil.acquire();
                    while !stop.load(Ordering::Relaxed) {
                        mine.fetch_add(1, Ordering::Relaxed);
                        guard.safe_point();
                    }
                })
            })
            .collect();
        // Until both threads ran at least a few rounds (bounded: a policy that never hands
        // over fails here).
        let start = Instant::now();
        while turns
            .iter()
            .any(|t| t.load(Ordering::Relaxed) < if cfg!(miri) { 3 } else { 10 })
        {
            assert!(
                start.elapsed() < Duration::from_secs(if cfg!(miri) { 300 } else { 20 }),
                "{policy:?}: a thread starved"
            );
            thread::sleep(Duration::from_millis(1));
        }
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.join().unwrap();
        }
        let stats = gil.stats();
        assert!(stats.switches >= 2, "{policy:?}: {stats:?}");
        assert!(stats.forced_drops >= 1, "{policy:?}: {stats:?}");
        if policy != (SwitchPolicy::Old { ticks: 10 }) {
            assert!(stats.drop_requests >= 1, "{policy:?}: {stats:?}");
        }
    }
}

/// A panic while holding the lock releases it (the guard drops on unwind), and a panic inside
/// `allow_threads` takes it back before unwinding further.
#[test]
fn panics_release_the_lock() {
    for policy in POLICIES {
        let heap = SharedHeap::new(Default::default(), policy);
        let h = heap.clone();
        let r = thread::spawn(move || h.with_gil(|_| panic!("boom"))).join();
        assert!(r.is_err());
        // Another thread can take it at once.
        let h = heap.clone();
        thread::spawn(move || h.with_gil(|py| py.live_objects()))
            .join()
            .unwrap();

        let r = panic::catch_unwind(AssertUnwindSafe(|| {
            heap.with_gil(|py| {
                py.allow_threads(|| panic!("in allow_threads"));
            })
        }));
        assert!(r.is_err());
        assert!(!heap.gil().is_held_by_current_thread());
        let h = heap.clone();
        thread::spawn(move || h.with_gil(|py| py.live_objects()))
            .join()
            .unwrap();
        // And the same thread can nest and unwind.
        heap.with_gil(|py| {
            let r = panic::catch_unwind(AssertUnwindSafe(|| {
                py.allow_threads(|| panic!("again"));
            }));
            assert!(r.is_err());
            assert!(heap.gil().is_held_by_current_thread());
        });
    }
}

/// Re-entrancy: a nested `with_gil` runs at once, and a nested holder never gives the lock
/// away (its `allow_threads` keeps it).
#[test]
fn nested_holders_keep_the_lock() {
    let heap = SharedHeap::new(Default::default(), SwitchPolicy::New);
    heap.with_gil(|_| {
        heap.with_gil(|py| {
            let held = py.allow_threads(|| heap.gil().is_held_by_current_thread());
            assert!(held);
        });
        assert!(heap.gil().is_held_by_current_thread());
    });
    assert!(!heap.gil().is_held_by_current_thread());
    assert_eq!(heap.gil().stats().acquisitions, 1);
}

/// Every `Node` ever made, and how often each was dropped (must end at exactly once).
#[derive(Default)]
struct Ledger {
    made: AtomicUsize,
    drops: Mutex<Vec<u32>>,
}

impl Ledger {
    fn token(self: &Arc<Self>) -> DropToken {
        let id = self.made.fetch_add(1, Ordering::SeqCst);
        let mut d = self.drops.lock().unwrap();
        if d.len() <= id {
            d.resize(id + 1, 0);
        }
        DropToken {
            id,
            ledger: self.clone(),
        }
    }
}

struct DropToken {
    id: usize,
    ledger: Arc<Ledger>,
}

impl Drop for DropToken {
    fn drop(&mut self) {
        self.ledger.drops.lock().unwrap()[self.id] += 1;
    }
}

#[derive(Trace)]
struct Node {
    edges: RefCell<Vec<Py<Node>>>,
    #[trace(skip)]
    _token: DropToken,
}

/// A small deterministic generator per thread (xorshift).
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Objects reachable from `roots` through `Py` edges.
fn reachable(py: pygc::gil::Python<'_>, roots: &[Py<Node>]) -> usize {
    let mut seen: Vec<*const ()> = Vec::new();
    let mut todo: Vec<_> = roots.iter().map(|r| r.bind(py)).collect();
    while let Some(n) = todo.pop() {
        let addr = (&*n as *const Node).cast::<()>();
        if seen.contains(&addr) {
            continue;
        }
        seen.push(addr);
        todo.extend(n.edges.borrow().iter().map(|e| e.bind(py)));
    }
    seen.len()
}

/// N threads mutate one object graph through the lock (allocate, link, unlink, make cycles,
/// drop handles outside the lock) while automatic collections (low thresholds) and explicit
/// ones run. Afterwards the live count equals the objects reachable from the roots (the
/// collector freed every unreachable one and nothing else), and after teardown every object
/// ever allocated was dropped exactly once.
#[test]
fn threads_mutate_one_graph() {
    const ROOTS: usize = 4;
    let ops = if cfg!(miri) { 50 } else { 3_000 };
    for policy in POLICIES {
        let ledger = Arc::new(Ledger::default());
        let config = pygc::HeapConfig {
            thresholds: [if cfg!(miri) { 10 } else { 60 }, 3, 3],
            ..Default::default()
        };
        let heap = SharedHeap::new(config, policy);
        heap.gil().set_switch_interval(Duration::from_micros(100));
        let roots: Arc<Vec<Py<Node>>> = Arc::new(heap.with_gil(|py| {
            (0..ROOTS)
                .map(|_| {
                    py.alloc(Node {
                        edges: RefCell::new(vec![]),
                        _token: ledger.token(),
                    })
                    .unbind()
                })
                .collect()
        }));
        let workers: Vec<_> = (0..THREADS)
            .map(|k| {
                let (heap, roots, ledger) = (heap.clone(), roots.clone(), ledger.clone());
                thread::spawn(move || {
                    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((k as u64 + 1) * 0x1234_5678));
                    // Handles this thread keeps outside the lock between rounds.
                    let mut kept: Vec<Py<Node>> = Vec::new();
                    for round in 0..ops / 50 {
                        heap.with_gil(|py| {
                            for _ in 0..50 {
                                // A random node: a root, or a node one or two edges away.
                                let mut at = roots[rng.below(ROOTS)].bind(py);
                                for _ in 0..rng.below(3) {
                                    let next = {
                                        let e = at.edges.borrow();
                                        if e.is_empty() {
                                            None
                                        } else {
                                            Some(e[rng.below(e.len())].bind(py))
                                        }
                                    };
                                    match next {
                                        Some(n) => at = n,
                                        None => break,
                                    }
                                }
                                match rng.below(10) {
                                    0..=3 => {
                                        let n = py.alloc(Node {
                                            edges: RefCell::new(vec![]),
                                            _token: ledger.token(),
                                        });
                                        if rng.below(2) == 0 {
                                            // A cycle back to where it hangs.
                                            n.edges.borrow_mut().push(at.clone().unbind());
                                        }
                                        at.edges.borrow_mut().push(n.unbind());
                                    }
                                    4..=6 => {
                                        let removed = {
                                            let mut e = at.edges.borrow_mut();
                                            if e.is_empty() {
                                                None
                                            } else {
                                                let i = rng.below(e.len());
                                                Some(e.swap_remove(i))
                                            }
                                        };
                                        // Dropped here, under the lock, after the borrow ends.
                                        drop(removed);
                                    }
                                    7 => {
                                        let target = roots[rng.below(ROOTS)].clone_ref(py);
                                        at.edges.borrow_mut().push(target);
                                    }
                                    8 => kept.push(at.unbind()),
                                    _ => {
                                        if rng.below(8) == 0 {
                                            py.collect_generation(rng.below(3)).unwrap();
                                        }
                                    }
                                }
                                py.safe_point();
                            }
                            if round % 4 == 0 {
                                py.allow_threads(thread::yield_now);
                            }
                        });
                        // Outside the lock: these decrefs are parked for the next holder.
                        if kept.len() > 4 {
                            kept.truncate(rng.below(3));
                        }
                    }
                    drop(kept);
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        heap.with_gil(|py| {
            assert_eq!(heap.deferred_decrefs(), 0, "drained on acquisition");
            py.collect();
            assert_eq!(py.live_objects(), reachable(py, &roots), "{policy:?}");
            assert_eq!(py.unraisable_count(), 0);
        });
        let made = ledger.made.load(Ordering::SeqCst);
        assert!(made > ROOTS, "{policy:?}: nothing allocated");
        let stats = heap.with_gil(|py| py.gc_stats());
        assert!(
            stats[0].collections > 0,
            "{policy:?}: no automatic collection ran"
        );
        drop(Arc::into_inner(roots).expect("the workers are gone"));
        heap.with_gil(|py| {
            py.collect();
            assert_eq!(py.live_objects(), 0, "{policy:?}");
        });
        drop(heap);
        let drops = ledger.drops.lock().unwrap();
        assert_eq!(drops.len(), made);
        assert!(drops.iter().all(|&d| d == 1), "{policy:?}: {drops:?}");
    }
}

/// A `Py` dropped by a thread that does not hold the lock is parked, not decref'd, and the
/// next `with_gil` gives it back (the object dies then, on that thread).
#[test]
fn drops_without_the_lock_are_deferred() {
    let ledger = Arc::new(Ledger::default());
    let heap = SharedHeap::new(Default::default(), SwitchPolicy::New);
    let obj = heap.with_gil(|py| {
        py.alloc(Node {
            edges: RefCell::new(vec![]),
            _token: ledger.token(),
        })
        .unbind()
    });
    let barrier = Arc::new(Barrier::new(2));
    let holder = {
        let (heap, barrier) = (heap.clone(), barrier.clone());
        thread::spawn(move || {
            heap.with_gil(|py| {
                barrier.wait(); // holding the lock
                barrier.wait(); // the other thread dropped its handle meanwhile
                assert_eq!(py.live_objects(), 1);
            })
        })
    };
    barrier.wait();
    drop(obj); // this thread does not hold the lock: parked
    assert_eq!(heap.deferred_decrefs(), 1);
    assert_eq!(ledger.drops.lock().unwrap()[0], 0);
    barrier.wait();
    holder.join().unwrap();
    heap.with_gil(|py| {
        assert_eq!(heap.deferred_decrefs(), 0);
        assert_eq!(py.live_objects(), 0);
    });
    assert_eq!(ledger.drops.lock().unwrap()[0], 1);
}

/// A `Py` that outlives every `SharedHeap`: the heap's final collection leaves it valid, and
/// its drop (on another thread, without any lock held) frees the object.
#[test]
fn py_outlives_the_shared_heap() {
    let ledger = Arc::new(Ledger::default());
    let heap = SharedHeap::new(Default::default(), SwitchPolicy::PriorityHandoff);
    let obj = heap.with_gil(|py| {
        py.alloc(Node {
            edges: RefCell::new(vec![]),
            _token: ledger.token(),
        })
        .unbind()
    });
    drop(heap);
    assert_eq!(ledger.drops.lock().unwrap()[0], 0);
    thread::spawn(move || drop(obj)).join().unwrap();
    assert_eq!(ledger.drops.lock().unwrap()[0], 1);
}

/// Binding a handle with another heap's token is refused.
#[test]
fn bind_checks_the_heap() {
    let a = SharedHeap::new(Default::default(), SwitchPolicy::New);
    let b = SharedHeap::new(Default::default(), SwitchPolicy::New);
    let x = a.with_gil(|py| py.alloc(1u32).unbind());
    let r = panic::catch_unwind(AssertUnwindSafe(|| b.with_gil(|py| *x.bind(py))));
    assert!(r.is_err());
    assert_eq!(a.with_gil(|py| *x.bind(py)), 1);
}

/// The convoy effect (bpo-7946) and its fix: an I/O thread that releases the lock for a short
/// blocking call waits about a whole switch interval to get it back from a CPU-bound holder
/// under the new GIL, and only until the holder's next safe point under priority hand-off.
#[test]
#[cfg_attr(miri, ignore = "timing")]
fn priority_handoff_fixes_the_convoy_effect() {
    const INTERVAL: Duration = Duration::from_millis(20);
    let median_return = |policy| {
        let heap = SharedHeap::new(Default::default(), policy);
        heap.gil().set_switch_interval(INTERVAL);
        let stop = Arc::new(AtomicBool::new(false));
        let running = Arc::new(AtomicBool::new(false));
        let cpu = {
            let (heap, stop, running) = (heap.clone(), stop.clone(), running.clone());
            thread::spawn(move || {
                heap.with_gil(|py| {
                    running.store(true, Ordering::SeqCst);
                    while !stop.load(Ordering::Relaxed) {
                        py.safe_point();
                    }
                })
            })
        };
        while !running.load(Ordering::SeqCst) {
            thread::yield_now();
        }
        let mut latencies: Vec<Duration> = heap.with_gil(|py| {
            (0..7)
                .map(|_| {
                    // A 2 ms "syscall" (the CPU-bound thread takes the lock meanwhile); what
                    // is measured is the time from its end to getting the lock back.
                    let back = py.allow_threads(|| {
                        thread::sleep(Duration::from_millis(2));
                        Instant::now()
                    });
                    back.elapsed()
                })
                .collect()
        });
        stop.store(true, Ordering::Relaxed);
        cpu.join().unwrap();
        latencies.sort();
        latencies[latencies.len() / 2]
    };
    let new = median_return(SwitchPolicy::New);
    let priority = median_return(SwitchPolicy::PriorityHandoff);
    eprintln!(
        "median lock return after a blocking call: new GIL {new:?}, priority hand-off {priority:?}"
    );
    assert!(new >= INTERVAL / 2, "new GIL: {new:?}");
    assert!(
        priority < INTERVAL / 4,
        "priority hand-off: {priority:?} (new GIL: {new:?})"
    );
}

/// User code run by a collection (here a `Drop` of garbage) that re-enters the lock gets a
/// nested holder: its `allow_threads` and `safe_point` keep the lock, so no other thread can
/// touch the heap in the middle of the collection, even while one is waiting for it.
#[derive(Trace)]
struct Reenter {
    edges: RefCell<Vec<Py<Reenter>>>,
    #[trace(skip)]
    heap: SharedHeap,
    #[trace(skip)]
    held_inside: Arc<AtomicUsize>,
}

impl Drop for Reenter {
    fn drop(&mut self) {
        let heap = &self.heap;
        let held = heap.with_gil(|py| {
            py.safe_point();
            py.allow_threads(|| heap.gil().is_held_by_current_thread())
        });
        if held {
            self.held_inside.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[test]
fn user_code_inside_a_collection_cannot_release_the_lock() {
    for policy in POLICIES {
        let heap = SharedHeap::new(Default::default(), policy);
        heap.gil().set_switch_interval(Duration::from_micros(20));
        let held_inside = Arc::new(AtomicUsize::new(0));
        heap.with_gil(|py| {
            let make = || {
                py.alloc(Reenter {
                    edges: RefCell::new(vec![]),
                    heap: heap.clone(),
                    held_inside: held_inside.clone(),
                })
            };
            let (a, b) = (make(), make());
            a.edges.borrow_mut().push(b.clone().unbind());
            b.edges.borrow_mut().push(a.unbind());
        });
        // A contender asks for the lock (and the drop request) throughout the collection.
        let stop = Arc::new(AtomicBool::new(false));
        let contender = {
            let (heap, stop) = (heap.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    heap.with_gil(|py| py.live_objects());
                }
            })
        };
        let found = heap.with_gil(|py| {
            thread::sleep(Duration::from_millis(2)); // the contender is waiting now
            py.collect()
        });
        stop.store(true, Ordering::Relaxed);
        contender.join().unwrap();
        assert_eq!(found, 2, "{policy:?}");
        assert_eq!(held_inside.load(Ordering::SeqCst), 2, "{policy:?}");
        heap.with_gil(|py| assert_eq!(py.live_objects(), 0));
    }
}

#[derive(Trace)]
struct Finalized {
    next: RefCell<Option<Py<Finalized>>>,
    #[trace(skip)]
    finalized: Arc<AtomicUsize>,
    #[trace(skip)]
    _token: DropToken,
}

impl pygc::gil::SharedFinalize for Finalized {
    fn finalize(&self) {
        self.finalized.fetch_add(1, Ordering::SeqCst);
    }
}

/// Finalizers of a shared heap run exactly once per object, on whichever thread collects or
/// drops the last handle (threads make garbage cycles, some handles die without the lock).
#[test]
fn shared_finalizers_run_once_on_any_thread() {
    let rounds = if cfg!(miri) { 3 } else { 200 };
    let ledger = Arc::new(Ledger::default());
    let finalized = Arc::new(AtomicUsize::new(0));
    let heap = SharedHeap::new(
        pygc::HeapConfig {
            thresholds: [20, 2, 2],
            ..Default::default()
        },
        SwitchPolicy::New,
    );
    heap.gil().set_switch_interval(Duration::from_micros(50));
    let workers: Vec<_> = (0..THREADS)
        .map(|k| {
            let (heap, ledger, finalized) = (heap.clone(), ledger.clone(), finalized.clone());
            thread::spawn(move || {
                for i in 0..rounds {
                    let outside = heap.with_gil(|py| {
                        let make = || {
                            py.alloc_with_finalizer(Finalized {
                                next: RefCell::new(None),
                                finalized: finalized.clone(),
                                _token: ledger.token(),
                            })
                        };
                        let (a, b) = (make(), make());
                        *a.next.borrow_mut() = Some(b.clone().unbind());
                        *b.next.borrow_mut() = Some(a.clone().unbind());
                        if (i + k) % 7 == 0 {
                            py.collect();
                        }
                        // Break the cycle by hand sometimes: refcount death, not the collector.
                        if i % 3 == 0 {
                            b.next.borrow_mut().take();
                        }
                        a.unbind()
                    });
                    drop(outside); // without the lock: parked
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    heap.with_gil(|py| {
        py.collect();
        assert_eq!(py.live_objects(), 0);
        assert_eq!(py.unraisable_count(), 0);
    });
    let made = ledger.made.load(Ordering::SeqCst);
    assert_eq!(made, THREADS * rounds * 2);
    assert_eq!(finalized.load(Ordering::SeqCst), made);
    assert!(ledger.drops.lock().unwrap().iter().all(|&d| d == 1));
}
