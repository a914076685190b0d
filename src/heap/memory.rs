//! Object memory: where the boxes of one heap live. Small boxes come from the heap's
//! pymalloc-style [`Allocator`] in the configured geometry (the pool header carries the owner
//! tag); large or over-aligned ones get a block of their own (`object/boxes.rs`), as CPython
//! sends requests above 512 bytes to `malloc`.
#![allow(unsafe_code)]

use std::alloc::Layout;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::ptr::NonNull;

use crate::alloc::events::Pending;
use crate::alloc::{AllocStats, Allocator, CPython311, DefaultGeometry, Geometry, Placement};
use crate::object::boxes;
use crate::object::owner::Owner;
use crate::object::var::BoxLayout;

/// The small-object allocator, in one of the two geometries.
enum Pools {
    Default(Allocator<DefaultGeometry>),
    CPython311(Allocator<CPython311>),
}

/// See the module docs.
///
/// # Invariants
/// - Every box handed out by [`ObjectMemory::alloc_box`] for a layout is given back to
///   [`ObjectMemory::free_box`] with the same layout, which routes it by the same rule
///   ([`crate::alloc::placement`] of `BoxLayout::layout`).
/// - The owner tag written into every pool and large block is `owner`.
pub(crate) struct ObjectMemory {
    pools: RefCell<Pools>,
    owner: Cell<*const Owner>,
    /// The pools recorded `tracing` events (arena acquired or released) that wait for
    /// [`ObjectMemory::take_events`]: a subscriber may allocate in this very heap, so they
    /// are emitted only once the pools are no longer borrowed.
    events_waiting: Cell<bool>,
    /// Large boxes handed out and not yet freed, and their block bytes (the pools count
    /// only their own blocks; `stats` adds these).
    large_blocks: Cell<usize>,
    large_bytes: Cell<usize>,
}

impl fmt::Debug for ObjectMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectMemory").finish_non_exhaustive()
    }
}

impl ObjectMemory {
    /// Memory in CPython 3.11's geometry or the default one. Set the owner before use.
    pub(crate) fn new(cpython311: bool) -> ObjectMemory {
        let pools = if cpython311 {
            Pools::CPython311(Allocator::new_deferred())
        } else {
            Pools::Default(Allocator::new_deferred())
        };
        ObjectMemory {
            pools: RefCell::new(pools),
            owner: Cell::new(std::ptr::null()),
            events_waiting: Cell::new(false),
            large_blocks: Cell::new(0),
            large_bytes: Cell::new(0),
        }
    }

    /// Tag every block with `owner` from now on (called once, before the first box).
    pub(crate) fn set_owner(&self, owner: *const Owner) {
        self.owner.set(owner);
        match &mut *self.pools.borrow_mut() {
            Pools::Default(pools) => pools.set_owner_tag(owner.cast()),
            Pools::CPython311(pools) => pools.set_owner_tag(owner.cast()),
        }
    }

    /// Memory for the box of a fixed-size object (header first), and the log2 size of the
    /// owner block it sits in.
    #[inline]
    pub(crate) fn alloc_box(&self, layout: Layout) -> Option<(NonNull<u8>, u32)> {
        self.alloc_box_at(BoxLayout::fixed(layout))
    }

    /// Memory for a box of `layout` (its start, where `layout.layout` begins), and the log2
    /// size of the owner block it sits in. The header, `layout.header_offset` in, is within
    /// the first `1 << shift` bytes of that owner block.
    #[inline]
    pub(crate) fn alloc_var_box(&self, layout: BoxLayout) -> Option<(NonNull<u8>, u32)> {
        self.alloc_box_at(layout)
    }

    #[inline(always)]
    fn alloc_box_at(&self, layout: BoxLayout) -> Option<(NonNull<u8>, u32)> {
        let small = match &mut *self.pools.borrow_mut() {
            Pools::Default(pools) => pool_alloc(pools, layout.layout, &self.events_waiting),
            Pools::CPython311(pools) => pool_alloc(pools, layout.layout, &self.events_waiting),
        };
        match small {
            Some(result) => result,
            None => self.alloc_large(layout),
        }
    }

    #[cold]
    fn alloc_large(&self, layout: BoxLayout) -> Option<(NonNull<u8>, u32)> {
        let block = boxes::alloc_large(layout, self.owner.get().cast())?;
        self.large_blocks.set(self.large_blocks.get() + 1);
        self.large_bytes
            .set(self.large_bytes.get() + layout.layout.size());
        Some(block)
    }

