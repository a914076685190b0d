//! The collector's prefetching queues (`gc/visit.rs`) delay `subtract_refs`' decrements and
//! `move_unreachable`'s visits by a few edges. They must change nothing but timing: on random
//! graphs, the survivors, their order in every generation, the garbage and its order are the
//! same as with every visit applied at once (CPython's way).

use std::cell::RefCell;

use proptest::prelude::*;
use pygc::testutil::with_undelayed_visits;
use pygc::{DebugFlags, Gc, Heap, Trace};

#[derive(Trace)]
struct Node {
    #[trace(skip)]
    id: u32,
    edges: RefCell<Vec<Gc<Node>>>,
}

#[derive(Debug, Clone)]
struct Scenario {
    /// Nodes of the first batch (collected once into generation 1) and of the second.
    first: usize,
    second: usize,
    /// Edges as (from, to) indices into all nodes.
    edges: Vec<(usize, usize)>,
    /// Which nodes stay held from outside.
    held: Vec<bool>,
}

/// Everything the collection decides, as ids in list order.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    collected: usize,
    per_generation: Vec<Vec<u32>>,
    garbage: Vec<u32>,
}

fn ids(objects: Vec<pygc::AnyGc>) -> Vec<u32> {
    objects
        .into_iter()
        .filter_map(|o| o.downcast::<Node>().map(|n| n.id))
        .collect()
}

fn run(s: &Scenario) -> Outcome {
    let heap = Heap::new();
    heap.disable();
    let n = s.first + s.second;
    let mut nodes: Vec<Gc<Node>> = Vec::with_capacity(n);
    for id in 0..n {
        if id == s.first {
            // The first batch moves to generation 1, so the second collection sees older
            // objects as roots and young ones referring into them.
            heap.collect_generation(0).unwrap();
        }
        nodes.push(heap.alloc(Node {
            id: id as u32,
            edges: RefCell::new(Vec::new()),
        }));
    }
    for &(from, to) in &s.edges {
        nodes[from % n]
            .edges
            .borrow_mut()
            .push(nodes[to % n].clone());
    }
    let held: Vec<Gc<Node>> = nodes
        .into_iter()
        .enumerate()
        .filter(|(i, _)| s.held[i % s.held.len()])
        .map(|(_, node)| node)
        .collect();
    heap.set_debug(DebugFlags::SAVEALL);
    let collected = heap.collect_generation(0).unwrap();
    let per_generation = (0..3)
        .map(|g| ids(heap.objects(Some(g)).unwrap()))
        .collect();
    let garbage = ids(heap.take_garbage());
    let outcome = Outcome {
        collected,
        per_generation,
        garbage,
    };
    drop(held);
    heap.set_debug(DebugFlags::empty());
    heap.collect();
    outcome
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (1usize..60, 1usize..120).prop_flat_map(|(first, second)| {
        let n = first + second;
        (
            proptest::collection::vec((0..n, 0..n), 0..4 * n),
            proptest::collection::vec(prop::bool::weighted(0.15), 1..n + 1),
        )
            .prop_map(move |(edges, held)| Scenario {
                first,
                second,
                edges,
                held,
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 2 } else { 128 }))]
    #[test]
    fn prefetch_queues_change_nothing_but_timing(s in scenario()) {
        let queued = run(&s);
        let undelayed = with_undelayed_visits(|| run(&s));
        prop_assert_eq!(queued, undelayed);
    }
}
