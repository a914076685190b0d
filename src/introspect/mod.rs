//! Heap introspection (feature `introspect`): why is this alive, what leaks, what retains
//! memory. The tools of CPython's `gc.get_referrers`/`get_referents`, objgraph
//! (`show_backrefs`, `find_backref_chain`, `show_most_common_types`) and guppy/heapy
//! (retained sizes), built on one [`Snapshot`] of the heap as a [`petgraph`] graph.
//!
//! # The snapshot
//! [`Heap::snapshot`] walks every live object (tracked objects of every generation and the
//! permanent one, and the untracked objects they refer to) and records, per object, an
//! [`ObjectInfo`] (identity, type name, box size, refcount, generation, finalizer flags) and
//! one edge per handle its `Trace` reports. The snapshot holds no handle: it never keeps an
//! object alive, and an object's identity in it is its address, valid while it lives (look
//! objects up with [`Snapshot::node`] while you hold them). [`Heap::snapshot_generation`]
//! walks one generation, as `collect(g)` sees it: references from other generations are then
//! external.
//!
//! # External references
//! Every snapshot fills in [`ObjectInfo::external`] with the collector's own arithmetic
//! (`update_refs` copies the refcount, `subtract_refs` takes one off per edge from inside the
//! set): what is left are references from outside the heap, from Rust locals, statics, other
//! heaps. Those objects are the roots a user can act on: drop the handle and the rest follows.
//!
//! # Analyses
//! - [`Snapshot::why_alive`]: the shortest chain from an externally referenced object to a
//!   given one (objgraph's `find_backref_chain`), or `None` for garbage.
//! - [`Snapshot::cycles`]: strongly connected components, largest first, with their types:
//!   what the collector will have to break.
//! - [`Snapshot::census`]: counts and bytes per type, and [`Census::diff`] of two of them.
//! - [`Snapshot::retained_sizes`]: bytes freed if an object went (its dominator subtree, from
//!   a virtual root over the externally referenced objects).
//! - [`Snapshot::dot`]: a DOT picture of the neighbourhood of an object.
//!
//! # Cost
//! Nothing until called: the heap keeps no extra state for introspection. A snapshot costs one
//! pass over the generation lists, one `Trace` per object and one hash look-up per edge, about
//! the work of a full collection (`examples/snapshot_timing.rs` measures the ratio).
//!
//! # Example
//! ```
//! use std::cell::RefCell;
//! use pygc::{Gc, Heap, Trace};
//!
//! #[derive(Trace)]
//! struct Node(RefCell<Vec<Gc<Node>>>);
//!
//! let heap = Heap::new();
//! let root = heap.alloc(Node(RefCell::new(vec![])));
//! let leaf = heap.alloc(Node(RefCell::new(vec![])));
//! root.0.borrow_mut().push(leaf.clone());
//! let leaf_id = Gc::id(&leaf);
//! drop(leaf);
//!
//! let snap = heap.snapshot();
//! let leaf = snap.node_by_id(leaf_id).unwrap();
//! let chain = snap.why_alive(leaf).unwrap();
//! assert_eq!(chain, [snap.node(&root).unwrap(), leaf]);
//! assert_eq!(snap.info(chain[0]).external, 1); // `root`, held by this function
//! ```

mod analysis;
mod census;
mod dot;

use std::cell::OnceCell;
use std::collections::VecDeque;
use std::fmt::Write as _;

pub use analysis::{Cycle, RetainedSizes};
pub use census::{Census, CensusDelta, TypeCount};
pub use dot::MAX_DOT_NODES;
pub use petgraph;
pub use petgraph::Direction;
pub use petgraph::graph::NodeIndex;

use crate::heap::walk::{IndexMap, WalkSink};
pub use crate::heap::walk::{ObjectInfo, Place};
use crate::object::handle::{Handle, obj_of};
use crate::{GcError, Heap};

/// The graph of a [`Snapshot`]: one node per object, one edge per handle reported by its
/// `Trace` (a handle reported twice is two parallel edges).
///
/// ```
/// use pygc::introspect::{ObjectGraph, petgraph::algo::has_path_connecting};
/// let heap = pygc::Heap::new();
/// let leaf = heap.alloc(1_u8);
/// let v = heap.alloc(vec![leaf.clone()]);
/// let snap = heap.snapshot();
/// let graph: &ObjectGraph = snap.graph();
/// let (v, leaf) = (snap.node(&v).unwrap(), snap.node(&leaf).unwrap());
/// assert!(has_path_connecting(graph, v, leaf, None));
/// ```
pub type ObjectGraph = petgraph::graph::DiGraph<ObjectInfo, ()>;

