//! Cycle-collector benchmarks: one full collection, pygc against rust-cc, bacon-rajan-cc,
//! rust-gc (`gc`), dumpster and gcmodule, all in the same run. See benches/README.md
//! ("Cycle collector").
//!
//! Workloads (nodes are CPython-list-like: a cell holding a `Vec` of handles):
//! - `W1_pairs`: `n` objects in `n/2` garbage 2-cycles (a <-> b);
//! - `W2_ring`: one garbage ring of `n` nodes;
//! - `W3_live`: `n` live nodes with 4 random edges each (same seeded graph for every
//!   library), plus a root node holding all of them; nothing to free.
//!
//! The graph is built outside the timed region; only the collect call is timed
//! (`iter_custom`). pygc builds with automatic gc disabled. Peers with automatic collection
//! have it turned off (rust-cc, dumpster, and rust-gc through its `unstable-config` feature). rust-cc and bacon-rajan-cc only scan
//! candidate roots buffered by decrements: every node is decremented once while building
//! (the builder's temporary handles die), so their collection scans the whole graph.
//!
//! Stack: the whole benchmark runs on a thread with an 8 MiB stack. Before benchmarking, each
//! (library, W2/W3) case is first run once in a child process (this executable again, with
//! `PYGC_BENCH_PROBE` set) on an 8 MiB-stack thread; cases whose child dies (stack overflow
//! aborts the process) are skipped and recorded as overflows in
//! `<target>/criterion/collect-stack-probe.txt`.
#![allow(missing_docs)]
// gc_derive 0.5 expands to impls inside a const block.
#![allow(non_local_definitions)]

use std::cell::RefCell;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};

/// Stack of the thread running the benchmark (and each probe).
const STACK: usize = 8 << 20;
/// Edges per node in W3.
const EDGES: usize = 4;
const SEED: u64 = 0x5eed_1234_abcd_ef01;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Workload {
    Pairs,
    Ring,
    Live,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Pairs => "W1_pairs",
            Workload::Ring => "W2_ring",
            Workload::Live => "W3_live",
        }
    }
    fn parse(s: &str) -> Workload {
        match s {
            "W1_pairs" => Workload::Pairs,
            "W2_ring" => Workload::Ring,
            "W3_live" => Workload::Live,
            _ => panic!("unknown workload {s}"),
        }
    }
}

/// The (workload, n) rows of the table, in order.
const CASES: &[(Workload, usize)] = &[
    (Workload::Pairs, 1_000_000),
    (Workload::Ring, 1_000_000),
    (Workload::Ring, 100_000),
    (Workload::Live, 1_000_000),
    (Workload::Live, 100_000),
];

const LIBS: &[&str] = &[
    "pygc",
    "rust_cc",
    "bacon_rajan_cc",
    "rust_gc",
    "dumpster",
    "gcmodule",
];

/// xorshift64*: a fixed, dependency-free random graph shared by every library.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as usize % n
    }
}

/// Build a workload through `new` (a fresh node) and `link` (push an edge `from -> to`).
/// Returns the external handle that keeps the graph alive (W3's root), or `None` when
/// everything built is garbage.
fn build<H: Clone>(
    w: Workload,
    n: usize,
    new: impl Fn(Vec<H>) -> H,
    link: impl Fn(&H, &H),
) -> Option<H> {
    match w {
        Workload::Pairs => {
            for _ in 0..n / 2 {
                let a = new(Vec::new());
                let b = new(Vec::new());
                link(&a, &b);
                link(&b, &a);
            }
            None
        }
        Workload::Ring => {
            let first = new(Vec::new());
            let mut prev = first.clone();
            for _ in 1..n {
                let node = new(Vec::new());
                link(&prev, &node);
                prev = node;
            }
            link(&prev, &first);
            None
        }
        Workload::Live => {
            let nodes: Vec<H> = (0..n).map(|_| new(Vec::with_capacity(EDGES))).collect();
            let mut rng = Rng(SEED);
            for node in &nodes {
                for _ in 0..EDGES {
                    link(node, &nodes[rng.below(n)]);
                }
            }
            let root = new(nodes.clone());
            drop(nodes);
            Some(root)
        }
    }
}

