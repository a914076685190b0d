//! What a visit means in each collector phase (the `visitproc`s of CPython's gcmodule.c).

use super::list::GcList;
use crate::object::header::{ObjRef, flag};
use crate::object::trace::VisitSink;

/// The action a [`Visitor`](crate::Visitor) applies to each reported handle.
pub(crate) enum VisitOp<'a> {
    /// `subtract_refs` (`visit_decref`): a reference from inside the set, applied through
    /// a short queue so that each target's header is prefetched a few edges ahead.
    Decref(DecrefQueue),
    /// `move_unreachable` (`visit_reachable`): the target is reachable; applied through a
    /// short queue so that each target's header is prefetched a few edges ahead.
    Reachable(ReachableQueue),
    /// `move_legacy_finalizer_reachable` (`visit_move`): pull the target into `to`.
    MoveTo { to: GcList },
    /// `get_referents`: collect every target.
    Collect(&'a mut Vec<ObjRef>),
    /// `get_referrers`: does the traced object refer to any of `targets`?
    Find { targets: &'a [ObjRef], found: bool },
}

impl VisitSink for VisitOp<'_> {
    #[inline]
    fn visit(&mut self, target: ObjRef) {
        visit(self, target);
    }
    fn hands_out_handles(&self) -> bool {
        matches!(self, VisitOp::Collect(_))
    }
}

#[inline]
fn visit(op: &mut VisitOp<'_>, target: ObjRef) {
    match op {
        VisitOp::Decref(queue) => queue.push(target),
        VisitOp::Reachable(queue) => queue.push(target),
        VisitOp::MoveTo { to } => {
            let h = target.header();
            if h.is_collecting() {
                h.clear_collecting();
                to.move_in(target);
            }
        }
        VisitOp::Collect(out) => out.push(target),
        VisitOp::Find { targets, found } => {
            if targets.contains(&target) {
                *found = true;
            }
        }
    }
}

