//! `collect_main`: one collection of generation `g`, in CPython 3.11's order.
//!
//! ```text
//!  young = gen g + gens 0..g ──update_refs──subtract_refs──move_unreachable──┐
//!        survivors ──────────────────────────────────────────────▶ old (gen g+1)
//!  unreachable ──move_legacy_finalizers──▶ finalizers (uncollectable, → garbage, → old)
//!  unreachable ──handle_weakrefs──finalize_garbage──handle_resurrected──┐
//!        resurrected (+ what they reach) ─────────────────────────────▶ old
//!  still_unreachable ──delete_garbage──▶ freed (or garbage list under SAVEALL)
//! ```
//!
//! No step recurses: walks follow the intrusive lists, and `move_unreachable` re-queues
//! objects at the tail of young instead of descending into them. The only user code that
//! runs before `handle_weakrefs` is `Trace` (which by contract touches nothing). From then on
//! user code (callbacks, finalizers, `Drop`) can free or resurrect objects, so each step
//! either takes the *head* of a work list and moves it before calling out, or holds a count
//! across the call (CPython's discipline), and every panic is caught and reported.
#![allow(unsafe_code)]

use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use super::list::GcList;
use super::{CallbackPhase, CollectingGuard, CollectionInfo, DebugFlags};
use crate::Visitor;
use crate::heap::{HeapInner, lists};
use crate::object::handle::{self, AnyGc};
use crate::object::header::{ObjRef, flag};
use crate::object::visit::VisitOp;

impl HeapInner {
    /// `gc.collect(g)`: explicit collection, with callbacks; 0 if one is already running.
    pub(crate) fn collect_explicit(&self, generation: usize) -> usize {
        if super::collecting() {
            return 0;
        }
        self.drain_trashcan();
        let _guard = CollectingGuard::enter();
        self.collect_with_callbacks(generation)
    }

    /// The automatic trigger (`gc_collect_generations`): the oldest generation whose count
    /// exceeds its threshold, except that a full collection also needs the objects waiting
    /// for one (`long_lived_pending`) to be at least 25% of those that survived the last.
    pub(crate) fn collect_automatic(&self) {
        let _guard = CollectingGuard::enter();
        let counts = self.counts.get();
        let thresholds = self.thresholds.get();
        for g in (0..3).rev() {
            if counts[g] > thresholds[g] {
                if g == 2 && self.long_lived_pending.get() < self.long_lived_total.get() / 4 {
                    continue;
                }
                self.collect_with_callbacks(g);
                break;
            }
        }
    }

    /// The final collection when the `Heap` is dropped: no callbacks, like CPython's shutdown.
    pub(crate) fn collect_shutdown(&self) {
        let _guard = CollectingGuard::enter();
        self.collect_main(2);
    }

    fn collect_with_callbacks(&self, generation: usize) -> usize {
        let start = CollectionInfo {
            generation,
            collected: 0,
            uncollectable: 0,
        };
        self.invoke_callbacks(CallbackPhase::Start, &start);
        let (collected, uncollectable) = self.collect_main(generation);
        let stop = CollectionInfo {
            generation,
            collected,
            uncollectable,
        };
        self.invoke_callbacks(CallbackPhase::Stop, &stop);
        collected + uncollectable
    }

