//! [`Allocator`]: the pymalloc front end tying pools, arenas and the system
//! layer together (CPython's `pymalloc_alloc` / `pymalloc_free` /
//! `pymalloc_realloc`).
//!
//! Read [`Allocator::alloc`] and [`Allocator::dealloc`] first: each is a
//! short inline fast path (pop or push one block of the head pool of a size
//! class) that falls into a `#[cold]` slow path only when a pool runs out,
//! fills up, or empties.
#![allow(unsafe_code)]

use core::alloc::Layout;
use core::fmt;
use core::ptr::{self, NonNull};

use super::arena::ArenaTable;
use super::events::{ArenaEvent, EventMode, Pending};
use super::geometry::{DefaultGeometry, Geometry, GeometryExt, MAX_CLASSES};
use super::pool::{self, FreeOutcome, PoolHeader, UsedPools};
use super::route::{Placement, placement};
use super::size_class::SizeClass;
use super::stats::AllocStats;
use super::system;
use super::usable::{Returned, UsableArenas};

/// A pymalloc-style small-object allocator. Single-threaded: every method
/// takes `&mut self` (wrap it in [`GlobalPool`](super::GlobalPool) or
/// [`LocalPool`](super::LocalPool) to share it).
///
/// Requests of 1..=512 bytes with an alignment of at most `G::ALIGNMENT`
/// are served from pools; everything else (0 bytes, larger, over-aligned)
/// goes to the system allocator, correctly aligned. Dropping the allocator
/// returns every arena to the system (blocks still handed out dangle).
///
/// # Example
///
/// ```
/// use std::alloc::Layout;
/// use pygc::alloc::Allocator;
///
/// let mut a: Allocator = Allocator::new();
/// let layout = Layout::new::<[u64; 3]>();
/// let p = a.alloc(layout).expect("out of memory");
/// assert!(a.owns(p.as_ptr()));
/// unsafe { p.as_ptr().write_bytes(0xAB, layout.size()) };
/// let q = unsafe { a.realloc(p, layout, 20) }.unwrap(); // 20 of 24 bytes: stays
/// assert_eq!(p, q);
/// unsafe { a.dealloc(q, Layout::from_size_align(20, 8).unwrap()) };
/// assert_eq!(a.stats().bytes_in_use, 0);
/// ```
pub struct Allocator<G: Geometry = DefaultGeometry> {
    /// Per-class lists of pools with a free block (see `pool.rs`).
    pub(super) usedpools: UsedPools,
    /// Arena slots, address index and counters (see `arena.rs`).
    pub(super) arenas: ArenaTable<G>,
    /// Arenas with a free pool, fullest first (see `usable.rs`).
    pub(super) usable: UsableArenas,
    /// Written at offset 0 of every pool header.
    owner_tag: *const (),
    /// What happens to the `tracing` events on arena acquire/release
    /// (see `events.rs`): emitted at once, deferred for `LocalPool`, or
    /// dropped for `GlobalPool`.
    events: EventMode,
    /// Events recorded in [`EventMode::Deferred`], drained by the owner
    /// after its borrow ends ([`take_events`](Self::take_events)).
    pending: Pending,
    /// Blocks currently handed out by the system path.
    large_blocks: usize,
    /// Bytes requested by the blocks in `large_blocks`.
    large_bytes: usize,
    /// The one empty pool kept on its used list instead of going back to its arena (null
    /// when none): see [`pool_now_empty`](Self::pool_now_empty). Cleared whenever that
    /// pool is returned, so it never points outside a carved pool of a live arena.
    parked: *mut PoolHeader,
    /// Whether empty pools are parked at all ([`set_keep_empty_pool`](Self::set_keep_empty_pool)).
    keep_empty_pool: bool,
}

// SAFETY: the allocator owns all memory its raw pointers refer to (arenas and
// their pools, reached only through `&mut self`); it has no thread-affine
// state. The owner tag is an opaque word that is stored, never dereferenced.
unsafe impl<G: Geometry> Send for Allocator<G> {}

impl<G: Geometry> Default for Allocator<G> {
    fn default() -> Self {
        Self::new()
    }
}

impl<G: Geometry> fmt::Debug for Allocator<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Allocator")
            .field("arena_size", &G::ARENA_SIZE)
            .field("pool_size", &G::POOL_SIZE)
            .field("alignment", &G::ALIGNMENT)
            .field("arenas", &self.arenas.counters.current)
            .finish_non_exhaustive()
    }
}

