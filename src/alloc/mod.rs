//! The pymalloc-style small-object allocator (CPython's `Objects/obmalloc.c`,
//! rebuilt in Rust).
//!
//! Objects are small and short-lived; a general-purpose `malloc` pays for
//! generality on every call. pymalloc keeps, for each small size class, a
//! list of *pools* (runs of equal-sized blocks) with a free block, so an
//! allocation is "pop the head of a free list" and a free is "push it
//! back", with memory taken from the system in large *arenas*.
//!
//! Start reading at [`Allocator::alloc`] and [`Allocator::dealloc`].
//!
//! # The layers, bottom up
//!
//! ```text
//!  Allocator (allocator.rs)  alloc / dealloc / realloc / free / owns / stats / check
//!     |  usedpools[class] ---> pool <-> pool <-> pool      (pool.rs: UsedPools)
//!     |  usable arenas: fullest first, fingers per count   (usable.rs)
//!     v
//!  Pools (pool.rs)     POOL_SIZE-aligned: | header | block | block | ... | virgin |
//!     ^ carved from
//!  Arenas (arena.rs)   ARENA_SIZE-aligned runs of pools; slot table + address index
//!     ^ memory from
//!  System (system.rs)  std::alloc::System: arenas, large/zero/over-aligned requests,
//!                      the allocator's own metadata vectors
//! ```
//!
//! - **Block**: the unit handed out; `block_size(class)` bytes, aligned to
//!   `ALIGNMENT`. A free block's first word links to the next free block.
//! - **Pool** ([`Geometry::POOL_SIZE`]): blocks of one class behind a
//!   48-byte header whose first word is the owner tag
//!   ([`Allocator::set_owner_tag`]). States: used / full / empty (table in
//!   `pool.rs`).
//! - **Arena** ([`Geometry::ARENA_SIZE`]): pools; states unused slot /
//!   usable / full (table in `arena.rs`). An arena whose pools are all free
//!   goes back to the system unless it is the last usable one (bpo-37257).
//!
//! # Size classes
//!
//! | request bytes | [`DefaultGeometry`] class (block) | [`CPython311`] class (block) |
//! |---|---|---|
//! | 1–8 | 0 (8) | 0 (16) |
//! | 9–16 | 1 (16) | 0 (16) |
//! | 17–24 | 2 (24) | 1 (32) |
//! | 25–32 | 3 (32) | 1 (32) |
//! | … | `(n-1) >> 3` (`8 * (class + 1)`) | `(n-1) >> 4` (`16 * (class + 1)`) |
//! | 505–512 | 63 (512) | 31 (512) |
//! | 0, 513+, or align > ALIGNMENT | system allocator | system allocator |
//!
//! Blocks per pool = `(POOL_SIZE - 48) / block size`: 506 of 8 bytes and 7
//! of 512 bytes in the default geometry; 1021 of 16 bytes and 31 of 512
//! bytes in CPython's.
//!
//! # Geometry
//!
//! A [`Geometry`] impl supplies only `ARENA_SIZE`, `POOL_SIZE` and
//! `ALIGNMENT`. Every value the unsafe code relies on (`POOL_OVERHEAD`,
//! `POOLS_PER_ARENA`, `NUM_CLASSES`, `ALIGNMENT_SHIFT`) and the constraint
//! check `CHECK` are in [`GeometryExt`], implemented by pygc for every
//! geometry and sealed, so a safe impl cannot make carving hand out a pool
//! header or write past an arena. [`Allocator::new`] evaluates `CHECK`.
//!
//! The routing rule (pool or system, and which class) is [`placement`]:
//! every path that allocates, frees or resizes asks it, nothing re-derives
//! it. A zero-size request is [`Placement::Zero`]: the bare [`Allocator`]
//! gives it a 1-byte system block (CPython's `malloc(1)`), [`LocalPool`] a
//! dangling aligned pointer with no memory behind it (std's convention).
//!
//! # Sharing
//!
//! [`Allocator`] is single-threaded (`&mut self`). [`GlobalPool`] puts one
//! behind a mutex as a `#[global_allocator]`; [`LocalPool`] is a
//! `RefCell` handle implementing `allocator_api2::alloc::Allocator`.
//!
//! `tracing` events (arena acquired / released) are never emitted while an
//! adapter's borrow or lock is held, since a subscriber may allocate from
//! the same allocator: the arena layer returns them (`events.rs`), a bare
//! `Allocator` emits them at once, `LocalPool` after its `RefCell` borrow
//! ends, and `GlobalPool` drops them (it cannot emit safely from inside a
//! global allocator).
//!
//! # Unsafe inventory
//!
//! `unsafe_code` is denied crate-wide and allowed only in `pool.rs`
//! (free lists inside pool memory), `arena.rs` (carving pools out of arena
//! memory), `allocator.rs` (the fast and slow paths over pool headers),
//! `system.rs` (calls to `std::alloc::System`) and `global.rs` (the
//! `GlobalAlloc` and `allocator_api2` impls). `geometry.rs`, `route.rs`,
//! `events.rs`, `size_class.rs`, `usable.rs` and `stats.rs` are safe code.
//!
//! # Provenance
//!
//! Every pool and block pointer is derived from the arena's allocation
//! pointer with `add` / `map_addr` / `with_addr`, never from an integer or
//! from the caller's pointer (whose borrow tag may cover only the value: a
//! free uses only its address), so
//! the module passes Miri with `-Zmiri-strict-provenance
//! -Zmiri-symbolic-alignment-check`.

mod allocator;
mod arena;
pub(crate) mod events;
mod geometry;
mod global;
mod pool;
mod route;
mod size_class;
mod stats;
mod system;
mod usable;

#[cfg(test)]
mod tests;

pub use allocator::Allocator;
pub use geometry::{
    CPython311, DefaultGeometry, Geometry, GeometryExt, MAX_CLASSES, SMALL_REQUEST_THRESHOLD,
};
pub use global::{GlobalPool, LocalPool};
pub use route::{Placement, placement};
pub use size_class::SizeClass;
pub use stats::{AllocStats, ClassStats};
