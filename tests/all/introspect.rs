//! Heap introspection (`pygc::introspect`): snapshots of hand-built graphs whose answers are
//! worked out by hand (chains, diamonds, cycles, a dominator tree), and a property test that
//! compares snapshots with the op interpreter's petgraph model.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use proptest::prelude::*;
use pygc::introspect::{Direction, NodeIndex, Place, Snapshot};
use pygc::testutil::{Interpreter, ModelView};
use pygc::{Finalize, Gc, Heap, HeapConfig, Trace};

use crate::support::TestHeap;

/// A named node with edges: the test graphs' only tracked type.
#[derive(Trace)]
struct N {
    #[trace(skip)]
    name: &'static str,
    edges: RefCell<Vec<Gc<N>>>,
    other: RefCell<Option<Gc<Other>>>,
}

fn node(heap: &Heap, name: &'static str) -> Gc<N> {
    heap.alloc(N {
        name,
        edges: RefCell::new(Vec::new()),
        other: RefCell::new(None),
    })
}

fn link(from: &Gc<N>, to: &Gc<N>) {
    from.edges.borrow_mut().push(to.clone());
}

/// Objects by name, kept as identities only (no handle), so that dropping the handles
/// leaves the graph as built.
struct Names(HashMap<&'static str, usize>);

impl Names {
    fn of(nodes: &[&Gc<N>]) -> Names {
        Names(nodes.iter().map(|n| (n.name, Gc::id(n))).collect())
    }
    fn get(&self, snap: &Snapshot, name: &str) -> NodeIndex {
        snap.node_by_id(self.0[name])
            .unwrap_or_else(|| panic!("{name} not in the snapshot"))
    }
    fn name(&self, snap: &Snapshot, n: NodeIndex) -> &'static str {
        let id = snap.info(n).id;
        self.0
            .iter()
            .find(|(_, v)| **v == id)
            .map(|(k, _)| *k)
            .expect("a named node")
    }
    fn names(&self, snap: &Snapshot, ns: &[NodeIndex]) -> Vec<&'static str> {
        ns.iter().map(|&n| self.name(snap, n)).collect()
    }
}

fn size_of_n(snap: &Snapshot) -> usize {
    snap.graph().node_weights().next().expect("a node").size
}

#[test]
fn chain_why_alive_externals_and_retained() {
    let heap = TestHeap::new();
    let (r, a, b, c) = (
        node(&heap, "r"),
        node(&heap, "a"),
        node(&heap, "b"),
        node(&heap, "c"),
    );
    link(&r, &a);
    link(&a, &b);
    link(&b, &c);
    let names = Names::of(&[&r, &a, &b, &c]);
    drop((a, b, c));
    let rc_before = Gc::ref_count(&r);
    let snap = heap.snapshot();
    assert_eq!(Gc::ref_count(&r), rc_before, "a snapshot takes no count");
    assert_eq!((snap.len(), snap.graph().edge_count()), (4, 3));
    let externals: Vec<u32> = ["r", "a", "b", "c"]
        .iter()
        .map(|n| snap.info(names.get(&snap, n)).external)
        .collect();
    assert_eq!(externals, [1, 0, 0, 0]);
    let c = names.get(&snap, "c");
    assert_eq!(
        names.names(&snap, &snap.why_alive(c).unwrap()),
        ["r", "a", "b", "c"]
    );
    let s = size_of_n(&snap);
    let retained = snap.retained_sizes();
    for (name, expected) in [("r", 4 * s), ("a", 3 * s), ("b", 2 * s), ("c", s)] {
        assert_eq!(
            retained.retained(names.get(&snap, name)),
            Some(expected),
            "{name}"
        );
    }
    assert_eq!(retained.immediate_dominator(c), Some(names.get(&snap, "b")));
    assert_eq!(retained.immediate_dominator(names.get(&snap, "r")), None);
    assert!(snap.cycles().is_empty());
    heap.check_invariants();
}

