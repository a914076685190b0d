//! The heap: owns the allocator, the generations, the weak-list table, the trashcan and the
//! collector's state (CPython's `PyInterpreterState.gc` plus the object allocator).
//!
//! [`Heap`] is the user's handle; [`HeapInner`] is the state, boxed at a stable address that
//! every object's owner tag points at. Dropping the `Heap` runs a final full collection
//! (without gc callbacks, like CPython's shutdown collection); objects still referenced from
//! outside stay valid, and the state is freed when the last of them dies.
#![allow(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::rc::Rc;

use crate::gc::list::GcList;
use crate::gc::{
    CallbackId, CallbackPhase, CollectionInfo, DebugFlags, GcError, GenerationStats, Unraisable,
};
use crate::object::boxes;
use crate::object::handle::{self, obj_of, AnyGc, Gc, Handle};
use crate::object::header::{flag, Header, ObjRef};
use crate::object::vtable::{
    Plain, VTable, VTableOf, WithFinalizer, WithLegacyFinalizer, SENTINEL_VTABLE,
};
use crate::object::weak::WeakList;
use crate::object::visit::VisitOp;
use crate::{Finalize, LegacyFinalize, Trace, Visitor};

/// Indices of the heap's list sentinels.
pub(crate) mod lists {
    pub const GEN0: usize = 0;
    pub const PERMANENT: usize = 3;
    pub const UNREACHABLE: usize = 4;
    pub const FINALIZERS: usize = 5;
    pub const SEEN: usize = 6;
    pub const STILL_UNREACHABLE: usize = 7;
    pub const COUNT: usize = 8;
}

/// Default thresholds, as CPython 3.11: (700, 10, 10).
pub const DEFAULT_THRESHOLDS: [usize; 3] = [700, 10, 10];

pub(crate) type GcCallback = Rc<RefCell<dyn FnMut(CallbackPhase, &CollectionInfo)>>;

/// Configuration of a new [`Heap`].
#[derive(Clone, Debug)]
pub struct HeapConfig {
    /// Collection thresholds for generations 0, 1, 2.
    pub thresholds: [usize; 3],
    /// Whether automatic collection starts enabled.
    pub enabled: bool,
}

impl Default for HeapConfig {
    fn default() -> Self {
        HeapConfig { thresholds: DEFAULT_THRESHOLDS, enabled: true }
    }
}

/// The heap state. See the module docs.
pub(crate) struct HeapInner {
    /// Sentinels: generations 0..3, the permanent generation, the collector's work lists.
    lists: [Header; lists::COUNT],
    pub(crate) counts: Cell<[usize; 3]>,
    pub(crate) thresholds: Cell<[usize; 3]>,
    pub(crate) enabled: Cell<bool>,
    pub(crate) debug: Cell<DebugFlags>,
    pub(crate) garbage: RefCell<Vec<AnyGc>>,
    pub(crate) callbacks: RefCell<Vec<(CallbackId, GcCallback)>>,
    next_callback_id: Cell<u64>,
    pub(crate) stats: Cell<[GenerationStats; 3]>,
    pub(crate) long_lived_total: Cell<usize>,
    pub(crate) long_lived_pending: Cell<usize>,
    /// Objects whose count reached zero during another object's teardown (the trashcan).
    trashcan: RefCell<Vec<ObjRef>>,
    /// A teardown loop is running: new deaths go to the trashcan.
    releasing: Cell<bool>,
    weak_lists: RefCell<HashMap<ObjRef, WeakList>>,
    /// Objects allocated and not yet freed.
    pub(crate) live: Cell<usize>,
    /// The `Heap` handle was dropped: free the state when `live` reaches zero.
    orphaned: Cell<bool>,
    #[allow(clippy::type_complexity)]
    unraisable_hook: RefCell<Option<Box<dyn FnMut(&Unraisable)>>>,
    pub(crate) unraisable_count: Cell<u64>,
}