static PROBING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// In a probe child, report progress on stderr, so the parent can tell in which phase a
/// stack overflow happened (build, the timed collection, or the untimed cleanup).
fn phase(p: &str) {
    if PROBING.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!("phase: {p}");
    }
}

fn expected(w: Workload, n: usize) -> usize {
    if w == Workload::Live { 0 } else { n }
}

// ---- pygc ---------------------------------------------------------------------------------

#[derive(pygc::Trace)]
struct PNode {
    edges: RefCell<Vec<pygc::Gc<PNode>>>,
}

fn run_pygc(w: Workload, n: usize) -> Duration {
    let heap = pygc::Heap::new();
    heap.disable();
    let root = build(
        w,
        n,
        |edges| {
            heap.alloc(PNode {
                edges: RefCell::new(edges),
            })
        },
        |a, b| a.edges.borrow_mut().push(b.clone()),
    );
    phase("built");
    let start = Instant::now();
    let found = heap.collect();
    let elapsed = start.elapsed();
    phase("collected");
    assert_eq!(found, expected(w, n), "pygc {w:?}");
    drop(root);
    drop(heap); // shutdown collection frees W3 (untimed)
    elapsed
}

// ---- rust-cc ------------------------------------------------------------------------------

#[derive(rust_cc::Trace, rust_cc::Finalize)]
struct CcNode {
    edges: RefCell<Vec<rust_cc::Cc<CcNode>>>,
}

fn run_rust_cc(w: Workload, n: usize) -> Duration {
    rust_cc::config::config(|c| c.set_auto_collect(false)).expect("rust-cc config");
    let root = build(
        w,
        n,
        |edges| {
            rust_cc::Cc::new(CcNode {
                edges: RefCell::new(edges),
            })
        },
        |a, b| a.edges.borrow_mut().push(b.clone()),
    );
    phase("built");
    let start = Instant::now();
    rust_cc::collect_cycles();
    let elapsed = start.elapsed();
    phase("collected");
    // Untimed cleanup without deep recursion: cut W3's edges first, then drop the root.
    if let Some(root) = &root {
        for node in root.edges.borrow().iter() {
            node.edges.borrow_mut().clear();
        }
    }
    drop(root);
    rust_cc::collect_cycles();
    elapsed
}

// ---- bacon-rajan-cc -----------------------------------------------------------------------

struct BrNode {
    edges: RefCell<Vec<bacon_rajan_cc::Cc<BrNode>>>,
}

impl bacon_rajan_cc::Trace for BrNode {
    fn trace(&self, tracer: &mut bacon_rajan_cc::Tracer) {
        self.edges.trace(tracer);
    }
}

fn run_bacon_rajan_cc(w: Workload, n: usize) -> Duration {
    let root = build(
        w,
        n,
        |edges| {
            bacon_rajan_cc::Cc::new(BrNode {
                edges: RefCell::new(edges),
            })
        },
        |a, b| a.edges.borrow_mut().push(b.clone()),
    );
    phase("built");
    let start = Instant::now();
    bacon_rajan_cc::collect_cycles();
    let elapsed = start.elapsed();
    phase("collected");
    // Untimed cleanup without deep recursion: cut W3's edges first, then drop the root.
    if let Some(root) = &root {
        for node in root.edges.borrow().iter() {
            node.edges.borrow_mut().clear();
        }
    }
    drop(root);
    bacon_rajan_cc::collect_cycles();
    elapsed
}

// ---- rust-gc (`gc`) -----------------------------------------------------------------------

#[derive(gc::Trace, gc::Finalize)]
struct RgNode {
    edges: gc::GcCell<Vec<gc::Gc<RgNode>>>,
}