#[test]
fn why_alive_takes_the_shortest_chain_from_any_root() {
    let heap = TestHeap::new();
    let (r1, x, y, z, r2, w, t) = (
        node(&heap, "r1"),
        node(&heap, "x"),
        node(&heap, "y"),
        node(&heap, "z"),
        node(&heap, "r2"),
        node(&heap, "w"),
        node(&heap, "t"),
    );
    // r1 -> x -> y -> z -> t, and r2 -> w -> t: the second is shorter.
    for (f, to) in [(&r1, &x), (&x, &y), (&y, &z), (&z, &t), (&r2, &w), (&w, &t)] {
        link(f, to);
    }
    let names = Names::of(&[&r1, &x, &y, &z, &r2, &w, &t]);
    drop((x, y, z, w, t));
    let snap = heap.snapshot();
    let t = names.get(&snap, "t");
    assert_eq!(
        names.names(&snap, &snap.why_alive(t).unwrap()),
        ["r2", "w", "t"]
    );
    // A root is its own answer.
    let r1n = names.get(&snap, "r1");
    assert_eq!(snap.why_alive(r1n), Some(vec![r1n]));
    // Cut r2's chain: now only the long one is left.
    r2.edges.borrow_mut().clear();
    let snap = heap.snapshot();
    assert_eq!(
        names.names(&snap, &snap.why_alive(names.get(&snap, "t")).unwrap()),
        ["r1", "x", "y", "z", "t"]
    );
    // `w` died by refcount when r2 let go of it.
    assert_eq!(snap.len(), 6);
    drop((r1, r2));
    assert_eq!(heap.collect(), 0);
}

#[test]
fn diamond_dominators() {
    // r -> a, r -> b, a -> d, b -> d, d -> e: d is dominated by r, not by a or b.
    let heap = TestHeap::new();
    let (r, a, b, d, e) = (
        node(&heap, "r"),
        node(&heap, "a"),
        node(&heap, "b"),
        node(&heap, "d"),
        node(&heap, "e"),
    );
    for (f, to) in [(&r, &a), (&r, &b), (&a, &d), (&b, &d), (&d, &e)] {
        link(f, to);
    }
    let names = Names::of(&[&r, &a, &b, &d, &e]);
    drop((a, b, d, e));
    let snap = heap.snapshot();
    let s = size_of_n(&snap);
    let ret = snap.retained_sizes();
    let get = |n| names.get(&snap, n);
    assert_eq!(ret.retained(get("r")), Some(5 * s));
    assert_eq!(ret.retained(get("a")), Some(s));
    assert_eq!(ret.retained(get("b")), Some(s));
    assert_eq!(ret.retained(get("d")), Some(2 * s));
    assert_eq!(ret.immediate_dominator(get("d")), Some(get("r")));
    assert_eq!(ret.immediate_dominator(get("e")), Some(get("d")));
    assert_eq!(names.names(&snap, &[ret.top(1)[0].0]), ["r"]);
    assert_eq!(snap.info(get("d")).ref_count, 2);
    assert_eq!(snap.info(get("d")).external, 0);
}