impl HeapInner {
    fn new_boxed(config: &HeapConfig) -> NonNull<HeapInner> {
        let inner = Box::new(HeapInner {
            lists: std::array::from_fn(|_| Header::new_sentinel(SENTINEL_VTABLE)),
            counts: Cell::new([0; 3]),
            thresholds: Cell::new(config.thresholds),
            enabled: Cell::new(config.enabled),
            debug: Cell::new(DebugFlags::empty()),
            garbage: RefCell::new(Vec::new()),
            callbacks: RefCell::new(Vec::new()),
            next_callback_id: Cell::new(1),
            stats: Cell::new([GenerationStats::default(); 3]),
            long_lived_total: Cell::new(0),
            long_lived_pending: Cell::new(0),
            trashcan: RefCell::new(Vec::new()),
            releasing: Cell::new(false),
            weak_lists: RefCell::new(HashMap::new()),
            live: Cell::new(0),
            orphaned: Cell::new(false),
            unraisable_hook: RefCell::new(None),
            unraisable_count: Cell::new(0),
        });
        let ptr = NonNull::from(Box::leak(inner));
        // SAFETY: just leaked; stays at this address until `destroy`.
        let inner = unsafe { ptr.as_ref() };
        for i in 0..lists::COUNT {
            inner.list(i).init();
        }
        ptr
    }

    /// The heap owning a live object.
    #[inline]
    pub(crate) fn of<'a>(obj: ObjRef) -> &'a HeapInner {
        // SAFETY: a live object's owner tag names its heap, and the heap state is freed only
        // after its last object (module docs); callers use the result while `obj` lives.
        unsafe { &*obj.owner().cast::<HeapInner>() }
    }

    #[inline]
    fn tag(&self) -> *const () {
        (self as *const HeapInner).cast()
    }

    /// List sentinel `i` (see [`lists`]).
    #[inline]
    pub(crate) fn list(&self, i: usize) -> GcList {
        // SAFETY: the sentinel lives inside the heap state, at a stable address.
        GcList(unsafe { ObjRef::new(NonNull::from(&self.lists[i])) })
    }

    #[inline]
    pub(crate) fn generation(&self, g: usize) -> GcList {
        debug_assert!(g < 3);
        self.list(lists::GEN0 + g)
    }

    // ---- allocation -----------------------------------------------------------------------

    pub(crate) fn alloc_box(&self, layout: std::alloc::Layout) -> Option<(NonNull<u8>, u32)> {
        boxes::alloc_large(layout, self.tag())
    }

    fn free_box(&self, obj: ObjRef) {
        let layout = obj.vtable().layout;
        // SAFETY: the box was made by `alloc_box` with its vtable's layout, its value is
        // dropped, and its count is zero: nothing refers to it any more.
        unsafe { boxes::free_large(obj.0.cast(), layout) }
    }

    /// Allocate and track an object (CPython's `_PyObject_GC_Alloc` + `PyObject_GC_Track`):
    /// a GC-capable allocation counts toward generation 0 and may run a collection first.
    pub(crate) fn alloc_object<T>(&self, vtable: &'static VTable, value: T) -> Result<Gc<T>, T> {
        if vtable.gc_capable {
            let mut counts = self.counts.get();
            counts[0] += 1;
            self.counts.set(counts);
            let t0 = self.thresholds.get()[0];
            if counts[0] > t0 && t0 != 0 && self.enabled.get() && !crate::gc::collecting() {
                self.collect_automatic();
            }
        }
        let obj = handle::new_box(self, vtable, value)?;
        self.live.set(self.live.get() + 1);
        if vtable.gc_capable {
            self.generation(0).append(obj);
        }
        // SAFETY: a fresh box of `T` with count 1, handed to the handle.
        Ok(unsafe { Gc::from_obj(obj) })
    }

    // ---- refcount death (subtype_dealloc) and the trashcan ---------------------------------

    /// Entry point when a count reaches zero.
    ///
    /// # Safety
    /// `heap` is the owner of `obj`; `obj` is live with count zero.
    pub(crate) unsafe fn release(heap: *const HeapInner, obj: ObjRef) {
        // SAFETY: the heap outlives its objects; `obj` is still one of them.
        let this = unsafe { &*heap };
        obj.header().set(flag::TRASHED);
        if this.releasing.get() {
            // Inside another teardown: queue it, so deep structures never recurse. Untrack it
            // now so no collection ever sees an object whose count is zero.
            if obj.header().is_tracked() {
                GcList::unlink(obj);
            }
            this.trashcan.borrow_mut().push(obj);
            return;
        }
        this.releasing.set(true);
        let guard = ReleasingGuard(this);
        this.dealloc(obj);
        this.drain_trashcan_inner();
        drop(guard);
        if this.orphaned.get() && this.live.get() == 0 {
            // SAFETY: the `Heap` handle is gone and no object remains: nothing can reach the
            // state any more, and `this` is not used after this point.
            unsafe { HeapInner::destroy(heap) }
        }
    }

