//! The one routing rule: which requests the pools serve.
//!
//! Every path that needs to know where a block of a given layout lives
//! (allocate, free, resize, the `LocalPool` and `GlobalPool` adapters, the
//! object heap) asks [`placement`], so allocation and deallocation can never
//! disagree about it.

use core::alloc::Layout;

use super::geometry::{Geometry, SMALL_REQUEST_THRESHOLD};
use super::size_class::SizeClass;

/// Where a request of some [`Layout`] is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Placement {
    /// A block of this size class in a pool: `1..=512` bytes with an
    /// alignment of at most `G::ALIGNMENT`.
    Small(SizeClass),
    /// A zero-size request (any alignment). [`Allocator`](super::Allocator)
    /// serves it from the system as a 1-byte block, as CPython turns
    /// `malloc(0)` into `malloc(1)`; [`LocalPool`](super::LocalPool) follows
    /// std's `Allocator` convention instead: a dangling, well-aligned pointer
    /// that is never freed.
    Zero,
    /// The system allocator: more than 512 bytes, or aligned above
    /// `G::ALIGNMENT`.
    Large,
}

impl Placement {
    /// Whether the request is served by a pool.
    #[inline]
    pub const fn is_small(self) -> bool {
        matches!(self, Placement::Small(_))
    }
}

/// Where the allocator of geometry `G` serves a request of `layout`.
///
/// ```
/// use std::alloc::Layout;
/// use pygc::alloc::{placement, DefaultGeometry, Placement, SizeClass};
///
/// let l = Layout::new::<[u8; 20]>();
/// assert_eq!(
///     placement::<DefaultGeometry>(l),
///     Placement::Small(SizeClass::for_request::<DefaultGeometry>(20).unwrap())
/// );
/// assert_eq!(placement::<DefaultGeometry>(Layout::new::<()>()), Placement::Zero);
/// assert_eq!(placement::<DefaultGeometry>(Layout::new::<[u8; 513]>()), Placement::Large);
/// let over_aligned = Layout::from_size_align(16, 64).unwrap();
/// assert_eq!(placement::<DefaultGeometry>(over_aligned), Placement::Large);
/// ```
#[inline(always)]
pub const fn placement<G: Geometry>(layout: Layout) -> Placement {
    let size = layout.size();
    if size == 0 {
        return Placement::Zero;
    }
    if layout.align() > G::ALIGNMENT || size > SMALL_REQUEST_THRESHOLD {
        return Placement::Large;
    }
    match SizeClass::for_request::<G>(size) {
        Some(class) => Placement::Small(class),
        None => Placement::Large,
    }
}
