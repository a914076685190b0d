//! Arenas: `ARENA_SIZE`-byte regions from the system, cut into pools.
//!
//! An arena is allocated aligned to its own size, so all its pools are
//! `POOL_SIZE`-aligned (no pool is lost to alignment, unlike CPython's
//! mmap'd arenas) and a pointer finds its arena by masking off the low
//! `log2(ARENA_SIZE)` bits. The arena table keeps one [`ArenaObject`] per
//! slot (CPython's `arenas` vector) and an [`ArenaMap`]: a hash table from
//! arena base address to the arena's allocation pointer. It answers "is
//! this pointer ours?" without reading memory we may not own (CPython's
//! `address_in_range`; 3.11 uses a radix tree), and it gives every free the
//! pointer to derive the pool header from: a block pointer handed back by
//! a user may carry a borrow tag covering only the block (a `Box` retag),
//! so the header is always reached through the arena's own pointer.
//!
//! # Arena states
//!
//! | state | `address` | `nfreepools` | on which list |
//! |---|---|---|---|
//! | **unused slot** | `None` | – | `unused` (singly linked through `next`) |
//! | **usable** | `Some` | `1..=ntotalpools` | the usable list (see `usable.rs`) |
//! | **full** | `Some` | `0` | none |
//!
//! Pools are carved from an arena lazily: `pools_carved` counts the pools
//! whose header has been written; the rest of the arena is untouched.
#![allow(unsafe_code)]

use core::marker::PhantomData;
use core::num::NonZeroU32;
use core::ptr::{self, NonNull};

use super::events::{ArenaEvent, ArenaEventKind};
use super::geometry::{Geometry, GeometryExt};
use super::pool::{self, PoolHeader};
use super::system::{self, SysVec, sys_vec};

/// The index of an arena slot, stored as `index + 1` so that
/// `Option<ArenaId>` is four bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ArenaId(NonZeroU32);

impl ArenaId {
    /// The id of slot `index`.
    pub(crate) fn from_index(index: usize) -> ArenaId {
        let raw = u32::try_from(index + 1).expect("too many arenas");
        ArenaId(NonZeroU32::new(raw).expect("index + 1 is non-zero"))
    }

    /// The slot index.
    #[inline]
    pub(crate) fn index(self) -> usize {
        self.0.get() as usize - 1
    }
}

impl core::fmt::Debug for ArenaId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ArenaId({})", self.index())
    }
}

/// One arena slot (CPython's `arena_object`).
#[derive(Debug)]
pub(crate) struct ArenaObject {
    /// Base of the arena memory (`ARENA_SIZE` bytes aligned to `ARENA_SIZE`,
    /// from `system::alloc_arena`), or `None` for an unused slot. Every pool
    /// pointer of the arena is derived from this pointer.
    pub(crate) address: Option<NonNull<u8>>,
    /// Pools whose header has been written: pools `0..pools_carved` are
    /// carved, the rest untouched.
    pub(crate) pools_carved: u32,
    /// Empty pools on `freepools` plus pools not yet carved.
    pub(crate) nfreepools: u32,
    /// Pools in the arena (`POOLS_PER_ARENA`).
    pub(crate) ntotalpools: u32,
    /// Singly linked list (through `nextpool`) of this arena's empty carved
    /// pools; null when none. Every entry has `count == 0`.
    pub(crate) freepools: *mut PoolHeader,
    /// Next arena on the usable list (or on the unused-slot list).
    pub(crate) next: Option<ArenaId>,
    /// Previous arena on the usable list.
    pub(crate) prev: Option<ArenaId>,
}

impl ArenaObject {
    /// Number of free pools that are carved (on `freepools`).
    #[cfg(any(test, feature = "checked"))]
    pub(crate) fn carved_free(&self) -> u32 {
        self.nfreepools - (self.ntotalpools - self.pools_carved)
    }
}

/// Counters over the life of an arena table.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ArenaCounters {
    pub(crate) allocated_total: usize,
    pub(crate) reclaimed: usize,
    pub(crate) highwater: usize,
    pub(crate) current: usize,
}

/// All arena slots, the unused-slot list and the address index.
#[derive(Debug)]
pub(crate) struct ArenaTable<G: Geometry> {
    /// Every slot ever created; an arena's id is its index here.
    pub(crate) objs: SysVec<ArenaObject>,
    /// Unused slots, linked through `next`.
    unused: Option<ArenaId>,
    /// Every live arena by base address.
    map: ArenaMap,
    pub(crate) counters: ArenaCounters,
    _g: PhantomData<G>,
}

impl<G: Geometry> ArenaTable<G> {
    /// An empty table (allocates nothing).
    pub(crate) const fn new() -> Self {
        ArenaTable {
            objs: sys_vec(),
            unused: None,
            map: ArenaMap::new(),
            counters: ArenaCounters {
                allocated_total: 0,
                reclaimed: 0,
                highwater: 0,
                current: 0,
            },
            _g: PhantomData,
        }
    }

