//! The heap state: a composition of owned parts, boxed at a stable address that every
//! object's owner tag points at (CPython's `PyInterpreterState.gc` plus the object allocator).
//!
//! | part | file | what it keeps |
//! |---|---|---|
//! | [`Owner`] | `object/owner.rs` | the hooks objects call (refcount death, weakref allocation) and the weak table |
//! | [`ObjectMemory`] | `heap/memory.rs` | pools and large blocks |
//! | [`GcState`] | `gc/state.rs` | generations, counts, thresholds, garbage, callbacks, stats |
//! | [`Trashcan`] | `heap/dealloc.rs` | queued deaths, the teardown flag |
//! | [`Unraisables`] | `gc/unraisable.rs` | the unraisable hook and count |
//! | checker | `heap/check.rs` | `Heap::check_invariants` |
//!
//! # Lifetime
//! The state is freed when (a) the `Heap` handle is gone, (b) no object is left (`live == 0`),
//! and (c) nothing is running on it: no teardown, no collection, no pending shutdown
//! ([`HeapState::may_destroy`]). Whichever of those ends last frees it.
//!
//! A `Heap` dropped while a collection runs on this thread (from a `Drop`, finalizer or
//! callback of another heap's collection) cannot collect now (collections do not nest: see
//! `gc::collecting`), so its final collection is queued and runs as soon as the outermost
//! collection ends. The same holds while a teardown of the heap itself runs (the `Heap` was
//! dropped by a finalizer or `Drop` of one of its own objects): it runs when that ends.
#![allow(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;

use super::HeapConfig;
use super::dealloc::Trashcan;
use super::memory::ObjectMemory;
use crate::gc::collector::{Collector, Host};
use crate::gc::state::{GcState, lists};
use crate::gc::unraisable::Unraisables;
use crate::gc::{self, CollectionTrigger, DebugFlags};
use crate::object::handle::{Gc, init_box};
use crate::object::header::ObjRef;
use crate::object::owner::{Owner, OwnerHooks};
use crate::object::var::{BoxLayout, STR_VTABLE, SliceVTable, init_slice, init_str};
use crate::object::vtable::{
    Plain, Unfinalized, VTable, VTableOf, WEAKREF_VTABLE, WithFinalizer, WithLegacyFinalizer,
};
use crate::object::weak::{WeakRefObj, WeakTable};
use crate::{Finalize, LegacyFinalize, Trace};

/// See the module docs.
///
/// # Invariants
/// - `#[repr(C)]` with `owner` first: a pointer to the state is a pointer to its `Owner`, and
///   every owner tag is `self_ptr` (the `Box::into_raw` pointer, with provenance for the
///   whole state).
/// - `live` counts the boxes allocated and not yet freed.
#[repr(C)]
pub(crate) struct HeapState {
    pub(super) owner: Owner,
    pub(super) memory: ObjectMemory,
    pub(super) gc: GcState,
    pub(super) trashcan: Trashcan,
    pub(super) unraisables: Unraisables,
    live: Cell<usize>,
    /// Bytes of the boxes counted by `live` (the blocks of their `ObjRef::box_layout`).
    box_bytes: Cell<usize>,
    /// `HeapConfig::byte_trigger`.
    byte_trigger: Option<usize>,
    /// Accounted bytes (boxes plus external) above which the next allocation starts a young
    /// collection: the accounted bytes after the last collection plus the trigger, or
    /// `usize::MAX` without one (the comparison in `alloc_object` is then never true).
    byte_limit: Cell<usize>,
    /// `HeapConfig::safe_points`: automatic collections become due instead of running.
    safe_points: bool,
    /// The due collection in safe-point mode: the oldest generation found due, and whether
    /// the byte trigger asked for it.
    due: Cell<Option<(usize, bool)>>,
    /// The `Heap` handle is gone.
    orphaned: Cell<bool>,
    /// Queued for, or running, its final collection (see the module docs): the state must
    /// not be freed under it.
    closing: Cell<bool>,
    self_ptr: Cell<*const HeapState>,
}

static HOOKS: OwnerHooks = OwnerHooks {
    release: release_hook,
    alloc_weakref: alloc_weakref_hook,
};

