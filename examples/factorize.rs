//! The seed notebook's first experiment (000_435ab4e7cf011ae7, In [1]-[7]): factorize every
//! number of 1..=N naively, serially, then split among threads. In CPython the threads are
//! no faster (the GIL lets one run at a time); here the same holds for threads sharing one
//! [`SharedHeap`] under its lock, while threads each with a heap of their own (no lock, the
//! way pygc's `!Send` heaps are meant to be used) and processes (multiprocessing's answer:
//! this binary re-spawned) scale with the cores. CPython 3.11 runs the notebook's own code
//! (`examples/python/factorize.py`: serial, `threading`, `multiprocessing`) in the same run.
//!
//! Every result is a heap object (`Factors`), kept until the end like the notebook's dict,
//! and the GIL threads call the eval breaker (`safe_point`) in the inner loop, as CPython
//! does between bytecodes.
//!
//! `cargo run --release --example factorize [-- --quick]`

mod common;

use std::thread;
use std::time::{Duration, Instant};

use pygc::gil::{Py, SharedHeap, SwitchPolicy};
use pygc::{Gc, Heap, HeapConfig, Trace};

use common::{
    Table, best_of, child_args, cpu_time, fmt_duration, fmt_secs, machine, parse_lines, python,
    quick, spawn_self,
};

/// One entry of the notebook's result dict: `n: factorize_naive(n)`.
#[derive(Trace)]
struct Factors {
    n: u64,
    factors: Vec<u64>,
}

/// The notebook's `factorize_naive`, with `tick` called once per trial division (the eval
/// breaker's place in CPython's loop). Integer division where the notebook's `n / p` makes
/// a float: the factors are the same.
fn factorize_naive(mut n: u64, mut tick: impl FnMut()) -> Vec<u64> {
    if n < 2 {
        return Vec::new();
    }
    let mut factors = Vec::new();
    let mut p = 2;
    loop {
        tick();
        if n == 1 {
            return factors;
        }
        if n % p == 0 {
            factors.push(p);
            n /= p;
        } else if p * p >= n {
            factors.push(n);
            return factors;
        } else if p > 2 {
            // Advance in steps of 2 over odd numbers
            p += 2;
        } else {
            // If p == 2, get to 3
            p += 1;
        }
    }
}

/// The notebook's chunks: `range(chunksize * i + 1, chunksize * (i + 1) + 1)`, clipped to N.
fn chunks(count: u64, parts: u64) -> Vec<(u64, u64)> {
    let size = count.div_ceil(parts);
    (0..parts)
        .map(|i| (size * i + 1, (size * (i + 1)).min(count)))
        .collect()
}

/// Factorizes `lo..=hi` into objects of a heap of this thread's own; returns how many
/// factors were found (the heap and its objects die with the caller's scope).
fn own_heap(lo: u64, hi: u64) -> u64 {
    let heap = Heap::new();
    let results: Vec<Gc<Factors>> = (lo..=hi)
        .map(|n| {
            heap.alloc(Factors {
                n,
                factors: factorize_naive(n, || {}),
            })
        })
        .collect();
    debug_assert!(results.iter().zip(lo..).all(|(f, n)| f.n == n));
    results.iter().map(|f| f.factors.len() as u64).sum()
}

/// Variant rows: the name, the wall time, the number of factors found, GIL switches.
struct Run {
    name: &'static str,
    wall: Duration,
    /// CPU time of this process and its children over the run.
    cpu: Duration,
    found: u64,
    switches: Option<u64>,
}

fn serial(count: u64) -> Run {
    let start = Instant::now();
    let found = own_heap(1, count);
    Run {
        name: "serial",
        wall: start.elapsed(),
        found,
        switches: None,
        cpu: Duration::ZERO,
    }
}

/// `threaded_factorizer`: `nthreads` threads sharing one heap, each holding the lock while it
/// works and offering it at every trial division.
fn gil_threads(count: u64, nthreads: u64, name: &'static str) -> Run {
    let heap = SharedHeap::new(HeapConfig::default(), SwitchPolicy::New);
    let start = Instant::now();
    let workers: Vec<_> = chunks(count, nthreads)
        .into_iter()
        .map(|(lo, hi)| {
            let heap = heap.clone();
            thread::spawn(move || {
                heap.with_gil(|py| {
                    let mut found = 0;
                    let out: Vec<Py<Factors>> = (lo..=hi)
                        .map(|n| {
                            let factors = factorize_naive(n, || py.safe_point());
                            found += factors.len() as u64;
                            py.alloc(Factors { n, factors }).unbind()
                        })
                        .collect();
                    (out, found)
                })
            })
        })
        .collect();
    let outs: Vec<(Vec<Py<Factors>>, u64)> = workers
        .into_iter()
        .map(|w| w.join().expect("worker"))
        .collect();
    let wall = start.elapsed();
    let switches = heap.gil().stats().switches;
    let found = outs.iter().map(|(_, f)| f).sum();
    // The results die under the lock (outside the timing, as the notebook's dict outlives
    // its %time).
    heap.with_gil(|_| drop(outs));
    Run {
        name,
        wall,
        found,
        switches: Some(switches),
        cpu: Duration::ZERO,
    }
}

