//! Size classes: which pool list a request of `n` bytes is served from.
//!
//! Class `i` holds blocks of `(i + 1) * ALIGNMENT` bytes; a request of
//! `n` bytes (`1 <= n <= 512`) is in class `(n - 1) >> log2(ALIGNMENT)`.
//! Both directions are `const fn`s so tables can be built at compile time.

use core::fmt;

use super::geometry::{Geometry, GeometryExt, SMALL_REQUEST_THRESHOLD};

/// The index of a size class: `0..G::NUM_CLASSES`.
///
/// # Example
///
/// ```
/// use pygc::alloc::{CPython311, DefaultGeometry, SizeClass};
///
/// let c = SizeClass::for_request::<DefaultGeometry>(20).unwrap();
/// assert_eq!(c.index(), 2);
/// assert_eq!(c.block_size::<DefaultGeometry>(), 24);
/// let c = SizeClass::for_request::<CPython311>(20).unwrap();
/// assert_eq!(c.block_size::<CPython311>(), 32);
/// assert!(SizeClass::for_request::<DefaultGeometry>(0).is_none());
/// assert!(SizeClass::for_request::<DefaultGeometry>(513).is_none());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SizeClass(u8);

impl SizeClass {
    /// The class serving a request of `size` bytes, or `None` when the
    /// request goes to the system allocator (`0` or more than 512 bytes).
    #[inline]
    pub const fn for_request<G: Geometry>(size: usize) -> Option<SizeClass> {
        if size.wrapping_sub(1) < SMALL_REQUEST_THRESHOLD {
            Some(SizeClass(((size - 1) >> G::ALIGNMENT_SHIFT) as u8))
        } else {
            None
        }
    }

    /// The class with this index, if the geometry has it.
    #[inline]
    pub const fn from_index<G: Geometry>(index: usize) -> Option<SizeClass> {
        if index < G::NUM_CLASSES {
            Some(SizeClass(index as u8))
        } else {
            None
        }
    }

    /// The class index.
    #[inline]
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// Bytes in one block of this class.
    #[inline]
    pub const fn block_size<G: Geometry>(self) -> usize {
        (self.0 as usize + 1) << G::ALIGNMENT_SHIFT
    }

    /// Blocks in one pool of this class: `(POOL_SIZE - POOL_OVERHEAD) / block size`.
    #[inline]
    pub const fn blocks_per_pool<G: Geometry>(self) -> usize {
        (G::POOL_SIZE - G::POOL_OVERHEAD) / self.block_size::<G>()
    }
}

impl fmt::Debug for SizeClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SizeClass({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::{CPython311, DefaultGeometry};

    #[test]
    fn every_request_size_default_geometry() {
        for n in 1..=512usize {
            let c = SizeClass::for_request::<DefaultGeometry>(n).unwrap();
            assert_eq!(c.index(), (n - 1) >> 3, "size {n}");
            let bs = c.block_size::<DefaultGeometry>();
            assert!(bs >= n && bs - n < 8, "size {n} block {bs}");
            assert_eq!(bs % 8, 0);
        }
        assert!(SizeClass::for_request::<DefaultGeometry>(0).is_none());
        assert!(SizeClass::for_request::<DefaultGeometry>(513).is_none());
        assert_eq!(
            SizeClass::for_request::<DefaultGeometry>(512)
                .unwrap()
                .index(),
            63
        );
    }

    #[test]
    fn every_request_size_cpython_geometry() {
        for n in 1..=512usize {
            let c = SizeClass::for_request::<CPython311>(n).unwrap();
            assert_eq!(c.index(), (n - 1) >> 4, "size {n}");
            assert_eq!(c.block_size::<CPython311>(), (c.index() + 1) * 16);
            assert!(c.block_size::<CPython311>() >= n);
        }
        assert!(SizeClass::for_request::<CPython311>(0).is_none());
        assert!(SizeClass::for_request::<CPython311>(513).is_none());
        assert_eq!(
            SizeClass::for_request::<CPython311>(512).unwrap().index(),
            31
        );
    }

    #[test]
    fn blocks_per_pool_match_cpython() {
        let c16 = SizeClass::for_request::<CPython311>(16).unwrap();
        assert_eq!(c16.blocks_per_pool::<CPython311>(), 1021);
        let c32 = SizeClass::for_request::<CPython311>(32).unwrap();
        assert_eq!(c32.blocks_per_pool::<CPython311>(), 510);
        let c512 = SizeClass::for_request::<CPython311>(512).unwrap();
        assert_eq!(c512.blocks_per_pool::<CPython311>(), 31);
        assert!(SizeClass::from_index::<CPython311>(32).is_none());
        assert_eq!(format!("{c16:?}"), "SizeClass(0)");
    }
}