/// The heap (or one generation) as a graph, with external reference counts. See the
/// [module docs](self).
///
/// ```
/// let heap = pygc::Heap::new();
/// let v = heap.alloc(vec![heap.alloc(1_u8), heap.alloc(2_u8)]);
/// let snap = heap.snapshot();
/// assert_eq!((snap.len(), snap.graph().edge_count()), (3, 2));
/// assert_eq!(snap.roots().collect::<Vec<_>>(), [snap.node(&v).unwrap()]);
/// ```
#[derive(Debug, Clone)]
pub struct Snapshot {
    graph: ObjectGraph,
    /// Identity to node, built on the first look-up (most snapshots of a big heap are
    /// looked up a few times, or not at all: a census, the cycles).
    index: OnceCell<IndexMap>,
}

impl Heap {
    /// A snapshot of every live object: see [`Snapshot`] and the [`introspect`](self) module.
    ///
    /// ```
    /// let heap = pygc::Heap::new();
    /// let _x = heap.alloc(std::cell::RefCell::new(Vec::<pygc::Gc<u8>>::new()));
    /// assert_eq!(heap.snapshot().len(), 1);
    /// ```
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::take(self, None).expect("the whole heap is a valid walk")
    }

    /// A snapshot of one generation's tracked objects, as `collect(generation)` would see
    /// them: references from other generations count as external.
    ///
    /// # Errors
    /// [`GcError::GenerationTooLarge`] for a generation above 2.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use pygc::{Gc, Heap};
    /// let heap = Heap::new();
    /// type List = RefCell<Vec<Gc<u8>>>; // can hold handles: tracked
    /// let old = heap.alloc(RefCell::new(Vec::<Gc<List>>::new()));
    /// heap.collect(); // `old` moves to generation 2
    /// let young: Gc<List> = heap.alloc(RefCell::new(vec![]));
    /// old.borrow_mut().push(young.clone());
    /// let gen0 = heap.snapshot_generation(0).unwrap();
    /// assert_eq!(gen0.len(), 1);
    /// // `young`: one handle here, one from `old` (outside generation 0).
    /// assert_eq!(gen0.info(gen0.node(&young).unwrap()).external, 2);
    /// assert!(heap.snapshot_generation(3).is_err());
    /// ```
    pub fn snapshot_generation(&self, generation: usize) -> Result<Snapshot, GcError> {
        Snapshot::take(self, Some(generation))
    }
}

/// The walk's sink: nodes and edges go straight into the graph.
struct GraphSink(ObjectGraph);

impl WalkSink for GraphSink {
    fn reserve(&mut self, objects: usize, edges: usize) {
        self.0.reserve_exact_nodes(objects);
        self.0.reserve_exact_edges(edges);
    }

    #[inline]
    fn object(&mut self, mut info: ObjectInfo) {
        info.external = info.ref_count;
        self.0.add_node(info);
    }

    #[inline]
    fn edge(&mut self, from: u32, to: u32) {
        let (from, to) = (NodeIndex::new(from as usize), NodeIndex::new(to as usize));
        self.0.add_edge(from, to, ());
        // Saturating: only a `Trace` that breaks its contract (reporting a handle it does
        // not own) could make the in-heap edges outnumber the count.
        let target = &mut self.0[to];
        target.external = target.external.saturating_sub(1);
    }
}

impl Snapshot {
    /// Walk the heap straight into the graph (preallocated by the walk) and compute external
    /// references on the way: CPython's `update_refs` (`external = refcount` as each object
    /// arrives) then `subtract_refs` (one off per edge from inside the walked set; the edge
    /// insertion touches the target's node anyway).
    fn take(heap: &Heap, generation: Option<usize>) -> Result<Snapshot, GcError> {
        let mut graph = GraphSink(ObjectGraph::default());
        let index = heap.walk(generation, &mut graph)?;
        let graph = graph.0;
        let index = if index.len() == graph.node_count() {
            OnceCell::from(index) // the walk's hash path numbered every object
        } else {
            OnceCell::new()
        };
        Ok(Snapshot { graph, index })
    }