    fn invoke_callbacks(&self, phase: CallbackPhase, info: &CollectionInfo) {
        let callbacks: Vec<_> = self
            .callbacks
            .borrow()
            .iter()
            .map(|(_, cb)| cb.clone())
            .collect();
        for callback in callbacks {
            let Ok(mut callback) = callback.try_borrow_mut() else {
                continue;
            };
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| callback(phase, info))) {
                self.report_unraisable("gc callback".to_string(), payload);
            }
        }
    }

    /// One collection of `generation`. Returns (collected, uncollectable).
    pub(crate) fn collect_main(&self, generation: usize) -> (usize, usize) {
        let _span = tracing::debug_span!(target: "pygc::gc", "collect", generation).entered();
        let debug = self.debug.get();
        let started = Instant::now();
        if debug.contains(DebugFlags::STATS) {
            tracing::info!(target: "pygc::gc", "gc: collecting generation {generation}...");
            tracing::info!(
                target: "pygc::gc",
                "gc: objects in each generation: {} {} {}",
                self.generation(0).len(),
                self.generation(1).len(),
                self.generation(2).len()
            );
            tracing::info!(
                target: "pygc::gc",
                "gc: objects in permanent generation: {}",
                self.list(lists::PERMANENT).len()
            );
        }

        // 1. Counters: this collection counts toward the next generation; younger reset.
        let mut counts = self.counts.get();
        if generation < 2 {
            counts[generation + 1] += 1;
        }
        for c in &mut counts[..=generation] {
            *c = 0;
        }
        self.counts.set(counts);

        // 2. Merge the younger generations onto the end of `generation`.
        let young = self.generation(generation);
        for g in 0..generation {
            young.merge_from(self.generation(g));
        }
        let old = if generation < 2 {
            self.generation(generation + 1)
        } else {
            young
        };

        // 3–5. Find what is unreachable from outside the set.
        let unreachable = self.list(lists::UNREACHABLE);
        let survivors = deduce_unreachable(young, unreachable);
        // O(n) list validation: tests and fuzzing (the `checked` feature), never in release.
        #[cfg(all(debug_assertions, any(test, feature = "checked")))]
        {
            young.validate(Some(false));
            unreachable.validate(Some(true));
        }

        // 7. Survivors move up a generation (or, for a full collection, set the baseline of
        //    the 25% rule). Both counts are taken before any finalizer runs, as in CPython.
        if generation < 2 {
            if generation == 1 {
                self.long_lived_pending
                    .set(self.long_lived_pending.get() + survivors);
            }
            old.merge_from(young);
        } else {
            self.long_lived_pending.set(0);
            self.long_lived_total.set(survivors);
        }

        // 8. Legacy finalizers and everything they reach are uncollectable.
        let finalizers = self.list(lists::FINALIZERS);
        let has_finalizers = move_legacy_finalizers(unreachable, finalizers);
        move_legacy_finalizer_reachable(finalizers);

        // 9.
        if debug.contains(DebugFlags::COLLECTABLE) {
            for obj in unreachable.iter() {
                tracing::info!(target: "pygc::gc", "gc: collectable <{} {:p}>", (obj.vtable().type_name)(), obj.0);
            }
        }

        // 10. Clear weak references into the garbage; run callbacks of those outside it.
        let weakrefs_freed = self.handle_weakrefs(unreachable, old);

        // 11. PEP 442 finalizers, once per object.
        // 12. Whatever a finalizer made reachable again survives, with all it reaches.
        //     Only a finalizer can resurrect (weak-reference callbacks cannot reach the
        //     garbage: every weak reference into it was cleared first), so garbage without
        //     pending finalizers skips both steps (7 walks over the garbage).
        let still_unreachable = self.list(lists::STILL_UNREACHABLE);
        if has_finalizers {
            self.finalize_garbage(unreachable);
            handle_resurrected_objects(unreachable, still_unreachable, old);
        } else {
            still_unreachable.merge_from(unreachable);
        }

        // 13–14. Count and break the garbage.
        let collected = weakrefs_freed + self.delete_garbage(still_unreachable, old, debug);

        // 15. Uncollectable accounting.
        let uncollectable = finalizers.len();
        if debug.contains(DebugFlags::UNCOLLECTABLE) {
            for obj in finalizers.iter() {
                tracing::info!(target: "pygc::gc", "gc: uncollectable <{} {:p}>", (obj.vtable().type_name)(), obj.0);
            }
        }
        if debug.contains(DebugFlags::STATS) {
            tracing::info!(
                target: "pygc::gc",
                "gc: done, {} unreachable, {} uncollectable, {:.4}s elapsed",
                collected + uncollectable,
                uncollectable,
                started.elapsed().as_secs_f64()
            );
        }

        // 16. Legacy-finalizer objects (everything, under SAVEALL) go to `garbage`; all of the
        //     uncollectable set goes to the old generation, to be found again next time.
        {
            let saveall = debug.contains(DebugFlags::SAVEALL);
            let mut garbage = self.garbage.borrow_mut();
            for obj in finalizers.iter() {
                if saveall || obj.vtable().legacy_finalize.is_some() {
                    garbage.push(AnyGc::new_ref(obj));
                }
            }
        }
        old.merge_from(finalizers);

        // 19. Statistics.
        let mut stats = self.stats.get();
        stats[generation].collections += 1;
        stats[generation].collected += collected;
        stats[generation].uncollectable += uncollectable;
        self.stats.set(stats);
        (collected, uncollectable)
    }

    /// Step 10 (`handle_weakrefs`). Returns how many weak-reference objects their own
    /// callbacks' completion freed (they count as collected, as in CPython).
    fn handle_weakrefs(&self, unreachable: GcList, old: GcList) -> usize {
        // a) Clear every weak reference into the garbage, and every weak reference that *is*
        //    garbage; remember the live ones with callbacks. No user code runs in this loop.
        let mut to_call: Vec<AnyGc> = Vec::new();
        for obj in unreachable.iter() {
            if obj.vtable().is_weakref {
                // Garbage weak reference: cleared; its callback will never run (bpo-38006).
                self.detach_weakref(obj);
            }
            if obj.header().has(flag::HAS_WEAKREFS) {
                for weakref in self.take_weak_list(obj) {
                    let has_callback = weakref
                        .weakref()
                        .is_some_and(|w| w.callback.borrow().is_some());
                    // A weak reference that is itself garbage dies with its referent, and its
                    // callback could resurrect garbage: not called.
                    if has_callback && !weakref.header().is_collecting() {
                        to_call.push(AnyGc::new_ref(weakref));
                    }
                }
            }
        }
        // b–c) Only now run the callbacks, in order, holding each weak reference.
        let mut freed = 0;
        for weakref in to_call {
            let obj = weakref.obj;
            let callback = obj.weakref().and_then(|w| w.callback.borrow_mut().take());
            if let Some(callback) = callback {
                let arg = weakref.clone();
                self.call_user(|| "weakref callback", obj, || callback(arg));
            }
            if obj.header().rc() == 1 {
                freed += 1;
                self.drop_hold(weakref);
            } else {
                self.drop_hold(weakref);
                if obj.header().is_tracked() {
                    old.move_in(obj);
                }
            }
        }
        freed
    }

    /// Step 11 (`finalize_garbage`): take the head, move it to `seen`, finalize it if it has a
    /// finalizer that has not run. Finalizers may free any object of either list.
    fn finalize_garbage(&self, unreachable: GcList) {
        let seen = self.list(lists::SEEN);
        while let Some(obj) = unreachable.first() {
            seen.move_in(obj);
            let h = obj.header();
            if let Some(finalize) = obj.vtable().finalize {
                if !h.has(flag::FINALIZED) {
                    h.set(flag::FINALIZED);
                    let hold = AnyGc::new_ref(obj);
                    self.call_user(
                        || "finalizer",
                        obj,
                        || handle::call_finalizer(obj, finalize),
                    );
                    self.drop_hold(hold);
                }
            }
        }
        unreachable.merge_from(seen);
    }

    /// Step 14 (`delete_garbage`), pygc's analogue of `tp_clear`. Under SAVEALL the garbage
    /// goes to the garbage list instead. Otherwise:
    ///
    /// 1. hold every object (so none is freed while others still point at it), untrack it,
    ///    and clear the weak references to and from it;
    /// 2. mark every object DEAD, so a `Drop` reaching co-garbage sees a dead handle;
    /// 3. drop every value (panics are reported, not propagated);
    /// 4. release the holds: each object is freed as its count reaches zero.
    ///
    /// Returns the number of garbage objects (CPython's `gc_list_size(&final_unreachable)`),
    /// counted on the way instead of by a separate walk.
    fn delete_garbage(&self, still_unreachable: GcList, old: GcList, debug: DebugFlags) -> usize {
        if debug.contains(DebugFlags::SAVEALL) {
            let mut garbage = self.garbage.borrow_mut();
            let before = garbage.len();
            for obj in still_unreachable.iter() {
                obj.header().clear_collecting();
                garbage.push(AnyGc::new_ref(obj));
            }
            let saved = garbage.len() - before;
            drop(garbage);
            old.merge_from(still_unreachable);
            return saved;
        }
        let mut holds: Vec<AnyGc> = Vec::new();
        while let Some(obj) = still_unreachable.first() {
            holds.push(AnyGc::new_ref(obj));
            GcList::unlink(obj);
            if obj.vtable().is_weakref {
                self.detach_weakref(obj);
            }
            if obj.header().has(flag::HAS_WEAKREFS) {
                // Weak references made during finalizers: cleared without callbacks.
                for weakref in self.take_weak_list(obj) {
                    let callback = weakref
                        .weakref()
                        .and_then(|w| w.callback.borrow_mut().take());
                    drop(callback);
                }
            }
        }
        // Mark every object DEAD before any value drops (so co-garbage reached from a `Drop`
        // reads as dead), then drop the values.
        for hold in &holds {
            hold.obj.header().set(flag::DEAD | flag::CLEARING);
        }
        let count = holds.len();
        for hold in &holds {
            let obj = hold.obj;
            if obj.header().has(flag::CLEARING) {
                obj.header().clear(flag::CLEARING);
                let result = panic::catch_unwind(AssertUnwindSafe(|| {
                    // SAFETY: CLEARING was set in this collection right after the value was
                    // known initialised, and is cleared exactly once, here; the object is
                    // garbage, so no `&T` into it exists (co-garbage sees it DEAD).
                    unsafe { handle::drop_value(obj) }
                }));
                if let Err(payload) = result {
                    let context =
                        format!("tp_clear of <{} {:p}>", (obj.vtable().type_name)(), obj.0);
                    self.report_unraisable(context, payload);
                }
            }
        }
        for hold in holds {
            self.drop_hold(hold);
        }
        count
    }

    /// Release a count the collector held, reporting any panic from the teardown it causes.
    fn drop_hold(&self, hold: AnyGc) {
        let obj = hold.obj;
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || drop(hold))) {
            let context = format!(
                "deallocation of <{} {:p}>",
                (obj.vtable().type_name)(),
                obj.0
            );
            self.report_unraisable(context, payload);
        }
    }
}