#[test]
fn dominators_of_a_graph_with_a_loop_worked_by_hand() {
    // The textbook example: R -> A, R -> B, A -> C, B -> C, C -> D, D -> E, E -> C, D -> F,
    // and a second root S -> F.
    // Immediate dominators (by hand): A, B, C: R; D: C; E: D; F: the virtual root (reached
    // from R through D and directly from S). Retained: R = R+A+B+C+D+E; C = C+D+E; D = D+E;
    // F = F; S = S.
    let heap = TestHeap::new();
    let ns = ["R", "A", "B", "C", "D", "E", "F", "S"].map(|n| node(&heap, n));
    let by = |n: &str| {
        &ns[["R", "A", "B", "C", "D", "E", "F", "S"]
            .iter()
            .position(|m| *m == n)
            .unwrap()]
    };
    for (f, t) in [
        ("R", "A"),
        ("R", "B"),
        ("A", "C"),
        ("B", "C"),
        ("C", "D"),
        ("D", "E"),
        ("E", "C"),
        ("D", "F"),
        ("S", "F"),
    ] {
        link(by(f), by(t));
    }
    let names = Names::of(&ns.iter().collect::<Vec<_>>());
    let [r, _a, _b, _c, _d, _e, _f, s_root] = ns;
    drop((_a, _b, _c, _d, _e, _f));
    let snap = heap.snapshot();
    let s = size_of_n(&snap);
    let get = |n| names.get(&snap, n);
    let ret = snap.retained_sizes();
    let idom = |n| {
        ret.immediate_dominator(get(n))
            .map(|d| names.name(&snap, d))
    };
    assert_eq!(
        ["A", "B", "C", "D", "E", "F", "R", "S"].map(idom),
        [
            Some("R"),
            Some("R"),
            Some("R"),
            Some("C"),
            Some("D"),
            None,
            None,
            None
        ]
    );
    let retained = |n| ret.retained(get(n)).unwrap() / s;
    assert_eq!(
        ["R", "A", "B", "C", "D", "E", "F", "S"].map(retained),
        [6, 1, 1, 3, 2, 1, 1, 1]
    );
    // The loop C -> D -> E -> C is the one cycle, alive (reachable from R).
    let cycles = snap.cycles();
    assert_eq!(cycles.len(), 1);
    let mut members = names.names(&snap, &cycles[0].nodes);
    members.sort();
    assert_eq!(members, ["C", "D", "E"]);
    assert!(cycles[0].reachable);
    assert_eq!(cycles[0].bytes, 3 * s);
    drop((r, s_root));
}

/// A second tracked type, to check the types reported per cycle.
#[derive(Trace)]
struct Other(RefCell<Option<Gc<N>>>);

#[test]
fn cycles_largest_first_with_types_and_garbage_flag() {
    let heap = TestHeap::new();
    heap.disable();
    // Garbage: a 3-cycle a -> b -> o -> a (o of another type) with two leaves b -> tmp and
    // b -> x hanging off it, and a self-loop s. Alive: a 2-cycle
    // p <-> q and a chain (no cycle).
    let (a, b) = (node(&heap, "a"), node(&heap, "b"));
    let o = heap.alloc(Other(RefCell::new(Some(a.clone()))));
    link(&a, &b);
    *b.other.borrow_mut() = Some(o.clone());
    link(&b, &node(&heap, "tmp"));
    let x = node(&heap, "x");
    link(&b, &x);
    let (p, q) = (node(&heap, "p"), node(&heap, "q"));
    link(&p, &q);
    link(&q, &p);
    let s = node(&heap, "s");
    link(&s, &s);
    let chain = node(&heap, "chain");
    link(&chain, &node(&heap, "end"));
    let names = Names::of(&[&a, &b, &p, &q, &s, &x]);
    let o_id = Gc::id(&o);
    drop((a, b, s, o, x));
    let snap = heap.snapshot();
    let cycles = snap.cycles();
    let shape: Vec<(usize, bool)> = cycles
        .iter()
        .map(|c| (c.nodes.len(), c.reachable))
        .collect();
    assert_eq!(shape, [(3, false), (2, true), (1, false)]);
    let o = snap.node_by_id(o_id).unwrap();
    assert!(cycles[0].nodes.contains(&o));
    assert_eq!(
        cycles[0].types,
        [
            (std::any::type_name::<N>(), 2),
            (std::any::type_name::<Other>(), 1)
        ]
    );
    let mut second = names.names(&snap, &cycles[1].nodes);
    second.sort();
    assert_eq!(second, ["p", "q"]);
    assert_eq!(names.names(&snap, &cycles[2].nodes), ["s"]);
    // `x` is held only by the garbage cycle: garbage too, but in no cycle.
    let xn = names.get(&snap, "x");
    assert_eq!(snap.info(xn).external, 0);
    assert!(cycles.iter().all(|c| !c.nodes.contains(&xn)));
    assert_eq!(snap.why_alive(xn), None);
    assert_eq!(snap.why_alive(o), None);
    // The collector agrees: a, b, o, tmp, x and s are the garbage.
    assert_eq!(heap.collect(), 6);
    let after = heap.snapshot().cycles();
    assert_eq!(after.len(), 1);
    drop((p, q, chain));
}

