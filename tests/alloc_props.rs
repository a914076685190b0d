//! Property tests: random allocator programs (alloc / dealloc / free /
//! realloc) run against pygc's allocator and a shadow model (a map of live
//! blocks). After every step: no two live blocks overlap, every pointer
//! honours its layout, bytes written at allocation are intact when the
//! block is freed or moved, the per-class stats invariant holds
//! (`in use + available == pools * blocks per pool`), the stats agree with
//! the model, and `Allocator::check` passes.
//!
//! Cases: 64 by default, 4 under Miri; `PROPTEST_CASES=N` overrides.
#![allow(unsafe_code)]

use std::alloc::Layout;
use std::collections::BTreeMap;
use std::ptr::NonNull;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use pygc::alloc::{Allocator, CPython311, DefaultGeometry, Geometry, SizeClass};

#[derive(Debug, Clone)]
enum Op {
    /// Allocate `size` bytes aligned to `1 << align_pow`.
    Alloc { size: usize, align_pow: u8 },
    /// Free the live block chosen by `pick` with its layout.
    Dealloc { pick: usize },
    /// Free the live block chosen by `pick` with `free` (no layout) if it
    /// is a pool block, else with its layout.
    Free { pick: usize },
    /// Resize the live block chosen by `pick`.
    Realloc { pick: usize, new_size: usize },
    /// Turn the empty-pool hysteresis on or off (off gives the parked pool back).
    KeepEmptyPool(bool),
    /// Give the parked empty pool back.
    Trim,
}

