//! Pools: one size class's blocks inside a `POOL_SIZE`-aligned run of memory.
//!
//! A pool starts with a [`PoolHeader`] and is followed by blocks of one
//! size class. Blocks are handed out from an in-place singly linked free
//! list (the first word of a free block points to the next free block);
//! blocks never handed out yet are not on the list but "virgin" above
//! `nextoffset`, and are carved one at a time when the list runs dry
//! (lazy carving: a fresh pool touches one block, not all of them).
//!
//! ```text
//!  pool start (POOL_SIZE aligned)
//!  | header | blk | blk | blk | ... | blk | virgin ...... | tail |
//!  0        POOL_OVERHEAD               nextoffset        POOL_SIZE
//!                                        (<= maxnextoffset + size)
//! ```
//!
//! # Pool states
//!
//! | state | `count` | `freeblock` | on which list |
//! |---|---|---|---|
//! | **used** | `1..capacity` (or `capacity` while being refilled) | non-null | `usedpools[szidx]` (doubly linked through `nextpool`/`prevpool`) |
//! | **full** | `capacity` | null | none |
//! | **empty** | `0` | stale (the old free list, kept for reuse by the same class) | its arena's `freepools` (singly linked through `nextpool`) |
//!
//! Transitions: used → full when the last block is handed out (the pool is
//! unlinked at once, so every pool on a used list has a free block);
//! full → used on a free (linked at the *front* of its used list, so it is
//! the next one allocated from); used → empty on the last free (unlinked,
//! pushed on the arena's free-pool list); empty → used when an arena hands
//! out a free pool (its header is reinitialised unless it last held the
//! same class, in which case its free list is still valid).
#![allow(unsafe_code)]

use core::ptr::{self, NonNull};

use super::geometry::{Geometry, GeometryExt, MAX_CLASSES};
use super::size_class::SizeClass;

/// `szidx` of a pool that has never held a size class.
pub(crate) const NO_CLASS: u16 = u16::MAX;

/// The header at the start of every pool (48 bytes on 64-bit targets).
///
/// Invariants, for a carved pool `p` of an arena in use (all offsets are
/// from `p`'s address):
#[repr(C)]
#[derive(Debug)]
pub(crate) struct PoolHeader {
    /// The allocator owner's opaque word. Always at offset 0: the object layer
    /// masks an object address down to its pool and reads this word to find
    /// its heap. Written every time an arena hands the pool out, and by
    /// `Allocator::set_owner_tag` for every carved pool.
    pub(crate) owner: *const (),
    /// Head of the free-block list, null when there is none. Every block on
    /// the list is inside this pool at `POOL_OVERHEAD + k * block_size` below
    /// `nextoffset`, is not handed out, and holds the next list pointer in
    /// its first word. Non-null for every pool on a used list.
    pub(crate) freeblock: *mut u8,
    /// Next pool: in `usedpools[szidx]` for used pools, in the arena's
    /// `freepools` for empty pools; meaningless for full pools.
    pub(crate) nextpool: *mut PoolHeader,
    /// Previous pool in `usedpools[szidx]` (null for the head); used pools only.
    pub(crate) prevpool: *mut PoolHeader,
    /// Blocks handed out and not yet freed. 0 exactly for empty pools.
    /// A whole `u32` on its own: a 16-bit counter next to `szidx` made the
    /// compiler load the pair as 32 bits right after a 16-bit store, which
    /// defeats store-to-load forwarding on the LIFO fast path.
    pub(crate) count: u32,
    /// Size class index, or [`NO_CLASS`] for a pool that never held one.
    pub(crate) szidx: u16,
    /// Index of the owning arena in the arena table.
    pub(crate) arenaindex: u32,
    /// Offset of the first virgin block; every block below it has been carved.
    pub(crate) nextoffset: u16,
    /// The largest offset a block of this class can start at (`POOL_SIZE - block_size`).
    pub(crate) maxnextoffset: u16,
}

