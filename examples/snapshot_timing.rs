//! How long a heap snapshot takes next to one full collection, on a heap of a million live
//! objects (the budget of issue 12: under 2x).
//!
//! The heap: `N` nodes, each pointing at the next one (a chain) and at a pseudo-random
//! earlier one, so it is full of cycles; one node in a thousand is also held from Rust.
//! Nothing is garbage, so the collection does its whole work (`update_refs`,
//! `subtract_refs`, `move_unreachable` over every object) and frees nothing. Each round
//! times one `Heap::collect()` and one `Heap::snapshot()` (walk, petgraph graph, external
//! references); the example prints every round and the median ratio over 5 rounds.
//!
//! Run it with `cargo run --release --example snapshot_timing` (`PYGC_OBJECTS=n` to change
//! the size).

use std::cell::RefCell;
use std::time::{Duration, Instant};

use pygc::{Gc, Heap, Trace};

#[derive(Trace)]
struct Node {
    edges: RefCell<Vec<Gc<Node>>>,
}

fn main() {
    let n: usize = std::env::var("PYGC_OBJECTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let heap = Heap::new();
    heap.disable();
    let mut held = Vec::new();
    let mut all: Vec<Gc<Node>> = Vec::with_capacity(n);
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for i in 0..n {
        let node = heap.alloc(Node {
            edges: RefCell::new(Vec::with_capacity(2)),
        });
        if i > 0 {
            all[i - 1].edges.borrow_mut().push(node.clone());
            // xorshift: a pseudo-random earlier node.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let j = (seed % i as u64) as usize;
            node.edges.borrow_mut().push(all[j].clone());
        }
        if i % 1000 == 0 {
            held.push(node.clone());
        }
        all.push(node);
    }
    drop(all);
    println!(
        "{} live objects, {} held from Rust",
        heap.live_objects(),
        held.len()
    );
    heap.collect(); // warm-up: everything moves to generation 2

    let mut ratios = Vec::new();
    for round in 1..=5 {
        let start = Instant::now();
        let found = heap.collect();
        let collect = start.elapsed();
        assert_eq!(found, 0);
        let start = Instant::now();
        let snap = heap.snapshot();
        let snapshot = start.elapsed();
        assert_eq!(snap.len(), n);
        drop(snap);
        let ratio = snapshot.as_secs_f64() / collect.as_secs_f64();
        println!(
            "round {round}: collect {:>8.1} ms, snapshot {:>8.1} ms, ratio {ratio:.2}",
            ms(collect),
            ms(snapshot)
        );
        ratios.push(ratio);
    }
    ratios.sort_by(f64::total_cmp);
    println!("median snapshot/collection ratio: {:.2}x", ratios[2]);
    drop(held);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