fn size_strategy() -> impl Strategy<Value = usize> {
    prop_oneof![
        8 => 1usize..=512,
        1 => Just(0usize),
        1 => 513usize..=2048,
        1 => prop_oneof![Just(8usize), Just(16), Just(512), Just(385), Just(384)],
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (size_strategy(), prop_oneof![6 => Just(0u8), 2 => 1u8..=4, 1 => 5u8..=7])
            .prop_map(|(size, align_pow)| Op::Alloc { size, align_pow }),
        2 => any::<usize>().prop_map(|pick| Op::Dealloc { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Free { pick }),
        2 => (any::<usize>(), size_strategy()).prop_map(|(pick, new_size)| Op::Realloc { pick, new_size }),
        1 => prop_oneof![any::<bool>().prop_map(Op::KeepEmptyPool), Just(Op::Trim)],
    ]
}

/// One live block of the model.
#[derive(Debug, Clone, Copy)]
struct Live {
    ptr: NonNull<u8>,
    layout: Layout,
    fill: u8,
}

fn is_small<G: Geometry>(l: Layout) -> bool {
    (1..=512).contains(&l.size()) && l.align() <= G::ALIGNMENT
}

fn assert_intact(b: &Live, len: usize) {
    // SAFETY: the block is live with at least `layout.size() >= len` bytes.
    let bytes = unsafe { std::slice::from_raw_parts(b.ptr.as_ptr(), len) };
    assert!(
        bytes.iter().all(|&x| x == b.fill),
        "contents of {:p} changed",
        b.ptr
    );
}

fn fill(b: &Live) {
    // SAFETY: the block is live with `layout.size()` bytes.
    unsafe { b.ptr.as_ptr().write_bytes(b.fill, b.layout.size()) };
}

/// Inserts a block into the model, checking alignment and non-overlap.
fn insert<G: Geometry>(a: &Allocator<G>, model: &mut BTreeMap<usize, Live>, b: Live) {
    let start = b.ptr.as_ptr().addr();
    assert_eq!(
        start % b.layout.align(),
        0,
        "{:?} misaligned at {start:#x}",
        b.layout
    );
    assert_eq!(
        a.owns(b.ptr.as_ptr()),
        is_small::<G>(b.layout),
        "wrong path for {:?}",
        b.layout
    );
    let end = start + b.layout.size().max(1);
    if let Some((&s, p)) = model.range(..=start).next_back() {
        assert!(
            s + p.layout.size().max(1) <= start,
            "overlaps the block at {s:#x}"
        );
    }
    if let Some((&s, _)) = model.range(start..).next() {
        assert!(end <= s, "overlaps the block at {s:#x}");
    }
    fill(&b);
    model.insert(start, b);
}

fn take(model: &mut BTreeMap<usize, Live>, pick: usize) -> Option<Live> {
    if model.is_empty() {
        return None;
    }
    let key = *model.keys().nth(pick % model.len()).unwrap();
    model.remove(&key)
}

fn check_stats<G: Geometry>(a: &Allocator<G>, model: &BTreeMap<usize, Live>) {
    a.check();
    let s = a.stats();
    let mut in_use = 0;
    let mut large = 0;
    for (i, c) in s.class_rows().iter().enumerate() {
        let bpp = SizeClass::from_index::<G>(i)
            .unwrap()
            .blocks_per_pool::<G>();
        assert_eq!(
            c.blocks_in_use + c.blocks_available,
            c.pools * bpp,
            "class {i}"
        );
        in_use += c.blocks_in_use;
    }
    for b in model.values() {
        if !is_small::<G>(b.layout) {
            large += 1;
        }
    }
    assert_eq!(in_use + large, model.len(), "stats disagree with the model");
    assert_eq!(s.large_blocks, large);
    assert_eq!(s.total_bytes, s.arenas_current * G::ARENA_SIZE);
}

fn run<G: Geometry>(ops: &[Op]) {
    let mut a = Allocator::<G>::new();
    let mut model: BTreeMap<usize, Live> = BTreeMap::new();
    let mut next_fill = 1u8;
    for op in ops {
        match *op {
            Op::Alloc { size, align_pow } => {
                let layout = Layout::from_size_align(size, 1 << align_pow).unwrap();
                let ptr = a.alloc(layout).expect("out of memory");
                next_fill = next_fill.wrapping_add(1).max(1);
                insert(
                    &a,
                    &mut model,
                    Live {
                        ptr,
                        layout,
                        fill: next_fill,
                    },
                );
            }
            Op::Dealloc { pick } => {
                if let Some(b) = take(&mut model, pick) {
                    assert_intact(&b, b.layout.size());
                    // SAFETY: live block with its layout.
                    unsafe { a.dealloc(b.ptr, b.layout) };
                }
            }
            Op::Free { pick } => {
                if let Some(b) = take(&mut model, pick) {
                    assert_intact(&b, b.layout.size());
                    if is_small::<G>(b.layout) {
                        // SAFETY: live pool block.
                        unsafe { a.free(b.ptr) };
                    } else {
                        // SAFETY: live block with its layout.
                        unsafe { a.dealloc(b.ptr, b.layout) };
                    }
                }
            }
            Op::KeepEmptyPool(keep) => a.set_keep_empty_pool(keep),
            Op::Trim => a.trim(),
            Op::Realloc { pick, new_size } => {
                if let Some(b) = take(&mut model, pick) {
                    // SAFETY: live block with its layout.
                    let p = unsafe { a.realloc(b.ptr, b.layout, new_size) }.expect("out of memory");
                    let moved = Live {
                        ptr: p,
                        layout: Layout::from_size_align(new_size, b.layout.align()).unwrap(),
                        fill: b.fill,
                    };
                    assert_intact(&moved, b.layout.size().min(new_size));
                    insert(&a, &mut model, moved);
                }
            }
        }
        check_stats(&a, &model);
    }
    for b in std::mem::take(&mut model).into_values() {
        assert_intact(&b, b.layout.size());
        // SAFETY: live block with its layout.
        unsafe { a.dealloc(b.ptr, b.layout) };
    }
    check_stats(&a, &model);
    let s = a.stats();
    assert_eq!((s.bytes_in_use, s.large_blocks), (0, 0));
    assert!(
        s.arenas_current <= 1,
        "only the last empty arena may be kept"
    );
}

fn config() -> Config {
    let default = if cfg!(miri) { 4 } else { 64 };
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

fn max_ops() -> usize {
    if cfg!(miri) { 60 } else { 400 }
}

#[test]
fn random_programs_default_geometry() {
    let mut runner = TestRunner::new(config());
    runner
        .run(&prop::collection::vec(op_strategy(), 0..max_ops()), |ops| {
            run::<DefaultGeometry>(&ops);
            Ok(())
        })
        .unwrap();
}

#[test]
fn random_programs_cpython_geometry() {
    let mut runner = TestRunner::new(config());
    runner
        .run(&prop::collection::vec(op_strategy(), 0..max_ops()), |ops| {
            run::<CPython311>(&ops);
            Ok(())
        })
        .unwrap();
}

/// Programs that fill and empty whole arenas, so arena release and the
/// usable-list re-sorting are exercised (the random programs above rarely
/// need a second arena).
#[test]
fn many_blocks_of_one_class() {
    let mut runner = TestRunner::new(config());
    let n = if cfg!(miri) { 80usize } else { 3000 };
    let strat = (prop::collection::vec(any::<usize>(), n..=n), 384usize..=512);
    runner
        .run(&strat, |(picks, size)| {
            let mut ops: Vec<Op> = (0..n).map(|_| Op::Alloc { size, align_pow: 3 }).collect();
            ops.extend(picks.iter().map(|&pick| {
                if pick % 3 == 0 {
                    Op::Free { pick }
                } else {
                    Op::Dealloc { pick }
                }
            }));
            run_light::<DefaultGeometry>(&ops);
            Ok(())
        })
        .unwrap();
}

/// Like [`run`] but validating only every 64 steps (the O(n) checks would
/// make the long programs quadratic).
fn run_light<G: Geometry>(ops: &[Op]) {
    let mut a = Allocator::<G>::new();
    let mut model: BTreeMap<usize, Live> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        match *op {
            Op::Alloc { size, align_pow } => {
                let layout = Layout::from_size_align(size, 1 << align_pow).unwrap();
                let ptr = a.alloc(layout).expect("out of memory");
                insert(
                    &a,
                    &mut model,
                    Live {
                        ptr,
                        layout,
                        fill: (i % 251) as u8 + 1,
                    },
                );
            }
            Op::Dealloc { pick } | Op::Free { pick } | Op::Realloc { pick, .. } => {
                if let Some(b) = take(&mut model, pick) {
                    assert_intact(&b, b.layout.size());
                    // SAFETY: live block with its layout.
                    unsafe { a.dealloc(b.ptr, b.layout) };
                }
            }
            Op::KeepEmptyPool(keep) => a.set_keep_empty_pool(keep),
            Op::Trim => a.trim(),
        }
        if i % 64 == 0 {
            check_stats(&a, &model);
        }
    }
    check_stats(&a, &model);
    assert!(a.stats().arenas_current <= 1);
}
