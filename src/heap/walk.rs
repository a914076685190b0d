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
//! reference to explain. Between its passes only `Trace` runs, which the `Trace` contract
//! (item 4) forbids to create, clone or drop a handle or to allocate, so the heap cannot
//! change under the walk. Handles held by user code are simply counts, and show up as
//! external references. Called from a finalizer, a weak callback or a `Drop` run by a
//! collection, the walk sees only the generation lists: objects on the collector's work
//! lists at that moment (the garbage being examined) and values already dropped (DEAD) are
//! left out.
//!
//! # Cost
//! One pass over the lists numbering the objects in their `prev` words (as `update_refs`
//! stores `gc_refs` there), one `Trace` call per tracked object reading each referent's
//! header (as `subtract_refs`), one pass relinking `prev`: the work of a full collection
//! with one `Trace` pass instead of two. The type name is the vtable's `&'static str`, never
//! copied; the vectors are sized from the live-object count up front.

use std::cell::Cell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::Heap;
use crate::gc::list::GcList;
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
/// assert_eq!(info.id, Gc::id(&x));
/// assert!(info.type_name.contains("RefCell"));
/// assert_eq!((info.ref_count, info.external), (1, 1)); // our handle `x`
/// assert!(info.is_tracked() && !info.finalized);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The object's identity: its address (`id(obj)`; [`Gc::id`](crate::Gc::id)).
    /// Valid as an identity only while the object lives.
    pub id: usize,
    /// `std::any::type_name` of the value (weak-reference objects: pygc's `WeakRefObj`).
    pub type_name: &'static str,
    /// Bytes of the box: the 32-byte header and the value (`sys.getsizeof`, without the
    /// allocator's rounding); a `[T]` or `str` of run-time length adds its 8-byte count
    /// (more if `T` is over-aligned). Memory the value owns outside the box (a `Vec`'s buffer, a
    /// `String`'s bytes) is not counted: pygc cannot see it.
    pub size: usize,
    /// The reference count (`sys.getrefcount(obj) - 1`).
    pub ref_count: u32,
    /// References from outside the walked set: `ref_count` minus the edges that point at the
    /// object from walked objects (the collector's `update_refs`/`subtract_refs`), filled in
    /// by the snapshot as it receives the edges.
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

/// Where a walk delivers what it finds: objects in walk order (the first is index 0, and so
/// on), then edges between them by index, one per reported handle (a handle reported twice
/// is two edges). The snapshot builds its graph straight from these calls, with no
/// intermediate copy.
pub(crate) trait WalkSink {
    /// Room for about this many objects and edges.
    fn reserve(&mut self, objects: usize, edges: usize);
    /// The next object.
    fn object(&mut self, info: ObjectInfo);
    /// An edge between two objects already delivered.
    fn edge(&mut self, from: u32, to: u32);
}

thread_local! {
    /// A walk borrowing `prev` words runs on this thread (a `Trace` that walks again, against
    /// its contract, gets the slow path instead of corrupting the outer walk's indices).
    static WALKING: Cell<bool> = const { Cell::new(false) };
}

/// Ends a walk that borrowed the `prev` words, on return or on a panic out of a `Trace`:
/// rebuilds every walked list's `prev` links along `next` (which the walk never touches),
/// clearing COLLECTING, exactly as the collector's `Repair` does.
struct GiveBackPrev<'a> {
    lists: &'a [GcList],
}

impl Drop for GiveBackPrev<'_> {
    fn drop(&mut self) {
        for list in self.lists {
            list.relink_after_unwind();
        }
        WALKING.with(|w| w.set(false));
    }
}

impl Heap {
    /// Walk the whole heap (`None`) or one generation (`Some(g)`, tracked objects of that
    /// generation only; edges leaving it are not recorded).
    ///
    /// Two ways to find a referent's index. Normally the walk borrows the collector's
    /// scratch word: each walked object's `prev` holds its index with COLLECTING set, as
    /// `update_refs` stores `gc_refs` there, so an edge costs one look at its target's
    /// header, as in `subtract_refs` (and the lists are relinked afterwards, even if a
    /// `Trace` panics). While a collection runs on this thread (a snapshot from a finalizer,
    /// a weak callback, a gc callback) the `prev` words are the collector's, so the walk
    /// uses a hash map from address to index instead.
    ///
    /// Returns the index by address of the untracked objects (the `prev` path) or of every
    /// object (the hash path).
    pub(crate) fn walk<S: WalkSink>(
        &self,
        generation: Option<usize>,
        sink: &mut S,
    ) -> Result<IndexMap, GcError> {
        let places: Vec<(usize, Place)> = match generation {
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
        let lists: Vec<GcList> = places.iter().map(|&(l, _)| state.gc.list(l)).collect();
        let borrow_prev = !crate::gc::collecting() && !WALKING.with(Cell::get);
        // Room for every live object (and two edges each) up front: no regrowth on the way.
        sink.reserve(state.live(), state.live().saturating_mul(2));
        let mut walk = Walker {
            tag: state as *const _ as *const (),
            whole: generation.is_none(),
            borrow_prev,
            len: 0,
            index: IndexMap::default(),
            sink,
        };
        if borrow_prev {
            WALKING.with(|w| w.set(true));
            let _give_back = GiveBackPrev { lists: &lists };
            walk.run(&lists, &places);
        } else {
            walk.index.reserve(state.live());
            walk.run(&lists, &places);
        }
        Ok(walk.index)
    }
}

struct Walker<'a, S> {
    tag: *const (),
    whole: bool,
    borrow_prev: bool,
    /// Objects delivered so far.
    len: usize,
    /// Every object by address (hash path), or only the untracked ones (`prev` path).
    index: IndexMap,
    sink: &'a mut S,
}

