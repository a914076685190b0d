//! The heap: the top layer, the one place that owns every part (CPython's
//! `PyInterpreterState.gc` plus the object allocator), and the `gc` module's API.
//!
//! [`Heap`] is the user's handle (this file: the `gc` module as methods). The state it names
//! is a composition of parts, each in its own file: `state.rs` (the composition, its lifetime,
//! allocation, the owner hooks), `memory.rs` (pools and large blocks), `dealloc.rs` (refcount
//! death and the trashcan), `check.rs` (the O(n) invariant checker); the collector's state and
//! pipeline live in `gc/`, the weak table in `object/`.
//!
//! Dropping the `Heap` runs a final full collection (without gc callbacks, like CPython's
//! shutdown collection); objects still referenced from outside stay valid, and the state is
//! freed when the last of them dies.
#![allow(unsafe_code)]

mod check;
mod dealloc;
mod memory;
mod state;
#[cfg(feature = "introspect")]
pub(crate) mod walk;

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::rc::Rc;

use crate::alloc::AllocStats;
use crate::gc::visit::VisitOp;
use crate::gc::{
    CallbackId, CallbackPhase, CollectionInfo, DebugFlags, GcError, GenerationStats, Unraisable,
};
use crate::gc::{Pause, PauseStats};
use crate::object::handle::{AnyGc, Gc, Handle, obj_of};
use crate::object::header::{ObjRef, flag};
use crate::{ExternalMemory, Finalize, LegacyFinalize, Trace, Visitor, Weak};
use state::HeapState;

/// Default thresholds, as CPython 3.11: (700, 10, 10).
pub const DEFAULT_THRESHOLDS: [usize; 3] = [700, 10, 10];

/// Which arena/pool geometry the heap's small-object allocator uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AllocatorGeometry {
    /// 256 KiB arenas of 4 KiB pools, 8-byte size classes ([`DefaultGeometry`](crate::alloc::DefaultGeometry)).
    #[default]
    Default,
    /// CPython 3.11 on 64-bit: 1 MiB arenas, 16 KiB pools, 16-byte classes ([`CPython311`](crate::alloc::CPython311)).
    CPython311,
}

/// Configuration of a new [`Heap`].
///
/// ```
/// use pygc::{AllocatorGeometry, Heap, HeapConfig};
/// let heap = Heap::with_config(HeapConfig {
///     geometry: AllocatorGeometry::CPython311,
///     thresholds: [100, 10, 10],
///     ..HeapConfig::default()
/// });
/// assert_eq!(heap.threshold(), [100, 10, 10]);
/// ```
#[derive(Clone, Debug)]
pub struct HeapConfig {
    /// Collection thresholds for generations 0, 1, 2.
    pub thresholds: [usize; 3],
    /// Whether automatic collection starts enabled.
    pub enabled: bool,
    /// The small-object allocator's geometry.
    pub geometry: AllocatorGeometry,
    /// pygc's byte trigger, beside CPython's count rule: when the heap's
    /// [accounted bytes](Heap::accounted_bytes) (boxes plus reported
    /// [`ExternalMemory`](crate::ExternalMemory)) have grown by this much since the last
    /// collection, the next allocation starts an automatic collection, of the generation
    /// CPython's rule picks (generation 0 when no count is over its threshold). `None`
    /// (the default) counts objects only, as CPython does.
    pub byte_trigger: Option<usize>,
    /// Safe-point mode: an allocation that finds a collection due (by the count rule or the
    /// byte trigger) only records it, and the program runs it at a point of its choosing with
    /// [`Heap::collect_if_due`] (CPython 3.12 moved the collection to the eval breaker the
    /// same way). The generation choice and the 25% rule are unchanged. `false` (the
    /// default) collects inside `alloc`, as CPython 3.11 does.
    pub safe_points: bool,
}

impl Default for HeapConfig {
    fn default() -> Self {
        HeapConfig {
            thresholds: DEFAULT_THRESHOLDS,
            enabled: true,
            geometry: AllocatorGeometry::Default,
            byte_trigger: None,
            safe_points: false,
        }
    }
}

/// A heap of refcounted objects with CPython's generational cycle collector.
///
/// Objects are allocated with [`Heap::alloc`] and reached through [`Gc`] handles. The methods
/// of the `gc` module are methods here (Rust names; the CPython name is in each doc).
///
/// Several heaps can live in one thread, each with its own thresholds. A heap and its handles
/// stay on the thread that made them (`Heap` and `Gc` are not `Send`). A cycle that spans two
/// heaps is never collected (each collector sees the other heap's objects as external).
///
/// # Dropping the heap
/// Dropping the `Heap` clears the garbage list, unfreezes, and runs a final full collection
/// without gc callbacks (CPython's shutdown collection). Objects still referenced from
/// outside stay fully usable; their memory is released as they die, and the heap's own state
/// is freed with the last of them. Cycles left among them after that are leaked.
///
/// # Example
/// ```
/// use std::cell::RefCell;
/// use pygc::{Gc, Heap, Trace};
///
/// #[derive(Trace)]
/// struct List(RefCell<Vec<Gc<List>>>);
///
/// let heap = Heap::new();
/// let l = heap.alloc(List(RefCell::new(vec![])));
/// l.0.borrow_mut().push(l.clone()); // l.append(l)
/// assert_eq!(Gc::ref_count(&l), 2);
/// drop(l); // del l: the cycle survives refcounting...
/// assert_eq!(heap.collect(), 1); // ...and the collector finds it
/// ```
pub struct Heap {
    state: NonNull<HeapState>,
    _not_send: PhantomData<*mut ()>,
}

impl fmt::Debug for Heap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Heap")
            .field("count", &self.count())
            .field("threshold", &self.threshold())
            .field("live_objects", &self.live_objects())
            .finish_non_exhaustive()
    }
}