#[test]
fn external_counts_parallel_edges_atoms_and_places() {
    let heap = TestHeap::new();
    let atom = heap.alloc(42_i64);
    let v = heap.alloc(RefCell::new(vec![atom.clone(), atom.clone()]));
    let frozen = node(&heap, "frozen");
    heap.freeze();
    let young = node(&heap, "young");
    link(&young, &frozen);
    let snap = heap.snapshot();
    let a = snap.node(&atom).unwrap();
    let info = *snap.info(a);
    assert_eq!(info.place, Place::Untracked);
    assert!(!info.is_tracked());
    assert_eq!((info.ref_count, info.external), (3, 1)); // `atom` here, two from v
    let vn = snap.node(&v).unwrap();
    assert_eq!(snap.graph().edges_connecting(vn, a).count(), 2);
    assert_eq!(snap.info(vn).place, Place::Permanent);
    let f = snap.node(&frozen).unwrap();
    assert_eq!(snap.info(f).place, Place::Permanent);
    assert_eq!((snap.info(f).ref_count, snap.info(f).external), (2, 1));
    assert_eq!(
        snap.info(snap.node(&young).unwrap()).place,
        Place::Generation(0)
    );
    // Generation 0 alone: `frozen` is outside, and no atom is walked.
    let gen0 = heap.snapshot_generation(0).unwrap();
    assert_eq!(gen0.len(), 1);
    assert_eq!(gen0.graph().edge_count(), 0);
    // One collection later `young` is in generation 1.
    heap.collect_generation(0).unwrap();
    let snap = heap.snapshot();
    assert_eq!(
        snap.info(snap.node(&young).unwrap()).place,
        Place::Generation(1)
    );
    assert_eq!(heap.snapshot_generation(1).unwrap().len(), 1);
    assert!(heap.snapshot_generation(0).unwrap().is_empty());
    heap.unfreeze();
    heap.check_invariants();
}

#[test]
fn census_and_its_diff() {
    let heap = TestHeap::new();
    let keep = heap.alloc(RefCell::new(Vec::new()));
    let before = heap.snapshot().census();
    for i in 0..100_u32 {
        keep.borrow_mut().push(heap.alloc(i));
    }
    let _extra = node(&heap, "extra");
    let after = heap.snapshot().census();
    assert_eq!(after.objects, before.objects + 101);
    let diff = after.diff(&before);
    let u32_size = heap
        .snapshot()
        .graph()
        .node_weights()
        .find(|i| i.type_name == "u32")
        .unwrap()
        .size;
    assert_eq!(diff[0].type_name, "u32");
    assert_eq!(
        (diff[0].count, diff[0].bytes),
        (100, 100 * u32_size as isize)
    );
    assert_eq!(diff.len(), 2);
    assert_eq!(diff[1].type_name, std::any::type_name::<N>());
    // Shrinking shows as negative, last.
    keep.borrow_mut().truncate(10);
    let shrunk = heap.snapshot().census().diff(&after);
    assert_eq!(shrunk.last().unwrap().count, -90);
    assert!(after.to_string().contains("u32"));
}

#[test]
fn dot_neighbourhoods_follow_hops_and_direction() {
    let heap = TestHeap::new();
    let (a, b, c, d) = (
        node(&heap, "a"),
        node(&heap, "b"),
        node(&heap, "c"),
        node(&heap, "d"),
    );
    link(&a, &b);
    link(&b, &c);
    link(&c, &d);
    link(&b, &c); // two handles b -> c
    let snap = heap.snapshot();
    let b_n = snap.node(&b).unwrap();
    let refs1 = snap.dot(b_n, 1, Direction::Outgoing);
    assert_eq!(refs1.matches("label=").count(), 2 + 1); // b, c and the ×2 edge
    assert!(refs1.contains("[label=\"×2\"]"));
    let refs2 = snap.dot(b_n, 2, Direction::Outgoing);
    assert_eq!(refs2.matches(" B, refcount").count(), 3); // b, c, d
    let back = snap.dot(b_n, 5, Direction::Incoming);
    assert_eq!(back.matches(" B, refcount").count(), 2); // b, a
    assert!(back.contains("rankdir=BT"));
    assert!(back.contains(&format!(
        "n{} -> n{}",
        snap.node(&a).unwrap().index(),
        b_n.index()
    )));
}

