//! The collection pipeline: one collection of generation `g`, in CPython 3.11's order.
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
//! **Start at [`Collector::collect_main`].** A [`Collector`] is the pipeline over the
//! collector's own state ([`GcState`]) plus a narrow seam to the heap ([`Host`]: the weak
//! table, the unraisable reporter, and the trashcan). It never names the heap's type.
//!
//! No step recurses: walks follow the intrusive lists, and `move_unreachable` re-queues
//! objects at the tail of young instead of descending into them.
//!
//! # User code
//! The only user code that runs before `handle_weakrefs` is `Trace`, which by contract touches
//! nothing and must not panic; if one panics anyway, [`Repair`] puts every object back on a
//! well-formed generation list before the panic leaves `collect`. Every other call into user
//! code (callbacks, finalizers, `Drop`, the unraisable hook, `tracing` subscribers) goes
//! through [`Unraisables::guard`] and happens only where every object is on a well-formed
//! list, with a count held on whatever that code could otherwise free (CPython's discipline).
//! The debug events that name garbage are emitted after `handle_weakrefs`, once no weak
//! reference can reach the garbage any more.
#![allow(unsafe_code)]

use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use super::list::GcList;
use super::pause::{CollectionTrigger, Pause};
use super::state::{GcState, lists};
use super::unraisable::Unraisables;
use super::visit::{DecrefQueue, ReachableQueue, VisitOp};
use super::{CallbackPhase, CollectingGuard, CollectionInfo, DebugFlags};
use crate::Visitor;
use crate::object::handle::{self, AnyGc};
use crate::object::header::{ObjRef, flag};
use crate::object::weak::{WeakTable, take_for_death};

/// What the collector asks of the heap that owns it: the seam between `gc` and `heap`.
pub(crate) trait Host {
    /// The heap's weak-reference table (cleared for the garbage in `handle_weakrefs`).
    fn weak_table(&self) -> &WeakTable;
    /// Where panics of user code are reported.
    fn unraisables(&self) -> &Unraisables;
    /// Process deaths left queued by a teardown that a panic cut short, before collecting.
    fn drain_trashcan(&self);
}

/// One heap's collector for the duration of a call: its state plus the heap seam.
pub(crate) struct Collector<'a> {
    gc: &'a GcState,
    host: &'a dyn Host,
}

/// Marks this heap's collection as running (and the thread's, see [`super::collecting`]) for a
/// scope, resetting both on unwind too.
struct Running<'a> {
    gc: &'a GcState,
    _thread: CollectingGuard,
}

impl<'a> Running<'a> {
    fn enter(gc: &'a GcState) -> Running<'a> {
        gc.running.set(true);
        Running {
            gc,
            _thread: CollectingGuard::enter(),
        }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.gc.running.set(false);
    }
}

impl<'a> Collector<'a> {
    pub(crate) fn new(gc: &'a GcState, host: &'a dyn Host) -> Collector<'a> {
        Collector { gc, host }
    }

    fn report(&self, context: impl FnOnce() -> String, f: impl FnOnce()) {
        self.host.unraisables().guard(context, f);
    }

    fn emit(&self, f: impl FnOnce()) {
        self.host.unraisables().emit(f);
    }

    /// `gc.collect(g)`: explicit collection, with callbacks; 0 if one is already running on
    /// this thread (CPython's `collecting` flag).
    pub(crate) fn collect_explicit(&self, generation: usize) -> usize {
        if super::collecting() {
            return 0;
        }
        self.host.drain_trashcan();
        let _running = Running::enter(self.gc);
        self.collect_with_callbacks(generation, CollectionTrigger::Explicit)
    }

    /// The automatic trigger (`gc_collect_generations`): collect the generation
    /// [`GcState::automatic_generation`] picks, if any. Returns what was found, `None` when
    /// nothing ran (nothing due, or a collection is already running on this thread).
    pub(crate) fn collect_automatic(
        &self,
        at_least_young: bool,
        trigger: CollectionTrigger,
    ) -> Option<usize> {
        if super::collecting() {
            return None;
        }
        let generation = self.gc.automatic_generation(at_least_young)?;
        let _running = Running::enter(self.gc);
        Some(self.collect_with_callbacks(generation, trigger))
    }

    /// The final collection when the `Heap` is dropped: no callbacks, like CPython's
    /// shutdown. The caller makes sure no other collection runs on this thread.
    pub(crate) fn collect_shutdown(&self) {
        debug_assert!(!super::collecting());
        self.host.drain_trashcan();
        let _running = Running::enter(self.gc);
        self.collect_main(2);
    }