fn run_rust_gc(w: Workload, n: usize) -> Duration {
    // No automatic collection while building (it would free W1's garbage before the timed
    // collection, and its recursive marking overflows on long chains).
    gc::configure(|c| c.threshold = usize::MAX);
    let root = build(
        w,
        n,
        |edges| {
            gc::Gc::new(RgNode {
                edges: gc::GcCell::new(edges),
            })
        },
        |a, b| a.edges.borrow_mut().push(b.clone()),
    );
    phase("built");
    let start = Instant::now();
    gc::force_collect();
    let elapsed = start.elapsed();
    phase("collected");
    // Untimed cleanup without deep recursion: cut W3's edges first, then drop the root.
    if let Some(root) = &root {
        for node in root.edges.borrow().iter() {
            node.edges.borrow_mut().clear();
        }
    }
    drop(root);
    gc::force_collect();
    elapsed
}

// ---- dumpster (unsync) --------------------------------------------------------------------

#[derive(dumpster::Trace)]
struct DNode {
    edges: RefCell<Vec<dumpster::unsync::Gc<DNode>>>,
}

fn run_dumpster(w: Workload, n: usize) -> Duration {
    dumpster::unsync::set_collect_condition(|_| false);
    let root = build(
        w,
        n,
        |edges| {
            dumpster::unsync::Gc::new(DNode {
                edges: RefCell::new(edges),
            })
        },
        |a, b| a.edges.borrow_mut().push(b.clone()),
    );
    phase("built");
    let start = Instant::now();
    dumpster::unsync::collect();
    let elapsed = start.elapsed();
    phase("collected");
    // Untimed cleanup without deep recursion: cut W3's edges first, then drop the root.
    if let Some(root) = &root {
        for node in root.edges.borrow().iter() {
            node.edges.borrow_mut().clear();
        }
    }
    drop(root);
    dumpster::unsync::collect();
    elapsed
}

// ---- gcmodule -----------------------------------------------------------------------------

struct GmNode {
    edges: RefCell<Vec<gcmodule::Cc<GmNode>>>,
}

// Written by hand: gcmodule_derive 0.3's `is_type_tracked` recurses forever on a recursive
// type (it asks the field types, which ask `GmNode` again), overflowing any stack at the first
// `Cc::new`. The default `is_type_tracked` (true) is the correct answer here.
impl gcmodule::Trace for GmNode {
    fn trace(&self, tracer: &mut gcmodule::Tracer) {
        self.edges.trace(tracer);
    }
}

fn run_gcmodule(w: Workload, n: usize) -> Duration {
    let root = build(
        w,
        n,
        |edges| {
            gcmodule::Cc::new(GmNode {
                edges: RefCell::new(edges),
            })
        },
        |a, b| a.edges.borrow_mut().push(b.clone()),
    );
    phase("built");
    let start = Instant::now();
    let found = gcmodule::collect_thread_cycles();
    let elapsed = start.elapsed();
    phase("collected");
    assert_eq!(found, expected(w, n), "gcmodule {w:?}");
    // Untimed cleanup without deep recursion: cut W3's edges first, then drop the root.
    if let Some(root) = &root {
        for node in root.edges.borrow().iter() {
            node.edges.borrow_mut().clear();
        }
    }
    drop(root);
    gcmodule::collect_thread_cycles();
    elapsed
}

fn run(lib: &str, w: Workload, n: usize) -> Duration {
    match lib {
        "pygc" => run_pygc(w, n),
        "rust_cc" => run_rust_cc(w, n),
        "bacon_rajan_cc" => run_bacon_rajan_cc(w, n),
        "rust_gc" => run_rust_gc(w, n),
        "dumpster" => run_dumpster(w, n),
        "gcmodule" => run_gcmodule(w, n),
        _ => panic!("unknown library {lib}"),
    }
}

// ---- stack probes -------------------------------------------------------------------------

const PROBE_ENV: &str = "PYGC_BENCH_PROBE";

/// Child side: run one case once on an 8 MiB-stack thread; a stack overflow kills us.
fn probe_child(spec: &str) -> ! {
    PROBING.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut parts = spec.split(':');
    let (lib, w, n) = (
        parts.next().expect("lib").to_string(),
        Workload::parse(parts.next().expect("workload")),
        parts.next().expect("n").parse::<usize>().expect("n"),
    );
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || run(&lib, w, n))
        .expect("spawn probe thread")
        .join()
        .expect("probe thread");
    phase("cleaned");
    std::process::exit(0)
}