    fn drain_trashcan_inner(&self) {
        loop {
            let next = self.trashcan.borrow_mut().pop();
            match next {
                Some(obj) => self.dealloc(obj),
                None => break,
            }
        }
    }

    /// Process deaths left queued (by a panic that unwound out of a teardown).
    pub(crate) fn drain_trashcan(&self) {
        if self.releasing.get() || self.trashcan.borrow().is_empty() {
            return;
        }
        self.releasing.set(true);
        let guard = ReleasingGuard(self);
        self.drain_trashcan_inner();
        drop(guard);
    }

    /// Destroy one object whose count is zero, in CPython 3.11's `subtype_dealloc` order.
    fn dealloc(&self, obj: ObjRef) {
        let h = obj.header();
        debug_assert_eq!(h.rc(), 0);
        h.clear(flag::TRASHED);
        // 1. Untrack.
        if h.is_tracked() {
            GcList::unlink(obj);
        }
        let vtable = obj.vtable();
        if !h.has(flag::DEAD) {
            // 2. PEP 442 finalizer, at most once; it may resurrect the object.
            if let Some(finalize) = vtable.finalize {
                if !h.has(flag::FINALIZED) {
                    self.generation(0).append(obj); // tracked while the finalizer runs
                    h.set_rc(1);
                    h.set(flag::FINALIZED);
                    self.call_user(|| "finalizer", obj, || handle::call_finalizer(obj, finalize));
                    if h.dec_rc() > 0 {
                        return; // resurrected: stays tracked, never finalized again
                    }
                    GcList::unlink(obj);
                }
            }
            // 3. Clear weak references, then run the callbacks of those still alive.
            if h.has(flag::HAS_WEAKREFS) {
                self.clear_weakrefs_on_death(obj);
            }
            // 4. Legacy finalizer (tp_del); may resurrect too.
            if let Some(legacy) = vtable.legacy_finalize {
                h.set_rc(1);
                self.call_user(|| "legacy finalizer", obj, || handle::call_finalizer(obj, legacy));
                if h.dec_rc() > 0 {
                    if vtable.gc_capable {
                        self.generation(0).append(obj);
                    }
                    return;
                }
            }
            // 5. Weak references created during the finalizers are cleared silently.
            if h.has(flag::HAS_WEAKREFS) {
                self.clear_weakrefs_silently(obj);
            }
            if vtable.is_weakref {
                self.detach_weakref(obj);
            }
            // 6. Drop the value. If its `Drop` panics, the box is still freed (the guard) and
            //    the panic propagates to whoever dropped the last handle; deaths it queued
            //    wait in the trashcan until the next teardown or collection.
            let guard = FreeOnUnwind { heap: self, obj };
            // SAFETY: count zero and not DEAD: the value is initialised, nothing borrows it.
            unsafe { handle::drop_value(obj) };
            std::mem::forget(guard);
        }
        self.free_object(obj);
    }

    /// Free the memory of an object whose value is gone, and do the bookkeeping.
    fn free_object(&self, obj: ObjRef) {
        if obj.vtable().gc_capable {
            let mut counts = self.counts.get();
            counts[0] = counts[0].saturating_sub(1);
            self.counts.set(counts);
        }
        self.live.set(self.live.get() - 1);
        self.free_box(obj);
    }

    /// Free the state of an orphaned heap.
    ///
    /// # Safety
    /// The `Heap` handle is gone, `live == 0`, and no reference into the state is used after.
    unsafe fn destroy(heap: *const HeapInner) {
        // SAFETY: made by `Box::leak` in `new_boxed`; forwarded exclusivity.
        drop(unsafe { Box::from_raw(heap.cast_mut()) });
    }

    // ---- user code ------------------------------------------------------------------------