/// Writes the header of a pool just carved from an arena.
///
/// # Safety
///
/// `pool` is `POOL_SIZE`-aligned, valid for writes of `POOL_SIZE` bytes,
/// derived from the arena allocation pointer, and not otherwise in use.
pub(crate) unsafe fn init_carved(pool: *mut PoolHeader, arenaindex: u32) {
    // SAFETY: the caller guarantees `pool` is aligned and writable for a header.
    unsafe {
        pool.write(PoolHeader {
            owner: ptr::null(),
            freeblock: ptr::null_mut(),
            nextpool: ptr::null_mut(),
            prevpool: ptr::null_mut(),
            count: 0,
            szidx: NO_CLASS,
            arenaindex,
            nextoffset: 0,
            maxnextoffset: 0,
        });
    }
}

/// Prepares an empty pool to serve `class`. If the pool last held the same
/// class its free list is still valid and nothing is rewritten (CPython's
/// "luckily, same size class" shortcut); otherwise the first block is carved.
///
/// # Safety
///
/// `pool` is an empty pool (count 0, on no list) of a live arena, with a
/// header written by [`init_carved`].
#[inline]
pub(crate) unsafe fn init_for_class<G: Geometry>(pool: *mut PoolHeader, class: SizeClass) {
    let size = class.block_size::<G>();
    // SAFETY: `pool` is a valid header and the pool's memory is ours and unused.
    // The first block at POOL_OVERHEAD lies past the header and inside the pool:
    // POOL_OVERHEAD >= size_of::<PoolHeader>() and POOL_OVERHEAD + 512 <=
    // POOL_SIZE hold because pygc computes POOL_OVERHEAD itself (`GeometryExt`,
    // not overridable) and `CHECK` verified the pool size.
    unsafe {
        debug_assert_eq!((*pool).count, 0, "init of a pool in use");
        if (*pool).szidx == class.index() as u16 {
            debug_assert!(
                !(*pool).freeblock.is_null(),
                "reused pool has an empty free list"
            );
            return;
        }
        (*pool).szidx = class.index() as u16;
        let first = pool.cast::<u8>().add(G::POOL_OVERHEAD);
        first.cast::<*mut u8>().write(ptr::null_mut());
        (*pool).freeblock = first;
        (*pool).nextoffset = (G::POOL_OVERHEAD + size) as u16;
        (*pool).maxnextoffset = (G::POOL_SIZE - size) as u16;
    }
}

/// Takes one block from a pool with a non-empty free list. Returns the
/// block and whether the pool is now full (then the caller unlinks it).
///
/// # Safety
///
/// `pool` is a used pool (valid header, `freeblock` non-null) of class
/// `szidx` whose block size is `size`.
#[inline(always)]
pub(crate) unsafe fn pop_block(pool: *mut PoolHeader, size: usize) -> (NonNull<u8>, bool) {
    // SAFETY: used pools have a non-null `freeblock` pointing at a free block
    // of this pool, whose first word holds the next free block (or null); a
    // virgin block at `nextoffset` is inside the pool when `nextoffset <=
    // maxnextoffset`, and is aligned like every block.
    unsafe {
        let bp = (*pool).freeblock;
        debug_assert!(!bp.is_null(), "pop from a pool with no free block");
        (*pool).count += 1;
        let next = bp.cast::<*mut u8>().read();
        (*pool).freeblock = next;
        let mut full = false;
        if next.is_null() {
            // Lazy carving: the list ran dry; extend it by one virgin block.
            let off = (*pool).nextoffset;
            if off <= (*pool).maxnextoffset {
                let nb = pool.cast::<u8>().add(off as usize);
                nb.cast::<*mut u8>().write(ptr::null_mut());
                (*pool).freeblock = nb;
                (*pool).nextoffset = off + size as u16;
            } else {
                full = true;
            }
        }
        (NonNull::new_unchecked(bp), full)
    }
}

/// What a free did to its pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FreeOutcome {
    /// The pool stays used: nothing else to do (the common case).
    StillUsed,
    /// The pool was full; it must be linked at the front of its used list
    /// (or, if it is now also empty, returned to its arena).
    WasFull,
    /// The pool is now empty; it must leave its used list for the arena.
    NowEmpty,
}

