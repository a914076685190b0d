//! The heap walk: every live object of a heap (or of one generation) with what the collector
//! knows about it, and the edges its `Trace` reports. It is the raw material of
//! `pygc::introspect` (feature `introspect`), which turns it into a graph; the walk itself is
//! plain data, so it costs nothing until someone asks for it.
//!
//! # What is walked
//! The generation lists 0, 1 and 2, then the permanent generation (in that order, each in
//! list order), then every untracked object one of them refers to (CPython's atoms: a type
//! that can hold no handle is never tracked, so it has no referents of its own and is found
//! only through its referrers). An untracked object that no tracked object refers to, an atom
//! held only from Rust code, is on no list and is not found (CPython's `gc.get_objects` does
//! not list such objects either).
//!
//! # Consistency
//! The walk holds no handle and takes no count: a count taken by the walk would be one more
//! reference to explain. It first copies the lists (no user code runs meanwhile), then calls
//! each object's `Trace`, which the `Trace` contract (item 4) forbids to create, clone or
//! drop a handle or to allocate, so the heap cannot change under the walk. Handles held by
//! user code are simply counts, and show up as external references. Called from a finalizer,
//! a weak callback or a `Drop` run by a collection, the walk sees only the generation lists:
//! objects on the collector's work lists at that moment (the garbage being examined) and
//! values already dropped (DEAD) are left out.
//!
//! # Cost
//! One pass over the lists, one `Trace` call per tracked object and one hash look-up per
//! edge: the same order of work as a full collection's `update_refs` + `subtract_refs`. The
//! type name is the vtable's `&'static str`, never copied.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::Heap;
use crate::gc::state::lists;
use crate::gc::visit::VisitOp;
use crate::object::header::{ObjRef, flag};
use crate::{GcError, Visitor};

/// Where an object lives, as far as the collector is concerned.
///
/// ```
/// use pygc::Heap;
/// use pygc::introspect::Place;
///
/// let heap = Heap::new();
/// let n = heap.alloc(5_i64); // an atom: never tracked
/// let v = heap.alloc(std::cell::RefCell::new(vec![n.clone()]));
/// let snap = heap.snapshot();
/// assert_eq!(snap.info(snap.node(&v).unwrap()).place, Place::Generation(0));
/// assert_eq!(snap.info(snap.node(&n).unwrap()).place, Place::Untracked);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Place {
    /// In generation 0, 1 or 2.
    Generation(u8),
    /// In the permanent generation ([`Heap::freeze`]).
    Permanent,
    /// Not tracked by the collector (a type that can hold no handle).
    Untracked,
}

/// One object of a walk: what the collector knows about it.
///
/// ```
/// use pygc::{Gc, Heap};
///
/// let heap = Heap::new();
/// let x = heap.alloc(std::cell::RefCell::new(Vec::<Gc<i64>>::new()));
/// let snap = heap.snapshot();
/// let info = snap.info(snap.node(&x).unwrap());
/// assert_eq!(info.id, Gc::as_ptr(&x) as usize);
/// assert!(info.type_name.contains("RefCell"));
/// assert_eq!((info.ref_count, info.external), (1, 1)); // our handle `x`
/// assert!(info.is_tracked() && !info.finalized);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The object's identity: its address (`id(obj)`; [`Gc::as_ptr`](crate::Gc::as_ptr)).
    /// Valid as an identity only while the object lives.
    pub id: usize,
    /// `std::any::type_name` of the value (weak-reference objects: pygc's `WeakRefObj`).
    pub type_name: &'static str,
    /// Bytes of the box: the 32-byte header and the value (`sys.getsizeof`, without the
    /// allocator's rounding).
    pub size: usize,
    /// The reference count (`sys.getrefcount(obj) - 1`).
    pub ref_count: u32,
    /// References from outside the walked set: `ref_count` minus the edges that point at the
    /// object from walked objects (the collector's `update_refs`/`subtract_refs`). Filled in
    /// by the snapshot; 0 in the raw walk.
    pub external: u32,
    /// Generation, permanent generation, or untracked.
    pub place: Place,
    /// Its PEP 442 finalizer has run (`gc.is_finalized`).
    pub finalized: bool,
    /// It has a PEP 442 or legacy finalizer.
    pub has_finalizer: bool,
}

