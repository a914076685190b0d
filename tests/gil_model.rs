//! Model checking of the GIL's hand-off protocols with shuttle: the lock's mutex, condition
//! variables and atomics are shuttle's (src/gil/sync.rs), the switch interval's timeout is a
//! choice the scheduler makes, and shuttle's schedulers (random, PCT) explore the
//! interleavings. Every run checks: at most one holder at a time, no deadlock or lost wake-up
//! (shuttle fails a run in which every thread is blocked), and each policy's hand-over rule.
//!
//! Run with (a separate target directory: the cfg changes every crate's build)
//! `RUSTFLAGS="--cfg shuttle" CARGO_TARGET_DIR=target/shuttle cargo test --test gil_model`.
//! Without `--cfg shuttle` this file is empty.
#![cfg(shuttle)]

use std::sync::Arc;

use pygc::gil::{Gil, SwitchPolicy};
use shuttle::sync::Mutex;
use shuttle::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use shuttle::thread;

const POLICIES: [SwitchPolicy; 3] = [
    SwitchPolicy::New,
    SwitchPolicy::Old { ticks: 2 },
    SwitchPolicy::PriorityHandoff,
];

const ITERATIONS: usize = 3_000;

fn explore(f: impl Fn() + Send + Sync + 'static) {
    let f = Arc::new(f);
    let g = f.clone();
    shuttle::check_random(move || f(), ITERATIONS);
    shuttle::check_pct(move || g(), ITERATIONS, 3);
}

/// Three threads, each taking the lock, crossing safe points and releasing around a
/// "blocking call": never two holders, and every run ends (no deadlock, no lost wake-up).
#[test]
fn at_most_one_holder_and_no_deadlock() {
    for policy in POLICIES {
        explore(move || {
            let gil = Arc::new(Gil::new(policy));
            let inside = Arc::new(AtomicUsize::new(0));
            let threads: Vec<_> = (0..3)
                .map(|_| {
                    let (gil, inside) = (gil.clone(), inside.clone());
                    thread::spawn(move || {
                        let guard = gil.acquire();
                        for round in 0..3 {
                            assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                            thread::yield_now();
                            inside.fetch_sub(1, Ordering::SeqCst);
                            guard.safe_point();
                            if round == 1 {
                                guard.allow_threads(thread::yield_now);
                            }
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            let stats = gil.stats();
            assert_eq!(stats.acquisitions, stats.wait_histogram.count());
            assert!(!gil.is_held_by_current_thread());
        });
    }
}

/// Forced switching (new GIL, priority hand-off): when the holder drops at a safe point on a
/// waiter's request, it does not get the lock back before the waiter had it.
#[test]
fn forced_switching_hands_over() {
    for policy in [SwitchPolicy::New, SwitchPolicy::PriorityHandoff] {
        explore(move || {
            let gil = Arc::new(Gil::new(policy));
            let waiter_had_it = Arc::new(AtomicBool::new(false));
            let holding = Arc::new(AtomicBool::new(false));
            let holder = {
                let (gil, had, holding) = (gil.clone(), waiter_had_it.clone(), holding.clone());
                thread::spawn(move || {
                    let guard = gil.acquire();
                    holding.store(true, Ordering::SeqCst);
                    for _ in 0..4 {
                        if guard.safe_point_switched() {
                            assert!(
                                had.load(Ordering::SeqCst),
                                "came back before the waiter ran"
                            );
                        }
                        thread::yield_now();
                    }
                })
            };
            let waiter = {
                let (gil, had, holding) = (gil.clone(), waiter_had_it.clone(), holding.clone());
                thread::spawn(move || {
                    while !holding.load(Ordering::SeqCst) {
                        thread::yield_now();
                    }
                    let _guard = gil.acquire();
                    had.store(true, Ordering::SeqCst);
                })
            };
            holder.join().unwrap();
            waiter.join().unwrap();
        });
    }
}

/// Priority hand-off: a thread coming back from `allow_threads` asks at once and gets the
/// lock at the holder's next safe point: the acquisition after the holder's is its.
#[test]
fn priority_handoff_goes_to_the_returning_thread() {
    explore(|| {
        let gil = Arc::new(Gil::new(SwitchPolicy::PriorityHandoff));
        let order = Arc::new(Mutex::new(Vec::<&'static str>::new()));
        let io_released = Arc::new(AtomicBool::new(false));
        let cpu_holding = Arc::new(AtomicBool::new(false));
        // The I/O thread: takes the lock, releases it for a blocking call, comes back.
        let io = {
            let (gil, order, released, cpu) = (
                gil.clone(),
                order.clone(),
                io_released.clone(),
                cpu_holding.clone(),
            );
            thread::spawn(move || {
                let guard = gil.acquire();
                guard.allow_threads(|| {
                    released.store(true, Ordering::SeqCst);
                    // The blocking call lasts until the CPU thread holds the lock.
                    while !cpu.load(Ordering::SeqCst) {
                        thread::yield_now();
                    }
                });
                order.lock().unwrap().push("io");
            })
        };
        // The CPU thread: takes the lock while the I/O thread is away and crosses safe points
        // until the I/O thread is back (bounded by its own loop).
        let cpu = {
            let (gil, order, released, holding) = (
                gil.clone(),
                order.clone(),
                io_released.clone(),
                cpu_holding.clone(),
            );
            thread::spawn(move || {
                while !released.load(Ordering::SeqCst) {
                    thread::yield_now();
                }
                let guard = gil.acquire();
                order.lock().unwrap().push("cpu");
                holding.store(true, Ordering::SeqCst);
                for _ in 0..6 {
                    if guard.safe_point_switched() {
                        order.lock().unwrap().push("cpu");
                    }
                    thread::yield_now();
                }
            })
        };
        io.join().unwrap();
        cpu.join().unwrap();
        let order = order.lock().unwrap();
        // The CPU thread took the lock after the I/O thread released it; the I/O thread's
        // return is the next acquisition by anyone (nobody else may take a handed-off lock).
        let first_cpu = order.iter().position(|&w| w == "cpu").unwrap();
        assert_eq!(order.get(first_cpu + 1).copied(), Some("io"), "{order:?}");
    });
}
