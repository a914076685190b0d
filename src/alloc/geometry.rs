//! The tunables of the allocator, in one place, with their constraints.
//!
//! A [`Geometry`] fixes three numbers: how big an arena is, how big a pool is,
//! and the size-class step (which is also the alignment every small block
//! honours). Everything else is derived by pygc in [`GeometryExt`], which
//! every `Geometry` gets through a blanket impl and which cannot be
//! implemented or overridden outside pygc:
//!
//! | derived constant | formula | [`DefaultGeometry`] | [`CPython311`] |
//! |---|---|---|---|
//! | `NUM_CLASSES` | `512 / ALIGNMENT` | 64 | 32 |
//! | `ALIGNMENT_SHIFT` | `log2(ALIGNMENT)` | 3 | 4 |
//! | `POOL_OVERHEAD` | pool header size rounded up to `ALIGNMENT` | 48 | 48 |
//! | `POOLS_PER_ARENA` | `ARENA_SIZE / POOL_SIZE` | 64 | 64 |
//!
//! The constraints (powers of two, an arena is a whole number of pools, the
//! pool header and one 512-byte block fit in a pool, pools of at most
//! 32 KiB, an arena holds at least two pools, alignment at least 8) are checked at compile time by
//! [`GeometryExt::CHECK`], which [`Allocator::new`](super::Allocator::new)
//! evaluates: a bad geometry is a build error, not a runtime one.
//!
//! # Why the derived values are not `Geometry` items
//!
//! `Geometry` is a safe trait, yet the carving code trusts these numbers
//! with raw pointers: a pool header handed out as a block if
//! `POOL_OVERHEAD` were 0, writes past the arena if `POOLS_PER_ARENA` were
//! too large. Provided associated consts of a trait can be overridden by any
//! impl, so the derived values live in the sealed [`GeometryExt`] instead:
//! a user impl supplies only the three base constants, which `CHECK`
//! validates, and every number the unsafe code relies on is computed here.
//!
//! ```compile_fail,E0438
//! use pygc::alloc::Geometry;
//! struct Evil;
//! impl Geometry for Evil {
//!     const ARENA_SIZE: usize = 64 * 1024;
//!     const POOL_SIZE: usize = 4 * 1024;
//!     const ALIGNMENT: usize = 16;
//!     // error[E0438]: not a member of trait `Geometry`
//!     const POOL_OVERHEAD: usize = 0;
//! }
//! ```
//!
//! ```compile_fail,E0119
//! use pygc::alloc::{Geometry, GeometryExt};
//! struct Evil;
//! impl Geometry for Evil {
//!     const ARENA_SIZE: usize = 64 * 1024;
//!     const POOL_SIZE: usize = 4 * 1024;
//!     const ALIGNMENT: usize = 16;
//! }
//! // error[E0119]: conflicts with pygc's blanket impl
//! impl GeometryExt for Evil {
//!     const NUM_CLASSES: usize = 32;
//!     const ALIGNMENT_SHIFT: u32 = 4;
//!     const POOL_OVERHEAD: usize = 0;
//!     const POOLS_PER_ARENA: usize = 1 << 20;
//!     const CHECK: () = ();
//! }
//! ```

use super::pool::PoolHeader;

/// Requests of more than this many bytes go to the system allocator.
pub const SMALL_REQUEST_THRESHOLD: usize = 512;

/// The largest number of size classes any geometry can have (`512 / 8`).
pub const MAX_CLASSES: usize = SMALL_REQUEST_THRESHOLD / 8;

/// Rounds `n` up to a multiple of the power of two `align`.
const fn round_up(n: usize, align: usize) -> usize {
    (n + align - 1) & !(align - 1)
}

