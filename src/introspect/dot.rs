//! Pictures: the neighbourhood of one object in Graphviz's DOT language (objgraph's
//! `show_refs` and `show_backrefs`). Render with `dot -Tpng neighbourhood.dot -o out.png`.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;

use super::{Direction, NodeIndex, Snapshot, short_type_name};

/// At most this many objects in one picture: the search stops there, and objects whose
/// neighbours were left out are drawn dashed.
///
/// ```
/// use pygc::introspect::{Direction, MAX_DOT_NODES};
/// let heap = pygc::Heap::new();
/// let wide = heap.alloc((0..1000).map(|i| heap.alloc(i)).collect::<Vec<_>>());
/// let snap = heap.snapshot();
/// let dot = snap.dot(snap.node(&wide).unwrap(), 1, Direction::Outgoing);
/// assert_eq!(dot.matches(" B, refcount").count(), MAX_DOT_NODES);
/// assert!(dot.contains("dashed"));
/// ```
pub const MAX_DOT_NODES: usize = 400;

impl Snapshot {
    /// The objects within `hops` references of `center` in DOT. `Direction::Outgoing`
    /// follows references (what `center` keeps alive, objgraph's `show_refs`);
    /// `Direction::Incoming` follows them backwards (who keeps `center` alive,
    /// `show_backrefs`). Every edge between drawn objects is drawn (parallel handles as one
    /// edge labelled with their number). Each object is labelled with its type (without
    /// module paths), box size and external references; `center` is filled, externally
    /// referenced objects have a bold outline, and the picture holds at most
    /// [`MAX_DOT_NODES`] objects.
    ///
    /// ```
    /// use pygc::introspect::Direction;
    /// let heap = pygc::Heap::new();
    /// let x = heap.alloc(vec![heap.alloc(1_u8), heap.alloc(2_u8)]);
    /// let snap = heap.snapshot();
    /// let dot = snap.dot(snap.node(&x).unwrap(), 1, Direction::Outgoing);
    /// assert!(dot.starts_with("digraph"));
    /// assert_eq!(dot.matches("->").count(), 2);
    /// assert!(dot.contains("Vec<Gc<u8>>"));
    /// ```
    pub fn dot(&self, center: NodeIndex, hops: usize, direction: Direction) -> String {
        let graph = self.graph();
        // Breadth-first from `center`, `hops` deep, at most MAX_DOT_NODES objects.
        let mut depth: HashMap<NodeIndex, usize> = HashMap::from([(center, 0)]);
        let mut order = vec![center];
        let mut truncated = Vec::new();
        let mut queue = VecDeque::from([center]);
        while let Some(v) = queue.pop_front() {
            let d = depth[&v];
            if d == hops {
                continue;
            }
            for w in graph.neighbors_directed(v, direction) {
                if depth.contains_key(&w) {
                    continue;
                }
                if order.len() == MAX_DOT_NODES {
                    truncated.push(v);
                    break;
                }
                depth.insert(w, d + 1);
                order.push(w);
                queue.push_back(w);
            }
        }
        let mut out = String::new();
        let rankdir = match direction {
            Direction::Outgoing => "TB",
            Direction::Incoming => "BT",
        };
        let _ = writeln!(out, "digraph objects {{");
        let _ = writeln!(out, "  rankdir={rankdir};");
        let _ = writeln!(
            out,
            "  node [shape=box, fontname=\"Helvetica\", fontsize=10];"
        );
        for &v in &order {
            let info = &self.graph()[v];
            let mut style = Vec::new();
            if v == center {
                style.push("filled");
            }
            if info.external > 0 {
                style.push("bold");
            }
            if truncated.contains(&v) {
                style.push("dashed");
            }
            let _ = writeln!(
                out,
                "  n{} [label=\"{}\\n{} B, refcount {}, external {}\"{}{}];",
                v.index(),
                escape(&short_type_name(info.type_name)),
                info.size,
                info.ref_count,
                info.external,
                if style.is_empty() {
                    String::new()
                } else {
                    format!(", style=\"{}\"", style.join(","))
                },
                if v == center {
                    ", fillcolor=\"#ffd27f\""
                } else {
                    ""
                },
            );
        }
        // Edges among drawn objects, parallel handles merged (in a stable order).
        let mut edges: Vec<(usize, usize)> = Vec::new();
        for &v in &order {
            for w in graph.neighbors_directed(v, Direction::Outgoing) {
                if depth.contains_key(&w) {
                    edges.push((v.index(), w.index()));
                }
            }
        }
        edges.sort_unstable();
        for run in edges.chunk_by(|a, b| a == b) {
            let (from, to) = run[0];
            if run.len() == 1 {
                let _ = writeln!(out, "  n{from} -> n{to};");
            } else {
                let _ = writeln!(out, "  n{from} -> n{to} [label=\"×{}\"];", run.len());
            }
        }
        out.push_str("}\n");
        out
    }
}

/// A DOT double-quoted string's contents.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