    /// Gets a fresh arena from the system and a slot for it. Returns the
    /// event to report (never emitted here: see `events.rs`).
    pub(crate) fn acquire(&mut self) -> Option<(ArenaId, ArenaEvent)> {
        let base = system::alloc_arena::<G>()?;
        let id = match self.unused {
            Some(id) => {
                self.unused = self.objs[id.index()].next;
                id
            }
            None => {
                if self.objs.try_reserve(1).is_err() {
                    // SAFETY: `base` was just allocated and is not referenced anywhere.
                    unsafe { system::free_arena::<G>(base) };
                    return None;
                }
                self.objs.push(ArenaObject {
                    address: None,
                    pools_carved: 0,
                    nfreepools: 0,
                    ntotalpools: 0,
                    freepools: ptr::null_mut(),
                    next: None,
                    prev: None,
                });
                ArenaId::from_index(self.objs.len() - 1)
            }
        };
        if !self.map.reserve_one::<G>() {
            self.objs[id.index()].next = self.unused;
            self.unused = Some(id);
            // SAFETY: `base` was just allocated and is not referenced anywhere.
            unsafe { system::free_arena::<G>(base) };
            return None;
        }
        let n = G::POOLS_PER_ARENA as u32;
        self.objs[id.index()] = ArenaObject {
            address: Some(base),
            pools_carved: 0,
            nfreepools: n,
            ntotalpools: n,
            freepools: ptr::null_mut(),
            next: None,
            prev: None,
        };
        let key = base.as_ptr().addr();
        self.map.insert::<G>(base, id);
        let c = &mut self.counters;
        c.allocated_total += 1;
        c.current += 1;
        c.highwater = c.highwater.max(c.current);
        let event = ArenaEvent {
            kind: ArenaEventKind::Acquired,
            arena: id.index(),
            base: key,
            size: G::ARENA_SIZE,
            current: c.current,
        };
        Some((id, event))
    }

    /// Returns arena `id` (all pools free, on no list) to the system.
    /// Returns the event to report (never emitted here: see `events.rs`).
    pub(crate) fn release(&mut self, id: ArenaId) -> ArenaEvent {
        let obj = &mut self.objs[id.index()];
        debug_assert_eq!(
            obj.nfreepools, obj.ntotalpools,
            "release of an arena in use"
        );
        let base = obj.address.take().expect("release of an unused arena slot");
        obj.freepools = ptr::null_mut();
        obj.prev = None;
        obj.next = self.unused;
        self.unused = Some(id);
        let key = base.as_ptr().addr();
        self.map.remove::<G>(key);
        // SAFETY: `base` came from `alloc_arena::<G>` in `acquire`; all its pools
        // are free (nfreepools == ntotalpools), so no block is handed out, and
        // the slot no longer refers to it.
        unsafe { system::free_arena::<G>(base) };
        let c = &mut self.counters;
        c.current -= 1;
        c.reclaimed += 1;
        ArenaEvent {
            kind: ArenaEventKind::Released,
            arena: id.index(),
            base: key,
            size: G::ARENA_SIZE,
            current: c.current,
        }
    }

    /// The arena containing address `addr`, if it is one of ours.
    #[inline]
    pub(crate) fn lookup(&self, addr: usize) -> Option<ArenaId> {
        self.map.get::<G>(addr).map(|s| s.id)
    }

    /// The header of the pool containing `addr`, derived from the arena's
    /// allocation pointer, or `None` if `addr` is in none of our arenas.
    /// (Whether that pool is carved is the caller's knowledge.)
    #[inline(always)]
    pub(crate) fn pool_header_of(&self, addr: usize) -> Option<*mut PoolHeader> {
        let slot = self.map.get::<G>(addr)?;
        Some(
            slot.base
                .as_ptr()
                .with_addr(addr & !(G::POOL_SIZE - 1))
                .cast(),
        )
    }