/// The size parameters of an allocator.
///
/// Implementors set the three base constants; everything derived from them
/// (`NUM_CLASSES`, `POOL_OVERHEAD`, ...) is in [`GeometryExt`], computed by
/// pygc and not overridable.
///
/// # Example
///
/// ```
/// use pygc::alloc::{Allocator, Geometry, GeometryExt};
///
/// struct Tiny;
/// impl Geometry for Tiny {
///     const ARENA_SIZE: usize = 64 * 1024;
///     const POOL_SIZE: usize = 4 * 1024;
///     const ALIGNMENT: usize = 16;
/// }
/// assert_eq!(Tiny::NUM_CLASSES, 32);
/// assert_eq!(Tiny::POOLS_PER_ARENA, 16);
/// let mut a = Allocator::<Tiny>::new();
/// let p = a.alloc(std::alloc::Layout::new::<[u64; 4]>()).unwrap();
/// unsafe { a.dealloc(p, std::alloc::Layout::new::<[u64; 4]>()) };
/// ```
pub trait Geometry: 'static {
    /// Bytes in one arena: the unit requested from the system, aligned to
    /// its own size so that a pointer finds its arena by masking.
    const ARENA_SIZE: usize;
    /// Bytes in one pool: a run of blocks of one size class, aligned to its
    /// own size so that a pointer finds its pool header by masking.
    const POOL_SIZE: usize;
    /// The size-class step and the alignment of every small block.
    const ALIGNMENT: usize;
}

mod sealed {
    /// Keeps [`GeometryExt`](super::GeometryExt) implemented only by pygc's
    /// blanket impl.
    pub trait Sealed {}
    impl<G: super::Geometry> Sealed for G {}
}

/// The values derived from a [`Geometry`]'s three base constants, and the
/// check of its constraints.
///
/// Implemented by pygc for every `Geometry` and sealed: no impl can change
/// these numbers, which is what lets the allocator's unsafe code trust
/// them (after [`CHECK`](Self::CHECK), which `Allocator::new` evaluates).
pub trait GeometryExt: Geometry + sealed::Sealed {
    /// Number of size classes: `SMALL_REQUEST_THRESHOLD / ALIGNMENT`.
    const NUM_CLASSES: usize;
    /// `log2(ALIGNMENT)`: a request of `n` bytes is in class `(n - 1) >> ALIGNMENT_SHIFT`.
    const ALIGNMENT_SHIFT: u32;
    /// Bytes at the start of every pool taken by its header (rounded up to
    /// `ALIGNMENT` so that the first block is aligned).
    const POOL_OVERHEAD: usize;
    /// Pools in one arena: `ARENA_SIZE / POOL_SIZE`.
    const POOLS_PER_ARENA: usize;
    /// Compile-time check of the constraints. Referencing it (as
    /// `Allocator::new` does) turns a violated constraint into a build error.
    const CHECK: ();
}

impl<G: Geometry> GeometryExt for G {
    const NUM_CLASSES: usize = SMALL_REQUEST_THRESHOLD / G::ALIGNMENT;
    const ALIGNMENT_SHIFT: u32 = G::ALIGNMENT.trailing_zeros();
    const POOL_OVERHEAD: usize = round_up(size_of::<PoolHeader>(), G::ALIGNMENT);
    const POOLS_PER_ARENA: usize = G::ARENA_SIZE / G::POOL_SIZE;
    const CHECK: () = {
        assert!(
            G::ARENA_SIZE.is_power_of_two(),
            "ARENA_SIZE must be a power of two"
        );
        assert!(
            G::POOL_SIZE.is_power_of_two(),
            "POOL_SIZE must be a power of two"
        );
        assert!(
            G::ALIGNMENT.is_power_of_two(),
            "ALIGNMENT must be a power of two"
        );
        assert!(
            G::ALIGNMENT >= 8,
            "ALIGNMENT must be at least 8 (a free block holds a pointer)"
        );
        assert!(
            G::ALIGNMENT <= SMALL_REQUEST_THRESHOLD,
            "ALIGNMENT must be at most 512"
        );
        assert!(
            G::ARENA_SIZE % G::POOL_SIZE == 0,
            "an arena must be a whole number of pools"
        );
        assert!(
            Self::POOLS_PER_ARENA >= 2,
            "an arena must hold at least two pools"
        );
        assert!(
            G::POOL_SIZE >= Self::POOL_OVERHEAD + SMALL_REQUEST_THRESHOLD,
            "a pool must fit its header and one block of the largest class"
        );
        assert!(
            G::POOL_SIZE <= 32 * 1024,
            "pool offsets (up to POOL_SIZE) must fit the u16 offset fields"
        );
    };
}

