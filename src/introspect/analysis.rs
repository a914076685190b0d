//! Graph analyses over a snapshot: cycles (strongly connected components) and retained sizes
//! (dominators). Both use petgraph's iterative algorithms (Kosaraju's SCC, Cooper-Harvey-
//! Kennedy dominators), never a recursive one: a ten-million-long chain must not overflow
//! the stack here any more than in the collector.

use std::collections::HashMap;

use petgraph::algo::{dominators, kosaraju_scc};
use petgraph::graph::DiGraph;
use petgraph::visit::Dfs;

use super::{NodeIndex, Snapshot};

/// A strongly connected component of more than one object, or one object referring to
/// itself: a reference cycle, which refcounting alone can never free.
///
/// ```
/// use std::cell::RefCell;
/// use pygc::{Gc, Heap, Trace};
/// #[derive(Trace)]
/// struct Node(RefCell<Vec<Gc<Node>>>);
///
/// let heap = Heap::new();
/// let a = heap.alloc(Node(RefCell::new(vec![])));
/// a.0.borrow_mut().push(a.clone()); // a self-loop
/// let cycles = heap.snapshot().cycles();
/// assert_eq!(cycles.len(), 1);
/// assert_eq!(cycles[0].nodes.len(), 1);
/// assert!(cycles[0].reachable); // `a` is still held here
/// assert_eq!(cycles[0].types, [(std::any::type_name::<Node>(), 1)]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cycle {
    /// The objects of the component (in no particular order).
    pub nodes: Vec<NodeIndex>,
    /// Their box sizes added up.
    pub bytes: usize,
    /// Objects per type, most frequent first (ties by name).
    pub types: Vec<(&'static str, usize)>,
    /// Whether an externally referenced object reaches it. If not, the cycle is garbage:
    /// the next collection of its generation frees it (unless a legacy finalizer makes it
    /// uncollectable).
    pub reachable: bool,
}

/// Retained sizes: for every object, the bytes that would be freed if it went, that is the
/// sizes of the objects it dominates (every chain from a root to them passes through it),
/// itself included. Computed over the dominator tree of the snapshot with a virtual root
/// whose children are the externally referenced objects.
///
/// ```
/// use std::cell::RefCell;
/// use pygc::Heap;
/// let heap = Heap::new();
/// let leaf = heap.alloc(0_u64);
/// let list = heap.alloc(RefCell::new(vec![leaf]));
/// let snap = heap.snapshot();
/// let retained = snap.retained_sizes();
/// let list_n = snap.node(&list).unwrap();
/// let leaf_n = snap.graph().neighbors(list_n).next().unwrap();
/// assert_eq!(retained.retained(list_n), Some(snap.info(list_n).size + snap.info(leaf_n).size));
/// assert_eq!(retained.immediate_dominator(leaf_n), Some(list_n));
/// assert_eq!(retained.top(1), [(list_n, retained.retained(list_n).unwrap())]);
/// ```
#[derive(Clone, Debug)]
pub struct RetainedSizes {
    /// Per node: retained bytes, `None` for objects no root reaches (garbage).
    retained: Vec<Option<usize>>,
    /// Per node: immediate dominator, `u32::MAX` for "the virtual root" or unreachable.
    idom: Vec<u32>,
}

const NONE: u32 = u32::MAX;

impl RetainedSizes {
    /// Bytes freed if `node` went (its own size included); `None` if no root reaches it.
    ///
    /// ```
    /// let heap = pygc::Heap::new();
    /// let x = heap.alloc(vec![heap.alloc(1_u8)]);
    /// let snap = heap.snapshot();
    /// let x = snap.node(&x).unwrap();
    /// assert!(snap.retained_sizes().retained(x).unwrap() > snap.info(x).size);
    /// ```
    pub fn retained(&self, node: NodeIndex) -> Option<usize> {
        self.retained[node.index()]
    }

