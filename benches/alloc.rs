//! Allocator benchmarks: pygc's `Allocator` (direct, `&mut`, no lock)
//! against `std::alloc::System`, mimalloc (through its `GlobalAlloc`
//! methods) and bumpalo (allocation only), in one criterion run.
//!
//! Workloads (one iteration = one alloc + free pair; bumpalo: one alloc):
//! 1. `lifo_32B`: allocate 32 bytes, free them at once (one other 32-byte
//!    block stays live: a warm heap).
//! 2. `random_8_512B_10k_live`: 10,000 live blocks; each step frees a random
//!    one and allocates a random size in 8..=512 in its place. The random
//!    slots and sizes are generated before timing, identical for everyone.
//!
//! Run: `cargo bench --bench alloc -- --warm-up-time 1 --measurement-time 3`
//! (see benches/README.md for the latest ratios).
#![allow(unsafe_code, missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use pygc::alloc::Allocator;

/// The operations every contender provides.
trait Contender {
    fn alloc(&mut self, l: Layout) -> *mut u8;
    /// # Safety
    /// `p` came from `alloc` with `l`.
    unsafe fn free(&mut self, p: *mut u8, l: Layout);
}

struct Pygc(Allocator);
impl Contender for Pygc {
    #[inline(always)]
    fn alloc(&mut self, l: Layout) -> *mut u8 {
        self.0
            .alloc(l)
            .map_or(std::ptr::null_mut(), NonNull::as_ptr)
    }
    #[inline(always)]
    unsafe fn free(&mut self, p: *mut u8, l: Layout) {
        // SAFETY: forwarded contract.
        unsafe { self.0.dealloc(NonNull::new_unchecked(p), l) }
    }
}

struct Sys;
impl Contender for Sys {
    #[inline(always)]
    fn alloc(&mut self, l: Layout) -> *mut u8 {
        // SAFETY: non-zero size.
        unsafe { System.alloc(l) }
    }
    #[inline(always)]
    unsafe fn free(&mut self, p: *mut u8, l: Layout) {
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(p, l) }
    }
}

struct Mi;
impl Contender for Mi {
    #[inline(always)]
    fn alloc(&mut self, l: Layout) -> *mut u8 {
        // SAFETY: non-zero size.
        unsafe { mimalloc::MiMalloc.alloc(l) }
    }
    #[inline(always)]
    unsafe fn free(&mut self, p: *mut u8, l: Layout) {
        // SAFETY: forwarded contract.
        unsafe { mimalloc::MiMalloc.dealloc(p, l) }
    }
}

/// Bump allocation: `free` does nothing; the arena is reset every
/// `RESET_EVERY` allocations (outside no timing: the reset is counted).
struct Bump(bumpalo::Bump, usize);
const RESET_EVERY: usize = 1 << 16;
impl Contender for Bump {
    #[inline(always)]
    fn alloc(&mut self, l: Layout) -> *mut u8 {
        self.1 += 1;
        if self.1 == RESET_EVERY {
            self.0.reset();
            self.1 = 0;
        }
        self.0.alloc_layout(l).as_ptr()
    }
    #[inline(always)]
    unsafe fn free(&mut self, _: *mut u8, _: Layout) {}
}

/// LIFO pairs on a warm heap: one other 32-byte block stays live during
/// the loop (as in any running program), so no contender measures giving
/// an empty page back and taking it again on every pair. (pygc, like
/// CPython's pymalloc, returns a pool to its arena the moment its last
/// block is freed; with an otherwise empty heap that costs a slow path per
/// pair.)
fn lifo<C: Contender>(c: &mut C, iters: u64) -> Duration {
    let l = Layout::from_size_align(32, 8).unwrap();
    let keep = black_box(c.alloc(l));
    let start = Instant::now();
    for _ in 0..iters {
        let p = black_box(c.alloc(l));
        // SAFETY: `p` came from `alloc` with `l`.
        unsafe { c.free(p, l) };
    }
    let elapsed = start.elapsed();
    // SAFETY: `keep` came from `alloc` with `l`.
    unsafe { c.free(keep, l) };
    elapsed
}

const LIVE: usize = 10_000;
const SEQ: usize = 1 << 16;

/// The pre-generated random workload: `(slot, size)` per step.
fn sequence() -> (Vec<usize>, Vec<(u32, u32)>) {
    // xorshift64*: deterministic and identical for every contender.
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        s.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let initial = (0..LIVE).map(|_| 8 + (next() % 505) as usize).collect();
    let steps = (0..SEQ)
        .map(|_| ((next() % LIVE as u64) as u32, (8 + next() % 505) as u32))
        .collect();
    (initial, steps)
}

fn random<C: Contender>(
    c: &mut C,
    initial: &[usize],
    steps: &[(u32, u32)],
    iters: u64,
) -> Duration {
    let mut slots: Vec<(*mut u8, usize)> = initial
        .iter()
        .map(|&n| (c.alloc(Layout::from_size_align(n, 8).unwrap()), n))
        .collect();
    let start = Instant::now();
    let mut k = 0usize;
    for _ in 0..iters {
        let (slot, size) = steps[k];
        k = (k + 1) & (SEQ - 1);
        let slot = slot as usize;
        let (p, n) = slots[slot];
        // SAFETY: `p` came from `alloc` with this layout (size n, align 8).
        unsafe { c.free(p, Layout::from_size_align_unchecked(n, 8)) };
        // SAFETY: size in 8..=512, align 8.
        let q = c.alloc(unsafe { Layout::from_size_align_unchecked(size as usize, 8) });
        slots[slot] = (black_box(q), size as usize);
    }
    let elapsed = start.elapsed();
    for (p, n) in slots {
        // SAFETY: live blocks with their layouts.
        unsafe { c.free(p, Layout::from_size_align(n, 8).unwrap()) };
    }
    elapsed
}

fn bench_lifo(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("lifo_32B");
    g.bench_function("pygc", |b| {
        let mut c = Pygc(Allocator::new());
        b.iter_custom(|n| lifo(&mut c, n))
    });
    g.bench_function("system", |b| b.iter_custom(|n| lifo(&mut Sys, n)));
    g.bench_function("mimalloc", |b| b.iter_custom(|n| lifo(&mut Mi, n)));
    g.bench_function("bumpalo_alloc_only", |b| {
        let mut c = Bump(bumpalo::Bump::new(), 0);
        b.iter_custom(|n| lifo(&mut c, n))
    });
    g.finish();
}

fn bench_random(cr: &mut Criterion) {
    let (initial, steps) = sequence();
    let mut g = cr.benchmark_group("random_8_512B_10k_live");
    g.bench_function("pygc", |b| {
        let mut c = Pygc(Allocator::new());
        b.iter_custom(|n| random(&mut c, &initial, &steps, n))
    });
    g.bench_function("system", |b| {
        b.iter_custom(|n| random(&mut Sys, &initial, &steps, n))
    });
    g.bench_function("mimalloc", |b| {
        b.iter_custom(|n| random(&mut Mi, &initial, &steps, n))
    });
    g.bench_function("bumpalo_alloc_only", |b| {
        let mut c = Bump(bumpalo::Bump::new(), 0);
        b.iter_custom(|n| random(&mut c, &initial, &steps, n))
    });
    g.finish();
}

criterion_group!(benches, bench_lifo, bench_random);
criterion_main!(benches);