/// Steps 3–5 on `base`: afterwards `base` holds what is reachable from outside it (COLLECTING
/// clear) and `unreachable` the rest (COLLECTING and UNREACHABLE set).
fn deduce_unreachable(base: GcList, unreachable: GcList) -> usize {
    update_refs(base);
    subtract_refs(base);
    move_unreachable(base, unreachable)
}

/// Step 3: `gc_refs = rc` for every object, COLLECTING set.
fn update_refs(base: GcList) {
    for obj in base.iter() {
        assert!(
            obj.header().rc() > 0,
            "pygc: a tracked object has refcount 0 in update_refs"
        );
        obj.header().start_collecting();
    }
}

/// Step 4: subtract every reference from inside the set. Afterwards `gc_refs > 0` means
/// "referenced from outside the set". Objects outside (older generations, other heaps,
/// untracked atoms) are ignored, so they act as roots.
fn subtract_refs(base: GcList) {
    for obj in base.iter() {
        obj.trace(&mut Visitor::new(VisitOp::Decref));
    }
}

/// Step 5: one pass over young; the list can grow behind the cursor.
///
/// Loop invariant: every object left of the cursor is reachable from outside the original
/// young set, has been traced, has a real `prev` link and COLLECTING clear. Objects passed
/// over with `gc_refs == 0` are in `unreachable` (UNREACHABLE set) unless a later trace
/// moved them back to the tail of young. Objects right of the cursor keep `gc_refs` in
/// `prev`, so young is singly linked there.
/// Returns the number of objects left in young (the reachable ones).
fn move_unreachable(young: GcList, unreachable: GcList) -> usize {
    let head = young.head();
    let mut prev = head;
    let mut reachable = 0;
    let mut cursor = head.header().next();
    while cursor != head.as_ptr() {
        // SAFETY: `cursor` is a node of young: live.
        let obj = unsafe { ObjRef::from_raw(cursor) };
        let h = obj.header();
        if h.gc_refs() > 0 {
            // Reachable: everything it refers to is reachable too. The trace may append to
            // young (even after `obj`), so read `next` only afterwards.
            obj.trace(&mut Visitor::new(VisitOp::Reachable { young }));
            h.set_prev_plain(prev.as_ptr());
            prev = obj;
            reachable += 1;
        } else {
            // Tentatively unreachable: unlink (singly linked here) and append to unreachable,
            // which stays doubly linked and keeps COLLECTING on its nodes.
            prev.header().set_next(h.next());
            let u = unreachable.head();
            let last = u.header().prev();
            // SAFETY: the tail of `unreachable` (or its sentinel) is live.
            unsafe { ObjRef::from_raw(last) }
                .header()
                .set_next(obj.as_ptr());
            h.set_prev(last);
            h.set_next(u.as_ptr());
            u.header().set_prev_plain(obj.as_ptr());
            h.set(flag::UNREACHABLE);
        }
        cursor = prev.header().next();
    }
    head.header().set_prev_plain(prev.as_ptr());
    reachable
}