    /// Run user code (finalizer, callback) and report a panic as "unraisable", as CPython
    /// reports exceptions from `__del__` and weakref callbacks, so it never unwinds through
    /// the heap's bookkeeping.
    pub(crate) fn call_user(&self, what: impl Fn() -> &'static str, obj: ObjRef, f: impl FnOnce()) {
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(f)) {
            let context = format!("{} of <{} {:p}>", what(), (obj.vtable().type_name)(), obj.0);
            self.report_unraisable(context, payload);
        }
    }

    pub(crate) fn report_unraisable(&self, context: String, payload: Box<dyn std::any::Any + Send>) {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "<non-string panic payload>".to_string());
        self.unraisable_count.set(self.unraisable_count.get() + 1);
        let report = Unraisable { context, message };
        let hook = self.unraisable_hook.borrow_mut().take();
        match hook {
            Some(mut hook) => {
                hook(&report);
                let mut slot = self.unraisable_hook.borrow_mut();
                if slot.is_none() {
                    *slot = Some(hook);
                }
            }
            None => {
                tracing::error!(target: "pygc::unraisable", context = %report.context, "Exception ignored in: {}: {}", report.context, report.message);
            }
        }
    }

    // ---- weak lists -----------------------------------------------------------------------

    pub(crate) fn weak_list_basic(&self, referent: ObjRef) -> Option<ObjRef> {
        if !referent.header().has(flag::HAS_WEAKREFS) {
            return None;
        }
        self.weak_lists.borrow().get(&referent).and_then(|l| l.basic)
    }

    pub(crate) fn weak_list_add(&self, referent: ObjRef, weakref: ObjRef, with_callback: bool) {
        referent.header().set(flag::HAS_WEAKREFS);
        let mut table = self.weak_lists.borrow_mut();
        let list = table.entry(referent).or_default();
        if with_callback {
            list.with_callbacks.push(weakref);
        } else {
            debug_assert!(list.basic.is_none());
            list.basic = Some(weakref);
        }
    }

    pub(crate) fn weak_list_len(&self, referent: ObjRef) -> usize {
        if !referent.header().has(flag::HAS_WEAKREFS) {
            return 0;
        }
        self.weak_lists.borrow().get(&referent).map_or(0, WeakList::len)
    }

    /// The weak references to `referent`, in CPython's order (`weakref.getweakrefs`).
    pub(crate) fn weak_list_snapshot(&self, referent: ObjRef) -> Vec<ObjRef> {
        if !referent.header().has(flag::HAS_WEAKREFS) {
            return Vec::new();
        }
        self.weak_lists.borrow().get(&referent).map(|l| l.in_order().collect()).unwrap_or_default()
    }

    /// Remove `referent`'s list from the table and clear every weak reference in it.
    pub(crate) fn take_weak_list(&self, referent: ObjRef) -> Vec<ObjRef> {
        referent.header().clear(flag::HAS_WEAKREFS);
        let list = self.weak_lists.borrow_mut().remove(&referent);
        let order: Vec<ObjRef> = list.map(|l| l.in_order().collect()).unwrap_or_default();
        for &w in &order {
            if let Some(value) = w.weakref() {
                value.referent.set(None);
            }
        }
        order
    }

    /// A weak-reference object stops naming its referent (it died or was cleared as garbage).
    pub(crate) fn detach_weakref(&self, weakref: ObjRef) {
        let Some(value) = weakref.weakref() else { return };
        let Some(referent) = value.referent.take() else { return };
        let mut table = self.weak_lists.borrow_mut();
        if let Some(list) = table.get_mut(&referent) {
            list.remove_ref(weakref);
            if list.len() == 0 {
                table.remove(&referent);
                referent.header().clear(flag::HAS_WEAKREFS);
            }
        }
    }

    /// Refcount death (CPython's `PyObject_ClearWeakRefs`): clear all, then call the callbacks
    /// of the weak references still alive, newest first.
    fn clear_weakrefs_on_death(&self, referent: ObjRef) {
        let cleared = self.take_weak_list(referent);
        let mut calls = Vec::new();
        for w in cleared {
            let callback = w.weakref().and_then(|v| v.callback.borrow_mut().take());
            if let Some(callback) = callback {
                calls.push((AnyGc::new_ref(w), callback));
            }
        }
        for (weakref, callback) in calls {
            let obj = weakref.obj;
            self.call_user(|| "weakref callback", obj, || callback(weakref));
        }
    }

    fn clear_weakrefs_silently(&self, referent: ObjRef) {
        for w in self.take_weak_list(referent) {
            let callback = w.weakref().and_then(|v| v.callback.borrow_mut().take());
            drop(callback);
        }
    }

    // ---- misc -------------------------------------------------------------------------------

    pub(crate) fn add_callback(&self, callback: GcCallback) -> CallbackId {
        let id = CallbackId(self.next_callback_id.get());
        self.next_callback_id.set(id.0 + 1);
        self.callbacks.borrow_mut().push((id, callback));
        id
    }
}