/// Parent side: which (lib, workload, n) survive on an 8 MiB stack. Only W2 and W3 cases are
/// probed (W1 has depth 2); results are printed and written next to criterion's output.
fn probe_all() -> Vec<(String, Workload, usize, String)> {
    let exe = std::env::current_exe().expect("current_exe");
    let mut results = Vec::new();
    let mut report = String::from(
        "# library workload n outcome (one run in a child process on an 8 MiB-stack thread)\n",
    );
    for &(w, n) in CASES {
        if w == Workload::Pairs {
            continue;
        }
        for lib in LIBS {
            let out = std::process::Command::new(&exe)
                .env(PROBE_ENV, format!("{lib}:{}:{n}", w.name()))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .output()
                .expect("spawn probe");
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr.lines().rev().find_map(|l| l.strip_prefix("phase: "));
            let during = match last {
                None => "build",
                Some("built") => "collect",
                Some("collected") => "cleanup",
                Some(_) => "exit",
            };
            let overflow = stderr.contains("has overflowed its stack");
            let outcome = if out.status.success() {
                "ok".to_string()
            } else if overflow {
                format!("stack-overflow-during-{during}")
            } else {
                format!("failed-during-{during}({})", out.status)
            };
            eprintln!("stack probe: {lib:<15} {:<9} n={n:<8} {outcome}", w.name());
            report.push_str(&format!("{lib} {} {n} {outcome}\n", w.name()));
            results.push((lib.to_string(), w, n, outcome));
        }
    }
    // <target>/release/deps/collect-<hash> -> <target>/criterion/
    if let Some(target) = exe
        .parent()
        .and_then(|d| d.parent())
        .and_then(|d| d.parent())
    {
        let dir = target.join("criterion");
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join("collect-stack-probe.txt"), report);
    }
    results
}

fn survives(
    probes: &[(String, Workload, usize, String)],
    lib: &str,
    w: Workload,
    n: usize,
) -> bool {
    probes
        .iter()
        .find(|(l, pw, pn, _)| l == lib && *pw == w && *pn == n)
        .is_none_or(|p| p.3 == "ok")
}

fn benches(c: &mut Criterion, probes: &[(String, Workload, usize, String)]) {
    for &(w, n) in CASES {
        let mut g = c.benchmark_group(format!("collect_{}_{}k", w.name(), n / 1000));
        g.throughput(Throughput::Elements(n as u64));
        g.sampling_mode(SamplingMode::Flat);
        g.sample_size(10);
        g.warm_up_time(Duration::from_secs(1));
        g.measurement_time(Duration::from_secs(3));
        for lib in LIBS {
            if !survives(probes, lib, w, n) {
                eprintln!(
                    "skipping {lib} {} n={n}: overflows an 8 MiB stack (see probe)",
                    w.name()
                );
                continue;
            }
            g.bench_function(BenchmarkId::from_parameter(lib), |b| {
                b.iter_custom(|iters| (0..iters).map(|_| run(lib, w, n)).sum());
            });
        }
        g.finish();
    }
}

fn main() {
    if let Ok(spec) = std::env::var(PROBE_ENV) {
        probe_child(&spec);
    }
    let args: Vec<String> = std::env::args().collect();
    // `--list` and `cargo test --benches` (`--test`... ) still probe: overflow must never
    // take the whole run down.
    let probes = if args.iter().any(|a| a == "--list") {
        Vec::new()
    } else {
        probe_all()
    };
    // The whole benchmark (pygc's W2 included) runs on a thread with an 8 MiB stack.
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || {
            let mut c = Criterion::default().configure_from_args();
            benches(&mut c, &probes);
            c.final_summary();
        })
        .expect("spawn 8 MiB bench thread")
        .join()
        .expect("bench thread");
}
