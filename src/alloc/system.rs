//! The system layer: the only place that calls `std::alloc`.
//!
//! Three kinds of memory come from here, always from [`std::alloc::System`]
//! (never the Rust global allocator, which may be our own
//! [`GlobalPool`](super::GlobalPool) and would recurse):
//!
//! 1. arenas, `ARENA_SIZE` bytes aligned to `ARENA_SIZE`;
//! 2. requests the pools do not serve (0 bytes, more than 512 bytes, or an
//!    alignment above the geometry's `ALIGNMENT`); a 0-byte request is
//!    turned into a 1-byte one, as CPython turns `malloc(0)` into `malloc(1)`,
//!    so every pointer we hand out is unique and really allocated;
//! 3. the allocator's own metadata vectors ([`SysVec`]).
#![allow(unsafe_code)]

use core::ptr::NonNull;
use std::alloc::{GlobalAlloc, Layout, System};

use super::geometry::Geometry;

/// A growable vector whose buffer comes from [`System`], for arena metadata.
pub(crate) type SysVec<T> = allocator_api2::vec::Vec<T, System>;

/// A new, empty [`SysVec`].
pub(crate) const fn sys_vec<T>() -> SysVec<T> {
    allocator_api2::vec::Vec::new_in(System)
}

/// The layout of one arena.
fn arena_layout<G: Geometry>() -> Layout {
    // `GeometryExt::CHECK` guarantees a power-of-two size, so this cannot fail.
    Layout::from_size_align(G::ARENA_SIZE, G::ARENA_SIZE).expect("arena layout")
}

/// Asks the system for one arena, aligned to its own size.
pub(crate) fn alloc_arena<G: Geometry>() -> Option<NonNull<u8>> {
    // SAFETY: the layout has a non-zero size (ARENA_SIZE >= 2 pools).
    NonNull::new(unsafe { System.alloc(arena_layout::<G>()) })
}

/// Gives one arena back to the system.
///
/// # Safety
///
/// `base` came from [`alloc_arena::<G>`] and has not been freed since.
pub(crate) unsafe fn free_arena<G: Geometry>(base: NonNull<u8>) {
    // SAFETY: per the contract, `base` was allocated by System with this layout.
    unsafe { System.dealloc(base.as_ptr(), arena_layout::<G>()) }
}

/// The layout actually requested from the system for `layout` (size 0 becomes 1).
#[inline]
fn adjusted(layout: Layout) -> Layout {
    if layout.size() == 0 {
        // SAFETY-free: size 1 with an existing valid alignment is always valid.
        Layout::from_size_align(1, layout.align()).unwrap_or(layout)
    } else {
        layout
    }
}

/// Allocates a request the pools do not serve.
#[cold]
#[inline(never)]
pub(crate) fn alloc_large(layout: Layout) -> Option<NonNull<u8>> {
    // SAFETY: `adjusted` never returns a zero-size layout.
    NonNull::new(unsafe { System.alloc(adjusted(layout)) })
}

/// Frees a block from [`alloc_large`].
///
/// # Safety
///
/// `ptr` came from [`alloc_large`] (or [`realloc_large`]) with this `layout`
/// and has not been freed since.
#[inline]
pub(crate) unsafe fn dealloc_large(ptr: NonNull<u8>, layout: Layout) {
    // SAFETY: per the contract, System allocated `ptr` with `adjusted(layout)`.
    unsafe { System.dealloc(ptr.as_ptr(), adjusted(layout)) }
}

/// Resizes a block from [`alloc_large`] to `new_size` (non-zero) bytes.
///
/// # Safety
///
/// As for [`dealloc_large`]; `new_size` is non-zero and, rounded up to the
/// alignment, does not overflow `isize`.
pub(crate) unsafe fn realloc_large(
    ptr: NonNull<u8>,
    layout: Layout,
    new_size: usize,
) -> Option<NonNull<u8>> {
    debug_assert!(new_size != 0);
    // SAFETY: per the contract, System allocated `ptr` with `adjusted(layout)`,
    // and `new_size` is valid for that alignment.
    NonNull::new(unsafe { System.realloc(ptr.as_ptr(), adjusted(layout), new_size) })
}