#[test]
fn deep_structures_do_not_recurse() {
    // A 200,000-long chain closed into one cycle: every analysis must be iterative (the test
    // thread has a 2 MiB stack; a recursive SCC or DFS would overflow it). Miri: 80.
    const LEN: usize = if cfg!(miri) { 80 } else { 200_000 };
    let heap = TestHeap::new();
    heap.disable();
    let first = node(&heap, "first");
    let mut last = first.clone();
    for _ in 0..LEN {
        let n = node(&heap, "link");
        link(&last, &n);
        last = n;
    }
    let end_id = Gc::id(&last);
    drop(last);
    let snap = heap.snapshot();
    assert_eq!(snap.len(), LEN + 1);
    let end = snap.node_by_id(end_id).unwrap();
    assert_eq!(snap.why_alive(end).unwrap().len(), LEN + 1);
    let ret = snap.retained_sizes();
    assert_eq!(
        ret.retained(snap.node(&first).unwrap()),
        Some((LEN + 1) * size_of_n(&snap))
    );
    assert!(snap.cycles().is_empty());
    let _ = snap.dot(end, 3, Direction::Incoming);
    drop(snap);
    let tail = heap
        .objects(Some(0))
        .unwrap()
        .pop()
        .unwrap()
        .downcast::<N>()
        .unwrap();
    link(&tail, &first);
    drop(tail);
    let cycles = heap.snapshot().cycles();
    assert_eq!(cycles.len(), 1);
    assert_eq!(cycles[0].nodes.len(), LEN + 1);
    drop(first);
    assert_eq!(heap.collect(), LEN + 1);
}

thread_local!(static SNAPSHOT_IN_FINALIZER: Cell<Option<(usize, usize)>> = const { Cell::new(None) });

#[test]
fn snapshot_from_a_finalizer_during_collection() {
    thread_local!(static HEAP: RefCell<Option<std::rc::Rc<TestHeap>>> = const { RefCell::new(None) });
    #[derive(Trace)]
    struct Peek(RefCell<Option<Gc<Peek>>>);
    impl Finalize for Peek {
        fn finalize(this: &Gc<Self>) {
            HEAP.with(|h| {
                let heap = h.borrow().clone().expect("heap");
                let snap = heap.snapshot();
                // The garbage (this object and its partner) is on the collector's work
                // lists: only the survivor is in the snapshot.
                SNAPSHOT_IN_FINALIZER
                    .with(|c| c.set(Some((snap.len(), snap.node(this).map_or(0, |_| 1)))));
            });
        }
    }
    let heap = std::rc::Rc::new(TestHeap::new());
    HEAP.with(|h| *h.borrow_mut() = Some(heap.clone()));
    heap.disable();
    let survivor = node(&heap, "survivor");
    let p = heap.alloc_with_finalizer(Peek(RefCell::new(None)));
    *p.0.borrow_mut() = Some(p.clone());
    drop(p);
    assert_eq!(heap.collect(), 1);
    assert_eq!(SNAPSHOT_IN_FINALIZER.with(Cell::get), Some((1, 0)));
    heap.check_invariants();
    drop(survivor);
    HEAP.with(|h| h.borrow_mut().take());
}

