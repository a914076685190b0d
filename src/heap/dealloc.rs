//! Refcount death (CPython's `subtype_dealloc`) and the trashcan that keeps the teardown of
//! deep structures off the call stack (`Py_TRASHCAN_BEGIN` / `END`).
//!
//! When a count reaches zero, the object's owner tag leads to the heap's `release` hook
//! (`object/owner.rs`). If a teardown is already running, the object is untracked and queued;
//! otherwise it is torn down now and the queue is drained. So dropping the head of a
//! 10-million-long chain runs in constant stack.
//!
//! The dealloc sequence, in CPython 3.11's order: untrack; the PEP 442 finalizer, at most once
//! (may resurrect); clear the weak references, then run the callbacks of those still alive,
//! newest first; the legacy finalizer (may resurrect); weak references made meanwhile are
//! cleared silently; drop the value; free the box.
//!
//! User code here: finalizers and weak callbacks (and their captures) run under the
//! unraisable guard. The value's own `Drop` is not swallowed: its box is freed (a guard), the
//! rest of the teardown still runs (so no death is ever left queued: an orphaned heap would
//! never get to it), and then its panic goes on to whoever dropped the last handle. A second
//! `Drop` panicking in the same teardown is reported as unraisable.
#![allow(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};

use super::state::HeapState;
use crate::gc::list::GcList;
use crate::object::handle;
use crate::object::header::{ObjRef, flag};
use crate::object::weak::take_for_death;

/// The deaths waiting to be torn down, and whether a teardown loop is running.
///
/// # Invariants
/// Every queued object has count zero, TRASHED set, and is untracked; a queued
/// weak-reference object is already detached from its referent's list.
#[derive(Debug, Default)]
pub(crate) struct Trashcan {
    queue: RefCell<Vec<ObjRef>>,
    releasing: Cell<bool>,
}

impl Trashcan {
    /// Whether a teardown loop is running on this heap.
    pub(crate) fn releasing(&self) -> bool {
        self.releasing.get()
    }

    /// Deaths waiting.
    pub(crate) fn len(&self) -> usize {
        self.queue.borrow().len()
    }

    fn pop(&self) -> Option<ObjRef> {
        self.queue.borrow_mut().pop()
    }
}

/// Resets `releasing` even if a `Drop` panics mid-teardown.
struct Releasing<'a>(&'a Trashcan);

impl<'a> Releasing<'a> {
    fn enter(trashcan: &'a Trashcan) -> Releasing<'a> {
        trashcan.releasing.set(true);
        Releasing(trashcan)
    }
}

impl Drop for Releasing<'_> {
    fn drop(&mut self) {
        self.0.releasing.set(false);
    }
}

/// A value's `Drop` panicked in a teardown: finish the teardown before the panic goes on to
/// whoever dropped the last handle, so no death is left queued (an orphaned heap would never
/// get to it). A second panic here is caught (a panic escaping a `Drop` during an unwind
/// would abort) and reported as unraisable. Not on the normal path: it is forgotten there.
struct FinishOnUnwind<'a>(&'a HeapState);

impl Drop for FinishOnUnwind<'_> {
    #[cold]
    fn drop(&mut self) {
        let heap = self.0;
        while let Some(obj) = heap.trashcan.pop() {
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| heap.dealloc(obj))) {
                heap.unraisables.report(
                    "deallocation (a second Drop panicked in one teardown)".to_string(),
                    payload,
                );
            }
        }
    }
}

/// Frees a box whose value's `Drop` panicked (the value is then partly dropped: Rust drops
/// the remaining fields while unwinding), so no bookkeeping is lost.
struct FreeOnUnwind<'a> {
    heap: &'a HeapState,
    obj: ObjRef,
}

impl Drop for FreeOnUnwind<'_> {
    fn drop(&mut self) {
        self.heap.free_object(self.obj);
    }
}

impl HeapState {
    /// Refcount death: queue `obj` if a teardown is running, else tear it down and drain.
    pub(super) fn release(&self, obj: ObjRef) {
        obj.header().set(flag::TRASHED);
        if self.trashcan.releasing() {
            // Inside another teardown: queue it, so deep structures never recurse. Untrack it
            // now so no collection ever sees an object whose count is zero.
            if obj.header().is_tracked() {
                GcList::unlink(obj);
            }
            // A queued weak-reference object leaves its referent's weak list now (CPython's
            // `weakref_dealloc` clears first), so nothing can revive it through that list.
            if obj.vtable().is_weakref {
                self.owner.weak_table().detach(obj);
            }
            self.trashcan.queue.borrow_mut().push(obj);
            return;
        }
        let releasing = Releasing::enter(&self.trashcan);
        let finish = FinishOnUnwind(self);
        self.dealloc(obj);
        self.drain_queue();
        std::mem::forget(finish);
        drop(releasing);
    }