/// Step 8a: clear UNREACHABLE; legacy-finalizer objects move to `finalizers`, not COLLECTING.
/// Returns whether an object left in `unreachable` may have a PEP 442 finalizer to run.
fn move_legacy_finalizers(unreachable: GcList, finalizers: GcList) -> bool {
    let mut has_finalizers = false;
    let mut cursor = unreachable.first();
    while let Some(obj) = cursor {
        let next = obj.header().next();
        obj.header().clear(flag::UNREACHABLE);
        let vtable = obj.vtable();
        if vtable.finalize.is_some() && !obj.header().has(flag::FINALIZED) {
            has_finalizers = true;
        }
        if vtable.legacy_finalize.is_some() {
            obj.header().clear_collecting();
            finalizers.move_in(obj);
        }
        cursor = (next != unreachable.head().as_ptr())
            // SAFETY: a node of `unreachable`: live.
            .then(|| unsafe { ObjRef::from_raw(next) });
    }
    has_finalizers
}

/// Step 8b: everything reachable from `finalizers` that is still garbage joins it.
fn move_legacy_finalizer_reachable(finalizers: GcList) {
    let head = finalizers.head().as_ptr();
    let mut cursor = finalizers.head().header().next();
    while cursor != head {
        // SAFETY: a node of `finalizers`: live.
        let obj = unsafe { ObjRef::from_raw(cursor) };
        obj.trace(&mut Visitor::new(VisitOp::MoveTo { to: finalizers }));
        cursor = obj.header().next();
    }
}

/// Step 12 (`handle_resurrected_objects`): run steps 3–5 again with the garbage as the base
/// set. Objects now referenced from outside it were resurrected by a finalizer; they and
/// everything they reach survive into `old`.
fn handle_resurrected_objects(unreachable: GcList, still_unreachable: GcList, old: GcList) {
    for obj in unreachable.iter() {
        obj.header().clear_collecting();
    }
    deduce_unreachable(unreachable, still_unreachable);
    for obj in still_unreachable.iter() {
        obj.header().clear(flag::UNREACHABLE);
    }
    old.merge_from(unreachable);
}