/// The snapshot against the interpreter's model: the same nodes, the same strong and weak
/// edges (as multisets), and for every node, external references = the handles the model
/// holds from outside the heap.
fn compare(view: &ModelView, snap: &Snapshot) {
    let tnode = std::any::type_name::<pygc::testutil::TNode>();
    let mut nodes: Vec<usize> = snap
        .graph()
        .node_weights()
        .filter(|i| i.type_name == tnode)
        .map(|i| i.id)
        .collect();
    nodes.sort_unstable();
    let mut model_nodes = view.nodes.clone();
    model_nodes.sort_unstable();
    assert_eq!(nodes, model_nodes, "nodes differ");
    let g = snap.graph();
    let mut edges = Vec::new();
    let mut weak_edges = Vec::new();
    for e in g.raw_edges() {
        let (from, to) = (&g[e.source()], &g[e.target()]);
        if from.type_name != tnode {
            continue;
        }
        if to.type_name == tnode {
            edges.push((from.id, to.id));
        } else {
            weak_edges.push((from.id, to.id));
        }
    }
    let sorted = |mut v: Vec<(usize, usize)>| {
        v.sort_unstable();
        v
    };
    assert_eq!(
        sorted(edges),
        sorted(view.edges.clone()),
        "strong edges differ"
    );
    assert_eq!(
        sorted(weak_edges),
        sorted(view.weak_edges.clone()),
        "weak edges differ"
    );
    for info in g.node_weights().filter(|i| i.type_name == tnode) {
        assert_eq!(
            info.external,
            view.external.get(&info.id).copied().unwrap_or(0),
            "external references of {:#x}",
            info.id
        );
        assert!(info.is_tracked());
    }
    // The model's atoms are held only by the interpreter: no tracked object refers to them,
    // so the walk (tracked objects and what they refer to) does not find them.
    assert!(
        g.node_weights()
            .all(|i| i.type_name != std::any::type_name::<pygc::testutil::Atom>())
    );
    // Every analysis runs on whatever the program built.
    let roots = snap.roots().count();
    let reached = g
        .node_indices()
        .filter(|&n| snap.why_alive(n).is_some())
        .count();
    let retained = snap.retained_sizes();
    assert_eq!(
        reached,
        g.node_indices()
            .filter(|&n| retained.retained(n).is_some())
            .count(),
        "why_alive and the dominator tree disagree on what roots reach"
    );
    assert!(reached >= roots);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 2 } else { 48 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random programs (the props suite's ops); after every op the snapshot matches the model.
    #[test]
    fn snapshots_agree_with_the_model(ops in prop::collection::vec(crate::props::op(), 0..if cfg!(miri) { 16 } else { 100 })) {
        let mut interp = Interpreter::new(HeapConfig::default());
        for op in ops {
            interp.apply(op);
            let view = interp.model_view();
            let snap = interp.heap().snapshot();
            compare(&view, &snap);
        }
        interp.finish();
    }
}

thread_local!(static RESURRECTED: RefCell<Vec<Gc<Phoenix>>> = const { RefCell::new(Vec::new()) });

/// Resurrects itself once from its PEP 442 finalizer.
#[derive(Trace)]
struct Phoenix(RefCell<Option<Gc<Phoenix>>>);

impl Finalize for Phoenix {
    fn finalize(this: &Gc<Self>) {
        RESURRECTED.with(|r| r.borrow_mut().push(this.clone()));
    }
}

#[test]
fn finalizer_flags_follow_the_object() {
    let heap = TestHeap::new();
    let plain = node(&heap, "plain");
    let p = heap.alloc_with_finalizer(Phoenix(RefCell::new(None)));
    *p.0.borrow_mut() = Some(p.clone());
    let id = Gc::id(&p);
    let snap = heap.snapshot();
    let info = *snap.info(snap.node_by_id(id).unwrap());
    assert!(info.has_finalizer && !info.finalized);
    assert!(!snap.info(snap.node(&plain).unwrap()).has_finalizer);
    drop(p);
    assert_eq!(heap.collect(), 0, "resurrected: nothing collected");
    let snap = heap.snapshot();
    let info = *snap.info(snap.node_by_id(id).unwrap());
    assert!(info.finalized, "gc.is_finalized after the finalizer ran");
    // Held by the thread-local now: external 1 (plus its self-reference).
    assert_eq!((info.ref_count, info.external), (2, 1));
    let p = RESURRECTED.with(|r| r.borrow_mut().pop()).unwrap();
    p.0.borrow_mut().take();
    drop((p, plain));
}