    fn drain_queue(&self) {
        while let Some(obj) = self.trashcan.pop() {
            self.dealloc(obj);
        }
    }

    /// Process deaths left queued (by a panic that unwound out of a teardown).
    pub(crate) fn drain_trashcan(&self) {
        if self.trashcan.releasing() || self.trashcan.len() == 0 {
            return;
        }
        let releasing = Releasing::enter(&self.trashcan);
        let finish = FinishOnUnwind(self);
        self.drain_queue();
        std::mem::forget(finish);
        drop(releasing);
    }

    fn call_user(&self, what: &'static str, obj: ObjRef, f: impl FnOnce()) {
        self.unraisables
            .guard(|| format!("{what} of <{} {:p}>", obj.type_name(), obj), f);
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
        if h.has(flag::DEAD) {
            // A zombie (its value was dropped by the collector while a handle lived on):
            // nothing may still name it.
            if h.has(flag::HAS_WEAKREFS) {
                self.clear_weakrefs_silently(obj);
            }
            self.free_object(obj);
            return;
        }
        // 2. PEP 442 finalizer, at most once; it may resurrect the object. The object is
        //    tracked while the finalizer runs if its type is tracked at all.
        if let Some(finalize) = vtable.finalize {
            if !h.has(flag::FINALIZED) {
                if vtable.gc_capable {
                    self.gc.track(obj);
                }
                h.set_rc(1);
                h.set(flag::FINALIZED);
                self.call_user("finalizer", obj, || {
                    // SAFETY: the count set above is this function's, held across the call,
                    // and the value is initialised (not DEAD).
                    unsafe { handle::call_finalizer(obj, finalize) }
                });
                if h.dec_rc() > 0 {
                    return; // resurrected: never finalized again
                }
                if h.is_tracked() {
                    GcList::unlink(obj);
                }
            }
        }
        // 3. Clear weak references, then run the callbacks of those still alive.
        if h.has(flag::HAS_WEAKREFS) {
            self.clear_weakrefs_on_death(obj);
        }
        // 4. Legacy finalizer (tp_del); may resurrect too.
        if let Some(legacy) = vtable.legacy_finalize {
            h.set_rc(1);
            self.call_user("legacy finalizer", obj, || {
                // SAFETY: as for the finalizer above.
                unsafe { handle::call_finalizer(obj, legacy) }
            });
            if h.dec_rc() > 0 {
                if vtable.gc_capable {
                    self.gc.track(obj);
                }
                return;
            }
        }
        // 5. Weak references created during the finalizers are cleared silently.
        if h.has(flag::HAS_WEAKREFS) {
            self.clear_weakrefs_silently(obj);
        }
        if vtable.is_weakref {
            self.owner.weak_table().detach(obj);
        }
        // 6. Drop the value. If its `Drop` panics, the box is still freed (the guard) and
        //    the panic propagates to whoever dropped the last handle; deaths it queued
        //    wait in the trashcan until the next teardown or collection.
        let guard = FreeOnUnwind { heap: self, obj };
        // SAFETY: count zero and not DEAD: the value is initialised, nothing borrows it.
        unsafe { handle::drop_value(obj) };
        std::mem::forget(guard);
        self.free_object(obj);
    }

    /// Refcount death (CPython's `PyObject_ClearWeakRefs`): clear all, then call the
    /// callbacks of the weak references still alive, newest first. Every survivor is held
    /// before any user code runs, so a callback (or a capture's `Drop`) cannot free one that
    /// is still to be visited.
    fn clear_weakrefs_on_death(&self, referent: ObjRef) {
        let (alive, dying) = take_for_death(self.owner.weak_table(), referent);
        self.unraisables
            .drop_each("dropping a weak-reference callback", dying);
        for (weakref, callback) in alive {
            let obj = weakref.obj;
            match callback {
                // The hold is the callback's argument (CPython passes the reference along).
                Some(callback) => {
                    self.call_user("weakref callback", obj, || callback.call(weakref))
                }
                None => self.call_user("deallocation", obj, || drop(weakref)),
            }
        }
    }

    /// Clear without running callbacks (they are dropped: user code, under the guard).
    fn clear_weakrefs_silently(&self, referent: ObjRef) {
        let (alive, dying) = take_for_death(self.owner.weak_table(), referent);
        self.unraisables
            .drop_each("dropping a weak-reference callback", alive);
        self.unraisables
            .drop_each("dropping a weak-reference callback", dying);
    }
}