// Test switch (`testutil::with_undelayed_visits`): apply every visit at once, as CPython
// does, so a test can check that the queues change nothing but timing.
#[cfg(feature = "testutil")]
thread_local! {
    pub(crate) static UNDELAYED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[inline(always)]
fn undelayed() -> bool {
    #[cfg(feature = "testutil")]
    return UNDELAYED.with(std::cell::Cell::get);
    #[cfg(not(feature = "testutil"))]
    false
}

/// `subtract_refs`'s decrements, delayed by up to [`DecrefQueue::DEPTH`] edges: each target
/// is prefetched when reported and decremented `DEPTH` edges later, when its header has had
/// time to arrive. In a large heap the targets are scattered, and decrementing at once pays a
/// full memory latency per edge; this way `DEPTH` loads are in flight together.
///
/// Decrements commute (each one only subtracts from its target's `gc_refs`, and going below
/// zero is corruption whatever the order), so the delay changes nothing but timing.
/// [`DecrefQueue::flush`] applies what is left; a `Trace` that panics mid-pass leaves some
/// decrements unapplied, which is harmless because the collector's repair clears every
/// `gc_refs` with the collection flags.
pub(crate) struct DecrefQueue {
    ring: [Option<ObjRef>; DecrefQueue::DEPTH],
    next: usize,
}

impl DecrefQueue {
    /// Edges between a target's prefetch and its decrement: enough to keep the line fill
    /// buffers busy (about ten misses in flight on current x86 cores), small enough to stay
    /// in registers and L1.
    pub(crate) const DEPTH: usize = 8;

    pub(crate) fn new() -> DecrefQueue {
        DecrefQueue {
            ring: [None; DecrefQueue::DEPTH],
            next: 0,
        }
    }

    #[inline]
    fn push(&mut self, target: ObjRef) {
        if undelayed() {
            return visit_decref(target);
        }
        target.prefetch();
        let slot = &mut self.ring[self.next];
        if let Some(due) = slot.replace(target) {
            visit_decref(due);
        }
        self.next = (self.next + 1) % DecrefQueue::DEPTH;
    }

    /// Apply every delayed decrement.
    pub(crate) fn flush(&mut self) {
        for slot in &mut self.ring {
            if let Some(due) = slot.take() {
                visit_decref(due);
            }
        }
    }
}

/// `move_unreachable`'s visits, delayed like [`DecrefQueue`]'s decrements but kept in order
/// (first in, first out), so the sequence of changes to the lists is exactly the undelayed
/// one. What the delay could change is what the scan *reads* meanwhile, and the scan reads
/// two things, both guarded in `move_unreachable`:
///
/// - the current object's `gc_refs`: pending visits only raise it (0 to 1), so a non-zero
///   reading stands; a zero reading is taken again after [`ReachableQueue::flush`];
/// - the end of young: pending visits may append to it, so reaching the sentinel flushes and
///   reads `next` again.
///
/// A visit to an object the scan has passed meanwhile finds it no longer COLLECTING and does
/// nothing, as it would have done undelayed (the scan passes an object only with a non-zero
/// `gc_refs`, and such a visit is a no-op either way).
pub(crate) struct ReachableQueue {
    young: GcList,
    ring: [Option<ObjRef>; DecrefQueue::DEPTH],
    next: usize,
    pending: usize,
}

impl ReachableQueue {
    pub(crate) fn new(young: GcList) -> ReachableQueue {
        ReachableQueue {
            young,
            ring: [None; DecrefQueue::DEPTH],
            next: 0,
            pending: 0,
        }
    }

    #[inline]
    fn push(&mut self, target: ObjRef) {
        if undelayed() {
            return visit_reachable(target, self.young);
        }
        target.prefetch();
        let slot = &mut self.ring[self.next];
        match slot.replace(target) {
            Some(due) => visit_reachable(due, self.young),
            None => self.pending += 1,
        }
        self.next = (self.next + 1) % DecrefQueue::DEPTH;
    }

    /// Apply every delayed visit, oldest first.
    #[inline]
    pub(crate) fn flush(&mut self) {
        if self.pending == 0 {
            return;
        }
        // The oldest entry sits at `next` once the ring has wrapped; before that, empty
        // slots are skipped.
        for i in 0..DecrefQueue::DEPTH {
            let at = (self.next + i) % DecrefQueue::DEPTH;
            if let Some(due) = self.ring[at].take() {
                visit_reachable(due, self.young);
            }
        }
        self.pending = 0;
    }
}

/// A reference internal to the set being collected: it does not keep its target alive from
/// outside, so take it off the target's `gc_refs`.
#[inline]
fn visit_decref(target: ObjRef) {
    let h = target.header();
    if h.is_collecting() {
        let refs = h.gc_refs();
        if refs == 0 {
            refcount_too_small(target);
        }
        h.set_gc_refs(refs - 1);
    }
}

/// `gc_refs` below zero: the lists are mid-collection and the counts cannot be trusted, so
/// this is corruption, not a recoverable error (a `Trace` broke its `unsafe` contract).
#[cold]
#[inline(never)]
fn refcount_too_small(target: ObjRef) -> ! {
    crate::object::corrupted(&format!(
        "gc_refs of a `{}` went below zero: some Trace impl reports a handle it does not \
         own, or reports one handle twice (Trace safety contract, items 1 and 2)",
        target.type_name()
    ))
}

/// The target is reachable from a reachable object (CPython's `visit_reachable`).
///
/// - not COLLECTING: outside the set, or already scanned: nothing to do;
/// - UNREACHABLE: `move_unreachable` passed it with `gc_refs == 0`; move it back to the tail
///   of young so the scan reaches it again, with `gc_refs = 1`;
/// - `gc_refs == 0`, still ahead of the scan: mark it reachable (`gc_refs = 1`);
/// - `gc_refs > 0`: ahead of the scan and already known reachable.
#[inline]
fn visit_reachable(target: ObjRef, young: GcList) {
    let h = target.header();
    if !h.is_collecting() {
        return;
    }
    if h.has(flag::UNREACHABLE) {
        // The unreachable list is properly doubly linked: unlink, then append to young.
        h.clear(flag::UNREACHABLE);
        young.move_in(target);
        h.set_gc_refs(1);
    } else if h.gc_refs() == 0 {
        h.set_gc_refs(1);
    }
}