    /// Takes one free pool from arena `id` (which must have one): a cached
    /// empty pool if there is one, else a freshly carved one. Decrements
    /// `nfreepools` and stamps the owner tag.
    pub(crate) fn take_pool(&mut self, id: ArenaId, owner: *const ()) -> *mut PoolHeader {
        let obj = &mut self.objs[id.index()];
        debug_assert!(obj.nfreepools > 0, "take_pool from a full arena");
        let pool = if !obj.freepools.is_null() {
            let p = obj.freepools;
            // SAFETY: entries of `freepools` are valid empty pool headers.
            obj.freepools = unsafe { pool::next_of(p) };
            p
        } else {
            let base = obj.address.expect("take_pool from an unused slot");
            // Once per pool carved (not the fast path): checked in release too.
            assert!(obj.pools_carved < obj.ntotalpools, "no pool left to carve");
            // SAFETY: pools_carved < ntotalpools == POOLS_PER_ARENA (set in
            // `acquire`), and POOLS_PER_ARENA * POOL_SIZE == ARENA_SIZE because
            // both are computed by pygc (`GeometryExt`, sealed: no impl can
            // override them) and `CHECK` (evaluated by `Allocator::new`) proved
            // ARENA_SIZE a whole number of pools; so the whole pool is inside the
            // arena allocation. It is POOL_SIZE-aligned because the base is
            // ARENA_SIZE-aligned.
            let p = unsafe { base.as_ptr().add(obj.pools_carved as usize * G::POOL_SIZE) }
                .cast::<PoolHeader>();
            // SAFETY: `p` is an uncarved, unused, aligned pool of this arena.
            unsafe { pool::init_carved(p, id.index() as u32) };
            obj.pools_carved += 1;
            p
        };
        obj.nfreepools -= 1;
        // SAFETY: `pool` is a valid header (cached or just written).
        unsafe { pool::set_owner(pool, owner) };
        pool
    }

    /// Pushes empty `pool` on its arena's free-pool list and bumps `nfreepools`.
    /// Returns the arena's id.
    ///
    /// # Safety
    ///
    /// `pool` is a valid header of a pool of a live arena, with count 0, on no list.
    pub(crate) unsafe fn put_pool(&mut self, pool: *mut PoolHeader) -> ArenaId {
        // SAFETY: `pool` is a valid header (contract).
        let idx = unsafe { pool::info(pool) }.arenaindex as usize;
        let obj = &mut self.objs[idx];
        // SAFETY: as above.
        unsafe { pool::set_next(pool, obj.freepools) };
        obj.freepools = pool;
        obj.nfreepools += 1;
        ArenaId::from_index(idx)
    }

    /// Calls `f` with every carved pool of every live arena.
    pub(crate) fn for_each_carved_pool(&self, mut f: impl FnMut(ArenaId, *mut PoolHeader)) {
        for (i, obj) in self.objs.iter().enumerate() {
            let Some(base) = obj.address else { continue };
            for k in 0..obj.pools_carved as usize {
                // SAFETY: k < pools_carved <= POOLS_PER_ARENA, and the pools fill the
                // arena exactly (see `take_pool`), so pool k is inside the arena.
                let p = unsafe { base.as_ptr().add(k * G::POOL_SIZE) }.cast::<PoolHeader>();
                f(ArenaId::from_index(i), p);
            }
        }
    }

    /// The pool header containing `addr`, derived from the arena base pointer
    /// (so it carries the arena's provenance), if `addr` is in a carved pool
    /// of arena `id`.
    pub(crate) fn carved_pool_at(&self, id: ArenaId, addr: usize) -> Option<*mut PoolHeader> {
        let obj = &self.objs[id.index()];
        let base = obj.address?;
        let k = (addr - base.as_ptr().addr()) / G::POOL_SIZE;
        if k >= obj.pools_carved as usize {
            return None;
        }
        // SAFETY: k < pools_carved, inside the arena.
        Some(unsafe { base.as_ptr().add(k * G::POOL_SIZE) }.cast::<PoolHeader>())
    }

    /// A pointer to `addr` with the provenance of arena `id`'s allocation.
    pub(crate) fn rederive(&self, id: ArenaId, addr: usize) -> *mut u8 {
        let base = self.objs[id.index()].address.expect("live arena");
        base.as_ptr().with_addr(addr)
    }

    /// `(base address, id)` of every entry of the address map (for `check`).
    #[cfg(any(test, feature = "checked"))]
    pub(crate) fn index_entries(&self) -> impl Iterator<Item = (usize, ArenaId)> + '_ {
        self.map
            .slots
            .iter()
            .filter(|s| s.key != 0)
            .map(|s| (s.key, s.id))
    }

    /// Walks arena `id`'s free-pool list, returning its length; checks every
    /// entry is an empty carved pool of this arena.
    #[cfg(any(test, feature = "checked"))]
    pub(crate) fn check_freepools(&self, id: ArenaId) -> u32 {
        let obj = &self.objs[id.index()];
        let base = obj.address.expect("live arena").as_ptr().addr();
        let mut n = 0u32;
        let mut p = obj.freepools;
        while !p.is_null() {
            let off = p.addr() - base;
            assert!(off % G::POOL_SIZE == 0 && off / G::POOL_SIZE < obj.pools_carved as usize);
            // SAFETY: `p` is a carved pool of this arena (just checked).
            let info = unsafe { pool::info(p) };
            assert_eq!(info.count, 0, "pool on freepools is not empty");
            assert_eq!(info.arenaindex as usize, id.index());
            n += 1;
            assert!(n <= obj.pools_carved, "freepools list has a cycle");
            // SAFETY: as above.
            p = unsafe { pool::next_of(p) };
        }
        n
    }
}