    /// The graph: nodes weighted by [`ObjectInfo`], edges from `Trace`. All of petgraph's
    /// algorithms apply.
    ///
    /// ```
    /// use pygc::introspect::Direction;
    /// let heap = pygc::Heap::new();
    /// let a = heap.alloc(7_u8);
    /// let v = heap.alloc(vec![a.clone(), a.clone()]);
    /// let snap = heap.snapshot();
    /// let (a, v) = (snap.node(&a).unwrap(), snap.node(&v).unwrap());
    /// assert_eq!(snap.graph().neighbors_directed(a, Direction::Incoming).count(), 2);
    /// assert_eq!(snap.graph().find_edge(v, a).is_some(), true);
    /// ```
    pub fn graph(&self) -> &ObjectGraph {
        &self.graph
    }

    /// Number of objects.
    ///
    /// ```
    /// assert_eq!(pygc::Heap::new().snapshot().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    /// Whether the snapshot holds no object.
    ///
    /// ```
    /// assert!(pygc::Heap::new().snapshot().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// The node of a live object, if the snapshot has it. Only meaningful while the object
    /// lives (an address can be reused after it dies).
    ///
    /// ```
    /// let heap = pygc::Heap::new();
    /// let v = heap.alloc(vec![heap.alloc(())]);
    /// let snap = heap.snapshot();
    /// assert!(snap.node(&v).is_some());
    /// let later = heap.alloc(vec![heap.alloc(())]);
    /// assert!(snap.node(&later).is_none());
    /// ```
    pub fn node(&self, obj: &impl Handle) -> Option<NodeIndex> {
        self.node_by_id(obj_of(obj).as_ptr() as usize)
    }

    /// The node of the object with this identity ([`ObjectInfo::id`], [`Gc::id`](crate::Gc::id)).
    ///
    /// ```
    /// use pygc::Gc;
    /// let heap = pygc::Heap::new();
    /// let v = heap.alloc(vec![heap.alloc(())]);
    /// let snap = heap.snapshot();
    /// assert_eq!(snap.node_by_id(Gc::id(&v)), snap.node(&v));
    /// ```
    pub fn node_by_id(&self, id: usize) -> Option<NodeIndex> {
        let index = self.index.get_or_init(|| {
            let mut index = IndexMap::with_capacity_and_hasher(self.len(), Default::default());
            for (i, info) in self.graph.node_weights().enumerate() {
                index.insert(info.id, i as u32);
            }
            index
        });
        index.get(&id).map(|&i| NodeIndex::new(i as usize))
    }

    /// What the snapshot recorded about one object.
    ///
    /// # Panics
    /// If `node` is not a node of this snapshot.
    ///
    /// ```
    /// let heap = pygc::Heap::new();
    /// let v = heap.alloc(vec![heap.alloc(())]);
    /// let snap = heap.snapshot();
    /// assert!(snap.info(snap.node(&v).unwrap()).type_name.starts_with("alloc::vec::Vec"));
    /// ```
    pub fn info(&self, node: NodeIndex) -> &ObjectInfo {
        &self.graph[node]
    }

