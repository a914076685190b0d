//! [`AllocStats`]: the allocator's numbers, and a `Display` in the shape of
//! CPython's `sys._debugmallocstats()`.

use core::fmt;

use super::geometry::{Geometry, GeometryExt, MAX_CLASSES, SMALL_REQUEST_THRESHOLD};
use super::size_class::SizeClass;

/// Numbers for one size class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClassStats {
    /// Bytes per block.
    pub block_size: usize,
    /// Pools holding this class that are used or full (not empty).
    pub pools: usize,
    /// Blocks handed out.
    pub blocks_in_use: usize,
    /// Blocks free in those pools, carved or not:
    /// `pools * blocks_per_pool - blocks_in_use`.
    pub blocks_available: usize,
}

/// A snapshot of an allocator's state, from [`Allocator::stats`](super::Allocator::stats).
///
/// Invariants: for every class `in use + available == pools * blocks per
/// pool`, and `total_bytes == arenas_current * arena_size`.
///
/// # Example
///
/// ```
/// use std::alloc::Layout;
/// use pygc::alloc::{Allocator, CPython311};
///
/// let mut a = Allocator::<CPython311>::new();
/// let l = Layout::from_size_align(16, 8).unwrap();
/// let p = a.alloc(l).unwrap();
/// let s = a.stats();
/// assert_eq!(s.classes[0].blocks_in_use, 1);
/// assert_eq!(s.classes[0].blocks_available, 1020);
/// assert_eq!(s.total_bytes, 1 << 20);
/// let table = s.to_string();
/// assert!(table.starts_with("Small block threshold = 512, in 32 size classes."));
/// # unsafe { a.dealloc(p, l) };
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocStats {
    /// Number of size classes (`classes[..num_classes]` are meaningful).
    pub num_classes: usize,
    /// Largest request served by pools (512).
    pub small_request_threshold: usize,
    /// Bytes per arena.
    pub arena_size: usize,
    /// Bytes per pool.
    pub pool_size: usize,
    /// Bytes of header at the start of each pool.
    pub pool_overhead: usize,
    /// Per-class numbers, indexed by class (a fixed array: taking stats
    /// never allocates, so it is safe under a global allocator's lock).
    pub classes: [ClassStats; MAX_CLASSES],
    /// Arenas ever acquired from the system.
    pub arenas_allocated_total: usize,
    /// Arenas given back to the system.
    pub arenas_reclaimed: usize,
    /// Most arenas held at once.
    pub arenas_highwater: usize,
    /// Arenas held now.
    pub arenas_current: usize,
    /// Bytes in blocks handed out (counting whole blocks).
    pub bytes_in_use: usize,
    /// Bytes in free blocks of used or full pools.
    pub bytes_available: usize,
    /// Pools that are empty or never carved.
    pub unused_pools: usize,
    /// Bytes of unused pools (`unused_pools * pool_size`).
    pub unused_pool_bytes: usize,
    /// Bytes taken by the headers of used and full pools.
    pub pool_header_bytes: usize,
    /// Bytes at the end of used and full pools too small for one more block.
    pub quantization_bytes: usize,
    /// Bytes lost aligning arenas to pools: always 0 here, since arenas are
    /// allocated aligned to their own size (CPython loses one pool per mmap'd arena).
    pub arena_alignment_bytes: usize,
    /// Sum of the above: `arenas_current * arena_size`.
    pub total_bytes: usize,
    /// Blocks handed out by the system path (0-byte, >512-byte, over-aligned).
    pub large_blocks: usize,
    /// Bytes requested by those blocks.
    pub large_bytes: usize,
}

impl AllocStats {
    /// All zeros, with the geometry's block sizes filled in.
    pub(crate) fn empty<G: Geometry>() -> Self {
        let mut classes = [ClassStats::default(); MAX_CLASSES];
        for (i, c) in classes.iter_mut().enumerate().take(G::NUM_CLASSES) {
            c.block_size = SizeClass::from_index::<G>(i)
                .expect("in range")
                .block_size::<G>();
        }
        AllocStats {
            num_classes: G::NUM_CLASSES,
            small_request_threshold: SMALL_REQUEST_THRESHOLD,
            arena_size: G::ARENA_SIZE,
            pool_size: G::POOL_SIZE,
            pool_overhead: G::POOL_OVERHEAD,
            classes,
            arenas_allocated_total: 0,
            arenas_reclaimed: 0,
            arenas_highwater: 0,
            arenas_current: 0,
            bytes_in_use: 0,
            bytes_available: 0,
            unused_pools: 0,
            unused_pool_bytes: 0,
            pool_header_bytes: 0,
            quantization_bytes: 0,
            arena_alignment_bytes: 0,
            total_bytes: 0,
            large_blocks: 0,
            large_bytes: 0,
        }
    }