    /// One collection as the program sees it (its pause is recorded): start callbacks, the
    /// collection, stop callbacks.
    fn collect_with_callbacks(&self, generation: usize, trigger: CollectionTrigger) -> usize {
        let started = Instant::now();
        let found = self.collect_with_callbacks_untimed(generation);
        self.gc.pauses.record(Pause {
            duration: started.elapsed(),
            generation,
            trigger,
            found,
        });
        found
    }

    fn collect_with_callbacks_untimed(&self, generation: usize) -> usize {
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
        let callbacks = self.gc.callbacks_snapshot();
        for callback in &callbacks {
            let Ok(mut callback) = callback.try_borrow_mut() else {
                continue;
            };
            self.report(|| "gc callback".to_string(), || callback(phase, info));
        }
        // A callback removed meanwhile is dropped here, with its captures: user code.
        self.host
            .unraisables()
            .drop_each("dropping a gc callback", callbacks);
    }

    /// One collection of `generation`. Returns (collected, uncollectable).
    pub(crate) fn collect_main(&self, generation: usize) -> (usize, usize) {
        let gc = self.gc;
        let span = GuardedSpan(self.host.unraisables().guard(
            || "tracing subscriber".to_string(),
            || tracing::debug_span!(target: "pygc::gc", "collect", generation).entered(),
        ));
        let debug = gc.debug.get();
        let started = Instant::now();
        if debug.contains(DebugFlags::STATS) {
            let sizes = [0, 1, 2].map(|g| gc.generation(g).len());
            let permanent = gc.list(lists::PERMANENT).len();
            self.emit(|| {
                tracing::info!(target: "pygc::gc", "gc: collecting generation {generation}...");
                tracing::info!(
                    target: "pygc::gc",
                    "gc: objects in each generation: {} {} {}",
                    sizes[0],
                    sizes[1],
                    sizes[2]
                );
                tracing::info!(target: "pygc::gc", "gc: objects in permanent generation: {permanent}");
            });
        }

        // 1. Counters: this collection counts toward the next generation; younger reset.
        let mut counts = gc.counts.get();
        if generation < 2 {
            counts[generation + 1] += 1;
        }
        for c in &mut counts[..=generation] {
            *c = 0;
        }
        gc.counts.set(counts);

        // 2. Merge the younger generations onto the end of `generation`.
        let young = gc.generation(generation);
        for g in 0..generation {
            young.merge_from(gc.generation(g));
        }
        let old = if generation < 2 {
            gc.generation(generation + 1)
        } else {
            young
        };

        // 3–5. Find what is unreachable from outside the set. From here until step 12 only
        //      `Trace` runs; if it panics, `repair` restores every list on the way out.
        let repair = Repair { gc, young, old };
        let unreachable = gc.list(lists::UNREACHABLE);
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
                gc.long_lived_pending
                    .set(gc.long_lived_pending.get() + survivors);
            }
            old.merge_from(young);
        } else {
            gc.long_lived_pending.set(0);
            gc.long_lived_total.set(survivors);
        }

        // 8. Legacy finalizers and everything they reach are uncollectable.
        let finalizers = gc.list(lists::FINALIZERS);
        let has_finalizers = move_legacy_finalizers(unreachable, finalizers);
        move_legacy_finalizer_reachable(finalizers);

        // 9. (DEBUG_COLLECTABLE) Named now, emitted after step 10: a subscriber is user code,
        //    and before the weak references into the garbage are cleared it could upgrade one
        //    and resurrect an object no finalizer would be checked for.
        let collectable: Vec<String> = if debug.contains(DebugFlags::COLLECTABLE) {
            unreachable.iter().map(describe).collect()
        } else {
            Vec::new()
        };

        // 10. Clear weak references into the garbage; run callbacks of those outside it.
        let weakrefs_freed = self.handle_weakrefs(unreachable, old);
        if !collectable.is_empty() {
            self.emit(|| {
                for line in &collectable {
                    tracing::info!(target: "pygc::gc", "gc: collectable {line}");
                }
            });
        }

        // 11. PEP 442 finalizers, once per object.
        // 12. Whatever a finalizer made reachable again survives, with all it reaches.
        //     Only a finalizer can resurrect (weak-reference callbacks cannot reach the
        //     garbage: every weak reference into it was cleared first), so garbage without
        //     pending finalizers skips both steps (7 walks over the garbage).
        let still_unreachable = gc.list(lists::STILL_UNREACHABLE);
        if has_finalizers {
            self.finalize_garbage(unreachable);
            handle_resurrected_objects(unreachable, still_unreachable, old);
        } else {
            still_unreachable.merge_from(unreachable);
        }
        // No `Trace` runs from here on.
        std::mem::forget(repair);

        // 13–14. Count and break the garbage.
        let collected = weakrefs_freed + self.delete_garbage(still_unreachable, old, debug);

        // 15–16. Uncollectable accounting. Legacy-finalizer objects (everything, under
        //     SAVEALL) go to `garbage`; all of the uncollectable set goes to the old
        //     generation, to be found again next time.
        let uncollectable = finalizers.len();
        let uncollectable_lines: Vec<String> = if debug.contains(DebugFlags::UNCOLLECTABLE) {
            finalizers.iter().map(describe).collect()
        } else {
            Vec::new()
        };
        {
            let saveall = debug.contains(DebugFlags::SAVEALL);
            let mut garbage = gc.garbage.borrow_mut();
            for obj in finalizers.iter() {
                if saveall || obj.vtable().legacy_finalize.is_some() {
                    garbage.push(AnyGc::new_ref(obj));
                }
            }
        }
        old.merge_from(finalizers);

        // 19. Statistics.
        let mut stats = gc.stats.get();
        stats[generation].collections += 1;
        stats[generation].collected += collected;
        stats[generation].uncollectable += uncollectable;
        gc.stats.set(stats);

        // The debug output of steps 15 and 19, now that every list is settled.
        if !uncollectable_lines.is_empty() {
            self.emit(|| {
                for line in &uncollectable_lines {
                    tracing::info!(target: "pygc::gc", "gc: uncollectable {line}");
                }
            });
        }
        if debug.contains(DebugFlags::STATS) {
            let elapsed = started.elapsed().as_secs_f64();
            self.emit(|| {
                tracing::info!(
                    target: "pygc::gc",
                    "gc: done, {} unreachable, {} uncollectable, {:.4}s elapsed",
                    collected + uncollectable,
                    uncollectable,
                    elapsed
                );
            });
        }
        drop(span);
        (collected, uncollectable)
    }

    /// Step 10 (`handle_weakrefs`). Returns how many weak-reference objects their own
    /// callbacks' completion freed (they count as collected, as in CPython).
    fn handle_weakrefs(&self, unreachable: GcList, old: GcList) -> usize {
        let table = self.host.weak_table();
        // a) Clear every weak reference into the garbage, and every weak reference that *is*
        //    garbage; remember the live ones with callbacks. No user code runs in this loop.
        let mut to_call: Vec<AnyGc> = Vec::new();
        for obj in unreachable.iter() {
            if obj.vtable().is_weakref {
                // Garbage weak reference: cleared; its callback will never run (bpo-38006).
                table.detach(obj);
            }
            if obj.header().has(flag::HAS_WEAKREFS) {
                for weakref in table.take(obj) {
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
                self.report(|| context("weakref callback", obj), || callback.call(arg));
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
        let seen = self.gc.list(lists::SEEN);
        while let Some(obj) = unreachable.first() {
            seen.move_in(obj);
            let h = obj.header();
            if let Some(finalize) = obj.vtable().finalize {
                if !h.has(flag::FINALIZED) {
                    h.set(flag::FINALIZED);
                    let hold = AnyGc::new_ref(obj);
                    self.report(
                        || context("finalizer", obj),
                        // SAFETY: `hold` owns a count across the call, and garbage values are
                        // only dropped in step 14, so the value is initialised.
                        || unsafe { handle::call_finalizer(obj, finalize) },
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
    ///    and clear the weak references to and from it, running no user code;
    /// 2. drop the callbacks of weak references cleared in 1 (their captures are user code);
    /// 3. mark every object DEAD, so a `Drop` reaching co-garbage sees a dead handle;
    /// 4. drop every value (panics are reported, not propagated);
    /// 5. release the holds: each object is freed as its count reaches zero.
    ///
    /// Returns the number of garbage objects (CPython's `gc_list_size(&final_unreachable)`),
    /// counted on the way instead of by a separate walk.
    fn delete_garbage(&self, still_unreachable: GcList, old: GcList, debug: DebugFlags) -> usize {
        if debug.contains(DebugFlags::SAVEALL) {
            let mut garbage = self.gc.garbage.borrow_mut();
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
        let table = self.host.weak_table();
        let mut holds: Vec<AnyGc> = Vec::new();
        // Weak references made during finalizers (cleared without callbacks), each held with
        // its callback until every list below is settled.
        let mut cleared = Vec::new();
        let mut orphaned = Vec::new();
        while let Some(obj) = still_unreachable.first() {
            holds.push(AnyGc::new_ref(obj));
            GcList::unlink(obj);
            if obj.vtable().is_weakref {
                table.detach(obj);
            }
            if obj.header().has(flag::HAS_WEAKREFS) {
                let (alive, dying) = take_for_death(table, obj);
                cleared.extend(alive);
                orphaned.extend(dying);
            }
        }
        let unraisables = self.host.unraisables();
        unraisables.drop_each("dropping a weak-reference callback", cleared);
        unraisables.drop_each("dropping a weak-reference callback", orphaned);
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
                self.report(
                    || context("tp_clear", obj),
                    // SAFETY: CLEARING was set in this collection right after the value was
                    // known initialised, and is cleared exactly once, here; the object is
                    // garbage, so no `&T` into it exists (co-garbage sees it DEAD).
                    || unsafe { handle::drop_value(obj) },
                );
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
        self.report(|| context("deallocation", obj), move || drop(hold));
    }
}

/// The collection's span. Leaving it calls the subscriber (user code), also while a `Trace`
/// panic unwinds, where a second panic would abort: so a panic there is dropped.
struct GuardedSpan(Option<tracing::span::EnteredSpan>);

impl Drop for GuardedSpan {
    fn drop(&mut self) {
        if let Some(span) = self.0.take() {
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| drop(span))) {
                // Not reported (the reporter may be what is unwinding); the payload's own
                // `Drop` is user code too.
                let _ = panic::catch_unwind(AssertUnwindSafe(|| drop(payload)));
            }
        }
    }
}

/// `<type address>`, as CPython's `debug_cycle` prints an object.
fn describe(obj: ObjRef) -> String {
    format!("<{} {:p}>", obj.type_name(), obj)
}

fn context(what: &str, obj: ObjRef) -> String {
    format!("{what} of {}", describe(obj))
}

/// Restores the lists if a `Trace` panics during steps 3–12 (it must not, by contract, but a
/// panic is safe code's to make). Every list's `next` chain is intact at any point where
/// `Trace` runs (each visit completes its relinking before returning); the `prev` words may
/// hold `gc_refs`. So: rebuild `prev` along `next` for young and every work list, clear the
/// collection flags, and put every object in `old`. Then the panic goes on to the caller of
/// `collect`, and the heap is as consistent as after a collection that found nothing.
struct Repair<'a> {
    gc: &'a GcState,
    young: GcList,
    old: GcList,
}

impl Drop for Repair<'_> {
    fn drop(&mut self) {
        let lists = [
            self.young,
            self.gc.list(lists::UNREACHABLE),
            self.gc.list(lists::FINALIZERS),
            self.gc.list(lists::SEEN),
            self.gc.list(lists::STILL_UNREACHABLE),
        ];
        for list in lists {
            list.relink_after_unwind();
            for obj in list.iter() {
                obj.header().clear(flag::UNREACHABLE);
            }
        }
        for list in &lists[1..] {
            self.old.merge_from(*list);
        }
        if self.young != self.old {
            self.old.merge_from(self.young);
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
        if obj.header().rc() == 0 {
            crate::object::corrupted("a tracked object has refcount 0 in update_refs");
        }
        obj.header().start_collecting();
    }
}

/// Step 4: subtract every reference from inside the set. Afterwards `gc_refs > 0` means
/// "referenced from outside the set". Objects outside (older generations, other heaps,
/// untracked atoms) are ignored, so they act as roots.
fn subtract_refs(base: GcList) {
    let mut op = VisitOp::Decref(DecrefQueue::new());
    let mut visitor = Visitor::new(&mut op);
    for obj in base.iter() {
        obj.trace(&mut visitor);
    }
    if let VisitOp::Decref(queue) = &mut op {
        queue.flush();
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
    // The visits go through a queue that prefetches their targets (see `ReachableQueue`
    // for why the delay changes nothing): flushed before a zero `gc_refs` is believed and
    // before the end of young is.
    let mut op = VisitOp::Reachable(ReachableQueue::new(young));
    let flush = |op: &mut VisitOp<'_>| {
        if let VisitOp::Reachable(queue) = op {
            queue.flush();
        }
    };
    let head = young.head();
    let mut prev = head;
    let mut reachable = 0;
    let mut cursor = head.header().next();
    while cursor != head.as_ptr() {
        // SAFETY: `cursor` is a node of young: live.
        let obj = unsafe { ObjRef::from_raw(cursor) };
        let h = obj.header();
        if h.gc_refs() == 0 {
            flush(&mut op);
        }
        if h.gc_refs() > 0 {
            // Reachable: everything it refers to is reachable too. The trace may append to
            // young (even after `obj`), so read `next` only afterwards.
            obj.trace(&mut Visitor::new(&mut op));
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
        if cursor == head.as_ptr() {
            flush(&mut op);
            cursor = prev.header().next();
        }
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
    let mut op = VisitOp::MoveTo { to: finalizers };
    let mut visitor = Visitor::new(&mut op);
    let head = finalizers.head().as_ptr();
    let mut cursor = finalizers.head().header().next();
    while cursor != head {
        // SAFETY: a node of `finalizers`: live.
        let obj = unsafe { ObjRef::from_raw(cursor) };
        obj.trace(&mut visitor);
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