/// Pushes block `p` onto its pool's free list.
///
/// Only the address of `p` is used: the link is written through a pointer
/// derived from `pool` (`with_addr`), because `p` comes from the user and
/// may carry a borrow tag covering only the value (a `Box<[u8; 3]>` retag
/// covers 3 bytes, the link is 8), and the free list must hold pointers
/// with the pool's provenance for later allocations to hand out.
///
/// # Safety
///
/// `p` is a block handed out by [`pop_block`] from `pool` and not freed since;
/// `pool` is `p`'s pool header (`p` masked down to `POOL_SIZE`), with
/// provenance over the whole pool (derived from the arena allocation).
#[inline(always)]
pub(crate) unsafe fn push_block(pool: *mut PoolHeader, p: NonNull<u8>) -> FreeOutcome {
    let block = pool.cast::<u8>().with_addr(p.as_ptr().addr());
    // SAFETY: `p` is a live block of `pool` (contract), so `block` (same
    // address) is aligned for a pointer, at least 8 bytes long, and inside the
    // pool, whose provenance `block` carries; `pool` is its valid header.
    unsafe {
        debug_assert!((*pool).count > 0, "free into an empty pool");
        let last = (*pool).freeblock;
        block.cast::<*mut u8>().write(last);
        (*pool).freeblock = block;
        (*pool).count -= 1;
        if last.is_null() {
            FreeOutcome::WasFull
        } else if (*pool).count == 0 {
            FreeOutcome::NowEmpty
        } else {
            FreeOutcome::StillUsed
        }
    }
}

/// Why a pointer handed to `Allocator::free` is not a live block.
pub(crate) type BadBlock = &'static str;

/// Checks that `p` is a live block of `pool`: on a block boundary, carved,
/// and not on the free list. Walks the free list (O(blocks per pool)).
///
/// # Safety
///
/// `pool` is a carved pool's valid header with provenance over the pool,
/// and `p` points inside that pool.
pub(crate) unsafe fn check_live_block<G: Geometry>(
    pool: *mut PoolHeader,
    p: *const u8,
    walk_free_list: bool,
) -> Result<(), BadBlock> {
    // SAFETY: `pool` is a valid header (contract); free-list links point at
    // blocks of this pool by the `freeblock` invariant.
    unsafe {
        let h = &*pool;
        if h.count == 0 || h.szidx == NO_CLASS {
            return Err("pointer is in an empty pool (double free?)");
        }
        let size = (h.szidx as usize + 1) << G::ALIGNMENT_SHIFT;
        let off = p.addr() - pool.addr();
        if off < G::POOL_OVERHEAD || (off - G::POOL_OVERHEAD) % size != 0 {
            return Err("pointer is not at the start of a block");
        }
        if off >= h.nextoffset as usize {
            return Err("pointer is a block that was never handed out");
        }
        if walk_free_list {
            let mut q = h.freeblock;
            let mut steps = 0usize;
            while !q.is_null() {
                if ptr::eq(q, p) {
                    return Err("double free: the block is already free");
                }
                steps += 1;
                if steps > G::POOL_SIZE / size {
                    return Err("pool free list is corrupt (cycle)");
                }
                q = q.cast::<*mut u8>().read();
            }
        }
        Ok(())
    }
}

/// Snapshot of a pool header's counters, for stats and validation.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(any(test, feature = "checked")), allow(dead_code))]
pub(crate) struct PoolInfo {
    pub(crate) count: usize,
    pub(crate) szidx: u16,
    pub(crate) free_is_null: bool,
    pub(crate) nextoffset: usize,
    pub(crate) maxnextoffset: usize,
    pub(crate) arenaindex: u32,
    pub(crate) owner: *const (),
}

/// Reads a pool header.
///
/// # Safety
///
/// `pool` is a carved pool's valid header.
pub(crate) unsafe fn info(pool: *const PoolHeader) -> PoolInfo {
    // SAFETY: `pool` is a valid header (contract).
    let h = unsafe { &*pool };
    PoolInfo {
        count: h.count as usize,
        szidx: h.szidx,
        free_is_null: h.freeblock.is_null(),
        nextoffset: h.nextoffset as usize,
        maxnextoffset: h.maxnextoffset as usize,
        arenaindex: h.arenaindex,
        owner: h.owner,
    }
}

/// Sets a pool's owner tag.
///
/// # Safety
///
/// `pool` is a carved pool's valid header.
#[inline]
pub(crate) unsafe fn set_owner(pool: *mut PoolHeader, owner: *const ()) {
    // SAFETY: `pool` is a valid header (contract).
    unsafe { (*pool).owner = owner }
}