    /// Derives the byte totals from the per-class numbers.
    pub(crate) fn finish<G: Geometry>(&mut self) {
        let usable = G::POOL_SIZE - G::POOL_OVERHEAD;
        let mut pools = 0;
        for c in &self.classes[..self.num_classes] {
            self.bytes_in_use += c.blocks_in_use * c.block_size;
            self.bytes_available += c.blocks_available * c.block_size;
            self.quantization_bytes += c.pools * (usable % c.block_size);
            pools += c.pools;
        }
        self.pool_header_bytes = pools * G::POOL_OVERHEAD;
        self.unused_pool_bytes = self.unused_pools * G::POOL_SIZE;
        self.arena_alignment_bytes =
            self.arenas_current * (G::ARENA_SIZE - G::POOLS_PER_ARENA * G::POOL_SIZE);
        self.total_bytes = self.bytes_in_use
            + self.bytes_available
            + self.unused_pool_bytes
            + self.pool_header_bytes
            + self.quantization_bytes
            + self.arena_alignment_bytes;
        debug_assert_eq!(self.total_bytes, self.arenas_current * G::ARENA_SIZE);
    }

    /// The per-class rows that are meaningful for this geometry.
    pub fn class_rows(&self) -> &[ClassStats] {
        &self.classes[..self.num_classes]
    }
}

/// A number printed with comma thousands separators, honouring width.
struct Thousands(usize);

impl fmt::Display for Thousands {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut digits = [0u8; 20];
        let mut n = self.0;
        let mut len = 0;
        loop {
            digits[len] = b'0' + (n % 10) as u8;
            len += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let shown = len + (len - 1) / 3;
        for _ in shown..f.width().unwrap_or(0) {
            f.write_str(" ")?;
        }
        for i in (0..len).rev() {
            let d = [digits[i]];
            f.write_str(core::str::from_utf8(&d).map_err(|_| fmt::Error)?)?;
            if i > 0 && i % 3 == 0 {
                f.write_str(",")?;
            }
        }
        Ok(())
    }
}

/// One `label = value` line, padded like CPython's.
fn line(f: &mut fmt::Formatter<'_>, label: fmt::Arguments<'_>, value: usize) -> fmt::Result {
    // Format the label into a fixed buffer so it can be padded without allocating.
    struct Buf {
        b: [u8; 64],
        n: usize,
    }
    impl fmt::Write for Buf {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let end = (self.n + s.len()).min(self.b.len());
            self.b[self.n..end].copy_from_slice(&s.as_bytes()[..end - self.n]);
            self.n = end;
            Ok(())
        }
    }
    let mut buf = Buf { b: [0; 64], n: 0 };
    fmt::write(&mut buf, label)?;
    let label = core::str::from_utf8(&buf.b[..buf.n]).map_err(|_| fmt::Error)?;
    writeln!(f, "{label:<35}={:>21}", Thousands(value))
}

impl fmt::Display for AllocStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Small block threshold = {}, in {} size classes.",
            self.small_request_threshold, self.num_classes
        )?;
        writeln!(f)?;
        writeln!(f, "class   size   num pools   blocks in use  avail blocks")?;
        writeln!(f, "-----   ----   ---------   -------------  ------------")?;
        for (i, c) in self.class_rows().iter().enumerate() {
            if c.pools == 0 {
                continue;
            }
            writeln!(
                f,
                "{i:>5} {:>6} {:>11} {:>15} {:>13}",
                c.block_size, c.pools, c.blocks_in_use, c.blocks_available
            )?;
        }
        writeln!(f)?;
        line(
            f,
            format_args!("# arenas allocated total"),
            self.arenas_allocated_total,
        )?;
        line(f, format_args!("# arenas reclaimed"), self.arenas_reclaimed)?;
        line(
            f,
            format_args!("# arenas highwater mark"),
            self.arenas_highwater,
        )?;
        line(
            f,
            format_args!("# arenas allocated current"),
            self.arenas_current,
        )?;
        line(
            f,
            format_args!(
                "{} arenas * {} bytes/arena",
                self.arenas_current, self.arena_size
            ),
            self.arenas_current * self.arena_size,
        )?;
        writeln!(f)?;
        line(
            f,
            format_args!("# bytes in allocated blocks"),
            self.bytes_in_use,
        )?;
        line(
            f,
            format_args!("# bytes in available blocks"),
            self.bytes_available,
        )?;
        line(
            f,
            format_args!(
                "{} unused pools * {} bytes",
                self.unused_pools, self.pool_size
            ),
            self.unused_pool_bytes,
        )?;
        line(
            f,
            format_args!("# bytes lost to pool headers"),
            self.pool_header_bytes,
        )?;
        line(
            f,
            format_args!("# bytes lost to quantization"),
            self.quantization_bytes,
        )?;
        line(
            f,
            format_args!("# bytes lost to arena alignment"),
            self.arena_alignment_bytes,
        )?;
        line(f, format_args!("Total"), self.total_bytes)?;
        writeln!(f)?;
        line(
            f,
            format_args!("# system-allocator blocks"),
            self.large_blocks,
        )?;
        line(
            f,
            format_args!("# bytes in system-allocator blocks"),
            self.large_bytes,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(format!("{}", Thousands(0)), "0");
        assert_eq!(format!("{}", Thousands(999)), "999");
        assert_eq!(format!("{}", Thousands(4_194_304)), "4,194,304");
        assert_eq!(format!("{:>12}", Thousands(1000)), "       1,000");
    }
}