/// # Safety
/// The `OwnerHooks::release` contract: `owner` is `obj`'s owner tag, `obj` has count zero.
unsafe fn release_hook(owner: NonNull<Owner>, obj: ObjRef) {
    let ptr = owner.cast::<HeapState>();
    // Frees the state if this death was its last reason to live, when a `Drop` panic
    // unwinds out of the teardown.
    let on_unwind = DestroyIfDone(ptr);
    // SAFETY: owner tags are `self_ptr` (type invariant), and the state outlives its objects.
    let state = unsafe { ptr.as_ref() };
    state.release(obj);
    std::mem::forget(on_unwind);
    // A heap with its `Heap` handle is never freed or shut down here: one flag to test.
    if state.orphaned.get() {
        // SAFETY: `state` is not used after this point.
        unsafe { orphan_after_release(ptr) }
    }
}

/// The rest of a death on an orphaned heap: its queued final collection, or freeing it.
///
/// # Safety
/// `ptr` is a live state; the caller uses no reference into it afterwards.
#[cold]
#[inline(never)]
unsafe fn orphan_after_release(ptr: NonNull<HeapState>) {
    // SAFETY: live (caller's contract).
    let state = unsafe { ptr.as_ref() };
    if state.closing.get() && !state.trashcan.releasing() && !gc::collecting() {
        // The `Heap` was dropped during this teardown (by one of its own objects' finalizers
        // or `Drop`s): its final collection was queued and can run now. It frees the state
        // when done; `state` is not used after this point.
        run_pending_shutdowns();
        return;
    }
    // SAFETY: `state` is not used after this point.
    unsafe { HeapState::destroy_if_done(ptr) }
}

/// Runs [`HeapState::destroy_if_done`] when dropped (on unwind); declared before any
/// reference into the state it names, so it runs after the last use of one.
struct DestroyIfDone(NonNull<HeapState>);

impl Drop for DestroyIfDone {
    fn drop(&mut self) {
        // SAFETY: the state was live when the guard was made and is freed only here or by
        // another `destroy_if_done`, which would have found it busy (a teardown is running
        // under this guard); no reference into it outlives the guard.
        unsafe { HeapState::destroy_if_done(self.0) }
    }
}

/// # Safety
/// The `OwnerHooks::alloc_weakref` contract: `owner` is the tag of a live object's heap.
unsafe fn alloc_weakref_hook(owner: NonNull<Owner>, value: WeakRefObj) -> Gc<WeakRefObj> {
    // SAFETY: as in `release_hook`; a live object keeps the state alive for the call.
    let state = unsafe { owner.cast::<HeapState>().as_ref() };
    // SAFETY: `WEAKREF_VTABLE` describes `WeakRefObj`.
    unsafe { state.alloc_object(WEAKREF_VTABLE, value) }
        .unwrap_or_else(|_| std::alloc::handle_alloc_error(WEAKREF_VTABLE.layout))
}

thread_local! {
    /// Heaps dropped during a collection, waiting for their final collection.
    static PENDING_SHUTDOWNS: RefCell<Vec<NonNull<HeapState>>> = const { RefCell::new(Vec::new()) };
}

impl HeapState {
    pub(super) fn new_boxed(config: &HeapConfig) -> NonNull<HeapState> {
        let state = Box::new(HeapState {
            owner: Owner::new(&HOOKS),
            memory: ObjectMemory::new(config.geometry == super::AllocatorGeometry::CPython311),
            gc: GcState::new(config.thresholds, config.enabled),
            trashcan: Trashcan::default(),
            unraisables: Unraisables::default(),
            live: Cell::new(0),
            box_bytes: Cell::new(0),
            byte_trigger: config.byte_trigger,
            byte_limit: Cell::new(config.byte_trigger.unwrap_or(usize::MAX)),
            safe_points: config.safe_points,
            due: Cell::new(None),
            orphaned: Cell::new(false),
            closing: Cell::new(false),
            self_ptr: Cell::new(std::ptr::null()),
        });
        // SAFETY: `Box::into_raw` never returns null.
        let ptr = unsafe { NonNull::new_unchecked(Box::into_raw(state)) };
        // SAFETY: just made; stays at this address until `destroy_if_done` frees it.
        let state = unsafe { ptr.as_ref() };
        state.self_ptr.set(ptr.as_ptr());
        state.memory.set_owner(ptr.as_ptr().cast::<Owner>());
        state.gc.init_lists();
        ptr
    }

    /// The state an owner tag names (tags are `self_ptr`, with `owner` first: type
    /// invariant). Only a pointer: dereferencing it needs a live object of the heap.
    pub(super) fn of_owner(owner: NonNull<Owner>) -> NonNull<HeapState> {
        owner.cast()
    }