    /// The object every chain from a root to `node` passes through last; `None` for a root
    /// reachable in no other way (its dominator is the virtual root) and for garbage.
    ///
    /// ```
    /// let heap = pygc::Heap::new();
    /// let x = heap.alloc(vec![heap.alloc(1_u8)]);
    /// let snap = heap.snapshot();
    /// assert_eq!(snap.retained_sizes().immediate_dominator(snap.node(&x).unwrap()), None);
    /// ```
    pub fn immediate_dominator(&self, node: NodeIndex) -> Option<NodeIndex> {
        match self.idom[node.index()] {
            NONE => None,
            d => Some(NodeIndex::new(d as usize)),
        }
    }

    /// The `k` objects retaining the most bytes, largest first (ties by node index).
    ///
    /// ```
    /// let heap = pygc::Heap::new();
    /// let big = heap.alloc(vec![heap.alloc([0_u8; 4096])]);
    /// let _small = heap.alloc(vec![heap.alloc(0_u8)]);
    /// let snap = heap.snapshot();
    /// assert_eq!(snap.retained_sizes().top(1)[0].0, snap.node(&big).unwrap());
    /// ```
    pub fn top(&self, k: usize) -> Vec<(NodeIndex, usize)> {
        let mut all: Vec<(NodeIndex, usize)> = self
            .retained
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.map(|r| (NodeIndex::new(i), r)))
            .collect();
        let k = k.min(all.len());
        if k == 0 {
            return Vec::new();
        }
        let order =
            |a: &(NodeIndex, usize), b: &(NodeIndex, usize)| b.1.cmp(&a.1).then(a.0.cmp(&b.0));
        all.select_nth_unstable_by(k - 1, order);
        all.truncate(k);
        all.sort_unstable_by(order);
        all
    }
}

impl Snapshot {
    /// Reference cycles (strongly connected components with an internal edge), largest
    /// first (by object count, then bytes), with their types: what the collector will have
    /// to break (the `reachable == false` ones) or what keeps a structure from being freed
    /// by refcounting alone.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use pygc::{Gc, Heap, Trace};
    /// #[derive(Trace)]
    /// struct Node(RefCell<Vec<Gc<Node>>>);
    /// let node = |heap: &Heap| heap.alloc(Node(RefCell::new(vec![])));
    ///
    /// let heap = Heap::new();
    /// let (a, b, c) = (node(&heap), node(&heap), node(&heap));
    /// a.0.borrow_mut().push(b.clone());
    /// b.0.borrow_mut().push(a.clone()); // a <-> b
    /// c.0.borrow_mut().push(c.clone()); // c -> c
    /// drop(c);
    /// let cycles = heap.snapshot().cycles();
    /// assert_eq!(cycles.iter().map(|c| c.nodes.len()).collect::<Vec<_>>(), [2, 1]);
    /// assert_eq!(cycles.iter().map(|c| c.reachable).collect::<Vec<_>>(), [true, false]);
    /// ```
    pub fn cycles(&self) -> Vec<Cycle> {
        let graph = self.graph();
        let reachable = self.reachable_from_roots();
        let mut cycles: Vec<Cycle> = kosaraju_scc(graph)
            .into_iter()
            .filter(|scc| scc.len() > 1 || graph.find_edge(scc[0], scc[0]).is_some())
            .map(|nodes| {
                let mut types: HashMap<&'static str, usize> = HashMap::new();
                let mut bytes = 0;
                for &n in &nodes {
                    *types.entry(graph[n].type_name).or_default() += 1;
                    bytes += graph[n].size;
                }
                let mut types: Vec<_> = types.into_iter().collect();
                types.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
                Cycle {
                    reachable: reachable[nodes[0].index()],
                    nodes,
                    bytes,
                    types,
                }
            })
            .collect();
        cycles.sort_by(|a, b| {
            (b.nodes.len(), b.bytes)
                .cmp(&(a.nodes.len(), a.bytes))
                .then(a.nodes.iter().min().cmp(&b.nodes.iter().min()))
        });
        cycles
    }