impl<S: WalkSink> Walker<'_, S> {
    fn push(&mut self, info: ObjectInfo) {
        self.sink.object(info);
        self.len += 1;
    }

    fn run(&mut self, lists: &[GcList], places: &[(usize, Place)]) {
        // Pass 1 (`update_refs`): number the objects. No user code runs here.
        for (list, &(_, place)) in lists.iter().zip(places) {
            for obj in list.iter() {
                let h = obj.header();
                if h.has(flag::DEAD) || h.rc() == 0 {
                    continue;
                }
                let i = self.len;
                if self.borrow_prev {
                    h.set_gc_refs(i);
                } else {
                    self.index.insert(obj.as_ptr() as usize, i as u32);
                }
                self.push(info(obj, place));
            }
        }
        let walked = self.len;
        // Pass 2 (`subtract_refs`): each object's referents, through its `Trace` (user code
        // that the contract forbids to change the heap). Untracked referents join the walk
        // as they are found; they have no referents of their own.
        // Referents are gathered for a batch of objects, then resolved in one tight loop:
        // each resolution is a look at a header that is usually not in cache, and a loop
        // with nothing else in it lets the processor wait for many of them at once.
        const BATCH: usize = 512;
        let mut targets: Vec<ObjRef> = Vec::with_capacity(4 * BATCH);
        let mut sources: Vec<u32> = Vec::with_capacity(4 * BATCH);
        let mut from = 0_u32;
        for list in lists {
            for obj in list.iter() {
                let h = obj.header();
                if h.has(flag::DEAD) || h.rc() == 0 {
                    continue;
                }
                obj.trace(&mut Visitor::new(&mut VisitOp::Collect(&mut targets)));
                sources.resize(targets.len(), from);
                from += 1;
                if targets.len() >= 4 * BATCH - 64 || from as usize % BATCH == 0 {
                    self.resolve(&mut sources, &mut targets, walked);
                }
            }
        }
        self.resolve(&mut sources, &mut targets, walked);
    }

    /// Turn gathered `(source, target)` pairs into edges, and empty both vectors.
    fn resolve(&mut self, sources: &mut Vec<u32>, targets: &mut Vec<ObjRef>, walked: usize) {
        for (&from, &target) in sources.iter().zip(targets.iter()) {
            if let Some(to) = self.index_of(target, walked) {
                self.sink.edge(from, to);
            }
        }
        sources.clear();
        targets.clear();
    }

    /// The index of a referent, adding an untracked one to the walk; `None` for an object
    /// outside it (another generation, another heap, the collector's work lists): a
    /// reference to it is an external one.
    #[inline]
    fn index_of(&mut self, target: ObjRef, walked: usize) -> Option<u32> {
        let h = target.header();
        if self.borrow_prev {
            // Only this walk sets COLLECTING while no collection runs on this thread, and
            // a heap's objects never leave its thread: a COLLECTING header is one of ours.
            if h.is_collecting() {
                let i = h.gc_refs();
                return (i < walked).then_some(i as u32);
            }
        } else if let Some(&i) = self.index.get(&(target.as_ptr() as usize)) {
            return Some(i);
        }
        if h.is_tracked() {
            return None;
        }
        let key = target.as_ptr() as usize;
        if let Some(&i) = self.index.get(&key) {
            return Some(i); // an untracked object seen before (`prev` path)
        }
        let ours = target.owner().as_ptr().cast_const().cast::<()>() == self.tag;
        if !self.whole || !ours || h.has(flag::DEAD) || h.rc() == 0 {
            return None;
        }
        let i = self.len as u32;
        self.index.insert(key, i);
        self.push(info(target, Place::Untracked));
        Some(i)
    }
}

fn info(obj: ObjRef, place: Place) -> ObjectInfo {
    let h = obj.header();
    let vtable = obj.vtable();
    ObjectInfo {
        id: obj.as_ptr() as usize,
        type_name: (vtable.type_name)(),
        size: obj.box_layout().layout.size(),
        ref_count: h.rc(),
        external: 0,
        place,
        finalized: h.has(flag::FINALIZED),
        has_finalizer: vtable.finalize.is_some() || vtable.legacy_finalize.is_some(),
    }
}