impl Default for Heap {
    fn default() -> Self {
        Heap::new()
    }
}

impl Heap {
    /// A heap with CPython's defaults: thresholds (700, 10, 10), automatic collection enabled.
    ///
    /// ```
    /// use pygc::Heap;
    /// let heap = Heap::new();
    /// assert_eq!(heap.threshold(), [700, 10, 10]);
    /// assert!(heap.is_enabled());
    /// ```
    pub fn new() -> Heap {
        Heap::with_config(HeapConfig::default())
    }

    /// A heap with the given configuration.
    ///
    /// ```
    /// use pygc::{Heap, HeapConfig};
    /// let heap = Heap::with_config(HeapConfig { enabled: false, ..HeapConfig::default() });
    /// assert!(!heap.is_enabled());
    /// ```
    pub fn with_config(config: HeapConfig) -> Heap {
        Heap {
            state: HeapState::new_boxed(&config),
            _not_send: PhantomData,
        }
    }

    #[inline]
    fn state(&self) -> &HeapState {
        // SAFETY: the state lives at least as long as the `Heap` handle, and as long as a
        // `HeapRef` (it borrows a handle to one of the state's objects).
        unsafe { self.state.as_ref() }
    }

    /// Allocate `value` as a new object and return the first handle to it.
    ///
    /// # Collection
    /// If `T` may hold handles, the allocation counts toward generation 0 and may run an
    /// automatic collection first (CPython 3.11 collects synchronously at allocation).
    ///
    /// # Finalizer
    /// If `T` implements [`Finalize`] and its `Trace` comes from `#[derive(Trace)]`, the
    /// object gets its finalizer, exactly as with [`Heap::alloc_with_finalizer`] (the type
    /// decides, as a Python class's `__del__` does). The derive finds the impl without a
    /// bound; it cannot see an impl written for one instantiation of a generic type only
    /// (`impl Finalize for Wrapper<u8>`), nor a hand-written `Trace` impl that does not set
    /// it with [`finalizer_of!`](crate::finalizer_of): use `alloc_with_finalizer` there.
    /// [`Heap::alloc_unfinalized`] opts out.
    ///
    /// # Panics
    /// Aborts through [`std::alloc::handle_alloc_error`] if memory is exhausted; use
    /// [`Heap::try_alloc`] to get the value back instead.
    ///
    /// # Example
    /// ```
    /// use std::cell::RefCell;
    /// use pygc::{Gc, Heap, Trace};
    ///
    /// #[derive(Trace)]
    /// struct Pair(RefCell<Option<Gc<Pair>>>);
    ///
    /// let heap = Heap::new();
    /// let a = heap.alloc(Pair(RefCell::new(None)));
    /// let b = heap.alloc(Pair(RefCell::new(Some(a.clone()))));
    /// *a.0.borrow_mut() = Some(b.clone()); // a <-> b
    /// drop((a, b));
    /// assert_eq!(heap.collect(), 2);
    /// ```
    #[inline]
    pub fn alloc<T: Trace + 'static>(&self, value: T) -> Gc<T> {
        match self.state().alloc_plain(value) {
            Ok(gc) => gc,
            Err(_) => alloc_failed::<T>(),
        }
    }

    /// Like [`Heap::alloc`], but gives the value back if memory is exhausted.
    ///
    /// ```
    /// use pygc::Heap;
    /// let heap = Heap::new();
    /// let x = heap.try_alloc(5u64).expect("memory");
    /// assert_eq!(*x, 5);
    /// ```
    pub fn try_alloc<T: Trace + 'static>(&self, value: T) -> Result<Gc<T>, AllocError<T>> {
        self.state().alloc_plain(value).map_err(AllocError)
    }

    /// Allocate an object built by `build`, which receives a weak reference to the object
    /// under construction (`Rc::new_cyclic`): it upgrades to `None` until `build` returns,
    /// and to the new object afterwards (it is the object's shared weak reference, the one
    /// [`Gc::downgrade`] returns). No uninitialised memory is ever visible: the value is
    /// built first, and the weak reference is pointed at the object once it exists.
    ///
    /// ```
    /// use pygc::{Gc, Heap, Trace, Weak};
    ///
    /// #[derive(Trace)]
    /// struct Me {
    ///     this: Weak<Me>,
    /// }
    ///
    /// let heap = Heap::new();
    /// let me = heap.alloc_cyclic(|this: &Weak<Me>| {
    ///     assert!(this.upgrade().is_none()); // not built yet
    ///     Me { this: this.clone() }
    /// });
    /// assert!(Gc::ptr_eq(&me.this.upgrade().unwrap(), &me));
    /// assert!(pygc::Weak::ptr_eq(&me.this, &Gc::downgrade(&me)));
    /// ```
    pub fn alloc_cyclic<T: Trace + 'static>(&self, build: impl FnOnce(&Weak<T>) -> T) -> Gc<T> {
        use crate::object::weak::WeakRefObj;
        let value = WeakRefObj {
            referent: std::cell::Cell::new(None),
            callback: RefCell::new(None),
        };
        let weakref = self.state().alloc_weakref(value);
        let weak = Weak::<T>::from_weakref(weakref.clone());
        let object = self.alloc(build(&weak));
        // `build` may have downgraded nothing (the object did not exist), so the object has
        // no basic weak reference yet: this one becomes it.
        let referent = object.obj();
        weakref.referent.set(Some(referent));
        self.state()
            .owner
            .weak_table()
            .add(referent, weakref.obj(), false);
        object
    }

    /// Like [`Heap::alloc`], but the object never gets a PEP 442 finalizer, even if `T`
    /// implements [`Finalize`] (for tests and for objects whose finalizer must not run).
    ///
    /// ```
    /// use std::cell::Cell;
    /// use pygc::{Finalize, Gc, Heap, Trace};
    /// thread_local!(static RAN: Cell<u32> = Cell::new(0));
    ///
    /// #[derive(Trace)]
    /// struct Noisy;
    /// impl Finalize for Noisy {
    ///     fn finalize(_: &Gc<Self>) { RAN.with(|r| r.set(r.get() + 1)); }
    /// }
    /// let heap = Heap::new();
    /// drop(heap.alloc(Noisy));
    /// assert_eq!(RAN.with(Cell::get), 1); // `alloc` gives the type its finalizer
    /// drop(heap.alloc_unfinalized(Noisy));
    /// assert_eq!(RAN.with(Cell::get), 1);
    /// ```
    pub fn alloc_unfinalized<T: Trace + 'static>(&self, value: T) -> Gc<T> {
        self.state()
            .alloc_unfinalized(value)
            .unwrap_or_else(|_| alloc_failed::<T>())
    }

    /// Allocate an object with a PEP 442 finalizer ([`Finalize`]): it runs at most once, before
    /// the object dies (by refcount or in a garbage cycle), and may resurrect it.
    ///
    /// [`Heap::alloc`] does the same for derived types; this one also works where the
    /// derive cannot see the impl (see "Finalizer" there).
    ///
    /// ```
    /// use pygc::{Finalize, Gc, Heap, Trace};
    ///
    /// #[derive(Trace)]
    /// struct Wrapper<T: 'static>(#[trace(skip)] T);
    /// impl Finalize for Wrapper<u8> {
    ///     fn finalize(this: &Gc<Self>) { println!("finalizing {}", this.0); }
    /// }
    /// let heap = Heap::new();
    /// let w = heap.alloc_with_finalizer(Wrapper(7u8));
    /// drop(w);
    /// ```
    pub fn alloc_with_finalizer<T: Trace + Finalize + 'static>(&self, value: T) -> Gc<T> {
        self.state()
            .alloc_finalized(value)
            .unwrap_or_else(|_| alloc_failed::<T>())
    }

    /// Allocate an object with a legacy finalizer (CPython's `tp_del`): a garbage cycle
    /// containing it is *uncollectable* and goes to [`Heap::garbage`] instead; on refcount
    /// death the legacy finalizer runs.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use pygc::{Gc, Heap, LegacyFinalize, Trace};
    ///
    /// #[derive(Trace)]
    /// struct Old(RefCell<Option<Gc<Old>>>);
    /// impl LegacyFinalize for Old {
    ///     fn legacy_finalize(_: &Gc<Self>) {}
    /// }
    /// let heap = Heap::new();
    /// let o = heap.alloc_with_legacy_finalizer(Old(RefCell::new(None)));
    /// *o.0.borrow_mut() = Some(o.clone());
    /// drop(o);
    /// assert_eq!(heap.collect(), 1); // found, but uncollectable:
    /// assert_eq!(heap.garbage().len(), 1);
    /// for g in heap.take_garbage() {
    ///     // break the cycle by hand, as one would in Python
    ///     *g.downcast::<Old>().unwrap().0.borrow_mut() = None;
    /// }
    /// assert_eq!(heap.live_objects(), 0);
    /// ```
    pub fn alloc_with_legacy_finalizer<T: Trace + LegacyFinalize + 'static>(
        &self,
        value: T,
    ) -> Gc<T> {
        self.state()
            .alloc_legacy(value)
            .unwrap_or_else(|_| alloc_failed::<T>())
    }

    /// Allocate a string object holding a copy of `s` (Python's `str`): one box, the bytes
    /// right after the header, like `Rc<str>`.
    ///
    /// A string holds no handles, so it is never tracked and never counts toward a
    /// collection; its bytes count toward [`Heap::accounted_bytes`]. `Gc<str>` compares,
    /// hashes and orders as the string, and borrows as `&str`, so it can key a map that is
    /// looked up with `&str` (an interner).
    ///
    /// # Panics
    /// Aborts through [`std::alloc::handle_alloc_error`] if memory is exhausted.
    ///
    /// ```
    /// use std::collections::HashSet;
    /// use pygc::{Gc, Heap};
    ///
    /// let heap = Heap::new();
    /// let name: Gc<str> = heap.alloc_str("spam");
    /// assert_eq!(&*name, "spam");
    /// assert_eq!(name.len(), 4);
    ///
    /// let mut interned: HashSet<Gc<str>> = HashSet::new();
    /// interned.insert(name.clone());
    /// assert!(interned.contains("spam"));
    /// assert!(!heap.is_tracked(&name));
    /// ```
    pub fn alloc_str(&self, s: &str) -> Gc<str> {
        match self.state().alloc_str(s) {
            Some(gc) => gc,
            None => var_alloc_failed(std::alloc::Layout::new::<u8>(), s.len()),
        }
    }

    /// Allocate a slice object holding clones of `items` (a tuple, in Python's terms): one
    /// box whose length is fixed at allocation. See
    /// [`Heap::alloc_slice_from_iter`] for the details, which apply here too.
    ///
    /// # Panics
    /// If a `clone` panics, the clones made so far are dropped and nothing is allocated.
    /// Aborts through [`std::alloc::handle_alloc_error`] if memory is exhausted.
    ///
    /// ```
    /// use pygc::{Gc, Heap};
    ///
    /// let heap = Heap::new();
    /// let primes: Gc<[u32]> = heap.alloc_slice(&[2, 3, 5, 7]);
    /// assert_eq!(primes.iter().sum::<u32>(), 17);
    /// assert_eq!(primes[3], 7);
    /// ```
    pub fn alloc_slice<T: Trace + Clone + 'static>(&self, items: &[T]) -> Gc<[T]> {
        self.alloc_slice_from_iter(items.iter().cloned())
    }

    /// Allocate a slice object holding the items of `items`, in order: `Gc<[T]>` with a
    /// length known only at run time (a `Vec<T>` moves in without cloning).
    ///
    /// The items are collected first, then moved into one box behind the header (its length
    /// stored with it, as CPython's variable-size objects keep `ob_size`), so an iterator
    /// that panics or reports a wrong `size_hint` allocates nothing and loses nothing. If
    /// `T` may hold handles the object is tracked like any other container, and the
    /// collector traces every item; it has no finalizer, and a cycle through it is
    /// collected as usual. The items are dropped, each exactly once, when the object dies.
    ///
    /// `Gc<[T]>` is a full handle (clone, compare, [`Gc::get_mut`] when unshared and
    /// untracked, [`AnyGc::downcast_slice`]); [`Gc::downgrade`] needs a sized `T`.
    ///
    /// # Panics
    /// If `items` panics, what it produced is dropped and nothing is allocated. Aborts through
    /// [`std::alloc::handle_alloc_error`] if memory is exhausted.
    ///
    /// ```
    /// use pygc::{Gc, Heap, Trace};
    ///
    /// #[derive(Trace)]
    /// struct Node {
    ///     name: Gc<str>,
    ///     children: std::cell::RefCell<Option<Gc<[Gc<Node>]>>>,
    /// }
    ///
    /// let heap = Heap::new();
    /// let leaf = |n: &str| heap.alloc(Node { name: heap.alloc_str(n), children: Default::default() });
    /// let root = leaf("root");
    /// let kids: Gc<[Gc<Node>]> = heap.alloc_slice_from_iter(["a", "b", "c"].map(leaf));
    /// // A cycle: each child's children are its siblings (the same slice object).
    /// for kid in kids.iter() {
    ///     *kid.children.borrow_mut() = Some(kids.clone());
    /// }
    /// *root.children.borrow_mut() = Some(kids);
    /// assert_eq!(&*root.children.borrow().as_ref().unwrap()[1].name, "b");
    /// drop(root);
    /// // Refcounting freed the root and its name; the collector finds the cycle: the slice
    /// // and the 3 children (4 tracked objects), whose names (untracked) die with them.
    /// assert_eq!(heap.collect(), 4);
    /// assert_eq!(heap.live_objects(), 0);
    /// ```
    pub fn alloc_slice_from_iter<T: Trace + 'static>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Gc<[T]> {
        let items: Vec<T> = items.into_iter().collect();
        let len = items.len();
        match self.state().alloc_slice(items) {
            Ok(gc) => gc,
            Err(_) => var_alloc_failed(std::alloc::Layout::new::<T>(), len),
        }
    }

    /// Statistics of the heap's small-object allocator (`sys._debugmallocstats`); `Display`
    /// prints the table.
    ///
    /// ```
    /// use pygc::Heap;
    /// let heap = Heap::new();
    /// let _x = heap.alloc(1u64);
    /// let stats = heap.alloc_stats();
    /// assert_eq!(stats.arenas_current, 1);
    /// println!("{stats}");
    /// ```
    pub fn alloc_stats(&self) -> AllocStats {
        self.state().memory.stats()
    }

    /// Whether an automatic collection is due (safe-point mode, [`HeapConfig::safe_points`]).
    ///
    /// ```
    /// use pygc::{Heap, HeapConfig};
    /// let heap = Heap::with_config(HeapConfig { safe_points: true, ..HeapConfig::default() });
    /// let objects: Vec<_> = (0..701).map(|_| heap.alloc(std::cell::RefCell::new(None::<pygc::Gc<u8>>))).collect();
    /// assert!(heap.is_collection_due());
    /// assert_eq!(heap.stats()[0].collections, 0); // nothing ran inside `alloc`
    /// heap.collect_if_due();
    /// assert!(!heap.is_collection_due());
    /// # drop(objects);
    /// ```
    pub fn is_collection_due(&self) -> bool {
        self.state().is_collection_due()
    }

    /// Run the due automatic collection, if any (safe-point mode): returns what it found
    /// (as [`Heap::collect`] does), or `None` if nothing was due, collection is disabled, or
    /// a collection is already running on this thread. The generation is the one CPython's
    /// rule picks now. An explicit [`Heap::collect_generation`] of the due generation or an
    /// older one clears the due collection.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use pygc::{Gc, Heap, HeapConfig, Trace};
    ///
    /// #[derive(Trace)]
    /// struct Cell(RefCell<Option<Gc<Cell>>>);
    ///
    /// let heap = Heap::with_config(HeapConfig { safe_points: true, ..HeapConfig::default() });
    /// for _ in 0..1000 {
    ///     let c = heap.alloc(Cell(RefCell::new(None)));
    ///     *c.0.borrow_mut() = Some(c.clone()); // garbage cycles
    ///     heap.collect_if_due(); // the interpreter loop's safe point
    /// }
    /// assert!(heap.live_objects() < 1000);
    /// assert_eq!(heap.recent_pauses()[0].trigger, pygc::CollectionTrigger::SafePoint);
    /// ```
    pub fn collect_if_due(&self) -> Option<usize> {
        self.state().collect_if_due()
    }

    /// Cumulative pause time per generation: collections recorded, total and longest
    /// duration (pygc's addition; [`Heap::stats`] stays CPython's `gc.get_stats()`).
    ///
    /// ```
    /// use pygc::Heap;
    /// let heap = Heap::new();
    /// heap.collect();
    /// let stats = heap.pause_stats();
    /// assert_eq!(stats[2].count, 1);
    /// assert!(stats[2].max <= stats[2].total);
    /// ```
    pub fn pause_stats(&self) -> [PauseStats; 3] {
        self.state().gc.pauses.stats()
    }

    /// The last [`RECENT_PAUSES`](crate::gc::RECENT_PAUSES) collections' pauses, oldest
    /// first: duration, generation, trigger.
    ///
    /// ```
    /// use pygc::{CollectionTrigger, Heap};
    /// let heap = Heap::new();
    /// heap.collect();
    /// let pauses = heap.recent_pauses();
    /// assert_eq!(pauses.len(), 1);
    /// assert_eq!(pauses[0].trigger, CollectionTrigger::Explicit);
    /// assert_eq!(pauses[0].generation, 2);
    /// ```
    pub fn recent_pauses(&self) -> Vec<Pause> {
        self.state().gc.pauses.recent()
    }

    /// Like [`Heap::recent_pauses`], and forget them: a runtime that keeps its own
    /// histogram drains the log periodically so no pause is lost to the ring's bound.
    ///
    /// ```
    /// use pygc::Heap;
    /// let heap = Heap::new();
    /// heap.collect();
    /// assert_eq!(heap.take_recent_pauses().len(), 1);
    /// assert!(heap.recent_pauses().is_empty());
    /// assert_eq!(heap.pause_stats()[2].count, 1); // the totals are kept
    /// ```
    pub fn take_recent_pauses(&self) -> Vec<Pause> {
        self.state().gc.pauses.take_recent()
    }

    /// Whether two `Heap`s (or [`HeapRef`]s) are the same heap.
    ///
    /// ```
    /// use pygc::{Gc, Heap};
    /// let (a, b) = (Heap::new(), Heap::new());
    /// let x = a.alloc(1u8);
    /// assert!(Gc::heap(&x).ptr_eq(&a));
    /// assert!(!Gc::heap(&x).ptr_eq(&b));
    /// ```
    pub fn ptr_eq(&self, other: &Heap) -> bool {
        self.state == other.state
    }

    /// The bytes this heap accounts for: every live box (header and value, small or large)
    /// plus the memory objects report with [`ExternalMemory`] tokens. What the byte
    /// trigger ([`HeapConfig::byte_trigger`]) watches.
    ///
    /// ```
    /// use pygc::Heap;
    /// let heap = Heap::new();
    /// let before = heap.accounted_bytes();
    /// let big = heap.alloc([0u64; 100]); // a large box (800 bytes of value)
    /// assert!(heap.accounted_bytes() >= before + 800);
    /// drop(big);
    /// assert_eq!(heap.accounted_bytes(), before);
    /// ```
    pub fn accounted_bytes(&self) -> usize {
        self.state().accounted_bytes()
    }

    /// The part of [`Heap::accounted_bytes`] reported by [`ExternalMemory`] tokens.
    ///
    /// ```
    /// use pygc::Heap;
    /// let heap = Heap::new();
    /// let token = heap.external_memory();
    /// token.set(4096);
    /// assert_eq!(heap.external_bytes(), 4096);
    /// drop(token);
    /// assert_eq!(heap.external_bytes(), 0);
    /// ```
    pub fn external_bytes(&self) -> usize {
        self.state().owner.external_bytes()
    }

    /// A token (reporting 0 bytes) through which an object reports memory it owns outside
    /// its box; see [`ExternalMemory`].
    ///
    /// ```
    /// use pygc::Heap;
    /// let heap = Heap::new();
    /// let token = heap.external_memory();
    /// token.set(100);
    /// assert_eq!(heap.accounted_bytes(), 100);
    /// ```
    pub fn external_memory(&self) -> ExternalMemory {
        ExternalMemory::with_total(self.state().owner.external_total())
    }

    /// Number of objects allocated and not yet freed (tracked or not, weak references included).
    ///
    /// ```
    /// use pygc::Heap;
    /// let heap = Heap::new();
    /// let x = heap.alloc(1u8);
    /// assert_eq!(heap.live_objects(), 1);
    /// drop(x);
    /// assert_eq!(heap.live_objects(), 0);
    /// ```
    pub fn live_objects(&self) -> usize {
        self.state().live()
    }

    /// Full collection: `gc.collect()`. Returns the number of unreachable objects found
    /// (collected + uncollectable), or 0 if a collection is already running on this thread.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use pygc::{Gc, Heap, Trace};
    /// #[derive(Trace)]
    /// struct Node(RefCell<Option<Gc<Node>>>);
    /// let heap = Heap::new();
    /// let n = heap.alloc(Node(RefCell::new(None)));
    /// *n.0.borrow_mut() = Some(n.clone());
    /// drop(n);
    /// assert_eq!(heap.collect(), 1);
    /// ```
    pub fn collect(&self) -> usize {
        self.collect_generation(2).expect("generation 2 is valid")
    }

    /// `gc.collect(generation)`: collect `generation` and the younger ones.
    ///
    /// # Errors
    /// [`GcError::InvalidGeneration`] if `generation > 2`.
    ///
    /// ```
    /// use pygc::{GcError, Heap};
    /// let heap = Heap::new();
    /// assert_eq!(heap.collect_generation(0), Ok(0));
    /// assert_eq!(heap.collect_generation(3), Err(GcError::InvalidGeneration));
    /// ```
    pub fn collect_generation(&self, generation: usize) -> Result<usize, GcError> {
        if generation > 2 {
            return Err(GcError::InvalidGeneration);
        }
        Ok(self.state().collect_explicit(generation))
    }

    /// `gc.enable()`: turn automatic collection on.
    ///
    /// ```
    /// use pygc::Heap;
    /// let heap = Heap::new();
    /// heap.disable();
    /// heap.enable();
    /// assert!(heap.is_enabled());
    /// ```
    pub fn enable(&self) {
        self.state().gc.enabled.set(true);
    }

    /// `gc.disable()`: turn automatic collection off (explicit collections still work).
    ///
    /// ```
    /// use pygc::Heap;
    /// let heap = Heap::new();
    /// heap.disable();
    /// assert!(!heap.is_enabled());
    /// assert_eq!(heap.collect(), 0); // explicit collections still run
    /// ```
    pub fn disable(&self) {
        self.state().gc.enabled.set(false);
    }

    /// `gc.isenabled()`.
    ///
    /// ```
    /// use pygc::Heap;
    /// assert!(Heap::new().is_enabled());
    /// ```
    pub fn is_enabled(&self) -> bool {
        self.state().gc.enabled.get()
    }

    /// `gc.get_count()`: generation 0 counts GC-capable allocations minus frees (floored at
    /// 0); generations 1 and 2 count collections of the next younger generation.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use pygc::Heap;
    /// let heap = Heap::new();
    /// let _list = heap.alloc(RefCell::new(Vec::<pygc::Gc<u8>>::new())); // GC-capable: counted
    /// let _int = heap.alloc(7i64); // an atom: not counted
    /// assert_eq!(heap.count(), [1, 0, 0]);
    /// ```
    pub fn count(&self) -> [usize; 3] {
        self.state().gc.counts.get()
    }

    /// `gc.get_threshold()`.
    ///
    /// ```
    /// use pygc::Heap;
    /// assert_eq!(Heap::new().threshold(), pygc::DEFAULT_THRESHOLDS);
    /// ```
    pub fn threshold(&self) -> [usize; 3] {
        self.state().gc.thresholds.get()
    }

    /// `gc.set_threshold(t0, t1, t2)`. A `t0` of 0 turns automatic collection off.
    ///
    /// ```
    /// use pygc::Heap;
    /// let heap = Heap::new();
    /// heap.set_threshold(100, 5, 5);
    /// assert_eq!(heap.threshold(), [100, 5, 5]);
    /// ```
    pub fn set_threshold(&self, t0: usize, t1: usize, t2: usize) {
        self.state().gc.thresholds.set([t0, t1, t2]);
    }

    /// `gc.get_stats()`: per generation, collections, collected and uncollectable.
    ///
    /// ```
    /// use pygc::Heap;
    /// let heap = Heap::new();
    /// heap.collect();
    /// assert_eq!(heap.stats()[2].collections, 1);
    /// ```
    pub fn stats(&self) -> [GenerationStats; 3] {
        self.state().gc.stats.get()
    }

    /// `gc.freeze()`: move every tracked object to the permanent generation (never collected)
    /// and zero the counts.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use pygc::Heap;
    /// let heap = Heap::new();
    /// let _x = heap.alloc(RefCell::new(Vec::<pygc::Gc<u8>>::new()));
    /// heap.freeze();
    /// assert_eq!(heap.freeze_count(), 1);
    /// assert_eq!(heap.count(), [0, 0, 0]);
    /// ```
    pub fn freeze(&self) {
        self.state().gc.freeze();
    }

    /// `gc.unfreeze()`: move the permanent generation back into generation 2.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use pygc::Heap;
    /// let heap = Heap::new();
    /// let _x = heap.alloc(RefCell::new(Vec::<pygc::Gc<u8>>::new()));
    /// heap.freeze();
    /// heap.unfreeze();
    /// assert_eq!(heap.freeze_count(), 0);
    /// assert_eq!(heap.objects(Some(2)).unwrap().len(), 1);
    /// ```
    pub fn unfreeze(&self) {
        self.state().gc.unfreeze();
    }

    /// `gc.get_freeze_count()`.
    ///
    /// ```
    /// use pygc::Heap;
    /// assert_eq!(Heap::new().freeze_count(), 0);
    /// ```
    pub fn freeze_count(&self) -> usize {
        self.state().freeze_count()
    }

    /// `gc.get_objects(generation)`: the tracked objects of one generation, or of all three
    /// (`None`). The permanent generation is excluded.
    ///
    /// # Errors
    /// [`GcError::GenerationTooLarge`] for a generation above 2.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use pygc::Heap;
    /// let heap = Heap::new();
    /// let _x = heap.alloc(RefCell::new(Vec::<pygc::Gc<u8>>::new()));
    /// let _atom = heap.alloc(1u8); // untracked
    /// assert_eq!(heap.objects(None).unwrap().len(), 1);
    /// assert!(heap.objects(Some(3)).is_err());
    /// ```
    pub fn objects(&self, generation: Option<usize>) -> Result<Vec<AnyGc>, GcError> {
        let gc = &self.state().gc;
        let gens = match generation {
            None => 0..3,
            Some(g) if g < 3 => g..g + 1,
            Some(_) => return Err(GcError::GenerationTooLarge),
        };
        Ok(gens
            .flat_map(|g| gc.generation(g).iter().collect::<Vec<_>>())
            .map(AnyGc::new_ref)
            .collect())
    }

    /// `gc.get_referents(obj)`: the objects `obj`'s `Trace` reports (weak handles report their
    /// weak-reference objects).
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use pygc::Heap;
    /// let heap = Heap::new();
    /// let a = heap.alloc(1u8);
    /// let list = heap.alloc(RefCell::new(vec![a.clone(), a.clone()]));
    /// assert_eq!(heap.referents(&list).len(), 2);
    /// ```
    pub fn referents(&self, obj: &impl Handle) -> Vec<AnyGc> {
        let mut out = Vec::new();
        obj_of(obj).trace(&mut Visitor::new(&mut VisitOp::Collect(&mut out)));
        out.into_iter().map(AnyGc::new_ref).collect()
    }

    /// `gc.get_referrers(*objs)`: the tracked objects (generations 0–2, not the permanent one)
    /// whose `Trace` reports any of `targets`.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use pygc::{Gc, Heap};
    /// let heap = Heap::new();
    /// let a = heap.alloc(1u8);
    /// let list = heap.alloc(RefCell::new(vec![a.clone()]));
    /// let found = heap.referrers(&[Gc::to_any(&a)]);
    /// assert!(found[0].ptr_eq(&Gc::to_any(&list)));
    /// ```
    pub fn referrers(&self, targets: &[AnyGc]) -> Vec<AnyGc> {
        let targets: Vec<ObjRef> = targets.iter().map(|t| t.obj).collect();
        let gc = &self.state().gc;
        let mut out = Vec::new();
        for g in 0..3 {
            for obj in gc.generation(g).iter() {
                let mut op = VisitOp::Find {
                    targets: &targets,
                    found: false,
                };
                obj.trace(&mut Visitor::new(&mut op));
                if let VisitOp::Find { found: true, .. } = op {
                    out.push(obj);
                }
            }
        }
        out.into_iter().map(AnyGc::new_ref).collect()
    }

    /// `gc.is_tracked(obj)`: whether the object is in a generation (types that can hold no
    /// handle are never tracked).
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use pygc::Heap;
    /// let heap = Heap::new();
    /// assert!(!heap.is_tracked(&heap.alloc(String::from("atom"))));
    /// assert!(heap.is_tracked(&heap.alloc(RefCell::new(Vec::<pygc::Gc<u8>>::new()))));
    /// ```
    pub fn is_tracked(&self, obj: &impl Handle) -> bool {
        obj_of(obj).header().is_tracked()
    }

    /// `gc.is_finalized(obj)`: whether its PEP 442 finalizer has run.
    ///
    /// ```
    /// use pygc::{Finalize, Gc, Heap, Trace};
    /// #[derive(Trace)]
    /// struct Res;
    /// impl Finalize for Res {
    ///     fn finalize(this: &Gc<Self>) {
    ///         // resurrect: keep a handle past death
    ///         RESURRECTED.with(|r| *r.borrow_mut() = Some(this.clone()));
    ///     }
    /// }
    /// thread_local!(static RESURRECTED: std::cell::RefCell<Option<Gc<Res>>> = Default::default());
    /// let heap = Heap::new();
    /// drop(heap.alloc(Res));
    /// let back = RESURRECTED.with(|r| r.borrow_mut().take()).unwrap();
    /// assert!(heap.is_finalized(&back));
    /// ```
    pub fn is_finalized(&self, obj: &impl Handle) -> bool {
        obj_of(obj).header().has(flag::FINALIZED)
    }

    /// `gc.set_debug(flags)`.
    ///
    /// ```
    /// use pygc::{DebugFlags, Heap};
    /// let heap = Heap::new();
    /// heap.set_debug(DebugFlags::STATS);
    /// assert_eq!(heap.debug(), DebugFlags::STATS);
    /// ```
    pub fn set_debug(&self, flags: DebugFlags) {
        self.state().gc.debug.set(flags);
    }

    /// `gc.get_debug()`.
    ///
    /// ```
    /// use pygc::{DebugFlags, Heap};
    /// assert_eq!(Heap::new().debug(), DebugFlags::empty());
    /// ```
    pub fn debug(&self) -> DebugFlags {
        self.state().gc.debug.get()
    }

    /// `gc.garbage`: uncollectable objects (legacy finalizers), or everything found while
    /// [`DebugFlags::SAVEALL`] is set. A snapshot; see [`Heap::take_garbage`].
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use pygc::{DebugFlags, Gc, Heap, Trace};
    /// #[derive(Trace)]
    /// struct Node(RefCell<Option<Gc<Node>>>);
    /// let heap = Heap::new();
    /// heap.set_debug(DebugFlags::SAVEALL);
    /// let n = heap.alloc(Node(RefCell::new(None)));
    /// *n.0.borrow_mut() = Some(n.clone());
    /// drop(n);
    /// heap.collect();
    /// assert_eq!(heap.garbage().len(), 1);
    /// # heap.set_debug(DebugFlags::empty());
    /// # for g in heap.take_garbage() { *g.downcast::<Node>().unwrap().0.borrow_mut() = None; }
    /// ```
    pub fn garbage(&self) -> Vec<AnyGc> {
        self.state().gc.garbage.borrow().clone()
    }

    /// Empty `gc.garbage` (`del gc.garbage[:]`), returning its contents.
    ///
    /// ```
    /// use pygc::Heap;
    /// let heap = Heap::new();
    /// assert!(heap.take_garbage().is_empty());
    /// assert!(heap.garbage().is_empty());
    /// ```
    pub fn take_garbage(&self) -> Vec<AnyGc> {
        std::mem::take(&mut *self.state().gc.garbage.borrow_mut())
    }

    /// Append to `gc.callbacks`: `callback(phase, info)` runs before and after every
    /// collection made by [`Heap::collect`] or the automatic trigger.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use pygc::{CallbackPhase, Heap};
    /// let heap = Heap::new();
    /// let stops = Rc::new(Cell::new(0));
    /// let s = stops.clone();
    /// let id = heap.add_callback(move |phase, _info| {
    ///     if phase == CallbackPhase::Stop { s.set(s.get() + 1) }
    /// });
    /// heap.collect();
    /// assert_eq!(stops.get(), 1);
    /// assert!(heap.remove_callback(id));
    /// ```
    pub fn add_callback(
        &self,
        callback: impl FnMut(CallbackPhase, &CollectionInfo) + 'static,
    ) -> CallbackId {
        self.state()
            .gc
            .add_callback(Rc::new(RefCell::new(callback)))
    }

    /// Remove a callback; returns whether it was registered.
    ///
    /// ```
    /// use pygc::Heap;
    /// let heap = Heap::new();
    /// let id = heap.add_callback(|_, _| {});
    /// assert!(heap.remove_callback(id));
    /// assert!(!heap.remove_callback(id));
    /// ```
    pub fn remove_callback(&self, id: CallbackId) -> bool {
        let removed = self.state().gc.remove_callback(id);
        let found = removed.is_some();
        drop(removed);
        found
    }

    /// Where panics from finalizers, weak-reference callbacks, gc callbacks and `Drop`s run by
    /// the collector are reported (CPython's `sys.unraisablehook`). By default they become
    /// `tracing` error events.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use pygc::{Gc, Heap};
    /// let heap = Heap::new();
    /// let seen = Rc::new(Cell::new(0));
    /// let s = seen.clone();
    /// heap.set_unraisable_hook(move |_report| s.set(s.get() + 1));
    /// let x = heap.alloc(1u8);
    /// let _w = Gc::downgrade_with_callback(&x, |_| panic!("callback failed"));
    /// drop(x); // the callback panics: reported, not unwound
    /// assert_eq!(seen.get(), 1);
    /// assert_eq!(heap.unraisable_count(), 1);
    /// ```
    pub fn set_unraisable_hook(&self, hook: impl FnMut(&Unraisable) + 'static) {
        let previous = self.state().unraisables.set_hook(Box::new(hook));
        drop(previous);
    }

    /// Number of panics reported as unraisable so far.
    ///
    /// ```
    /// use pygc::Heap;
    /// assert_eq!(Heap::new().unraisable_count(), 0);
    /// ```
    pub fn unraisable_count(&self) -> u64 {
        self.state().unraisables.count()
    }

    /// The weak-reference objects naming `obj`, in CPython's order (`weakref.getweakrefs`).
    ///
    /// ```
    /// use pygc::{Gc, Heap};
    /// let heap = Heap::new();
    /// let x = heap.alloc(1u8);
    /// let w = Gc::downgrade(&x);
    /// let refs = heap.weakrefs_of(&x);
    /// assert_eq!(refs.len(), 1);
    /// assert!(refs[0].ptr_eq(&pygc::Weak::to_any(&w)));
    /// ```
    pub fn weakrefs_of(&self, obj: &impl Handle) -> Vec<AnyGc> {
        // This heap's table: a foreign object has no entry here.
        self.state()
            .owner
            .weak_table()
            .snapshot(obj_of(obj))
            .into_iter()
            .map(AnyGc::new_ref)
            .collect()
    }
}

