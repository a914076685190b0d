//! The GIL fight (000_435ab4e7cf011ae7, "«Драка» за GIL" and «Новый» GIL): CPU-bound
//! threads under the old, tick-based lock (release and re-take every 100 ticks, signalling a
//! waiter that then usually finds the lock taken again: failed attempts) against the new,
//! time-based one (a waiter waits the switch interval, then asks the holder to drop; forced
//! switching hands the lock over with no fight), and the priority hand-off policy.
//!
//! The same work (a countdown with the eval breaker called at every step) is done by one
//! thread, then split between 2 and 4. CPython 3.11 runs the classic countdown
//! (`examples/python/gil_fight.py`) in the same run.
//!
//! `cargo run --release --example gil_fight [-- --quick]`

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use pygc::gil::{Gil, GilStats, SwitchPolicy};

use common::{Table, best_of, fmt_duration, fmt_secs, machine, parse_lines, python, quick};

/// `countdown(n)`: `while n > 0: n -= 1`, offering the lock at every step. A step does a
/// little arithmetic first (a few tens of nanoseconds, the cost of a handful of CPython
/// bytecodes), so that the run spans many switch intervals.
fn countdown(gil: &Gil, n: u64) {
    let guard = gil.acquire();
    let mut n = black_box(n);
    let mut x = black_box(1u64);
    while n > 0 {
        for _ in 0..16 {
            x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        n = black_box(n - 1);
        guard.safe_point();
    }
    black_box(x);
}

fn run(policy: SwitchPolicy, total: u64, nthreads: u64) -> (Duration, GilStats) {
    let gil = Arc::new(Gil::new(policy));
    let start = Instant::now();
    let threads: Vec<_> = (0..nthreads)
        .map(|_| {
            let gil = gil.clone();
            thread::spawn(move || countdown(&gil, total / nthreads))
        })
        .collect();
    for t in threads {
        t.join().expect("countdown");
    }
    (start.elapsed(), gil.stats())
}

fn main() {
    let quick = quick();
    let total: u64 = if quick { 4_000_000 } else { 10_000_000 };
    let py_total: u64 = if quick { 2_000_000 } else { 10_000_000 };
    let reps = if quick { 1 } else { 3 };
    println!(
        "countdown of {total} steps (pygc, the eval breaker at every step) and {py_total} \
         (CPython 3.11), best of {reps}; {}",
        machine()
    );
    let mut table = Table::new(&[
        "lock",
        "threads",
        "wall",
        "vs serial",
        "switches",
        "switches/s",
        "failed attempts",
        "failed/switch",
        "forced drops",
    ]);
    let policies = [
        ("old GIL (100 ticks)", SwitchPolicy::Old { ticks: 100 }),
        ("new GIL (5 ms)", SwitchPolicy::New),
        ("priority hand-off (5 ms)", SwitchPolicy::PriorityHandoff),
    ];
    for (name, policy) in policies {
        let mut serial = None;
        for nthreads in [1, 2, 4] {
            let (wall, stats) = best_of(reps, || run(policy, total, nthreads), |r| r.0);
            let base = *serial.get_or_insert(wall);
            table.row(vec![
                name.to_string(),
                nthreads.to_string(),
                fmt_duration(wall),
                format!("{:.2}x", wall.as_secs_f64() / base.as_secs_f64()),
                stats.switches.to_string(),
                format!("{:.0}", stats.switches as f64 / wall.as_secs_f64()),
                stats.failed_attempts.to_string(),
                format!("{:.2}", stats.failed_per_switch()),
                stats.forced_drops.to_string(),
            ]);
        }
    }
    let cpython = python(include_str!("python/gil_fight.py"), &[py_total.to_string()])
        .map(|out| parse_lines(&out))
        .unwrap_or_default();
    let py = |key: &str| cpython.get(key).and_then(|v| v.first().copied());
    if let Some(base) = py("serial") {
        for (nthreads, key) in [(1, "serial"), (2, "threads2"), (4, "threads4")] {
            let wall = py(key).unwrap_or(f64::NAN);
            table.row(vec![
                "CPython 3.11 (new GIL, 5 ms)".to_string(),
                nthreads.to_string(),
                fmt_secs(wall),
                format!("{:.2}x", wall / base),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]);
        }
    }
    println!();
    table.print();
    println!(
        "\n  vs serial: wall time against one thread doing all the work under the same lock \
         (1.00x:\n  no gain, no loss). failed/switch: wake-ups that found the lock taken \
         again, per hand-over\n  (the seed: \"it may take a couple hundred attempts\")."
    );
}