    /// Free the state if the handle is gone, no object is left and nothing runs on it.
    ///
    /// # Safety
    /// `ptr` is a live state, and the caller uses no reference into it after this call.
    pub(super) unsafe fn destroy_if_done(ptr: NonNull<HeapState>) {
        // SAFETY: live (caller's contract).
        if unsafe { ptr.as_ref() }.may_destroy() {
            // SAFETY: made by `Box::into_raw` in `new_boxed`; nothing can reach the state any
            // more (no handle, no object, nothing running), and the caller is done with it.
            drop(unsafe { Box::from_raw(ptr.as_ptr()) });
        }
    }

    fn may_destroy(&self) -> bool {
        self.orphaned.get()
            && self.live.get() == 0
            && !self.trashcan.releasing()
            && !self.gc.running.get()
            && !self.closing.get()
    }

    pub(super) fn live(&self) -> usize {
        self.live.get()
    }

    pub(super) fn collector(&self) -> Collector<'_> {
        Collector::new(&self.gc, self)
    }

    // ---- allocation -----------------------------------------------------------------------

    /// `Heap::alloc`.
    pub(super) fn alloc_plain<T: Trace + 'static>(&self, value: T) -> Result<Gc<T>, T> {
        // SAFETY: the vtable of `T`.
        unsafe { self.alloc_object(VTableOf::<T, Plain>::VTABLE, value) }
    }

    /// A weak-reference object naming nothing yet (`Heap::alloc_cyclic`).
    pub(super) fn alloc_weakref(&self, value: WeakRefObj) -> Gc<WeakRefObj> {
        // SAFETY: `WEAKREF_VTABLE` describes `WeakRefObj`.
        unsafe { self.alloc_object(WEAKREF_VTABLE, value) }
            .unwrap_or_else(|_| std::alloc::handle_alloc_error(WEAKREF_VTABLE.layout))
    }

    /// `Heap::alloc_unfinalized`.
    pub(super) fn alloc_unfinalized<T: Trace + 'static>(&self, value: T) -> Result<Gc<T>, T> {
        // SAFETY: the vtable of `T`.
        unsafe { self.alloc_object(VTableOf::<T, Unfinalized>::VTABLE, value) }
    }

    /// `Heap::alloc_with_finalizer`.
    pub(super) fn alloc_finalized<T: Trace + Finalize + 'static>(
        &self,
        value: T,
    ) -> Result<Gc<T>, T> {
        // SAFETY: the vtable of `T`.
        unsafe { self.alloc_object(VTableOf::<T, WithFinalizer>::VTABLE, value) }
    }

    /// `Heap::alloc_with_legacy_finalizer`.
    pub(super) fn alloc_legacy<T: Trace + LegacyFinalize + 'static>(
        &self,
        value: T,
    ) -> Result<Gc<T>, T> {
        // SAFETY: the vtable of `T`.
        unsafe { self.alloc_object(VTableOf::<T, WithLegacyFinalizer>::VTABLE, value) }
    }

    /// Allocate and track an object (CPython's `_PyObject_GC_Alloc` + `PyObject_GC_Track`):
    /// a GC-capable allocation counts toward generation 0 and may run a collection first.
    /// The state outlives the call whatever that collection does: the caller holds either the
    /// `Heap` (never orphaned while borrowed) or a live object of it (`live > 0`).
    ///
    /// # Safety
    /// `vtable` describes `T` (its layout is `GcBox<T>`'s, its shims take a `T`).
    #[inline]
    unsafe fn alloc_object<T>(&self, vtable: &'static VTable, value: T) -> Result<Gc<T>, T> {
        self.collect_if_allocation_due(vtable.gc_capable, vtable.layout.size());
        let block = self.memory.alloc_box(vtable.layout);
        if self.memory.events_waiting() {
            self.emit_memory_events();
        }
        let Some((memory, shift)) = block else {
            self.allocation_failed(vtable.gc_capable);
            return Err(value);
        };
        // SAFETY: `alloc_box` returned memory for `vtable.layout` in an owner-tagged block,
        // and `vtable` describes `T` (caller's contract).
        let obj = unsafe { init_box(memory, shift, vtable, value) };
        self.register(obj, vtable, vtable.layout.size());
        // SAFETY: a fresh box of `T` with count 1, handed to the handle.
        Ok(unsafe { Gc::from_obj(obj) })
    }

    /// `Heap::alloc_slice_from_iter`: a `[T]` object holding `items` (moved in).
    pub(super) fn alloc_slice<T: Trace + 'static>(&self, items: Vec<T>) -> Result<Gc<[T]>, Vec<T>> {
        let vtable = SliceVTable::<T>::VTABLE;
        let Some(layout) = BoxLayout::var(std::alloc::Layout::new::<T>(), items.len()) else {
            var_too_large(std::any::type_name::<[T]>(), items.len())
        };
        let Some((block, shift)) = self.alloc_var_block(vtable, layout) else {
            return Err(items);
        };
        // SAFETY: `alloc_var_block` returned a block of `layout`, the variable-size layout of
        // `items.len()` `T`s, in an owner-tagged block; the vtable is `[T]`'s.
        let obj = unsafe { init_slice(block, layout, shift, vtable, items) };
        self.register(obj, vtable, layout.layout.size());
        // SAFETY: a fresh `[T]` box with count 1, handed to the handle.
        Ok(unsafe { Gc::from_slice_obj(obj) })
    }

    /// `Heap::alloc_str`.
    pub(super) fn alloc_str(&self, s: &str) -> Option<Gc<str>> {
        let Some(layout) = BoxLayout::var(std::alloc::Layout::new::<u8>(), s.len()) else {
            var_too_large("str", s.len())
        };
        let (block, shift) = self.alloc_var_block(STR_VTABLE, layout)?;
        // SAFETY: as in `alloc_slice`, for the bytes of `s`.
        let obj = unsafe { init_str(block, layout, shift, STR_VTABLE, s) };
        self.register(obj, STR_VTABLE, layout.layout.size());
        // SAFETY: a fresh `str` box with count 1, handed to the handle.
        Some(unsafe { Gc::from_str_obj(obj) })
    }

    /// A block for a variable-size box, after a due collection.
    fn alloc_var_block(
        &self,
        vtable: &'static VTable,
        layout: BoxLayout,
    ) -> Option<(NonNull<u8>, u32)> {
        self.collect_if_allocation_due(vtable.gc_capable, layout.layout.size());
        let block = self.memory.alloc_var_box(layout);
        if self.memory.events_waiting() {
            self.emit_memory_events();
        }
        if block.is_none() {
            self.allocation_failed(vtable.gc_capable);
        }
        block
    }

    /// Before taking a block of `size` bytes: run a collection if one is due by CPython's
    /// count rule (GC-capable objects only) or by pygc's byte trigger beside it.
    #[inline(always)]
    fn collect_if_allocation_due(&self, gc_capable: bool, size: usize) {
        // One test on the fast path (`|`, not `||`: both are cheap, and one branch predicts
        // better than two). Without a byte trigger the limit stays `usize::MAX` and the sum
        // is never formed.
        let count_due = gc_capable && self.gc.count_allocation();
        let limit = self.byte_limit.get();
        let bytes_due = limit != usize::MAX
            && self
                .box_bytes
                .get()
                .saturating_add(size)
                .saturating_add(self.owner.external_bytes())
                > limit;
        if (count_due | bytes_due) && !self.orphaned.get() {
            self.collect_automatic(count_due);
        }
    }

    /// Out of memory: take back the count this allocation added, so a failed `try_alloc`
    /// leaves `count()` as it was (CPython counts only after malloc).
    #[cold]
    fn allocation_failed(&self, gc_capable: bool) {
        if gc_capable {
            self.gc.count_free();
        }
    }

    /// Count a new box of `size` bytes and track it if it may hold handles.
    #[inline(always)]
    fn register(&self, obj: ObjRef, vtable: &'static VTable, size: usize) {
        self.live.set(self.live.get() + 1);
        self.box_bytes.set(self.box_bytes.get() + size);
        if vtable.gc_capable {
            self.gc.track(obj);
        }
    }

    /// Free the memory of an object whose value is gone, and do the bookkeeping.
    #[inline]
    pub(super) fn free_object(&self, obj: ObjRef) {
        let vtable = obj.vtable();
        if vtable.layout.size() == 0 {
            return self.free_var_object(obj); // variable-size (the `VTable::layout` mark)
        }
        self.unregister(vtable, vtable.layout.size());
        // SAFETY: the box was made by `alloc_box` with its vtable's layout (a fixed-size
        // object); its value is dropped and its count is zero, so nothing refers to it any
        // more.
        unsafe {
            self.memory
                .free_box(obj.as_non_null().cast(), vtable.layout)
        }
        if self.memory.events_waiting() {
            self.emit_memory_events();
        }
    }

    /// `free_object` of a variable-size object.
    #[cold]
    fn free_var_object(&self, obj: ObjRef) {
        let layout = obj.box_layout();
        self.unregister(obj.vtable(), layout.layout.size());
        // SAFETY: the box was made by `alloc_var_box` with this layout (`box_layout`
        // recomputes it) and its header sits `header_offset` into it: stepping back stays
        // inside the block, whose provenance the object pointer carries. Its value is
        // dropped and its count is zero, so nothing refers to it any more.
        unsafe {
            let start = obj.as_non_null().cast::<u8>().sub(layout.header_offset);
            self.memory.free_var_box(start, layout)
        }
        if self.memory.events_waiting() {
            self.emit_memory_events();
        }
    }

    #[inline(always)]
    fn unregister(&self, vtable: &'static VTable, size: usize) {
        if vtable.gc_capable {
            self.gc.count_free();
        }
        self.live.set(self.live.get() - 1);
        self.box_bytes.set(self.box_bytes.get() - size);
    }

    /// Arena events, emitted once the pools are not borrowed, under the user-code guard (a
    /// subscriber may allocate in this heap, or panic).
    #[cold]
    fn emit_memory_events(&self) {
        if let Some(events) = self.memory.take_events() {
            self.unraisables.emit(|| events.emit());
        }
    }

    // ---- collections ----------------------------------------------------------------------

    /// `gc.collect(g)`.
    pub(super) fn collect_explicit(&self, generation: usize) -> usize {
        let ran = !gc::collecting();
        let found = self.collector().collect_explicit(generation);
        if ran {
            self.reset_byte_limit();
            // It covered a due collection of this generation or a younger one.
            if self.due.get().is_some_and(|(due, _)| due <= generation) {
                self.due.set(None);
            }
        }
        run_pending_shutdowns();
        found
    }

    /// An allocation found a collection due: by CPython's count rule (`by_count`) or by the
    /// byte trigger. The generation is chosen by CPython's rule either way.
    #[cold]
    #[inline(never)]
    fn collect_automatic(&self, by_count: bool) {
        if self.safe_points {
            // Safe-point mode: the collection becomes due; `collect_if_due` runs it.
            if by_count || self.gc.enabled.get() {
                if let Some(generation) = self.gc.automatic_generation(!by_count) {
                    let (old, bytes) = self.due.get().unwrap_or((0, false));
                    self.due
                        .set(Some((old.max(generation), bytes || !by_count)));
                }
            } else {
                self.reset_byte_limit();
            }
            return;
        }
        if by_count || self.gc.enabled.get() {
            let trigger = if by_count {
                CollectionTrigger::Automatic
            } else {
                CollectionTrigger::Bytes
            };
            let ran = self.collector().collect_automatic(!by_count, trigger);
            if ran.is_some() {
                self.reset_byte_limit();
            }
        } else {
            // Byte trigger while collection is disabled: start counting again from here,
            // rather than taking this path on every allocation.
            self.reset_byte_limit();
        }
        run_pending_shutdowns();
    }

    /// `Heap::is_collection_due`.
    pub(super) fn is_collection_due(&self) -> bool {
        self.due.get().is_some()
    }

    /// `Heap::collect_if_due`: run the due collection now, of the generation CPython's rule
    /// picks at this point (counts may have grown since it became due).
    pub(super) fn collect_if_due(&self) -> Option<usize> {
        let (_, bytes) = self.due.get()?;
        if gc::collecting() {
            return None; // not from inside a collection; stays due
        }
        self.due.set(None);
        if !self.gc.enabled.get() {
            return None;
        }
        let found = self
            .collector()
            .collect_automatic(bytes, CollectionTrigger::SafePoint);
        if found.is_some() {
            self.reset_byte_limit();
        }
        run_pending_shutdowns();
        found
    }

    /// Boxes plus reported external memory (`Heap::accounted_bytes`).
    pub(super) fn accounted_bytes(&self) -> usize {
        self.box_bytes
            .get()
            .saturating_add(self.owner.external_bytes())
    }

    /// The byte trigger counts from the accounted bytes after a collection.
    fn reset_byte_limit(&self) {
        if let Some(trigger) = self.byte_trigger {
            self.byte_limit
                .set(self.accounted_bytes().saturating_add(trigger));
        }
    }

    /// The `Heap` handle is going away: no more automatic collections; the final
    /// collection runs now, or (inside another collection on this thread) when that ends.
    ///
    /// # Safety
    /// `ptr` is a live state whose `Heap` handle is being dropped; the caller uses no
    /// reference into the state after this call.
    pub(super) unsafe fn orphan(ptr: NonNull<HeapState>) {
        // SAFETY: live (caller's contract).
        let state = unsafe { ptr.as_ref() };
        state.orphaned.set(true);
        state.gc.enabled.set(false);
        state.closing.set(true);
        // Not now if a collection runs on this thread (they do not nest), or a teardown of
        // this heap (its final collection would see the dying object as referenced): queued
        // until that ends (`run_pending_shutdowns`, called by both).
        if gc::collecting() || state.trashcan.releasing() {
            let queued = PENDING_SHUTDOWNS.try_with(|p| p.borrow_mut().push(ptr));
            if queued.is_err() {
                // The thread is exiting and its queue is gone: no final collection can run
                // any more; the state goes with its last object.
                state.closing.set(false);
                // SAFETY: forwarded; `state` is not used after this point.
                unsafe { HeapState::destroy_if_done(ptr) };
            }
            return;
        }
        // SAFETY: forwarded.
        unsafe { HeapState::shutdown(ptr) };
        run_pending_shutdowns();
    }

    /// CPython's shutdown: drop `gc.garbage` and the callbacks, unfreeze, run a final full
    /// collection without callbacks, then let go of the unraisable hook (it may hold
    /// handles). Objects still referenced from outside stay valid.
    ///
    /// # Safety
    /// As [`HeapState::orphan`]; no collection runs on this thread.
    unsafe fn shutdown(ptr: NonNull<HeapState>) {
        // SAFETY: live (caller's contract).
        let state = unsafe { ptr.as_ref() };
        debug_assert!(state.closing.get());
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| state.final_collection()));
        let hook = state.unraisables.take_hook();
        state
            .unraisables
            .guard(|| "dropping the unraisable hook".to_string(), || drop(hook));
        state.closing.set(false);
        // SAFETY: `state` is not used after this point.
        unsafe { HeapState::destroy_if_done(ptr) };
        if let Err(payload) = outcome {
            // A `Trace` panicked in the final collection (the lists were repaired). Unwinding
            // out of a `Drop` that runs during another unwind would abort: drop it then.
            if std::thread::panicking() {
                drop(payload);
            } else {
                panic::resume_unwind(payload);
            }
        }
    }

    fn final_collection(&self) {
        self.drain_trashcan();
        let garbage = std::mem::take(&mut *self.gc.garbage.borrow_mut());
        let callbacks = self.gc.take_callbacks();
        self.unraisables.drop_each("dropping gc.garbage", garbage);
        self.unraisables
            .drop_each("dropping a gc callback", callbacks);
        self.gc.debug.set(DebugFlags::empty());
        self.gc.unfreeze();
        self.collector().collect_shutdown();
        let left = std::mem::take(&mut *self.gc.garbage.borrow_mut());
        if !left.is_empty() {
            // CPython's ResourceWarning at shutdown; these cycles stay alive (leaked).
            let n = left.len();
            self.unraisables.emit(|| {
                tracing::warn!(
                    target: "pygc::gc",
                    "gc: {n} uncollectable objects at shutdown; use gc.set_debug(gc.DEBUG_UNCOLLECTABLE) to list them"
                );
            });
        }
        self.unraisables.drop_each("dropping gc.garbage", left);
    }
}

/// Run the final collections of heaps dropped during a collection, once none runs.
fn run_pending_shutdowns() {
    while !gc::collecting() {
        // At thread exit the queue may already be gone (`try_with`): then nothing is queued.
        let Ok(Some(ptr)) = PENDING_SHUTDOWNS.try_with(|p| p.borrow_mut().pop()) else {
            return;
        };
        // SAFETY: a queued state is kept alive by `closing` until this call, its
        // handle is gone, and no collection runs on this thread.
        unsafe { HeapState::shutdown(ptr) };
    }
}

impl Host for HeapState {
    fn weak_table(&self) -> &WeakTable {
        self.owner.weak_table()
    }

    fn unraisables(&self) -> &Unraisables {
        &self.unraisables
    }

    fn drain_trashcan(&self) {
        HeapState::drain_trashcan(self);
    }
}

impl HeapState {
    /// The permanent generation's length (`gc.get_freeze_count()`).
    pub(super) fn freeze_count(&self) -> usize {
        self.gc.list(lists::PERMANENT).len()
    }
}

#[cold]
#[inline(never)]
fn var_too_large(type_name: &str, len: usize) -> ! {
    panic!("pygc: a `{type_name}` of {len} items does not fit in memory (its size overflows isize)")
}
