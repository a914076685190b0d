//! What a visit means in each collector phase (the `visitproc`s of CPython's gcmodule.c).

use super::list::GcList;
use crate::object::header::{ObjRef, flag};
use crate::object::trace::VisitSink;

/// The action a [`Visitor`](crate::Visitor) applies to each reported handle.
pub(crate) enum VisitOp<'a> {
    /// `subtract_refs` (`visit_decref`): a reference from inside the set.
    Decref,
    /// `move_unreachable` (`visit_reachable`): the target is reachable.
    Reachable { young: GcList },
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
}

#[inline]
fn visit(op: &mut VisitOp<'_>, target: ObjRef) {
    match op {
        VisitOp::Decref => visit_decref(target),
        VisitOp::Reachable { young } => visit_reachable(target, *young),
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