impl<G: Geometry> Drop for ArenaTable<G> {
    fn drop(&mut self) {
        for obj in self.objs.iter_mut() {
            if let Some(base) = obj.address.take() {
                // SAFETY: `base` came from `alloc_arena::<G>`; the table is being
                // dropped with the allocator, which ends every block's lifetime.
                unsafe { system::free_arena::<G>(base) };
            }
        }
    }
}

/// One slot of the [`ArenaMap`].
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Base address of the arena, or 0 for an empty slot (no arena starts
    /// at address 0).
    key: usize,
    /// The arena's allocation pointer (dangling in empty slots).
    base: NonNull<u8>,
    /// The arena's slot in the arena table.
    id: ArenaId,
}

const EMPTY: Slot = Slot {
    key: 0,
    base: NonNull::dangling(),
    id: ArenaId(NonZeroU32::MIN),
};

/// Open-addressing hash table (linear probing, load factor at most 1/2,
/// backward-shift deletion) from arena base address to arena. Memory from
/// `System`.
#[derive(Debug)]
pub(crate) struct ArenaMap {
    /// Power-of-two number of slots (or none before the first arena). Every
    /// live arena is in exactly one slot, reachable from its home slot
    /// without crossing an empty one.
    slots: SysVec<Slot>,
    /// Live entries.
    len: usize,
}

impl ArenaMap {
    const fn new() -> Self {
        ArenaMap {
            slots: sys_vec(),
            len: 0,
        }
    }

    /// The home slot of arena base `key` in a table of `n` slots.
    #[inline(always)]
    fn home<G: Geometry>(key: usize, n: usize) -> usize {
        let k = (key >> G::ARENA_SIZE.trailing_zeros()) as u64;
        (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & (n - 1)
    }

    /// The entry of the arena containing `addr`.
    #[inline(always)]
    fn get<G: Geometry>(&self, addr: usize) -> Option<Slot> {
        let n = self.slots.len();
        if n == 0 {
            return None;
        }
        let key = addr & !(G::ARENA_SIZE - 1);
        if key == 0 {
            // Addresses below ARENA_SIZE mask to 0, the empty-slot marker; no
            // arena lives there (its base would be null). Found by Miri,
            // whose addresses can be that low.
            return None;
        }
        let mut i = Self::home::<G>(key, n);
        loop {
            let s = self.slots[i];
            if s.key == key {
                return Some(s);
            }
            if s.key == 0 {
                return None;
            }
            i = (i + 1) & (n - 1);
        }
    }

    /// Makes room for one more entry; false if the system is out of memory.
    fn reserve_one<G: Geometry>(&mut self) -> bool {
        if 2 * (self.len + 1) <= self.slots.len() {
            return true;
        }
        let n = (self.slots.len() * 2).max(16);
        let mut bigger: SysVec<Slot> = sys_vec();
        if bigger.try_reserve_exact(n).is_err() {
            return false;
        }
        bigger.resize(n, EMPTY);
        let old = core::mem::replace(&mut self.slots, bigger);
        for s in old.iter().filter(|s| s.key != 0) {
            self.place::<G>(*s);
        }
        true
    }

    fn place<G: Geometry>(&mut self, s: Slot) {
        let n = self.slots.len();
        let mut i = Self::home::<G>(s.key, n);
        while self.slots[i].key != 0 {
            i = (i + 1) & (n - 1);
        }
        self.slots[i] = s;
    }

    /// Adds an arena (after `reserve_one`).
    fn insert<G: Geometry>(&mut self, base: NonNull<u8>, id: ArenaId) {
        debug_assert!(2 * (self.len + 1) <= self.slots.len());
        self.place::<G>(Slot {
            key: base.as_ptr().addr(),
            base,
            id,
        });
        self.len += 1;
    }

    /// Removes the arena based at `key`.
    fn remove<G: Geometry>(&mut self, key: usize) {
        let n = self.slots.len();
        let mut i = Self::home::<G>(key, n);
        while self.slots[i].key != key {
            assert!(self.slots[i].key != 0, "arena missing from the address map");
            i = (i + 1) & (n - 1);
        }
        // Backward-shift deletion: pull later entries of the run into the hole
        // when their home slot is not in (hole, j].
        let mut hole = i;
        let mut j = (i + 1) & (n - 1);
        while self.slots[j].key != 0 {
            let h = Self::home::<G>(self.slots[j].key, n);
            let between = if hole <= j {
                hole < h && h <= j
            } else {
                hole < h || h <= j
            };
            if !between {
                self.slots[hole] = self.slots[j];
                hole = j;
            }
            j = (j + 1) & (n - 1);
        }
        self.slots[hole] = EMPTY;
        self.len -= 1;
    }
}