    /// The externally referenced objects ([`ObjectInfo::external`] > 0), in walk order: the
    /// roots a user can act on.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// let heap = pygc::Heap::new();
    /// let inner = heap.alloc(1_u32);
    /// let outer = heap.alloc(RefCell::new(vec![inner.clone()]));
    /// let snap = heap.snapshot();
    /// let roots: Vec<_> = snap.roots().collect();
    /// assert_eq!(roots.len(), 2); // both are held here
    /// drop(inner);
    /// let snap = heap.snapshot();
    /// assert_eq!(snap.roots().collect::<Vec<_>>(), [snap.node(&outer).unwrap()]);
    /// ```
    pub fn roots(&self) -> impl Iterator<Item = NodeIndex> + '_ {
        self.graph
            .node_indices()
            .filter(|&n| self.graph[n].external > 0)
    }

    /// Why is this object alive: the shortest chain of references from an externally
    /// referenced object to `node`, root first and `node` last (`[node]` if it is referenced
    /// from outside itself). `None` if no root reaches it: it is garbage the next collection
    /// of its generation will find (objgraph's `find_backref_chain`).
    ///
    /// A breadth-first search backwards from `node`: it visits only what lies between the
    /// object and its nearest roots.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use pygc::{Gc, Heap, Trace};
    ///
    /// #[derive(Trace)]
    /// struct Node(RefCell<Vec<Gc<Node>>>);
    /// let node = |heap: &Heap| heap.alloc(Node(RefCell::new(vec![])));
    ///
    /// let heap = Heap::new();
    /// let (a, b, c) = (node(&heap), node(&heap), node(&heap));
    /// a.0.borrow_mut().push(b.clone());
    /// b.0.borrow_mut().push(c.clone());
    /// c.0.borrow_mut().push(b.clone()); // b <-> c
    /// let (b_id, c_id) = (Gc::id(&b), Gc::id(&c));
    /// drop((b, c));
    /// let snap = heap.snapshot();
    /// let c = snap.node_by_id(c_id).unwrap();
    /// let chain = snap.why_alive(c).unwrap();
    /// assert_eq!(chain, [snap.node(&a).unwrap(), snap.node_by_id(b_id).unwrap(), c]);
    /// println!("{}", snap.describe_chain(&chain));
    ///
    /// drop(a); // now a, b, c are garbage: nothing outside refers to them
    /// let snap = heap.snapshot();
    /// assert_eq!(snap.why_alive(snap.node_by_id(c_id).unwrap()), None);
    /// ```
    pub fn why_alive(&self, node: NodeIndex) -> Option<Vec<NodeIndex>> {
        const UNSEEN: u32 = u32::MAX;
        // `next[v]`: the node one step closer to `node` on the chain found to `v`.
        let mut next = vec![UNSEEN; self.len()];
        next[node.index()] = node.index() as u32;
        let mut queue = VecDeque::from([node]);
        while let Some(v) = queue.pop_front() {
            if self.graph[v].external > 0 {
                let mut chain = vec![v];
                let mut at = v;
                while at != node {
                    at = NodeIndex::new(next[at.index()] as usize);
                    chain.push(at);
                }
                return Some(chain);
            }
            for referrer in self.graph.neighbors_directed(v, Direction::Incoming) {
                if next[referrer.index()] == UNSEEN {
                    next[referrer.index()] = v.index() as u32;
                    queue.push_back(referrer);
                }
            }
        }
        None
    }

    /// One line per object of a chain (as [`Snapshot::why_alive`] returns it): type, size,
    /// refcount and external references.
    ///
    /// ```
    /// let heap = pygc::Heap::new();
    /// let v = heap.alloc(vec![heap.alloc(5_i64)]);
    /// let snap = heap.snapshot();
    /// let five = snap.graph().neighbors(snap.node(&v).unwrap()).next().unwrap();
    /// let text = snap.describe_chain(&snap.why_alive(five).unwrap());
    /// assert_eq!(text.lines().count(), 2);
    /// assert!(text.lines().next().unwrap().contains("external 1"));
    /// ```
    pub fn describe_chain(&self, chain: &[NodeIndex]) -> String {
        let mut out = String::new();
        for (i, &n) in chain.iter().enumerate() {
            let info = &self.graph[n];
            let _ = writeln!(
                out,
                "{:indent$}{}{} at {:#x}: {} B, refcount {}, external {}",
                "",
                if i == 0 { "" } else { "-> " },
                short_type_name(info.type_name),
                info.id,
                info.size,
                info.ref_count,
                info.external,
                indent = 2 * i.saturating_sub(1),
            );
        }
        out
    }
}

/// A type name without its module paths: `alloc::vec::Vec<pygc::Gc<app::Node>>` becomes
/// `Vec<Gc<Node>>`.
///
/// ```
/// use pygc::introspect::short_type_name;
/// assert_eq!(short_type_name("alloc::vec::Vec<pygc::Gc<app::Node>>"), "Vec<Gc<Node>>");
/// assert_eq!(short_type_name("(i64, core::cell::RefCell<u8>)"), "(i64, RefCell<u8>)");
/// ```
pub fn short_type_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut segment = 0; // where the current path starts in `out`
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            out.truncate(segment);
        } else {
            out.push(c);
            if !(c.is_alphanumeric() || c == '_') {
                segment = out.len();
            }
        }
    }
    out
}
