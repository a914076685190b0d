//! The census: objects and bytes per type (objgraph's `show_most_common_types`, heapy's
//! summary), and what changed between two of them (objgraph's `show_growth`).

use std::collections::HashMap;
use std::fmt;

use super::{Snapshot, short_type_name};

/// Objects and bytes of one type.
///
/// ```
/// let heap = pygc::Heap::new();
/// let _v = heap.alloc(vec![heap.alloc(1_u8), heap.alloc(2_u8)]);
/// let census = heap.snapshot().census();
/// let u8s = census.types.iter().find(|t| t.type_name == "u8").unwrap();
/// assert_eq!(u8s.count, 2);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeCount {
    /// `std::any::type_name` of the value.
    pub type_name: &'static str,
    /// Objects of the type.
    pub count: usize,
    /// Their box sizes added up.
    pub bytes: usize,
}

/// Counts and bytes per type of a snapshot, most bytes first (ties by name). `Display`
/// prints a table.
///
/// ```
/// let heap = pygc::Heap::new();
/// let _v = heap.alloc(vec![heap.alloc(1_u8)]);
/// let census = heap.snapshot().census();
/// assert_eq!((census.objects, census.types.len()), (2, 2));
/// assert_eq!(census.bytes, census.types.iter().map(|t| t.bytes).sum::<usize>());
/// print!("{census}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Census {
    /// One entry per type.
    pub types: Vec<TypeCount>,
    /// Objects in all.
    pub objects: usize,
    /// Bytes in all.
    pub bytes: usize,
}

/// How one type changed between two censuses ([`Census::diff`]).
///
/// ```
/// let heap = pygc::Heap::new();
/// let before = heap.snapshot().census();
/// let _v = heap.alloc(vec![heap.alloc(1_u8)]);
/// let growth = heap.snapshot().census().diff(&before);
/// assert!(growth.iter().all(|d| d.count == 1 && d.bytes > 0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CensusDelta {
    /// `std::any::type_name` of the value.
    pub type_name: &'static str,
    /// Objects gained (negative: lost).
    pub count: isize,
    /// Bytes gained (negative: lost).
    pub bytes: isize,
}

impl Snapshot {
    /// Counts and bytes per type: see [`Census`].
    ///
    /// ```
    /// let heap = pygc::Heap::new();
    /// let _v = heap.alloc(vec![heap.alloc(1_u8), heap.alloc(2_u8)]);
    /// assert_eq!(heap.snapshot().census().types[0].count, 2); // two u8 boxes: most bytes
    /// ```
    pub fn census(&self) -> Census {
        let mut by_type: HashMap<&'static str, (usize, usize)> = HashMap::new();
        for info in self.graph().node_weights() {
            let entry = by_type.entry(info.type_name).or_default();
            entry.0 += 1;
            entry.1 += info.size;
        }
        let mut types: Vec<TypeCount> = by_type
            .into_iter()
            .map(|(type_name, (count, bytes))| TypeCount {
                type_name,
                count,
                bytes,
            })
            .collect();
        types.sort_unstable_by(|a, b| b.bytes.cmp(&a.bytes).then(a.type_name.cmp(b.type_name)));
        Census {
            objects: types.iter().map(|t| t.count).sum(),
            bytes: types.iter().map(|t| t.bytes).sum(),
            types,
        }
    }
}

impl Census {
    /// What changed since `earlier`: one entry per type whose count or bytes differ, largest
    /// growth in bytes first (ties by name); types that shrank come last.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// let heap = pygc::Heap::new();
    /// let log = heap.alloc(RefCell::new(Vec::new()));
    /// let before = heap.snapshot().census();
    /// for i in 0..10_u64 {
    ///     log.borrow_mut().push(heap.alloc(i)); // a leak in the making
    /// }
    /// let growth = heap.snapshot().census().diff(&before);
    /// assert_eq!((growth[0].type_name, growth[0].count), ("u64", 10));
    /// ```
    pub fn diff(&self, earlier: &Census) -> Vec<CensusDelta> {
        let mut deltas: HashMap<&'static str, (isize, isize)> = HashMap::new();
        for t in &self.types {
            let d = deltas.entry(t.type_name).or_default();
            d.0 += t.count as isize;
            d.1 += t.bytes as isize;
        }
        for t in &earlier.types {
            let d = deltas.entry(t.type_name).or_default();
            d.0 -= t.count as isize;
            d.1 -= t.bytes as isize;
        }
        let mut out: Vec<CensusDelta> = deltas
            .into_iter()
            .filter(|&(_, (count, bytes))| count != 0 || bytes != 0)
            .map(|(type_name, (count, bytes))| CensusDelta {
                type_name,
                count,
                bytes,
            })
            .collect();
        out.sort_unstable_by(|a, b| b.bytes.cmp(&a.bytes).then(a.type_name.cmp(b.type_name)));
        out
    }
}

impl fmt::Display for Census {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:>10} {:>12}  type", "objects", "bytes")?;
        for t in &self.types {
            writeln!(
                f,
                "{:>10} {:>12}  {}",
                t.count,
                t.bytes,
                short_type_name(t.type_name)
            )?;
        }
        writeln!(f, "{:>10} {:>12}  (total)", self.objects, self.bytes)
    }
}
