//! Sharing an [`Allocator`]: [`GlobalPool`] (a `GlobalAlloc` for any number
//! of threads) and [`LocalPool`] (an `allocator_api2::alloc::Allocator` for
//! one thread's collections).
//!
//! # Design of `GlobalPool`
//!
//! One [`Allocator`] behind one `std::sync::Mutex`. Every `alloc`, `dealloc`
//! and `realloc` takes the lock for the few instructions of the pool fast
//! path, so blocks may be freed by any thread. Simple and obviously sound;
//! the price is one uncontended lock round trip per operation and no
//! parallelism between allocating threads (per-thread heaps with
//! cross-thread free queues, as in mimalloc, would remove both; not needed
//! for a research building block).
//!
//! Re-entrancy is impossible by construction, which matters because the
//! lock is not re-entrant:
//! - on Linux `std::sync::Mutex` is a futex word and never allocates;
//! - the allocator's own metadata comes from `std::alloc::System`, never the
//!   global allocator;
//! - the inner allocator is built with [`Allocator::new_silent`], so no
//!   `tracing` event (whose subscriber may allocate, re-entering this very
//!   allocator) is emitted under the lock; the arena layer itself never
//!   emits (it returns events, see `events.rs`);
//! - [`Allocator::stats`] returns a fixed-size struct (no allocation).
//!
//! The only panics under the lock are internal-invariant `debug_assert!`s;
//! the panic machinery would then allocate and deadlock, which is
//! acceptable for a bug that would otherwise corrupt memory. A poisoned
//! lock is recovered (the state is only changed after all checks).
#![allow(unsafe_code)]

use core::alloc::{GlobalAlloc, Layout};
use core::cell::RefCell;
use core::num::NonZeroUsize;
use core::ptr::{self, NonNull};
use std::sync::{Mutex, MutexGuard, PoisonError};

use allocator_api2::alloc::AllocError;

use super::allocator::Allocator;
use super::geometry::{DefaultGeometry, Geometry};
use super::route::{Placement, placement};
use super::stats::AllocStats;

/// A thread-safe `GlobalAlloc` over one [`Allocator`] behind a mutex.
///
/// # Example
///
/// ```
/// use pygc::alloc::GlobalPool;
///
/// #[global_allocator]
/// static GLOBAL: GlobalPool = GlobalPool::new();
///
/// let v: Vec<u32> = (0..100).collect();
/// assert_eq!(v.iter().sum::<u32>(), 4950);
/// assert!(GLOBAL.stats().bytes_in_use > 0);
/// ```
pub struct GlobalPool<G: Geometry = DefaultGeometry> {
    inner: Mutex<Allocator<G>>,
}

impl<G: Geometry> GlobalPool<G> {
    /// A pool with no arenas yet; usable in a `static`.
    pub const fn new() -> Self {
        GlobalPool {
            inner: Mutex::new(Allocator::new_silent()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Allocator<G>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A snapshot of the inner allocator's numbers (does not allocate).
    pub fn stats(&self) -> AllocStats {
        self.lock().stats()
    }

    /// Whether `ptr` lies in one of the pool's arenas.
    pub fn owns(&self, ptr: *const u8) -> bool {
        self.lock().owns(ptr)
    }
}

impl<G: Geometry> Default for GlobalPool<G> {
    fn default() -> Self {
        Self::new()
    }
}

impl<G: Geometry> core::fmt::Debug for GlobalPool<G> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GlobalPool").finish_non_exhaustive()
    }
}

// SAFETY: `alloc` returns null or a block of at least `layout.size()` bytes
// aligned to `layout.align()` that no other live block overlaps (Allocator's
// contract); every method holds the mutex for its whole use of the
// allocator, so concurrent calls are serialised; `dealloc`/`realloc` receive
// pointers from this same allocator with their layout, as `Allocator`
// requires.
unsafe impl<G: Geometry> GlobalAlloc for GlobalPool<G> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.lock()
            .alloc(layout)
            .map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: GlobalAlloc's contract: `ptr` is non-null, came from this
        // allocator with `layout`, and is freed once.
        unsafe { self.lock().dealloc(NonNull::new_unchecked(ptr), layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: GlobalAlloc's contract as for `dealloc`; `new_size` is valid
        // for `layout.align()`.
        unsafe {
            self.lock()
                .realloc(NonNull::new_unchecked(ptr), layout, new_size)
        }
        .map_or(ptr::null_mut(), NonNull::as_ptr)
    }
}

/// A single-threaded shared handle: `&LocalPool` implements
/// `allocator_api2::alloc::Allocator`, so `allocator_api2` vectors and
/// hashbrown maps can live in the pools.
///
/// Zero-size requests follow std's `Global`: `allocate` (and `grow` /
/// `shrink` to size 0) return a dangling pointer aligned to the layout,
/// with no memory behind it, and `deallocate` of a zero-size layout does
/// nothing (collections record capacity 0 and never free such a pointer).
///
/// `tracing` events about arenas are emitted after the inner `RefCell`
/// borrow ends, so a subscriber may allocate from the same pool.
///
/// # Example
///
/// ```
/// use pygc::alloc::LocalPool;
///
/// let pool: LocalPool = LocalPool::new();
/// let mut v = allocator_api2::vec::Vec::new_in(&pool);
/// v.extend(0..10u64);
/// assert_eq!(v[9], 9);
/// assert!(pool.owns(v.as_ptr().cast()));
/// drop(v);
/// assert_eq!(pool.stats().bytes_in_use, 0);
/// ```
pub struct LocalPool<G: Geometry = DefaultGeometry> {
    inner: RefCell<Allocator<G>>,
}

impl<G: Geometry> LocalPool<G> {
    /// A pool over a fresh [`Allocator`].
    pub const fn new() -> Self {
        LocalPool {
            inner: RefCell::new(Allocator::new_deferred()),
        }
    }

