//! The GIL (`pygc::gil`): mutual exclusion under each policy, the hand-over protocols, panic
//! safety, and one heap mutated by many threads through `SharedHeap`.
//!
//! Threads make these tests slow under Miri: there the thread and iteration counts shrink.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use pygc::Trace;
use pygc::gil::{Gil, Py, SharedHeap, SwitchPolicy};

const THREADS: usize = if cfg!(miri) { 2 } else { 4 };
const ITERS: usize = if cfg!(miri) { 30 } else { 20_000 };

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
        while turns.iter().any(|t| t.load(Ordering::Relaxed) < 10) {
            assert!(
                start.elapsed() < Duration::from_secs(20),
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