    /// Per node, whether an externally referenced object reaches it.
    fn reachable_from_roots(&self) -> Vec<bool> {
        let graph = self.graph();
        let mut dfs = Dfs::empty(graph);
        for root in self.roots() {
            dfs.move_to(root);
            while dfs.next(graph).is_some() {}
        }
        let mut out = vec![false; self.len()];
        for n in graph.node_indices() {
            out[n.index()] = dfs.discovered.contains(n.index());
        }
        out
    }

    /// Retained sizes of every object: see [`RetainedSizes`].
    ///
    /// The dominator tree is computed over a copy of the edges plus a virtual root pointing
    /// at every externally referenced object (petgraph's `simple_fast`), then sizes are
    /// added up from the leaves of that tree to its root.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use pygc::Heap;
    /// let heap = Heap::new();
    /// let shared = heap.alloc(0_u64);
    /// let a = heap.alloc(RefCell::new(vec![shared.clone()]));
    /// let b = heap.alloc(RefCell::new(vec![shared.clone()]));
    /// drop(shared); // held by both a and b: neither alone retains it
    /// let snap = heap.snapshot();
    /// let r = snap.retained_sizes();
    /// let (a, b) = (snap.node(&a).unwrap(), snap.node(&b).unwrap());
    /// assert_eq!(r.retained(a), Some(snap.info(a).size));
    /// assert_eq!(r.retained(b), Some(snap.info(b).size));
    /// ```
    pub fn retained_sizes(&self) -> RetainedSizes {
        let graph = self.graph();
        let n = self.len();
        let root = NodeIndex::new(n);
        let mut with_root: DiGraph<(), (), u32> =
            DiGraph::with_capacity(n + 1, graph.edge_count() + n);
        for _ in 0..=n {
            with_root.add_node(());
        }
        for e in graph.raw_edges() {
            with_root.add_edge(e.source(), e.target(), ());
        }
        for r in self.roots() {
            with_root.add_edge(root, r, ());
        }
        let doms = dominators::simple_fast(&with_root, root);
        let mut idom = vec![NONE; n];
        // Children lists of the dominator tree, as one flat array (counting sort by parent).
        let mut first = vec![0_u32; n + 2];
        for (v, idom) in idom.iter_mut().enumerate() {
            if let Some(d) = doms.immediate_dominator(NodeIndex::new(v)) {
                if d != root {
                    *idom = d.index() as u32;
                }
                first[d.index() + 1] += 1;
            }
        }
        for i in 1..first.len() {
            first[i] += first[i - 1];
        }
        let mut fill = first.clone();
        let mut children = vec![0_u32; first[n + 1] as usize];
        for v in 0..n {
            if let Some(d) = doms.immediate_dominator(NodeIndex::new(v)) {
                children[fill[d.index()] as usize] = v as u32;
                fill[d.index()] += 1;
            }
        }
        // Pre-order from the virtual root (an explicit stack), then sizes added up in
        // reverse: every child before its dominator.
        let mut order = Vec::with_capacity(n);
        let mut stack = vec![n as u32];
        while let Some(v) = stack.pop() {
            if (v as usize) < n {
                order.push(v);
            }
            let v = v as usize;
            stack.extend_from_slice(&children[first[v] as usize..first[v + 1] as usize]);
        }
        let mut retained: Vec<Option<usize>> = vec![None; n];
        for &v in &order {
            retained[v as usize] = Some(graph[NodeIndex::new(v as usize)].size);
        }
        for &v in order.iter().rev() {
            let d = idom[v as usize];
            if d != NONE {
                let add = retained[v as usize].unwrap_or(0);
                if let Some(r) = &mut retained[d as usize] {
                    *r += add;
                }
            }
        }
        RetainedSizes { retained, idom }
    }
}