impl Drop for Heap {
    fn drop(&mut self) {
        // SAFETY: the state is live, this handle is going away, and `self` is not used after.
        unsafe { HeapState::orphan(self.state) }
    }
}

/// The heap of an object, borrowed through one of its handles ([`Gc::heap`]): every
/// [`Heap`] method, through `Deref`, without owning the heap (dropping it does not shut the
/// heap down).
///
/// # Lifetime
/// The borrow of the handle keeps the object, hence the heap's state, alive. The state may
/// outlive the `Heap` itself (it lives until its last object is gone, see the DESIGN notes),
/// so a `HeapRef` can name a heap whose `Heap` was already dropped: allocation and explicit
/// collection still work there, automatic collection stays off, and the state is freed with
/// its last object as usual.
pub struct HeapRef<'a> {
    heap: std::mem::ManuallyDrop<Heap>,
    _handle: PhantomData<&'a ()>,
}

impl std::ops::Deref for HeapRef<'_> {
    type Target = Heap;
    fn deref(&self) -> &Heap {
        &self.heap
    }
}

impl fmt::Debug for HeapRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HeapRef").field(&*self.heap).finish()
    }
}

impl<T: ?Sized> Gc<T> {
    /// The heap this object lives in, for as long as the handle is borrowed: what a
    /// finalizer, a weak-reference callback or a method of the value needs to allocate or to
    /// collect (see [`HeapRef`] for the lifetime rules).
    ///
    /// ```
    /// use pygc::{Finalize, Gc, Heap, Trace};
    ///
    /// #[derive(Trace)]
    /// struct Logger;
    /// impl Finalize for Logger {
    ///     fn finalize(this: &Gc<Self>) {
    ///         // Reach the heap from the finalizer, e.g. to allocate a record.
    ///         let heap = Gc::heap(this);
    ///         let _record = heap.alloc(String::from("logger finalized"));
    ///     }
    /// }
    ///
    /// let heap = Heap::new();
    /// let l = heap.alloc(Logger);
    /// assert!(Gc::heap(&l).ptr_eq(&heap));
    /// drop(l);
    /// assert_eq!(heap.live_objects(), 0);
    /// ```
    pub fn heap(this: &Self) -> HeapRef<'_> {
        HeapRef {
            heap: std::mem::ManuallyDrop::new(Heap {
                state: HeapState::of_owner(this.obj().owner()),
                _not_send: PhantomData,
            }),
            _handle: PhantomData,
        }
    }
}

#[cold]
#[inline(never)]
fn alloc_failed<T>() -> ! {
    std::alloc::handle_alloc_error(std::alloc::Layout::new::<crate::object::handle::GcBox<T>>())
}

#[cold]
#[inline(never)]
fn var_alloc_failed(item: std::alloc::Layout, len: usize) -> ! {
    let layout = crate::object::var::BoxLayout::var(item, len).expect("it was allocated");
    std::alloc::handle_alloc_error(layout.layout)
}

/// The value handed back by [`Heap::try_alloc`] when memory is exhausted.
#[derive(Debug)]
pub struct AllocError<T>(pub T);

impl<T> fmt::Display for AllocError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pygc: out of memory allocating an object")
    }
}

impl<T: fmt::Debug> std::error::Error for AllocError<T> {}
