//! The usable-arena list: arenas with at least one free pool, sorted by
//! ascending `nfreepools` (most-full first), with CPython's `nfp2lasta`
//! fingers so that every re-sort is O(1).
//!
//! New pools are always taken from the head, the fullest arena; nearly
//! empty arenas at the tail get a chance to become wholly free and go back
//! to the system. `last_with[k]` is the *last* arena on the list with `k`
//! free pools (or `None`):
//!
//! - taking a pool from the head lowers its count below every other arena's,
//!   so it stays at the head and becomes `last_with[new]`;
//! - returning a pool raises an arena's count from `k` to `k + 1`; if it was
//!   not `last_with[k]` it moves to just after `last_with[k]` (read before
//!   the update), which is exactly where arenas with `k + 1` start.
//!
//! Safe code: arenas are named by [`ArenaId`] indices into the arena table.

use super::arena::{ArenaId, ArenaObject};
use super::system::{SysVec, sys_vec};

/// What to do after a pool was returned to an arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Returned {
    /// The arena stays (possibly moved on the list).
    Keep,
    /// The arena is wholly free and not the last on the list: it has been
    /// unlinked and must go back to the system (bpo-37257 keeps the last one).
    Release,
}

/// The sorted list of usable arenas.
#[derive(Debug)]
pub(crate) struct UsableArenas {
    /// First (fullest) arena, or `None` when no arena has a free pool.
    /// Invariant: following `next` visits arenas with non-decreasing
    /// `nfreepools >= 1`; `prev` links mirror `next`.
    head: Option<ArenaId>,
    /// `last_with[k]`: the last arena on the list with `nfreepools == k`.
    /// Sized `POOLS_PER_ARENA + 1` on first use.
    last_with: SysVec<Option<ArenaId>>,
}

impl UsableArenas {
    /// An empty list (allocates nothing).
    pub(crate) const fn new() -> Self {
        UsableArenas {
            head: None,
            last_with: sys_vec(),
        }
    }

    /// The fullest usable arena.
    #[inline]
    pub(crate) fn head(&self) -> Option<ArenaId> {
        self.head
    }

    /// Makes the just-acquired arena `id` the whole list (the list was empty).
    pub(crate) fn push_new(&mut self, arenas: &mut [ArenaObject], id: ArenaId) {
        debug_assert!(self.head.is_none(), "new arena while the list is not empty");
        let nf = arenas[id.index()].nfreepools as usize;
        if self.last_with.len() <= nf {
            self.last_with.resize(nf + 1, None);
        }
        arenas[id.index()].next = None;
        arenas[id.index()].prev = None;
        self.head = Some(id);
        self.last_with[nf] = Some(id);
    }

    /// Bookkeeping after the head arena handed out a pool (its `nfreepools`
    /// was already decremented): it stays at the head, or leaves the list when
    /// it has no free pool left.
    pub(crate) fn took_pool_from_head(&mut self, arenas: &mut [ArenaObject], id: ArenaId) {
        debug_assert_eq!(
            self.head,
            Some(id),
            "pools are only taken from the head arena"
        );
        let nf = arenas[id.index()].nfreepools as usize;
        let old = nf + 1;
        if self.last_with[old] == Some(id) {
            self.last_with[old] = None;
        }
        if nf == 0 {
            // Full: off the list.
            let next = arenas[id.index()].next;
            self.head = next;
            if let Some(n) = next {
                arenas[n.index()].prev = None;
            }
            arenas[id.index()].next = None;
            arenas[id.index()].prev = None;
        } else {
            // It had the fewest free pools; now strictly fewer than anyone else.
            debug_assert!(self.last_with[nf].is_none());
            self.last_with[nf] = Some(id);
        }
    }