    /// Give back the box of a fixed-size object.
    ///
    /// # Safety
    /// `ptr` was returned by `alloc_box(layout)` of this memory and is not used afterwards.
    #[inline]
    pub(crate) unsafe fn free_box(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded; `alloc_box` is `alloc_box_at` of the fixed layout.
        unsafe { self.free_box_at(ptr, BoxLayout::fixed(layout)) }
    }

    /// Give a box back.
    ///
    /// # Safety
    /// `ptr` was returned by `alloc_var_box(layout)` of this memory and is not used afterwards.
    #[inline]
    pub(crate) unsafe fn free_var_box(&self, ptr: NonNull<u8>, layout: BoxLayout) {
        // SAFETY: forwarded.
        unsafe { self.free_box_at(ptr, layout) }
    }

    /// # Safety
    /// `ptr` was returned by `alloc_box_at(layout)` of this memory and is not used afterwards.
    #[inline(always)]
    unsafe fn free_box_at(&self, ptr: NonNull<u8>, layout: BoxLayout) {
        let block = layout.layout;
        // SAFETY: (both arms) forwarded from the caller: the same rule routes it back.
        let freed = unsafe {
            match &mut *self.pools.borrow_mut() {
                Pools::Default(pools) => pool_free(pools, ptr, block, &self.events_waiting),
                Pools::CPython311(pools) => pool_free(pools, ptr, block, &self.events_waiting),
            }
        };
        if !freed {
            // SAFETY: as above; not a pool box, so `alloc_large` made it.
            unsafe { boxes::free_large(ptr, layout) }
            self.large_blocks.set(self.large_blocks.get() - 1);
            self.large_bytes.set(self.large_bytes.get() - block.size());
        }
    }

    /// Whether arena events wait to be emitted (cheap: check after every alloc and free).
    #[inline]
    pub(crate) fn events_waiting(&self) -> bool {
        self.events_waiting.get()
    }

    /// The arena events recorded so far, to emit now that the pools are not borrowed.
    #[cold]
    pub(crate) fn take_events(&self) -> Option<Pending> {
        self.events_waiting.set(false);
        match &mut *self.pools.borrow_mut() {
            Pools::Default(pools) => pools.take_events(),
            Pools::CPython311(pools) => pools.take_events(),
        }
    }

    /// `sys._debugmallocstats` for the pools.
    pub(crate) fn stats(&self) -> AllocStats {
        let mut stats = match &*self.pools.borrow() {
            Pools::Default(pools) => pools.stats(),
            Pools::CPython311(pools) => pools.stats(),
        };
        // Large boxes bypass the pools (CPython's fallback to `malloc`): count them here.
        stats.large_blocks += self.large_blocks.get();
        stats.large_bytes += self.large_bytes.get();
        stats
    }
}

/// A small box from `pools`, if `layout` is placed there (else `None`: go large). The one
/// routing decision for the box: the allocator's own fast path takes the class.
#[inline]
fn pool_alloc<G: Geometry>(
    pools: &mut Allocator<G>,
    layout: Layout,
    events_waiting: &Cell<bool>,
) -> Option<Option<(NonNull<u8>, u32)>> {
    match crate::alloc::placement::<G>(layout) {
        Placement::Small(class) => {
            let block = pools.alloc_small(class);
            if pools.has_events() {
                events_waiting.set(true);
            }
            Some(block.map(|p| (p, G::POOL_SIZE.trailing_zeros())))
        }
        Placement::Zero | Placement::Large => None,
    }
}

/// Give a box back to `pools` if it came from them; `false` if it is a large box.
///
/// # Safety
/// `ptr` was returned for `layout` by [`pool_alloc`] on the same allocator (when this returns
/// `true`), and is not used afterwards.
#[inline]
unsafe fn pool_free<G: Geometry>(
    pools: &mut Allocator<G>,
    ptr: NonNull<u8>,
    layout: Layout,
    events_waiting: &Cell<bool>,
) -> bool {
    match crate::alloc::placement::<G>(layout) {
        Placement::Small(_) => {
            // SAFETY: the same rule placed it in a pool at allocation (caller's contract), so
            // it is a live block of one of these pools, and an object pointer keeps the
            // provenance `alloc` gave it, over the whole pool (`ObjRef` is built from it
            // unnarrowed; `Header::owner` relies on the same when it masks to the pool base).
            unsafe { pools.free_small_unnarrowed(ptr) };
            if pools.has_events() {
                events_waiting.set(true);
            }
            true
        }
        Placement::Zero | Placement::Large => false,
    }
}