/// `nthreads` threads, each with a heap of its own: nothing shared, no lock.
fn own_heap_threads(count: u64, nthreads: u64, name: &'static str) -> Run {
    let start = Instant::now();
    let workers: Vec<_> = chunks(count, nthreads)
        .into_iter()
        .map(|(lo, hi)| thread::spawn(move || own_heap(lo, hi)))
        .collect();
    let found = workers.into_iter().map(|w| w.join().expect("worker")).sum();
    Run {
        name,
        wall: start.elapsed(),
        found,
        switches: None,
        cpu: Duration::ZERO,
    }
}

/// `nprocs` copies of this binary, each factorizing its chunk in its own heap and printing
/// how many factors it found.
fn processes(count: u64, nprocs: u64, name: &'static str) -> Run {
    let start = Instant::now();
    let children: Vec<_> = chunks(count, nprocs)
        .into_iter()
        .map(|(lo, hi)| spawn_self(&[lo.to_string(), hi.to_string()]))
        .collect();
    let found = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().expect("child");
            assert!(out.status.success(), "child failed");
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse::<u64>()
                .expect("the child's count")
        })
        .sum();
    Run {
        name,
        wall: start.elapsed(),
        found,
        switches: None,
        cpu: Duration::ZERO,
    }
}

fn main() {
    if let Some(args) = child_args() {
        let lo = args[0].parse().expect("lo");
        let hi = args[1].parse().expect("hi");
        println!("{}", own_heap(lo, hi));
        return;
    }
    let quick = quick();
    let count: u64 = if quick { 100_000 } else { 500_000 };
    let py_count: u64 = if quick { 20_000 } else { 60_000 };
    let (reps, py_reps) = if quick { (1, 1) } else { (3, 2) };
    println!(
        "factorize_naive(n) for n in 1..={count} (pygc, best of {reps}) and 1..={py_count} \
         (CPython 3.11, the notebook's code, best of {py_reps}); {}",
        machine()
    );

    let wall = |r: &Run| r.wall;
    // CPU time over each run, whatever the variant: threads and children alike.
    let measured = |f: &dyn Fn() -> Run| {
        let before = cpu_time();
        let mut run = f();
        run.cpu = cpu_time().saturating_sub(before);
        run
    };
    let variants: [&dyn Fn() -> Run; 8] = [
        &|| serial(count),
        &|| gil_threads(count, 1, "1 thread, shared heap under the GIL"),
        &|| gil_threads(count, 2, "2 threads, shared heap under the GIL"),
        &|| gil_threads(count, 4, "4 threads, shared heap under the GIL"),
        &|| own_heap_threads(count, 2, "2 threads, a heap each, no GIL"),
        &|| own_heap_threads(count, 4, "4 threads, a heap each, no GIL"),
        &|| processes(count, 2, "2 processes"),
        &|| processes(count, 4, "4 processes"),
    ];
    let runs: Vec<Run> = variants
        .iter()
        .map(|f| best_of(reps, || measured(*f), wall))
        .collect();
    for run in &runs {
        assert_eq!(run.found, runs[0].found, "{} found other factors", run.name);
    }

    let cpython = python(
        include_str!("python/factorize.py"),
        &[py_count.to_string(), py_reps.to_string()],
    )
    .map(|out| parse_lines(&out))
    .unwrap_or_default();
    let py = |key: &str| cpython.get(key).and_then(|v| v.first().copied());
    let py_serial = py("serial");
    if let Some(found) = cpython.values().map(|v| v.get(1).copied()).next().flatten() {
        assert!(cpython.values().all(|v| v.get(1) == Some(&found)));
    }
    let py_key = |name: &str| match name {
        "serial" => Some("serial"),
        n if n.starts_with("2 threads, shared") => Some("threads2"),
        n if n.starts_with("4 threads, shared") => Some("threads4"),
        "2 processes" => Some("processes2"),
        "4 processes" => Some("processes4"),
        _ => None,
    };

    let mut table = Table::new(&[
        "variant",
        "pygc wall",
        "speed-up",
        "cores busy",
        "GIL switches",
        "CPython wall",
        "speed-up",
        "cores busy",
    ]);
    let base = runs[0].wall.as_secs_f64();
    for run in &runs {
        let py_run = py_key(run.name).and_then(|k| cpython.get(k));
        let (py_wall, py_speedup, py_busy) = match (py_run, py_serial) {
            (Some(v), Some(s)) => (
                fmt_secs(v[0]),
                format!("{:.2}x", s / v[0]),
                v.get(2)
                    .map_or("-".into(), |cpu| format!("{:.2}", cpu / v[0])),
            ),
            _ => ("-".into(), "-".into(), "-".into()),
        };
        let name = if run.name.contains("a heap each") {
            format!("{} (CPython: none)", run.name)
        } else {
            run.name.to_string()
        };
        table.row(vec![
            name,
            fmt_duration(run.wall),
            format!("{:.2}x", base / run.wall.as_secs_f64()),
            format!("{:.2}", run.cpu.as_secs_f64() / run.wall.as_secs_f64()),
            run.switches.map_or("-".into(), |s| s.to_string()),
            py_wall,
            py_speedup,
            py_busy,
        ]);
    }
    println!();
    table.print();
    println!(
        "\n  {} factors found by every pygc variant; speed-up is against each column's own \
         serial run;\n  cores busy: CPU time (process and children) over wall time: at most 1 for one \
         thread at a\n  time, above 1 only when threads or processes ran at once (lower \
         everywhere on a loaded machine).\n  Threads under one lock are no faster than one thread (the notebook: \
         1 min 22 s serial,\n  1 min 25 s with 2 threads, 1 min 28 s with 4); a heap per \
         thread or per process uses the cores.",
        runs[0].found
    );
}
