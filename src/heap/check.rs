//! The O(n) invariant checker (tier 3 of STYLE habit 3): `Heap::check_invariants`.
#![cfg(any(test, feature = "checked"))]

use super::Heap;
use super::state::HeapState;
use crate::gc::state::lists;
use crate::object::header::{ObjRef, flag};

impl HeapState {
    /// See [`Heap::check_invariants`].
    fn check_invariants(&self) -> usize {
        let idle = !crate::gc::collecting() && !self.trashcan.releasing();
        let tag = self as *const HeapState as *const ();
        let mut tracked = 0;
        // Generations 0..3 and the permanent generation: doubly linked, nodes owned by this
        // heap, counted, and (between collections) without collection scratch state.
        for i in 0..=lists::PERMANENT {
            let list = self.gc.list(i);
            if idle {
                list.validate(Some(false));
            }
            for obj in list.iter() {
                tracked += 1;
                let h = obj.header();
                assert!(
                    h.rc() > 0,
                    "check_invariants: tracked object {obj:?} in list {i} has rc 0"
                );
                assert!(
                    obj.vtable().gc_capable,
                    "check_invariants: untracked type {obj:?} in list {i}"
                );
                assert_eq!(
                    obj.owner().as_ptr().cast_const().cast::<()>(),
                    tag,
                    "check_invariants: {obj:?} in list {i} owned by another heap"
                );
                if idle {
                    assert!(
                        !h.has(flag::UNREACHABLE | flag::TRASHED | flag::CLEARING | flag::DEAD),
                        "check_invariants: {obj:?} in list {i} has scratch flags {:#x}",
                        h.flags_bits()
                    );
                }
            }
        }
        if idle {
            // The collector's work lists are empty between collections.
            for i in lists::UNREACHABLE..lists::COUNT {
                assert!(
                    self.gc.list(i).is_empty(),
                    "check_invariants: work list {i} not empty while idle"
                );
            }
            // The trashcan is drained whenever no teardown runs (a teardown finishes its
            // queue even when a `Drop` panics).
            assert_eq!(
                self.trashcan.len(),
                0,
                "check_invariants: deaths left queued while idle"
            );
        }
        assert!(
            tracked <= self.live(),
            "check_invariants: {tracked} tracked objects but only {} live",
            self.live()
        );
        // Weak-list table: every entry names a live referent flagged HAS_WEAKREFS, and lists
        // live, undead weak-reference objects whose referent is the key.
        self.owner.weak_table().for_each(|referent, list| {
            assert!(
                !list.is_empty(),
                "check_invariants: empty weak list for {referent:?}"
            );
            assert!(
                referent.header().has(flag::HAS_WEAKREFS),
                "check_invariants: weak-list entry for {referent:?} without HAS_WEAKREFS"
            );
            assert!(
                referent.header().rc() > 0 || !idle,
                "check_invariants: weak-list key {referent:?} has rc 0"
            );
            assert!(
                !referent.header().has(flag::DEAD) || !idle,
                "check_invariants: weak-list key {referent:?} is DEAD"
            );
            for &w in list {
                assert!(
                    w.vtable().is_weakref,
                    "check_invariants: weak list of {referent:?} holds non-weakref {w:?}"
                );
                assert!(
                    w.header().rc() > 0,
                    "check_invariants: weakref {w:?} in a weak list has rc 0"
                );
                let value = w
                    .weakref()
                    .expect("check_invariants: weakref in a weak list is DEAD");
                assert_eq!(
                    value.referent.get(),
                    Some(referent),
                    "check_invariants: weakref {w:?} is listed under {referent:?} but names another referent"
                );
            }
            let mut seen: Vec<ObjRef> = list.to_vec();
            seen.sort();
            seen.dedup();
            assert_eq!(
                seen.len(),
                list.len(),
                "check_invariants: duplicate weakref in the list of {referent:?}"
            );
        });
        tracked
    }
}

impl Heap {
    /// Check the heap's structural invariants (O(n) in the number of objects); panics with a
    /// message naming the broken one. Returns the number of tracked objects (generations 0–2
    /// plus the permanent generation).
    ///
    /// Checked: every generation list (and the permanent one) is doubly linked, holds only
    /// GC-capable objects of this heap with refcount > 0 and, between collections, no
    /// COLLECTING bit or collection flag; the collector's work lists and the trashcan are
    /// empty when idle; tracked objects never outnumber live ones; every weak-list entry
    /// lists live weak-reference objects, without duplicates, whose referent is its key.
    ///
    /// Meant for tests and fuzzing (feature `checked`); cheap parts of it are asserted
    /// inline elsewhere.
    pub fn check_invariants(&self) -> usize {
        self.state().check_invariants()
    }

    /// Deaths waiting in the trashcan: 0 except while a teardown runs.
    #[doc(hidden)]
    pub fn trashcan_len(&self) -> usize {
        self.state().trashcan.len()
    }
}