    /// Runs `f` on the inner allocator, then, with the borrow over, emits
    /// the `tracing` events it recorded (a subscriber may use this pool).
    #[inline(always)]
    fn with<R>(&self, f: impl FnOnce(&mut Allocator<G>) -> R) -> R {
        let (r, events) = {
            let mut a = self.inner.borrow_mut();
            let r = f(&mut a);
            (r, a.take_events())
        };
        if let Some(events) = events {
            // The allocator call is complete (a `realloc` has already moved the block): a
            // subscriber's panic must not unwind out of it, or the caller would keep the old,
            // freed pointer. It is caught and written to standard error.
            if let Err(payload) =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| events.emit()))
            {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                    drop(payload);
                    eprintln!("pygc: a tracing subscriber panicked on an arena event (ignored)");
                }));
            }
        }
        r
    }

    /// A snapshot of the allocator's numbers.
    pub fn stats(&self) -> AllocStats {
        self.inner.borrow().stats()
    }

    /// Whether `ptr` lies in one of the pool's arenas.
    pub fn owns(&self, ptr: *const u8) -> bool {
        self.inner.borrow().owns(ptr)
    }

    /// Runs the O(n) validator of the inner allocator.
    #[cfg(any(test, feature = "checked"))]
    pub fn check(&self) {
        self.inner.borrow().check()
    }
}

impl<G: Geometry> Default for LocalPool<G> {
    fn default() -> Self {
        Self::new()
    }
}

impl<G: Geometry> core::fmt::Debug for LocalPool<G> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LocalPool")
            .field("inner", &self.inner)
            .finish()
    }
}

/// The zero-size result for `layout`: a dangling pointer at address
/// `layout.align()` (non-zero, aligned), with no provenance, as std's
/// `Global` returns; nothing may be read or written through it.
#[inline]
fn dangling(layout: Layout) -> NonNull<[u8]> {
    let addr = NonZeroUsize::new(layout.align()).unwrap_or(NonZeroUsize::MIN);
    NonNull::slice_from_raw_parts(NonNull::<u8>::dangling().with_addr(addr), 0)
}

// SAFETY: non-zero-size blocks come from the inner `Allocator`, which hands
// out disjoint, correctly aligned blocks of at least the requested size that
// stay valid until deallocated or until the `LocalPool` is dropped, which the
// borrow in `&LocalPool` prevents while any collection uses it. Zero-size
// requests get a dangling pointer aligned to the layout, valid for zero-size
// accesses only, and their deallocation is a no-op (so no block is ever
// tied to them). Copies of the handle are the same allocator. The
// `RefCell` borrow lasts one allocator call, and nothing calls back out
// during it (`tracing` events are emitted after it ends, see `with`), so it
// cannot be contended.
unsafe impl<G: Geometry> allocator_api2::alloc::Allocator for &LocalPool<G> {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if placement::<G>(layout) == Placement::Zero {
            return Ok(dangling(layout));
        }
        let p = self.with(|a| a.alloc(layout)).ok_or(AllocError)?;
        Ok(NonNull::slice_from_raw_parts(p, layout.size()))
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if placement::<G>(layout) == Placement::Zero {
            return; // a dangling pointer from `allocate`: nothing to free
        }
        // SAFETY: the trait's contract: `ptr` is currently allocated by this
        // allocator with `layout`, which is not zero-size, so it is a block of
        // the inner allocator.
        self.with(|a| unsafe { a.dealloc(ptr, layout) })
    }

    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        if new.align() != old.align() || old.size() == 0 {
            let p = self.allocate(new)?;
            // SAFETY: both blocks live and distinct (or `old` is zero-size and
            // nothing is copied); `old.size() <= new.size()`.
            unsafe {
                ptr::copy_nonoverlapping(ptr.as_ptr(), p.cast::<u8>().as_ptr(), old.size());
                self.deallocate(ptr, old);
            }
            return Ok(p);
        }
        // SAFETY: `ptr` is allocated with `old` (trait contract), a block of
        // the inner allocator since `old` is not zero-size; same alignment;
        // `new.size() >= old.size() > 0`.
        let p = self
            .with(|a| unsafe { a.realloc(ptr, old, new.size()) })
            .ok_or(AllocError)?;
        Ok(NonNull::slice_from_raw_parts(p, new.size()))
    }

    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        if new.align() != old.align() || new.size() == 0 {
            let p = self.allocate(new)?;
            // SAFETY: both blocks live and distinct (or `new` is zero-size and
            // nothing is copied); `new.size() <= old.size()`.
            unsafe {
                ptr::copy_nonoverlapping(ptr.as_ptr(), p.cast::<u8>().as_ptr(), new.size());
                self.deallocate(ptr, old);
            }
            return Ok(p);
        }
        // SAFETY: `ptr` is allocated with `old` (trait contract), a block of
        // the inner allocator since `old.size() >= new.size() > 0`; same
        // alignment.
        let p = self
            .with(|a| unsafe { a.realloc(ptr, old, new.size()) })
            .ok_or(AllocError)?;
        Ok(NonNull::slice_from_raw_parts(p, new.size()))
    }
}