/// Resets the `releasing` flag even if a `Drop` panics mid-teardown.
struct ReleasingGuard<'a>(&'a HeapInner);
impl Drop for ReleasingGuard<'_> {
    fn drop(&mut self) {
        self.0.releasing.set(false);
    }
}

/// Frees a box whose value's `Drop` panicked (the value is then partly dropped: Rust drops
/// the remaining fields while unwinding), so no bookkeeping is lost.
struct FreeOnUnwind<'a> {
    heap: &'a HeapInner,
    obj: ObjRef,
}
impl Drop for FreeOnUnwind<'_> {
    fn drop(&mut self) {
        self.heap.free_object(self.obj);
    }
}

impl WeakList {
    fn remove_ref(&mut self, weakref: ObjRef) {
        if self.basic == Some(weakref) {
            self.basic = None;
        } else if let Some(i) = self.with_callbacks.iter().position(|&w| w == weakref) {
            self.with_callbacks.remove(i);
        }
    }
}

// ===========================================================================================
// The public handle
// ===========================================================================================

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
    inner: NonNull<HeapInner>,
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
    pub fn new() -> Heap {
        Heap::with_config(HeapConfig::default())
    }

    /// A heap with the given configuration.
    pub fn with_config(config: HeapConfig) -> Heap {
        Heap { inner: HeapInner::new_boxed(&config), _not_send: PhantomData }
    }

    #[inline]
    pub(crate) fn inner(&self) -> &HeapInner {
        // SAFETY: the state lives at least as long as the `Heap` handle.
        unsafe { self.inner.as_ref() }
    }

    /// Allocate `value` as a new object and return the first handle to it.
    ///
    /// # Collection
    /// If `T` may hold handles, the allocation counts toward generation 0 and may run an
    /// automatic collection first (CPython 3.11 collects synchronously at allocation).
    ///
    /// # Panics
    /// Aborts through [`std::alloc::handle_alloc_error`] if memory is exhausted; use
    /// [`Heap::try_alloc`] to get the value back instead.
    #[inline]
    pub fn alloc<T: Trace + 'static>(&self, value: T) -> Gc<T> {
        match self.inner().alloc_object(VTableOf::<T, Plain>::VTABLE, value) {
            Ok(gc) => gc,
            Err(_) => std::alloc::handle_alloc_error(VTableOf::<T, Plain>::VTABLE.layout),
        }
    }

    /// Like [`Heap::alloc`], but gives the value back if memory is exhausted.
    pub fn try_alloc<T: Trace + 'static>(&self, value: T) -> Result<Gc<T>, AllocError<T>> {
        self.inner().alloc_object(VTableOf::<T, Plain>::VTABLE, value).map_err(AllocError)
    }

    /// Allocate an object with a PEP 442 finalizer ([`Finalize`]): it runs at most once, before
    /// the object dies (by refcount or in a garbage cycle), and may resurrect it.
    pub fn alloc_with_finalizer<T: Trace + Finalize + 'static>(&self, value: T) -> Gc<T> {
        let vtable = VTableOf::<T, WithFinalizer>::VTABLE;
        self.inner()
            .alloc_object(vtable, value)
            .unwrap_or_else(|_| std::alloc::handle_alloc_error(vtable.layout))
    }

    /// Allocate an object with a legacy finalizer (CPython's `tp_del`): a garbage cycle
    /// containing it is *uncollectable* and goes to [`Heap::garbage`] instead; on refcount
    /// death the legacy finalizer runs.
    pub fn alloc_with_legacy_finalizer<T: Trace + LegacyFinalize + 'static>(&self, value: T) -> Gc<T> {
        let vtable = VTableOf::<T, WithLegacyFinalizer>::VTABLE;
        self.inner()
            .alloc_object(vtable, value)
            .unwrap_or_else(|_| std::alloc::handle_alloc_error(vtable.layout))
    }

    /// Number of objects allocated and not yet freed (tracked or not, weak references included).
    pub fn live_objects(&self) -> usize {
        self.inner().live.get()
    }

    /// Full collection: `gc.collect()`. Returns the number of unreachable objects found
    /// (collected + uncollectable), or 0 if a collection is already running on this thread.
    pub fn collect(&self) -> usize {
        self.collect_generation(2).expect("generation 2 is valid")
    }

    /// `gc.collect(generation)`: collect `generation` and the younger ones.
    ///
    /// # Errors
    /// [`GcError::InvalidGeneration`] if `generation > 2`.
    pub fn collect_generation(&self, generation: usize) -> Result<usize, GcError> {
        if generation > 2 {
            return Err(GcError::InvalidGeneration);
        }
        Ok(self.inner().collect_explicit(generation))
    }

    /// `gc.enable()`: turn automatic collection on.
    pub fn enable(&self) {
        self.inner().enabled.set(true);
    }

    /// `gc.disable()`: turn automatic collection off (explicit collections still work).
    pub fn disable(&self) {
        self.inner().enabled.set(false);
    }

    /// `gc.isenabled()`.
    pub fn is_enabled(&self) -> bool {
        self.inner().enabled.get()
    }

    /// `gc.get_count()`: generation 0 counts GC-capable allocations minus frees (floored at
    /// 0); generations 1 and 2 count collections of the next younger generation.
    pub fn count(&self) -> [usize; 3] {
        self.inner().counts.get()
    }

    /// `gc.get_threshold()`.
    pub fn threshold(&self) -> [usize; 3] {
        self.inner().thresholds.get()
    }

    /// `gc.set_threshold(t0, t1, t2)`. A `t0` of 0 turns automatic collection off.
    pub fn set_threshold(&self, t0: usize, t1: usize, t2: usize) {
        self.inner().thresholds.set([t0, t1, t2]);
    }

    /// `gc.get_stats()`: per generation, collections, collected and uncollectable.
    pub fn stats(&self) -> [GenerationStats; 3] {
        self.inner().stats.get()
    }

    /// `gc.freeze()`: move every tracked object to the permanent generation (never collected)
    /// and zero the counts.
    pub fn freeze(&self) {
        let inner = self.inner();
        let permanent = inner.list(lists::PERMANENT);
        for g in 0..3 {
            permanent.merge_from(inner.generation(g));
        }
        inner.counts.set([0; 3]);
    }

    /// `gc.unfreeze()`: move the permanent generation back into generation 2.
    pub fn unfreeze(&self) {
        let inner = self.inner();
        inner.generation(2).merge_from(inner.list(lists::PERMANENT));
    }

    /// `gc.get_freeze_count()`.
    pub fn freeze_count(&self) -> usize {
        self.inner().list(lists::PERMANENT).len()
    }

    /// `gc.get_objects(generation)`: the tracked objects of one generation, or of all three
    /// (`None`). The permanent generation is excluded.
    ///
    /// # Errors
    /// [`GcError::GenerationTooLarge`] for a generation above 2.
    pub fn objects(&self, generation: Option<usize>) -> Result<Vec<AnyGc>, GcError> {
        let inner = self.inner();
        let gens = match generation {
            None => 0..3,
            Some(g) if g < 3 => g..g + 1,
            Some(_) => return Err(GcError::GenerationTooLarge),
        };
        Ok(gens.flat_map(|g| inner.generation(g).iter().collect::<Vec<_>>()).map(AnyGc::new_ref).collect())
    }

    /// `gc.get_referents(obj)`: the objects `obj`'s `Trace` reports (weak handles report their
    /// weak-reference objects).
    pub fn referents(&self, obj: &impl Handle) -> Vec<AnyGc> {
        let mut out = Vec::new();
        obj_of(obj).trace(&mut Visitor::new(VisitOp::Collect(&mut out)));
        out.into_iter().map(AnyGc::new_ref).collect()
    }

    /// `gc.get_referrers(*objs)`: the tracked objects (generations 0–2, not the permanent one)
    /// whose `Trace` reports any of `targets`.
    pub fn referrers(&self, targets: &[AnyGc]) -> Vec<AnyGc> {
        let targets: Vec<ObjRef> = targets.iter().map(|t| t.obj).collect();
        let inner = self.inner();
        let mut out = Vec::new();
        for g in 0..3 {
            for obj in inner.generation(g).iter() {
                let mut visitor = Visitor::new(VisitOp::Find { targets: &targets, found: false });
                obj.trace(&mut visitor);
                if let VisitOp::Find { found: true, .. } = visitor.op {
                    out.push(obj);
                }
            }
        }
        out.into_iter().map(AnyGc::new_ref).collect()
    }

    /// `gc.is_tracked(obj)`: whether the object is in a generation (types that can hold no
    /// handle are never tracked).
    pub fn is_tracked(&self, obj: &impl Handle) -> bool {
        obj_of(obj).header().is_tracked()
    }

    /// `gc.is_finalized(obj)`: whether its PEP 442 finalizer has run.
    pub fn is_finalized(&self, obj: &impl Handle) -> bool {
        obj_of(obj).header().has(flag::FINALIZED)
    }

    /// `gc.set_debug(flags)`.
    pub fn set_debug(&self, flags: DebugFlags) {
        self.inner().debug.set(flags);
    }

    /// `gc.get_debug()`.
    pub fn debug(&self) -> DebugFlags {
        self.inner().debug.get()
    }

    /// `gc.garbage`: uncollectable objects (legacy finalizers), or everything found while
    /// [`DebugFlags::SAVEALL`] is set. A snapshot; see [`Heap::take_garbage`].
    pub fn garbage(&self) -> Vec<AnyGc> {
        self.inner().garbage.borrow().clone()
    }

    /// Empty `gc.garbage` (`del gc.garbage[:]`), returning its contents.
    pub fn take_garbage(&self) -> Vec<AnyGc> {
        std::mem::take(&mut *self.inner().garbage.borrow_mut())
    }

    /// Append to `gc.callbacks`: `callback(phase, info)` runs before and after every
    /// collection made by [`Heap::collect`] or the automatic trigger.
    pub fn add_callback(&self, callback: impl FnMut(CallbackPhase, &CollectionInfo) + 'static) -> CallbackId {
        self.inner().add_callback(Rc::new(RefCell::new(callback)))
    }

    /// Remove a callback; returns whether it was registered.
    pub fn remove_callback(&self, id: CallbackId) -> bool {
        let mut callbacks = self.inner().callbacks.borrow_mut();
        let before = callbacks.len();
        callbacks.retain(|(i, _)| *i != id);
        callbacks.len() != before
    }

    /// Where panics from finalizers, weak-reference callbacks, gc callbacks and `Drop`s run by
    /// the collector are reported (CPython's `sys.unraisablehook`). By default they become
    /// `tracing` error events.
    pub fn set_unraisable_hook(&self, hook: impl FnMut(&Unraisable) + 'static) {
        *self.inner().unraisable_hook.borrow_mut() = Some(Box::new(hook));
    }

    /// Number of panics reported as unraisable so far.
    pub fn unraisable_count(&self) -> u64 {
        self.inner().unraisable_count.get()
    }

    /// The weak-reference objects naming `obj`, in CPython's order (`weakref.getweakrefs`).
    pub fn weakrefs_of(&self, obj: &impl Handle) -> Vec<AnyGc> {
        self.inner().weak_list_snapshot(obj_of(obj)).into_iter().map(AnyGc::new_ref).collect()
    }
}

impl Drop for Heap {
    fn drop(&mut self) {
        let inner = self.inner();
        inner.drain_trashcan();
        drop(std::mem::take(&mut *inner.garbage.borrow_mut()));
        drop(std::mem::take(&mut *inner.callbacks.borrow_mut()));
        inner.debug.set(DebugFlags::empty());
        if !crate::gc::collecting() {
            inner.generation(2).merge_from(inner.list(lists::PERMANENT));
            inner.collect_shutdown();
        }
        inner.orphaned.set(true);
        if inner.live.get() == 0 && !inner.releasing.get() {
            // SAFETY: the handle is going away and no object remains.
            unsafe { HeapInner::destroy(self.inner.as_ptr()) }
        }
    }
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