impl ObjectInfo {
    /// Whether the collector tracks it (`gc.is_tracked`).
    ///
    /// ```
    /// let heap = pygc::Heap::new();
    /// let s = heap.alloc(String::from("atom"));
    /// let l = heap.alloc(vec![s.clone()]);
    /// let snap = heap.snapshot();
    /// assert!(snap.info(snap.node(&l).unwrap()).is_tracked());
    /// assert!(!snap.info(snap.node(&s).unwrap()).is_tracked());
    /// ```
    pub fn is_tracked(&self) -> bool {
        self.place != Place::Untracked
    }
}

/// A hasher for addresses: one multiplication (Fibonacci hashing). Keys are distinct,
/// 8-aligned pointers, so the high bits of the product are well spread.
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct AddrHasher(u64);

impl Hasher for AddrHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64 >> 3)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(32);
    }
}

/// Object identity (address) to its index in a walk.
pub(crate) type IndexMap = HashMap<usize, u32, BuildHasherDefault<AddrHasher>>;

/// The result of a walk: objects in walk order, their index by identity, and the edges
/// `(from, to)` as indices, one per reported handle (a handle reported twice is two edges).
#[derive(Debug)]
pub(crate) struct HeapWalk {
    pub(crate) objects: Vec<ObjectInfo>,
    pub(crate) index: IndexMap,
    pub(crate) edges: Vec<(u32, u32)>,
}

impl Heap {
    /// Walk the whole heap (`None`) or one generation (`Some(g)`, tracked objects of that
    /// generation only; edges leaving it are not recorded).
    pub(crate) fn walk(&self, generation: Option<usize>) -> Result<HeapWalk, GcError> {
        let lists: Vec<(usize, Place)> = match generation {
            None => vec![
                (lists::GEN0, Place::Generation(0)),
                (lists::GEN0 + 1, Place::Generation(1)),
                (lists::GEN0 + 2, Place::Generation(2)),
                (lists::PERMANENT, Place::Permanent),
            ],
            Some(g) if g < 3 => vec![(lists::GEN0 + g, Place::Generation(g as u8))],
            Some(_) => return Err(GcError::GenerationTooLarge),
        };
        let state = self.state();
        let whole = generation.is_none();
        let tag = state as *const _ as *const ();
        // Room for every live object: no rehash, no regrowth on the way.
        let capacity = state.live();
        let mut objects: Vec<ObjectInfo> = Vec::with_capacity(capacity);
        let mut index = IndexMap::with_capacity_and_hasher(capacity, Default::default());
        // Pass 1: copy the lists. No user code runs here.
        let mut nodes: Vec<ObjRef> = Vec::with_capacity(capacity);
        for (list, place) in lists {
            for obj in state.gc.list(list).iter() {
                if obj.header().has(flag::DEAD) || obj.header().rc() == 0 {
                    continue;
                }
                index.insert(obj.as_ptr() as usize, objects.len() as u32);
                objects.push(info(obj, place));
                nodes.push(obj);
            }
        }
        // Pass 2: each object's referents (user `Trace` code; it cannot change the heap).
        // Untracked referents join the walk as they are found; they have no referents.
        let mut edges: Vec<(u32, u32)> = Vec::with_capacity(capacity.saturating_mul(2));
        let mut targets: Vec<ObjRef> = Vec::new();
        for (from, obj) in nodes.iter().enumerate() {
            targets.clear();
            obj.trace(&mut Visitor::new(&mut VisitOp::Collect(&mut targets)));
            for &target in &targets {
                let key = target.as_ptr() as usize;
                let to = match index.get(&key) {
                    Some(&to) => to,
                    None => {
                        let h = target.header();
                        let ours = target.owner().as_ptr().cast_const().cast::<()>() == tag;
                        if !whole || h.is_tracked() || !ours || h.has(flag::DEAD) || h.rc() == 0 {
                            // Another generation, another heap, or the collector's work
                            // lists: outside the walk, so an external reference to it.
                            continue;
                        }
                        let to = objects.len() as u32;
                        index.insert(key, to);
                        objects.push(info(target, Place::Untracked));
                        to
                    }
                };
                edges.push((from as u32, to));
            }
        }
        Ok(HeapWalk {
            objects,
            index,
            edges,
        })
    }
}

fn info(obj: ObjRef, place: Place) -> ObjectInfo {
    let h = obj.header();
    let vtable = obj.vtable();
    ObjectInfo {
        id: obj.as_ptr() as usize,
        type_name: (vtable.type_name)(),
        size: vtable.layout.size(),
        ref_count: h.rc(),
        external: 0,
        place,
        finalized: h.has(flag::FINALIZED),
        has_finalizer: vtable.finalize.is_some() || vtable.legacy_finalize.is_some(),
    }
}