    /// Bookkeeping after arena `id` got a pool back (`nfreepools` was already
    /// incremented to `nf`). CPython's four cases: release a wholly free arena
    /// unless it is the last on the list; put a formerly full arena at the
    /// head; slide an arena right past the others with its old count; or do
    /// nothing.
    pub(crate) fn pool_returned(&mut self, arenas: &mut [ArenaObject], id: ArenaId) -> Returned {
        let i = id.index();
        let nf = arenas[i].nfreepools as usize;
        let old = nf - 1;
        // Fix the finger of the old count before the arena moves.
        let last_old = if old == 0 { None } else { self.last_with[old] };
        if old > 0 && last_old == Some(id) {
            let p = arenas[i].prev;
            self.last_with[old] = p.filter(|p| arenas[p.index()].nfreepools as usize == old);
        }

        // Case 1: wholly free and someone after it on the list: give it back.
        if nf == arenas[i].ntotalpools as usize && old > 0 && arenas[i].next.is_some() {
            self.unlink(arenas, id);
            return Returned::Release;
        }

        // Case 2: it was full (on no list): it has the fewest free pools of all.
        if old == 0 {
            arenas[i].next = self.head;
            arenas[i].prev = None;
            if let Some(h) = self.head {
                arenas[h.index()].prev = Some(id);
            }
            self.head = Some(id);
            if self.last_with[1].is_none() {
                self.last_with[1] = Some(id);
            }
            return Returned::Keep;
        }

        if self.last_with[nf].is_none() {
            self.last_with[nf] = Some(id);
        }
        // Case 4: it was the last with the old count: still in order.
        if last_old == Some(id) {
            return Returned::Keep;
        }
        // Case 3: move it to just after the last arena with the old count.
        let after = last_old.expect("an arena with the old count exists after this one");
        self.unlink(arenas, id);
        let next = arenas[after.index()].next;
        arenas[i].prev = Some(after);
        arenas[i].next = next;
        arenas[after.index()].next = Some(id);
        if let Some(n) = next {
            arenas[n.index()].prev = Some(id);
        }
        Returned::Keep
    }

    /// Unlinks `id` from the list (fingers are the caller's business).
    fn unlink(&mut self, arenas: &mut [ArenaObject], id: ArenaId) {
        let (prev, next) = (arenas[id.index()].prev, arenas[id.index()].next);
        match prev {
            Some(p) => arenas[p.index()].next = next,
            None => self.head = next,
        }
        if let Some(n) = next {
            arenas[n.index()].prev = prev;
        }
        arenas[id.index()].next = None;
        arenas[id.index()].prev = None;
    }

    /// The arenas on the list, in order.
    #[cfg(any(test, feature = "checked"))]
    pub(crate) fn iter<'a>(&self, arenas: &'a [ArenaObject]) -> impl Iterator<Item = ArenaId> + 'a {
        let mut cur = self.head;
        core::iter::from_fn(move || {
            let id = cur?;
            cur = arenas[id.index()].next;
            Some(id)
        })
    }

    /// Validates order, back links and fingers (O(arenas)).
    #[cfg(any(test, feature = "checked"))]
    pub(crate) fn check(&self, arenas: &[ArenaObject]) {
        let mut prev: Option<ArenaId> = None;
        let mut last_nf = 0usize;
        let mut n = 0usize;
        for id in self.iter(arenas) {
            let a = &arenas[id.index()];
            assert!(a.address.is_some(), "unused slot {id:?} on the usable list");
            assert_eq!(a.prev, prev, "broken back link at {id:?}");
            let nf = a.nfreepools as usize;
            assert!(nf >= 1, "full arena {id:?} on the usable list");
            assert!(
                nf >= last_nf,
                "usable list not sorted at {id:?}: {nf} after {last_nf}"
            );
            let is_last = a
                .next
                .is_none_or(|nx| arenas[nx.index()].nfreepools as usize != nf);
            if is_last {
                assert_eq!(
                    self.last_with[nf],
                    Some(id),
                    "finger for {nf} free pools is wrong"
                );
            }
            last_nf = nf;
            prev = Some(id);
            n += 1;
            assert!(n <= arenas.len(), "usable list has a cycle");
        }
        for (k, f) in self.last_with.iter().enumerate() {
            if let Some(id) = f {
                assert_eq!(
                    arenas[id.index()].nfreepools as usize,
                    k,
                    "stale finger {k}"
                );
            }
        }
    }
}