/// The geometry pygc was specified with: 256 KiB arenas of 4 KiB pools,
/// size classes in 8-byte steps up to 512 bytes (64 classes).
///
/// Under Miri the arena and pool shrink to 16 KiB and 2 KiB so that the
/// interpreter sees pools recycled and arenas returned within a few hundred
/// allocations.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultGeometry;

impl Geometry for DefaultGeometry {
    #[cfg(not(miri))]
    const ARENA_SIZE: usize = 256 * 1024;
    #[cfg(miri)]
    const ARENA_SIZE: usize = 16 * 1024;
    #[cfg(not(miri))]
    const POOL_SIZE: usize = 4 * 1024;
    #[cfg(miri)]
    const POOL_SIZE: usize = 2 * 1024;
    const ALIGNMENT: usize = 8;
}

/// CPython 3.11 on a 64-bit build: 1 MiB arenas, 16 KiB pools, 16-byte steps
/// (32 classes). Not shrunk under Miri: its tests are the ones that compare
/// against CPython's numbers (1021 blocks of 16 bytes per pool).
#[derive(Debug, Clone, Copy, Default)]
pub struct CPython311;

impl Geometry for CPython311 {
    const ARENA_SIZE: usize = 1024 * 1024;
    const POOL_SIZE: usize = 16 * 1024;
    const ALIGNMENT: usize = 16;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A geometry that is not one of pygc's own, to show the derived values
    /// come from the three base constants whatever the impl.
    struct Tiny;
    impl Geometry for Tiny {
        const ARENA_SIZE: usize = 64 * 1024;
        const POOL_SIZE: usize = 4 * 1024;
        const ALIGNMENT: usize = 16;
    }

    /// Finding 1 (regression): the derived values are computed by pygc from
    /// `ARENA_SIZE`, `POOL_SIZE` and `ALIGNMENT` alone. Before, they were
    /// provided consts of the safe `Geometry` trait, which an impl could
    /// override (`POOL_OVERHEAD = 0` handed out the pool header as a block);
    /// the compile_fail doctests in this module's docs show that neither
    /// `Geometry` nor `GeometryExt` lets an impl set them now.
    #[test]
    fn derived_from_the_base_three() {
        fn derived<G: Geometry>() -> (usize, u32, usize, usize) {
            let () = G::CHECK;
            (
                G::NUM_CLASSES,
                G::ALIGNMENT_SHIFT,
                G::POOL_OVERHEAD,
                G::POOLS_PER_ARENA,
            )
        }
        let header = size_of::<PoolHeader>();
        assert_eq!(derived::<Tiny>(), (32, 4, header.next_multiple_of(16), 16));
        assert_eq!(
            derived::<CPython311>(),
            (32, 4, header.next_multiple_of(16), 64)
        );
        let (n, shift, overhead, _) = derived::<DefaultGeometry>();
        assert_eq!((n, shift, overhead), (64, 3, header.next_multiple_of(8)));
        assert!(Tiny::POOL_OVERHEAD >= header, "the header is never a block");
        assert_eq!(
            Tiny::POOLS_PER_ARENA * Tiny::POOL_SIZE,
            Tiny::ARENA_SIZE,
            "the pools fill the arena exactly"
        );
    }

    #[test]
    fn derived_constants() {
        assert_eq!(DefaultGeometry::NUM_CLASSES, 64);
        assert_eq!(CPython311::NUM_CLASSES, 32);
        assert_eq!(DefaultGeometry::POOL_OVERHEAD, 48);
        assert_eq!(CPython311::POOL_OVERHEAD, 48);
        assert_eq!(CPython311::POOLS_PER_ARENA, 64);
        #[cfg(not(miri))]
        assert_eq!(DefaultGeometry::POOLS_PER_ARENA, 64);
        #[cfg(miri)]
        assert_eq!(DefaultGeometry::POOLS_PER_ARENA, 8);
    }
}