impl<G: Geometry> Allocator<G> {
    /// An empty allocator. Allocates nothing until the first small request.
    /// `tracing` events on arena acquire/release are on.
    pub const fn new() -> Self {
        // Compile-time check of the geometry's constraints.
        let () = G::CHECK;
        Allocator {
            usedpools: UsedPools::new(),
            arenas: ArenaTable::new(),
            usable: UsableArenas::new(),
            owner_tag: ptr::null(),
            events: EventMode::Immediate,
            pending: Pending::new(),
            large_blocks: 0,
            large_bytes: 0,
            parked: ptr::null_mut(),
            keep_empty_pool: true,
        }
    }

    /// Like [`new`](Self::new) but never emits `tracing` events (a tracing
    /// subscriber may allocate, which would re-enter a global allocator).
    pub const fn new_silent() -> Self {
        let mut a = Self::new();
        a.events = EventMode::Silent;
        a
    }

    /// Like [`new`](Self::new) but records its `tracing` events instead of
    /// emitting them: the owner emits what [`take_events`](Self::take_events)
    /// returns once it no longer borrows the allocator (`LocalPool`).
    pub(crate) const fn new_deferred() -> Self {
        let mut a = Self::new();
        a.events = EventMode::Deferred;
        a
    }

    /// Whether events are recorded and waiting for [`take_events`](Self::take_events).
    #[inline(always)]
    pub(crate) fn has_events(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The events recorded since the last call, if any (deferred mode).
    #[inline(always)]
    pub(crate) fn take_events(&mut self) -> Option<Pending> {
        if self.pending.is_empty() {
            None
        } else {
            Some(self.pending.take())
        }
    }

    /// Handles one arena event according to the event mode.
    #[cold]
    fn note(&mut self, ev: ArenaEvent) {
        match self.events {
            EventMode::Silent => {}
            EventMode::Immediate => ev.emit(),
            EventMode::Deferred => self.pending.push(ev),
        }
    }

    /// Sets the opaque word stored at offset 0 of every pool header. Applies
    /// to every pool already carved (O(pools)) and to every pool handed out
    /// later, so it may be called at any time.
    ///
    /// ```
    /// use pygc::alloc::{Allocator, DefaultGeometry, Geometry};
    /// let mut a: Allocator = Allocator::new();
    /// static HEAP: u8 = 0;
    /// a.set_owner_tag(&HEAP as *const u8 as *const ());
    /// let p = a.alloc(std::alloc::Layout::new::<u64>()).unwrap();
    /// let pool = p.as_ptr().map_addr(|x| x & !(DefaultGeometry::POOL_SIZE - 1));
    /// let tag = unsafe { pool.cast::<*const ()>().read() };
    /// assert_eq!(tag, &HEAP as *const u8 as *const ());
    /// # unsafe { a.dealloc(p, std::alloc::Layout::new::<u64>()) };
    /// ```
    #[allow(
        clippy::not_unsafe_ptr_arg_deref,
        reason = "the tag is stored in pool headers, never dereferenced"
    )]
    pub fn set_owner_tag(&mut self, tag: *const ()) {
        self.owner_tag = tag;
        self.arenas.for_each_carved_pool(|_, p| {
            // SAFETY: `for_each_carved_pool` yields valid headers of live arenas.
            unsafe { pool::set_owner(p, tag) }
        });
    }

    /// The current owner tag.
    pub fn owner_tag(&self) -> *const () {
        self.owner_tag
    }

    /// Allocates a block for `layout`; `None` when the system is out of memory.
    /// The block is at least `layout.size()` bytes and aligned to
    /// `layout.align()`. Small requests come from a pool; 0-byte, >512-byte
    /// and over-aligned ones from the system allocator.
    #[inline]
    pub fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        if let Placement::Small(class) = placement::<G>(layout) {
            return self.alloc_small(class);
        }
        self.alloc_large(layout)
    }

    /// A block of `class` from a pool: the fast path of [`alloc`](Self::alloc), for a caller
    /// that already routed its request with [`placement`] (the object heap).
    #[inline]
    pub(crate) fn alloc_small(&mut self, class: SizeClass) -> Option<NonNull<u8>> {
        let idx = class.index();
        let pool = self.usedpools.heads[idx & (MAX_CLASSES - 1)];
        if !pool.is_null() {
            let bsize = class.block_size::<G>();
            // SAFETY: pools on a used list have a valid header and a free
            // block (UsedPools invariant); `bsize` is their block size.
            let (bp, full) = unsafe { pool::pop_block(pool, bsize) };
            if full {
                // SAFETY: `pool` is on list `idx` (it was its head).
                unsafe { self.usedpools.unlink(idx, pool) };
            }
            return Some(bp);
        }
        self.allocate_from_new_pool(idx)
    }

    /// Slow path: class `idx` has no used pool; take a pool from the fullest
    /// usable arena (acquiring an arena if there is none), then retry.
    #[cold]
    #[inline(never)]
    fn allocate_from_new_pool(&mut self, idx: usize) -> Option<NonNull<u8>> {
        let class = SizeClass::from_index::<G>(idx).expect("class index in range");
        let id = match self.usable.head() {
            Some(id) => id,
            None => {
                let (id, event) = self.arenas.acquire()?;
                self.note(event);
                self.usable.push_new(&mut self.arenas.objs, id);
                id
            }
        };
        let pool = self.arenas.take_pool(id, self.owner_tag);
        self.usable.took_pool_from_head(&mut self.arenas.objs, id);
        // SAFETY: `take_pool` returns an empty pool on no list with a valid header;
        // after init it has a free block, so it may join list `idx`.
        unsafe {
            pool::init_for_class::<G>(pool, class);
            self.usedpools.link_front(idx, pool);
        }
        // Retry the fast path: it now finds `pool`.
        self.alloc(Layout::from_size_align(class.block_size::<G>(), 1).expect("small layout"))
    }

    /// The system path of [`alloc`](Self::alloc).
    #[cold]
    #[inline(never)]
    fn alloc_large(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        let p = system::alloc_large(layout)?;
        self.large_blocks += 1;
        self.large_bytes += layout.size();
        Some(p)
    }

    /// Frees a block. The layout decides the path: no ownership lookup.
    ///
    /// # Safety
    ///
    /// `ptr` was returned by [`alloc`](Self::alloc) or
    /// [`realloc`](Self::realloc) of this allocator with a layout of the same
    /// alignment and size `layout.size()` (the size last requested), and has
    /// not been freed since.
    #[inline]
    pub unsafe fn dealloc(&mut self, ptr: NonNull<u8>, layout: Layout) {
        if placement::<G>(layout).is_small() {
            // SAFETY: small layouts come from pools (contract), so `ptr` is a live
            // block and masking it gives its pool header, with its provenance.
            unsafe { self.free_small(ptr) }
        } else {
            // SAFETY: non-small layouts come from the system path (contract).
            unsafe { self.dealloc_large(ptr, layout) }
        }
    }

    /// Pushes a live pool block back on its pool.
    ///
    /// # Safety
    ///
    /// `ptr` is a live block of one of this allocator's pools, with
    /// provenance over its pool.
    #[inline(always)]
    pub(crate) unsafe fn free_small(&mut self, ptr: NonNull<u8>) {
        // The header comes from the arena's own pointer: `ptr` may carry a
        // borrow tag that covers only the value, so neither the header nor the
        // free-list link is written through it (`push_block` uses only its
        // address).
        let Some(pool) = self.arenas.pool_header_of(ptr.as_ptr().addr()) else {
            debug_assert!(false, "dealloc of a pointer outside our arenas: {ptr:p}");
            return;
        };
        // SAFETY: `ptr` is a live block (contract) and `pool` its header.
        match unsafe { pool::push_block(pool, ptr) } {
            FreeOutcome::StillUsed => {}
            // SAFETY: the pool is full (on no list) resp. used and now empty.
            FreeOutcome::WasFull => unsafe { self.pool_was_full(pool) },
            // SAFETY: as above.
            // The parked pool emptying again is the alloc/free loop hysteresis exists for: it
            // stays parked (it may sit empty on its used list; `return_pool` trims it if it
            // alone keeps its arena), so that loop pays one compare here.
            FreeOutcome::NowEmpty if pool == self.parked => {}
            // SAFETY: as above.
            FreeOutcome::NowEmpty => unsafe { self.pool_now_empty(pool) },
        }
    }

    /// A free into a full pool: link it at the front of its used list (it has
    /// exactly one free block now), or straight back to its arena if that
    /// was its only block.
    ///
    /// # Safety
    ///
    /// `pool` is a carved pool that was full and just got one block back.
    /// Not `#[cold]`: with many live blocks most pools are full, and this
    /// runs on most frees (it is what a free costs in steady state).
    #[inline]
    unsafe fn pool_was_full(&mut self, pool: *mut PoolHeader) {
        // SAFETY: `pool` is a valid header (contract).
        let info = unsafe { pool::info(pool) };
        if info.count == 0 {
            // SAFETY: empty and on no list.
            unsafe { self.return_pool(pool) };
        } else {
            // SAFETY: on no list, with one free block.
            unsafe { self.usedpools.link_front(info.szidx as usize, pool) };
        }
    }

    /// The last block of a used pool came back.
    ///
    /// CPython gives the pool back to its arena at once, and the next allocation of the
    /// class takes a pool from the arena again and re-initialises it: a loop that allocates
    /// and frees one block on an otherwise empty class pays both slow paths on every
    /// iteration. Hysteresis instead: when the pool is the only one of its class, it stays
    /// on its used list, empty ("parked"), and the next allocation pops from it on the fast
    /// path. At most one pool is parked at a time (parking another gives the previous one
    /// back if it is still empty), so the memory kept is one pool and at most one arena
    /// that would otherwise have been released. [`stats`](Self::stats) counts a parked pool
    /// as unused, as CPython's numbers would; [`trim`](Self::trim) gives it back.
    ///
    /// # Safety
    ///
    /// `pool` is on its used list and has count 0.
    #[cold]
    #[inline(never)]
    unsafe fn pool_now_empty(&mut self, pool: *mut PoolHeader) {
        // SAFETY: `pool` is a valid header on list `szidx` (contract).
        let idx = unsafe { pool::info(pool).szidx } as usize;
        // SAFETY: as above.
        let sole = self.usedpools.heads[idx] == pool && unsafe { pool::next_of(pool) }.is_null();
        if sole && self.keep_empty_pool && !self.return_would_release(pool) {
            if self.parked != pool {
                let previous = core::mem::replace(&mut self.parked, pool);
                // SAFETY: `parked` is null or a carved pool of a live arena (field
                // invariant: `return_pool` clears it).
                unsafe { self.give_back_if_empty(previous) };
            }
            return;
        }
        // SAFETY: `pool` is a valid header on list `idx` (contract).
        unsafe {
            self.usedpools.unlink(idx, pool);
            self.return_pool(pool);
        }
    }

    /// Gives the parked pool back to its arena if it is still empty (an allocation may have
    /// used it since; then it is an ordinary used or full pool and stays).
    ///
    /// # Safety
    ///
    /// `pool` is null or a carved pool of a live arena of this allocator.
    unsafe fn give_back_if_empty(&mut self, pool: *mut PoolHeader) {
        if pool.is_null() {
            return;
        }
        // SAFETY: a carved pool has a valid header (contract).
        let info = unsafe { pool::info(pool) };
        if info.count == 0 {
            // An empty carved pool that is not in its arena's free list is on its used list:
            // only `pool_now_empty` leaves an empty pool outside the arena, and it leaves it
            // linked.
            // SAFETY: as just argued, `pool` is on list `szidx` with count 0.
            unsafe {
                self.usedpools.unlink(info.szidx as usize, pool);
                self.return_pool(pool);
            }
        }
    }

    /// Gives the parked empty pool (see `pool_now_empty`) back to its
    /// arena, releasing the arena if it became wholly free: afterwards the allocator holds
    /// exactly what CPython's would.
    pub fn trim(&mut self) {
        let parked = core::mem::replace(&mut self.parked, ptr::null_mut());
        // SAFETY: `parked` is null or a carved pool of a live arena (field invariant).
        unsafe { self.give_back_if_empty(parked) };
    }

    /// Gives an empty pool (on no list) back to its arena and runs the
    /// arena bookkeeping, releasing the arena if it became wholly free.
    ///
    /// # Safety
    ///
    /// `pool` is a valid header with count 0 on no list.
    unsafe fn return_pool(&mut self, pool: *mut PoolHeader) {
        if pool == self.parked {
            // The parked pool leaves its list: forget it before its arena may go.
            self.parked = ptr::null_mut();
        }
        // SAFETY: per the contract.
        let id = unsafe { self.arenas.put_pool(pool) };
        if self.usable.pool_returned(&mut self.arenas.objs, id) == Returned::Release {
            let event = self.arenas.release(id);
            self.note(event);
        } else if !self.parked.is_null() && self.return_would_release(self.parked) {
            // The parked pool is now all that keeps its arena: CPython would release that
            // arena here, so give the pool back too (this recurses once: `parked` is null).
            self.trim();
        }
    }

    /// Whether giving `pool` (empty, of a live arena) back would release its arena: the
    /// arena's every other pool is free and it is not the last usable arena
    /// (`UsableArenas::pool_returned`'s rule).
    fn return_would_release(&self, pool: *mut PoolHeader) -> bool {
        // SAFETY: callers pass a carved pool of a live arena (`pool_now_empty`'s contract,
        // or the `parked` field invariant).
        let info = unsafe { pool::info(pool) };
        let arena = &self.arenas.objs[info.arenaindex as usize];
        info.count == 0
            && arena.nfreepools > 0
            && arena.nfreepools + 1 == arena.ntotalpools
            && arena.next.is_some()
    }

    /// Whether an empty pool that is the only pool of its class stays on its used list
    /// ("parked", see `pool_now_empty`). On by default. Off gives
    /// CPython's exact pool order: an emptied pool always goes back to its arena at once,
    /// so the next pool carved for any class is that one. Turning it off gives the parked
    /// pool back.
    pub fn set_keep_empty_pool(&mut self, keep: bool) {
        self.keep_empty_pool = keep;
        if !keep {
            self.trim();
        }
    }

    /// The system path of [`dealloc`](Self::dealloc).
    ///
    /// # Safety
    ///
    /// `ptr` came from the system path with `layout`.
    #[cold]
    #[inline(never)]
    unsafe fn dealloc_large(&mut self, ptr: NonNull<u8>, layout: Layout) {
        self.large_blocks -= 1;
        self.large_bytes -= layout.size();
        // SAFETY: per the contract.
        unsafe { system::dealloc_large(ptr, layout) }
    }

    /// Resizes a block to `new_size` bytes (same alignment), returning the
    /// new pointer or `None` (the old block is then untouched). A pool block
    /// stays in place if `new_size` fits its block and shrinking would save
    /// less than 25% (`4 * new_size > 3 * block_size`); otherwise the data
    /// moves (`min(old, new)` bytes are copied).
    ///
    /// # Safety
    ///
    /// As for [`dealloc`](Self::dealloc) with `old`. Afterwards the block is
    /// described by `Layout::from_size_align(new_size, old.align())`.
    pub unsafe fn realloc(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        let new = Layout::from_size_align(new_size, old.align()).ok()?;
        if placement::<G>(old).is_small() {
            // The real block size, from the pool header: after an in-place
            // shrink the layout no longer names the block's class.
            let pool = self
                .arenas
                .pool_header_of(ptr.as_ptr().addr())
                .expect("a pool block");
            // SAFETY: `ptr` is a live pool block (contract), so `pool` is its header.
            let block = (unsafe { pool::info(pool) }.szidx as usize + 1) << G::ALIGNMENT_SHIFT;
            // Keeping requires `new` to be small too (4*new > 3*block > 0), so a
            // later dealloc with `new` still goes to the pools.
            if new_size <= block && 4 * new_size > 3 * block {
                return Some(ptr);
            }
        } else if placement::<G>(old) == Placement::Large && placement::<G>(new) == Placement::Large
        {
            // System to system: let the system resize in place if it can.
            // SAFETY: `ptr` came from the system path with `old` (contract).
            let p = unsafe { system::realloc_large(ptr, old, new_size) }?;
            self.large_bytes = self.large_bytes - old.size() + new_size;
            return Some(p);
        }
        let p = self.alloc(new)?;
        // SAFETY: both blocks are live, distinct, and at least
        // `min(old, new)` bytes long.
        unsafe {
            ptr::copy_nonoverlapping(ptr.as_ptr(), p.as_ptr(), old.size().min(new_size));
            self.dealloc(ptr, old);
        }
        Some(p)
    }

    /// Whether `ptr` lies in one of our arenas (CPython's `address_in_range`).
    /// Masks the address down to its arena and looks it up in the arena
    /// index: never reads memory. System-path blocks are not "owned".
    #[inline]
    pub fn owns(&self, ptr: *const u8) -> bool {
        self.arenas.lookup(ptr.addr()).is_some()
    }

    /// Frees a pool block without a layout, pymalloc style, validating it first.
    ///
    /// Only pool blocks can be freed this way (the system path needs the
    /// layout: use [`dealloc`](Self::dealloc) for those).
    ///
    /// # Panics
    ///
    /// In debug builds, panics with `"free of a pointer not owned by this
    /// allocator"` for a pointer outside our arenas, and with a message
    /// starting `"invalid free"` (e.g. `"invalid free: double free: the block
    /// is already free"`) for a pointer in our arenas that is not a live
    /// block. The check runs before anything is modified, so the allocator
    /// is intact after the panic.
    ///
    /// In release builds the same checks run except the walk of the pool's
    /// free list (O(blocks per pool)); a bad pointer that they catch is
    /// ignored (leaked, nothing modified). A double free of a block whose pool
    /// is still in use is only caught in debug builds: in release it corrupts
    /// that pool's free list, like any allocator's double free.
    ///
    /// # Safety
    ///
    /// `ptr` is a live block from [`alloc`](Self::alloc) or
    /// [`realloc`](Self::realloc) with a small layout (or, in debug builds,
    /// anything: bad pointers panic).
    pub unsafe fn free(&mut self, ptr: NonNull<u8>) {
        let addr = ptr.as_ptr().addr();
        let Some(id) = self.arenas.lookup(addr) else {
            if cfg!(debug_assertions) {
                panic!("free of a pointer not owned by this allocator: {ptr:p}");
            }
            return;
        };
        let Some(pool) = self.arenas.carved_pool_at(id, addr) else {
            if cfg!(debug_assertions) {
                panic!("invalid free: pointer is in a pool never used: {ptr:p}");
            }
            return;
        };
        // Rederive the block from the arena allocation so that it carries the
        // arena's provenance whatever the caller's pointer carried.
        let block = self.arenas.rederive(id, addr);
        // SAFETY: `pool` is a carved pool's header (carved_pool_at) derived from
        // the arena base, and `block` points inside that pool.
        let verdict = unsafe { pool::check_live_block::<G>(pool, block, cfg!(debug_assertions)) };
        if let Err(why) = verdict {
            if cfg!(debug_assertions) {
                panic!("invalid free: {why}: {ptr:p}");
            }
            return;
        }
        // SAFETY: `block` is a live block of `pool` (just checked; in release the
        // free-list walk is skipped per the documented contract), with the
        // arena's provenance.
        unsafe { self.free_small(NonNull::new_unchecked(block)) }
    }

    /// A snapshot of the allocator's numbers (O(pools)).
    pub fn stats(&self) -> AllocStats {
        let mut s = AllocStats::empty::<G>();
        self.arenas.for_each_carved_pool(|_, p| {
            // SAFETY: yields valid headers of live arenas.
            let info = unsafe { pool::info(p) };
            if info.count == 0 {
                // Empty: counted with the arena's free pools below, or the parked pool.
                if p == self.parked {
                    s.unused_pools += 1;
                }
                return;
            }
            let c = &mut s.classes[info.szidx as usize];
            let cap = SizeClass::from_index::<G>(info.szidx as usize)
                .expect("valid class")
                .blocks_per_pool::<G>();
            c.pools += 1;
            c.blocks_in_use += info.count;
            c.blocks_available += cap - info.count;
        });
        for obj in self.arenas.objs.iter().filter(|o| o.address.is_some()) {
            s.unused_pools += obj.nfreepools as usize;
        }
        let cnt = self.arenas.counters;
        s.arenas_allocated_total = cnt.allocated_total;
        s.arenas_reclaimed = cnt.reclaimed;
        s.arenas_highwater = cnt.highwater;
        s.arenas_current = cnt.current;
        s.large_blocks = self.large_blocks;
        s.large_bytes = self.large_bytes;
        s.finish::<G>();
        s
    }

    /// Validates every pool and arena invariant (O(arenas + pools + free
    /// blocks)); panics with a message naming the broken invariant.
    #[cfg(any(test, feature = "checked"))]
    pub fn check(&self) {
        let objs = &self.arenas.objs;
        // Address index: exactly the live arenas, sorted, aligned.
        let live = objs.iter().filter(|o| o.address.is_some()).count();
        assert_eq!(
            self.arenas.index_entries().count(),
            live,
            "address map out of sync"
        );
        assert_eq!(
            live, self.arenas.counters.current,
            "arena counter out of sync"
        );
        for (addr, id) in self.arenas.index_entries() {
            assert_eq!(
                self.arenas.lookup(addr + G::ARENA_SIZE - 1),
                Some(id),
                "map lookup fails"
            );
            assert_eq!(addr % G::ARENA_SIZE, 0, "arena not aligned to its size");
            let base = objs[id.index()].address.expect("indexed arena is live");
            assert_eq!(base.as_ptr().addr(), addr);
        }
        // Arena counters and free-pool lists.
        for (i, obj) in objs.iter().enumerate() {
            if obj.address.is_none() {
                continue;
            }
            let id = super::arena::ArenaId::from_index(i);
            assert_eq!(obj.ntotalpools as usize, G::POOLS_PER_ARENA);
            assert!(obj.pools_carved <= obj.ntotalpools);
            let cached = self.arenas.check_freepools(id);
            assert_eq!(
                obj.carved_free(),
                cached,
                "nfreepools disagrees with freepools list"
            );
        }
        // The usable list: sorted, fingers right, and exactly the arenas with a free pool.
        self.usable.check(objs);
        let on_list = self.usable.iter(objs).count();
        let with_free = objs
            .iter()
            .filter(|o| o.address.is_some() && o.nfreepools > 0)
            .count();
        assert_eq!(
            on_list, with_free,
            "usable list misses an arena with free pools"
        );
        // Used lists: every member is a used pool of its class.
        let mut listed = 0usize;
        for (c, &head) in self.usedpools.heads.iter().enumerate() {
            let mut p = head;
            let mut prev: *mut PoolHeader = ptr::null_mut();
            while !p.is_null() {
                assert!(self.owns(p.cast()), "used list {c} has a foreign pool");
                // SAFETY: `p` is in one of our arenas (just checked) and list
                // members are carved pools.
                let (info, back) = unsafe { (pool::info(p), (*p).prevpool) };
                assert_eq!(back, prev, "used list {c} back link broken");
                assert_eq!(info.szidx as usize, c, "pool on the wrong used list");
                assert!(
                    info.count >= 1 || p == self.parked,
                    "empty pool on used list {c} (not the parked one)"
                );
                assert!(
                    !info.free_is_null,
                    "pool without a free block on used list {c}"
                );
                listed += 1;
                prev = p;
                // SAFETY: as above.
                p = unsafe { pool::next_of(p) };
            }
        }
        // Every carved pool: used/full/empty consistent with its header.
        let mut used = 0usize;
        self.arenas.for_each_carved_pool(|id, p| {
            // SAFETY: valid headers of live arenas.
            let info = unsafe { pool::info(p) };
            assert_eq!(
                info.arenaindex as usize,
                id.index(),
                "pool arena index wrong"
            );
            assert_eq!(info.owner, self.owner_tag, "pool owner tag stale");
            if info.count == 0 {
                if p == self.parked {
                    used += 1; // the parked pool: empty, on its used list
                }
                return;
            }
            let class = SizeClass::from_index::<G>(info.szidx as usize).expect("valid class");
            let size = class.block_size::<G>();
            let cap = class.blocks_per_pool::<G>();
            assert_eq!(info.maxnextoffset, G::POOL_SIZE - size);
            assert!(info.nextoffset <= info.maxnextoffset + size);
            let carved = (info.nextoffset - G::POOL_OVERHEAD) / size;
            // SAFETY: used or full pool with a valid header.
            let free = unsafe { pool::check_free_list::<G>(p) };
            assert_eq!(
                info.count + free,
                carved,
                "count + free list != carved blocks"
            );
            assert!(carved <= cap);
            if info.free_is_null {
                assert_eq!(info.count, cap, "pool with no free block is not full");
            } else {
                used += 1;
            }
        });
        assert_eq!(used, listed, "a used pool is missing from its used list");
    }
}