/// Reads and writes a pool's `nextpool` link.
///
/// # Safety
///
/// `pool` is a carved pool's valid header.
#[inline]
pub(crate) unsafe fn next_of(pool: *mut PoolHeader) -> *mut PoolHeader {
    // SAFETY: `pool` is a valid header (contract).
    unsafe { (*pool).nextpool }
}

/// Sets a pool's `nextpool` link.
///
/// # Safety
///
/// `pool` is a carved pool's valid header.
#[inline]
pub(crate) unsafe fn set_next(pool: *mut PoolHeader, next: *mut PoolHeader) {
    // SAFETY: `pool` is a valid header (contract).
    unsafe { (*pool).nextpool = next }
}

/// Validates a pool's free list against its header (O(blocks)). Returns the
/// number of blocks on the free list.
///
/// # Safety
///
/// `pool` is a carved pool's valid header, in the used or full state.
#[cfg(any(test, feature = "checked"))]
pub(crate) unsafe fn check_free_list<G: Geometry>(pool: *mut PoolHeader) -> usize {
    // SAFETY: `pool` is valid; each free-list entry is checked to be a block
    // of this pool below `nextoffset` before it is read.
    unsafe {
        let h = &*pool;
        let size = (h.szidx as usize + 1) << G::ALIGNMENT_SHIFT;
        let cap = (G::POOL_SIZE - G::POOL_OVERHEAD) / size;
        let mut n = 0usize;
        let mut q = h.freeblock;
        while !q.is_null() {
            let off = q.addr().wrapping_sub(pool.addr());
            assert!(
                off >= G::POOL_OVERHEAD && off < h.nextoffset as usize,
                "free block at offset {off} outside carved area (nextoffset {})",
                h.nextoffset
            );
            assert_eq!(
                (off - G::POOL_OVERHEAD) % size,
                0,
                "free block off a block boundary"
            );
            n += 1;
            assert!(n <= cap, "free list longer than the pool's capacity {cap}");
            q = q.cast::<*mut u8>().read();
        }
        n
    }
}

/// The per-class lists of used pools (CPython's `usedpools`): a pool with a
/// free block for class `c` is `heads[c]`, found in O(1).
#[derive(Debug)]
pub(crate) struct UsedPools {
    /// `heads[c]`: first pool of the doubly linked list of used pools of
    /// class `c`, or null. Every pool on list `c` is carved, in a live arena,
    /// has `szidx == c`, `count >= 1` and a non-null `freeblock`; the head
    /// has a null `prevpool`.
    pub(crate) heads: [*mut PoolHeader; MAX_CLASSES],
}

impl UsedPools {
    /// No used pools.
    pub(crate) const fn new() -> Self {
        UsedPools {
            heads: [ptr::null_mut(); MAX_CLASSES],
        }
    }

    /// Links `pool` at the front of list `class`.
    ///
    /// # Safety
    ///
    /// `pool` is a valid header of class `class`, on no list, with a free block.
    #[inline]
    pub(crate) unsafe fn link_front(&mut self, class: usize, pool: *mut PoolHeader) {
        let head = self.heads[class];
        // SAFETY: `pool` is valid (contract) and `head` is null or a valid
        // pool of this list (field invariant).
        unsafe {
            (*pool).nextpool = head;
            (*pool).prevpool = ptr::null_mut();
            if !head.is_null() {
                (*head).prevpool = pool;
            }
        }
        self.heads[class] = pool;
    }

    /// Unlinks `pool` from list `class`.
    ///
    /// # Safety
    ///
    /// `pool` is on list `class`.
    #[inline]
    pub(crate) unsafe fn unlink(&mut self, class: usize, pool: *mut PoolHeader) {
        // SAFETY: `pool` is on the list (contract), so its neighbours are
        // null or valid pools of the same list.
        unsafe {
            let next = (*pool).nextpool;
            let prev = (*pool).prevpool;
            if prev.is_null() {
                debug_assert!(
                    ptr::eq(self.heads[class], pool),
                    "unlink of a pool not on its list"
                );
                self.heads[class] = next;
            } else {
                (*prev).nextpool = next;
            }
            if !next.is_null() {
                (*next).prevpool = prev;
            }
            (*pool).nextpool = ptr::null_mut();
            (*pool).prevpool = ptr::null_mut();
        }
    }
}
