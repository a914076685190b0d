//! Intrusive, sentinel-headed, circular doubly linked lists of object headers (CPython's
//! `gc_list_*`).
//!
//! Generations, the permanent generation and the collector's work lists are all `GcList`s
//! whose sentinel lives in the heap. Every operation is O(1) except `len` and iteration.
//!
//! # Invariants
//! - Every node of a list is a live header (the `ObjRef` invariant) or the list's sentinel.
//! - Between operations, `a.next.prev == a` for every node, *except* while
//!   `move_unreachable` runs over the young list, whose `prev` words then hold `gc_refs`
//!   (the list is singly linked then, exactly as in CPython); no operation here that reads
//!   `prev` is applied to such a node.
//! - COLLECTING (bit 0 of `prev`) is preserved by every operation that relinks a node.

#![allow(unsafe_code)]

use crate::object::header::{Header, ObjRef};

/// A list, named by its sentinel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GcList(ObjRef);

impl GcList {
    /// The list whose sentinel is `head`.
    ///
    /// # Safety
    /// `head` is a list sentinel (`Header::new_sentinel`) at a stable address that is (or is
    /// about to be, through [`GcList::init`]) an initialised list, and outlives the result.
    #[inline]
    pub(crate) unsafe fn from_head(head: ObjRef) -> GcList {
        GcList(head)
    }

    /// Make the sentinel an empty list.
    pub(crate) fn init(self) {
        let head = self.0;
        head.header().set_next(head.as_ptr());
        head.header().set_prev_plain(head.as_ptr());
    }

    #[inline]
    pub(crate) fn head(self) -> ObjRef {
        self.0
    }

    #[inline]
    pub(crate) fn is_empty(self) -> bool {
        self.0.header().next() == self.0.as_ptr()
    }

    /// First node, if any.
    #[inline]
    pub(crate) fn first(self) -> Option<ObjRef> {
        if self.is_empty() {
            None
        } else {
            // SAFETY: a non-sentinel node of a list is live (list invariant).
            Some(unsafe { ObjRef::from_raw(self.0.header().next()) })
        }
    }

    /// Append `node` (currently in no list) at the tail.
    #[inline]
    pub(crate) fn append(self, node: ObjRef) {
        let head = self.0.header();
        let last = head.prev();
        // SAFETY: `last` is a node of this list (or the sentinel): live.
        let last_ref = unsafe { ObjRef::from_raw(last) };
        last_ref.header().set_next(node.as_ptr());
        node.header().set_prev(last);
        node.header().set_next(self.0.as_ptr());
        head.set_prev_plain(node.as_ptr());
    }

    /// Unlink `node` from whatever list holds it; afterwards it is untracked.
    #[inline]
    pub(crate) fn unlink(node: ObjRef) {
        let h = node.header();
        // SAFETY: neighbours of a linked node are live nodes or sentinels (list invariant).
        let (prev, next) = unsafe { (ObjRef::from_raw(h.prev()), ObjRef::from_raw(h.next())) };
        prev.header().set_next(next.as_ptr());
        next.header().set_prev(prev.as_ptr());
        h.set_untracked();
    }

    /// Move `node` from its list to the tail of `self`, keeping its COLLECTING bit.
    #[inline]
    pub(crate) fn move_in(self, node: ObjRef) {
        let h = node.header();
        // SAFETY: as in `unlink`.
        let (prev, next) = unsafe { (ObjRef::from_raw(h.prev()), ObjRef::from_raw(h.next())) };
        prev.header().set_next(next.as_ptr());
        next.header().set_prev(prev.as_ptr());
        self.append(node);
    }

    /// Splice all of `from` onto the tail of `self`; `from` becomes empty.
    pub(crate) fn merge_from(self, from: GcList) {
        if from.is_empty() {
            return;
        }
        let to_head = self.0.header();
        // SAFETY: the tail of `self`, and the first and last nodes of `from`, are live.
        let (to_tail, first, last) = unsafe {
            (
                ObjRef::from_raw(to_head.prev()),
                ObjRef::from_raw(from.0.header().next()),
                ObjRef::from_raw(from.0.header().prev()),
            )
        };
        to_tail.header().set_next(first.as_ptr());
        first.header().set_prev(to_tail.as_ptr());
        last.header().set_next(self.0.as_ptr());
        to_head.set_prev_plain(last.as_ptr());
        from.init();
    }

    /// Rebuild every `prev` link along the `next` chain, clearing COLLECTING: after a panic
    /// cut a collection short, `next` chains are intact but `prev` words may hold `gc_refs`.
    pub(crate) fn relink_after_unwind(self) {
        let head = self.0;
        let mut prev = head;
        let mut cur = head.header().next();
        while cur != head.as_ptr() {
            // SAFETY: `cur` is on this list's `next` chain: a live node.
            let node = unsafe { ObjRef::from_raw(cur) };
            node.header().set_prev_plain(prev.as_ptr());
            prev = node;
            cur = node.header().next();
        }
        head.header().set_prev_plain(prev.as_ptr());
    }

    /// Number of nodes (O(n), as CPython's `gc_list_size`).
    pub(crate) fn len(self) -> usize {
        self.iter().count()
    }

    /// Iterate the nodes. The list must not change while iterating.
    pub(crate) fn iter(self) -> impl Iterator<Item = ObjRef> {
        let head = self.0.as_ptr();
        let mut cur: *mut Header = self.0.header().next();
        std::iter::from_fn(move || {
            if cur == head {
                return None;
            }
            // SAFETY: `cur` is a node of the list: live.
            let node = unsafe { ObjRef::from_raw(cur) };
            cur = node.header().next();
            Some(node)
        })
    }

    /// Check the doubly linked structure (O(n)). `expect_collecting` is the COLLECTING state
    /// every node must have.
    #[cfg(any(test, feature = "checked"))]
    pub(crate) fn validate(self, expect_collecting: Option<bool>) {
        let mut prev = self.0.as_ptr();
        for node in self.iter() {
            assert_eq!(node.header().prev(), prev, "gc list: broken prev link");
            if let Some(c) = expect_collecting {
                assert_eq!(
                    node.header().is_collecting(),
                    c,
                    "gc list: unexpected COLLECTING state"
                );
            }
            prev = node.as_ptr();
        }
        assert_eq!(
            self.0.header().prev(),
            prev,
            "gc list: sentinel prev is not the tail"
        );
    }
}
