//! Unit tests of the allocator's named behaviours (CPython conformance P6–P9
//! and the bad-input contract), in both geometries.
#![allow(unsafe_code)]

use core::alloc::Layout;
use core::ptr::{self, NonNull};

use super::pool::PoolHeader;
use super::*;

fn small(n: usize) -> Layout {
    Layout::from_size_align(n, 8).unwrap()
}

fn pool_of<G: Geometry>(p: NonNull<u8>) -> *mut PoolHeader {
    p.as_ptr().map_addr(|a| a & !(G::POOL_SIZE - 1)).cast()
}

/// P7: fill one pool of class 0, then drain it.
fn fill_and_drain<G: Geometry>() {
    let mut a = Allocator::<G>::new();
    let size = G::ALIGNMENT;
    let cap = (G::POOL_SIZE - G::POOL_OVERHEAD) / size;
    assert_eq!(
        cap,
        SizeClass::for_request::<G>(size)
            .unwrap()
            .blocks_per_pool::<G>()
    );
    let mut first = Vec::new();
    for i in 0..cap {
        assert!(
            i == 0 || !a.usedpools.heads[0].is_null(),
            "pool left its list early"
        );
        first.push(a.alloc(small(size)).unwrap());
    }
    let pool_a = pool_of::<G>(first[0]);
    assert!(
        first.iter().all(|&p| pool_of::<G>(p) == pool_a),
        "one pool holds them all"
    );
    // Handing out the last block unlinked the pool.
    assert!(
        a.usedpools.heads[0].is_null(),
        "a full pool stays off its used list"
    );
    a.check();
    // A second pool for the same class.
    let other = a.alloc(small(size)).unwrap();
    let pool_b = pool_of::<G>(other);
    assert_ne!(pool_a, pool_b);
    assert_eq!(a.usedpools.heads[0], pool_b);
    // One free into the full pool relinks it at the front.
    let q = first.pop().unwrap();
    // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
    unsafe { a.dealloc(q, small(size)) };
    assert_eq!(
        a.usedpools.heads[0], pool_a,
        "a full pool that gets a block back goes first"
    );
    // SAFETY: the pool header read here belongs to a pool of this allocator that is still carved.
    assert_eq!(unsafe { (*pool_a).nextpool }, pool_b);
    // The next allocation reuses that block (LIFO).
    let again = a.alloc(small(size)).unwrap();
    assert_eq!(again, q);
    first.push(again);
    a.check();
    let s = a.stats();
    assert_eq!(s.classes[0].pools, 2);
    assert_eq!(s.classes[0].blocks_in_use, cap + 1);
    assert_eq!(s.classes[0].blocks_available, cap - 1);
    // The last free returns the pool to its arena's free-pool list.
    // SAFETY: the pool header read here belongs to a pool of this allocator that is still carved.
    let arena = unsafe { (*pool_a).arenaindex } as usize;
    let nfree_before = a.arenas.objs[arena].nfreepools;
    for p in first.drain(..) {
        // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
        unsafe { a.dealloc(p, small(size)) };
    }
    assert_eq!(
        a.usedpools.heads[0], pool_b,
        "the empty pool left the used list"
    );
    assert_eq!(
        a.arenas.objs[arena].freepools, pool_a,
        "the empty pool is on freepools"
    );
    assert_eq!(a.arenas.objs[arena].nfreepools, nfree_before + 1);
    assert_eq!(a.stats().unused_pools, G::POOLS_PER_ARENA - 1);
    a.check();
    // Reusing the empty pool for the same class skips re-initialisation:
    // its free list is used as is (the most recently freed block first).
    // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
    unsafe { a.dealloc(other, small(size)) };
    let r = a.alloc(small(size)).unwrap();
    assert!(pool_of::<G>(r) == pool_a || pool_of::<G>(r) == pool_b);
    // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
    unsafe { a.dealloc(r, small(size)) };
    a.check();
    assert_eq!(a.stats().bytes_in_use, 0);
}

#[test]
fn pool_fill_and_drain_default() {
    fill_and_drain::<DefaultGeometry>();
}

#[test]
fn pool_fill_and_drain_cpython() {
    fill_and_drain::<CPython311>();
    // CPython's number for 16-byte blocks in 16 KiB pools.
    assert_eq!(
        (CPython311::POOL_SIZE - CPython311::POOL_OVERHEAD) / 16,
        1021
    );
}

#[test]
fn same_class_reuse_keeps_free_list() {
    let mut a = Allocator::<DefaultGeometry>::new();
    // CPython's exact pool order: the emptied pool goes back to its arena at once.
    a.set_keep_empty_pool(false);
    let p = a.alloc(small(64)).unwrap();
    let q = a.alloc(small(64)).unwrap();
    let pool = pool_of::<DefaultGeometry>(p);
    // SAFETY: each block was allocated above by this allocator with this layout and is freed once.
    unsafe {
        a.dealloc(p, small(64));
        a.dealloc(q, small(64));
    }
    // Pool is empty now; its free list is q -> p -> (third carved block).
    let r = a.alloc(small(64)).unwrap();
    assert_eq!(
        pool_of::<DefaultGeometry>(r),
        pool,
        "the cached pool is taken first"
    );
    assert_eq!(r, q, "same class: the old free list is reused, not rebuilt");
    // A different class re-initialises it: the first block comes back.
    // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
    unsafe { a.dealloc(r, small(64)) };
    let s = a.alloc(small(8)).unwrap();
    assert_eq!(pool_of::<DefaultGeometry>(s), pool);
    assert_eq!(
        s.as_ptr().addr() - pool.addr(),
        DefaultGeometry::POOL_OVERHEAD
    );
    // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
    unsafe { a.dealloc(s, small(8)) };
    a.check();
}

/// P8: two arenas; the non-last wholly free one is returned, the last kept.
fn two_arenas<G: Geometry>() {
    let mut a = Allocator::<G>::new();
    let per_arena = G::POOLS_PER_ARENA
        * SizeClass::for_request::<G>(512)
            .unwrap()
            .blocks_per_pool::<G>();
    let l = small(512);
    let arena_a: Vec<_> = (0..per_arena).map(|_| a.alloc(l).unwrap()).collect();
    assert_eq!(a.stats().arenas_current, 1);
    assert!(a.usable.head().is_none(), "a full arena is on no list");
    let in_b = a.alloc(l).unwrap();
    assert_eq!(a.stats().arenas_current, 2);
    let base = |p: NonNull<u8>| p.as_ptr().addr() & !(G::ARENA_SIZE - 1);
    assert!(arena_a.iter().all(|&p| base(p) == base(arena_a[0])));
    assert_ne!(base(in_b), base(arena_a[0]));
    a.check();
    // Empty arena A. While it empties it sits before B (fewer free pools or
    // the same count); when its last pool comes back it is wholly free and
    // not last on the usable list: it goes back to the system.
    let a_base = base(arena_a[0]);
    for p in arena_a {
        // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
        unsafe { a.dealloc(p, l) };
        a.check();
    }
    let s = a.stats();
    assert_eq!(
        (s.arenas_current, s.arenas_reclaimed),
        (1, 1),
        "the non-last empty arena is returned"
    );
    assert!(
        !a.owns(ptr::without_provenance(a_base)),
        "a returned arena is no longer ours"
    );
    // Empty arena B: wholly free but the last (only) usable arena: kept (bpo-37257).
    // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
    unsafe { a.dealloc(in_b, l) };
    a.check();
    let s = a.stats();
    assert_eq!(s.arenas_current, 1, "the last empty arena is kept");
    assert_eq!(s.arenas_reclaimed, 1);
    assert_eq!(s.arenas_allocated_total, 2);
    assert_eq!(s.arenas_highwater, 2);
    assert!(a.owns(in_b.as_ptr()));
    assert_eq!(s.total_bytes, G::ARENA_SIZE);
    assert_eq!(s.unused_pools, G::POOLS_PER_ARENA);
    // Allocating again reuses the kept arena: no new arena.
    let p = a.alloc(l).unwrap();
    assert_eq!(base(p), base(in_b));
    assert_eq!(a.stats().arenas_allocated_total, 2);
    // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
    unsafe { a.dealloc(p, l) };
}

#[test]
fn two_arenas_default() {
    two_arenas::<DefaultGeometry>();
}

#[test]
#[cfg_attr(
    miri,
    ignore = "2 MiB of arenas and ~4000 blocks: too slow under Miri; the default geometry covers it"
)]
fn two_arenas_cpython() {
    two_arenas::<CPython311>();
}

/// The usable list stays sorted most-full first while pools come and go.
#[test]
fn usable_list_sorted_under_churn() {
    let mut a = Allocator::<DefaultGeometry>::new();
    let l = small(512);
    let per_pool = SizeClass::for_request::<DefaultGeometry>(512)
        .unwrap()
        .blocks_per_pool::<DefaultGeometry>();
    let n = 3 * DefaultGeometry::POOLS_PER_ARENA * per_pool;
    let mut v: Vec<_> = (0..n).map(|_| a.alloc(l).unwrap()).collect();
    assert_eq!(a.stats().arenas_current, 3);
    // Free whole pools in a scattered order, checking after each pool.
    let mut k = 0usize;
    let mut step = 0usize;
    while !v.is_empty() {
        k = (k + 7 * per_pool) % v.len();
        let start = k - k % per_pool.min(v.len());
        let end = (start + per_pool).min(v.len());
        for p in v.drain(start..end) {
            // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
            unsafe { a.dealloc(p, l) };
        }
        step += 1;
        if step % 3 == 0 || v.is_empty() {
            a.check();
        }
    }
    let s = a.stats();
    assert_eq!(
        s.arenas_current, 1,
        "only the last wholly free arena is kept"
    );
    assert_eq!(s.arenas_reclaimed, 2);
}

/// P9: the realloc rule, CPython geometry (512 -> 400 stays, 512 -> 380 moves).
fn realloc_rule<G: Geometry>() {
    let mut a = Allocator::<G>::new();
    let l = small(512);
    let p = a.alloc(l).unwrap();
    // SAFETY: the block is live and at least as large as the bytes written.
    unsafe { p.as_ptr().write_bytes(0x5A, 512) };
    // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
    let q = unsafe { a.realloc(p, l, 400) }.unwrap();
    assert_eq!(q, p, "4*400 > 3*512: stays in place");
    // The boundary: 4*385 > 1536 stays, 4*384 == 1536 moves.
    // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
    let q = unsafe { a.realloc(q, small(400), 385) }.unwrap();
    assert_eq!(q, p);
    // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
    let r = unsafe { a.realloc(q, small(385), 384) }.unwrap();
    assert_ne!(r, p, "saving 25% or more moves the block");
    assert!(
        // SAFETY: the block is live, at least this long, and was fully written above.
        unsafe { core::slice::from_raw_parts(r.as_ptr(), 384) }
            .iter()
            .all(|&b| b == 0x5A)
    );
    let p2 = a.alloc(l).unwrap();
    // SAFETY: the block is live and at least as large as the bytes written.
    unsafe { p2.as_ptr().write_bytes(0x5A, 512) };
    // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
    let r2 = unsafe { a.realloc(p2, l, 380) }.unwrap();
    assert_ne!(r2, p2, "512 -> 380 moves");
    // Growth past the block moves; into the system and back keeps the data.
    // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
    let g = unsafe { a.realloc(r2, small(380), 2000) }.unwrap();
    assert!(!a.owns(g.as_ptr()));
    // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
    let g = unsafe { a.realloc(g, small(2000), 3000) }.unwrap();
    // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
    let back = unsafe { a.realloc(g, small(3000), 100) }.unwrap();
    assert!(a.owns(back.as_ptr()));
    assert!(
        // SAFETY: the block is live, at least this long, and was fully written above.
        unsafe { core::slice::from_raw_parts(back.as_ptr(), 100) }
            .iter()
            .all(|&b| b == 0x5A)
    );
    // SAFETY: each block was allocated above by this allocator with this layout and is freed once.
    unsafe {
        a.dealloc(back, small(100));
        a.dealloc(r, small(384));
    }
    a.check();
    let s = a.stats();
    assert_eq!((s.bytes_in_use, s.large_blocks), (0, 0));
}

#[test]
fn realloc_rule_cpython() {
    realloc_rule::<CPython311>();
    // The smallest class too: a 16-byte block shrinks in place down to 13 bytes.
    let mut a = Allocator::<CPython311>::new();
    let p = a.alloc(small(16)).unwrap();
    // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
    assert_eq!(unsafe { a.realloc(p, small(16), 13) }, Some(p));
    // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
    let q = unsafe { a.realloc(p, small(13), 12) }.unwrap();
    assert_ne!(q, p);
    // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
    unsafe { a.dealloc(q, small(12)) };
}

#[test]
fn realloc_rule_default() {
    realloc_rule::<DefaultGeometry>();
    // 8-byte steps: a 24-byte block keeps 19..=24, moves at 18.
    let mut a = Allocator::<DefaultGeometry>::new();
    let p = a.alloc(small(24)).unwrap();
    // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
    assert_eq!(unsafe { a.realloc(p, small(24), 19) }, Some(p));
    // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
    let q = unsafe { a.realloc(p, small(19), 18) }.unwrap();
    assert_ne!(q, p);
    // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
    unsafe { a.dealloc(q, small(18)) };
}

/// P6: 0 bytes, >512 bytes and over-aligned requests go to the system.
#[test]
fn system_path() {
    let mut a = Allocator::<DefaultGeometry>::new();
    for l in [
        Layout::from_size_align(0, 1).unwrap(),
        Layout::from_size_align(0, 64).unwrap(),
        Layout::from_size_align(513, 8).unwrap(),
        Layout::from_size_align(32, 16).unwrap(),
        Layout::from_size_align(100, 4096).unwrap(),
    ] {
        let p = a.alloc(l).unwrap();
        assert_eq!(p.as_ptr().addr() % l.align(), 0, "{l:?} misaligned");
        assert!(!a.owns(p.as_ptr()), "{l:?} should not come from a pool");
        // SAFETY: the block is live and at least as large as the bytes written.
        unsafe { p.as_ptr().write_bytes(1, l.size()) };
        assert_eq!(a.stats().large_blocks, 1);
        // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
        unsafe { a.dealloc(p, l) };
    }
    // 16-byte alignment is fine in the CPython geometry.
    let mut c = Allocator::<CPython311>::new();
    let l = Layout::from_size_align(32, 16).unwrap();
    let p = c.alloc(l).unwrap();
    assert!(c.owns(p.as_ptr()));
    // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
    unsafe { c.dealloc(p, l) };
    assert_eq!(a.stats().large_blocks, 0);
}

#[test]
fn owner_tag_in_every_pool() {
    let mut a = Allocator::<DefaultGeometry>::new();
    let blocks: Vec<_> = (1..=64)
        .map(|c| (a.alloc(small(c * 8)).unwrap(), c * 8))
        .collect();
    let tag = ptr::without_provenance::<()>(0xDEAD_BEE8);
    a.set_owner_tag(tag);
    let late = a.alloc(small(8)).unwrap();
    for &(p, _) in blocks.iter().chain([(late, 8)].iter()) {
        assert_eq!(
            // SAFETY: the pool header read here belongs to a pool of this allocator that is still carved.
            unsafe { pool_of::<DefaultGeometry>(p).cast::<*const ()>().read() },
            tag
        );
    }
    a.check();
    for (p, n) in blocks {
        // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
        unsafe { a.dealloc(p, small(n)) };
    }
    // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
    unsafe { a.dealloc(late, small(8)) };
}

#[test]
fn free_without_layout() {
    let mut a = Allocator::<DefaultGeometry>::new();
    let v: Vec<_> = (0..100).map(|i| a.alloc(small(8 + i)).unwrap()).collect();
    for p in v {
        // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
        unsafe { a.free(p) };
    }
    a.check();
    assert_eq!(a.stats().bytes_in_use, 0);
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "free of a pointer not owned by this allocator")]
fn free_foreign_pointer_panics() {
    let mut a = Allocator::<DefaultGeometry>::new();
    let _keep = a.alloc(small(8)).unwrap();
    let mut local = 0u64;
    // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
    unsafe { a.free(NonNull::from(&mut local).cast()) };
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "invalid free: double free")]
fn double_free_panics() {
    let mut a = Allocator::<DefaultGeometry>::new();
    let p = a.alloc(small(8)).unwrap();
    let _keep = a.alloc(small(8)).unwrap();
    // SAFETY: deliberately breaks `free`'s contract (a double free) to test the debug-build panic.
    unsafe {
        a.free(p);
        a.free(p);
    }
}

#[test]
#[cfg(debug_assertions)]
fn bad_frees_leave_state_intact() {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    let mut a = Allocator::<DefaultGeometry>::new();
    let p = a.alloc(small(40)).unwrap();
    let keep = a.alloc(small(40)).unwrap();
    // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
    unsafe { a.free(p) };
    let before = a.stats();
    let mut local = [0u64; 4];
    let bad = [
        p, // double free
        // SAFETY: 8 bytes into a live 40-byte block: in bounds of its allocation.
        unsafe { keep.add(8) },           // inside a block
        NonNull::from(&mut local).cast(), // foreign
        // SAFETY: 800 bytes further is still inside the block's 4 KiB pool (same allocation).
        unsafe { keep.add(40 * 20) }, // never handed out
    ];
    for b in bad {
        // SAFETY: deliberately violates `free`'s contract to test the debug-build detection,
        // which panics before touching any state (the test asserts the panic and `check()`).
        let r = catch_unwind(AssertUnwindSafe(|| unsafe { a.free(b) }));
        assert!(r.is_err(), "{b:p} was accepted");
        a.check();
        assert_eq!(a.stats(), before);
    }
    // A pointer in an empty pool (its only block freed) is also refused.
    let lone = a.alloc(small(200)).unwrap();
    // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
    unsafe { a.free(lone) };
    // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
    assert!(catch_unwind(AssertUnwindSafe(|| unsafe { a.free(lone) })).is_err());
    a.check();
    // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
    unsafe { a.free(keep) };
    a.check();
}

#[test]
fn stats_table_shape() {
    let mut a = Allocator::<CPython311>::new();
    let v: Vec<_> = (0..1000).map(|_| a.alloc(small(16)).unwrap()).collect();
    let s = a.stats();
    let t = s.to_string();
    assert!(t.starts_with("Small block threshold = 512, in 32 size classes.\n"));
    assert!(
        t.contains("    0     16           1            1000            21\n"),
        "{t}"
    );
    assert!(
        t.contains("# arenas allocated total           =                    1\n"),
        "{t}"
    );
    assert!(
        t.contains("1 arenas * 1048576 bytes/arena     =            1,048,576\n"),
        "{t}"
    );
    assert!(
        t.contains("63 unused pools * 16384 bytes      =            1,032,192\n"),
        "{t}"
    );
    assert!(
        t.contains("Total                              =            1,048,576\n"),
        "{t}"
    );
    assert_eq!(s.pool_header_bytes, 48);
    assert_eq!(s.quantization_bytes, (16384 - 48) % 16);
    for p in v {
        // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
        unsafe { a.dealloc(p, small(16)) };
    }
}

#[test]
fn local_pool_collections() {
    let pool: LocalPool = LocalPool::new();
    {
        let mut v = allocator_api2::vec::Vec::new_in(&pool);
        for i in 0..1000u32 {
            v.push(i);
        }
        let mut m = hashbrown::HashMap::with_capacity_in(4, &pool);
        for i in 0..200u32 {
            m.insert(i, i * 2);
        }
        assert_eq!(m[&7], 14);
        v.shrink_to_fit();
        assert_eq!(v.iter().sum::<u32>(), 499_500);
        pool.check();
    }
    let s = pool.stats();
    assert_eq!((s.bytes_in_use, s.large_blocks), (0, 0));
}

/// Regression (found by Miri's proptest run): an address below ARENA_SIZE
/// masks to arena base 0, which is also the hash map's empty-slot marker, so
/// `owns` said "ours" for a low system-allocator address.
#[test]
fn low_address_is_not_ours() {
    let mut a = Allocator::<CPython311>::new();
    let p = a.alloc(small(8)).unwrap();
    assert!(!a.owns(ptr::without_provenance(0x10)));
    assert!(!a.owns(ptr::without_provenance(CPython311::ARENA_SIZE - 1)));
    // SAFETY: the block was allocated above by this allocator with this layout and is given back once.
    unsafe { a.dealloc(p, small(8)) };
}

/// Finding 2 (regression): freeing a small block through a pointer whose
/// borrow tag covers only the value (here a `&mut [u8; 3]` retag, as a
/// `Box<[u8; 3]>` has) must not write through that pointer. Before, the
/// free-list link (8 bytes) was written through the caller's pointer: Miri
/// reported a Stacked Borrows (and Tree Borrows) out-of-range access. Now the
/// write pointer is derived from the arena allocation.
#[test]
fn free_through_narrow_tag() {
    for free_without_layout in [false, true] {
        let mut a: Allocator = Allocator::new();
        let layout = Layout::new::<[u8; 3]>();
        let keep = a.alloc(layout).unwrap(); // the pool stays used
        let p = a.alloc(layout).unwrap();
        // SAFETY: `p` is a live, exclusively owned block of at least 3 bytes,
        // aligned for `[u8; 3]`.
        let narrow: &mut [u8; 3] = unsafe { &mut *p.as_ptr().cast::<[u8; 3]>() };
        *narrow = [1, 2, 3];
        let q = NonNull::from(narrow).cast::<u8>();
        // SAFETY: `q` is the block `p`, allocated with `layout`, freed once.
        unsafe {
            if free_without_layout {
                a.free(q);
            } else {
                a.dealloc(q, layout);
            }
        }
        // The freed block is the next one handed out (LIFO), so its link was used.
        let r = a.alloc(layout).unwrap();
        assert_eq!(r, p);
        a.check();
        // SAFETY: both blocks are live and were allocated with `layout`.
        unsafe {
            a.dealloc(r, layout);
            a.dealloc(keep, layout);
        }
    }
}

/// Finding 3 (regression): zero-size results of `LocalPool` follow std's
/// `Global`. Before, `shrink_to_fit` to capacity 0 got a real 1-byte system
/// block that `RawVec` (capacity 0) never freed: `large_blocks` stayed 1.
#[test]
fn local_pool_zero_size_is_dangling() {
    use allocator_api2::alloc::Allocator as _;
    let pool: LocalPool = LocalPool::new();
    let mut v = allocator_api2::vec::Vec::with_capacity_in(4, &pool);
    v.push(7u32);
    v.clear();
    v.shrink_to_fit();
    assert_eq!(v.capacity(), 0);
    let s = pool.stats();
    assert_eq!((s.bytes_in_use, s.large_blocks), (0, 0), "nothing live");
    v.push(8); // grows again from the dangling pointer
    assert_eq!(v[0], 8);
    drop(v);
    let s = pool.stats();
    assert_eq!((s.bytes_in_use, s.large_blocks), (0, 0));

    let l = Layout::from_size_align(0, 64).unwrap();
    let p = (&pool).allocate(l).unwrap();
    assert_eq!(p.len(), 0);
    assert_eq!(p.cast::<u8>().as_ptr().addr() % 64, 0, "aligned");
    assert_eq!(pool.stats().large_blocks, 0, "no memory behind it");
    // SAFETY: `p` came from `allocate(l)`.
    let q = unsafe { (&pool).grow(p.cast(), l, Layout::from_size_align(16, 64).unwrap()) };
    let q = q.unwrap();
    assert_eq!(
        pool.stats().large_blocks,
        1,
        "over-aligned: the system path"
    );
    // SAFETY: `q` is live with this layout; shrinking to 0 frees it.
    let r = unsafe { (&pool).shrink(q.cast(), Layout::from_size_align(16, 64).unwrap(), l) };
    let r = r.unwrap();
    assert_eq!(r.len(), 0);
    assert_eq!(pool.stats().large_blocks, 0, "shrink to 0 freed the block");
    // SAFETY: a zero-size deallocation is a no-op.
    unsafe { (&pool).deallocate(r.cast(), l) };
    pool.check();
}

std::thread_local! {
    /// The pool the subscriber below allocates from.
    static EVENT_POOL: LocalPool = const { LocalPool::new() };
}

/// A `tracing` subscriber that allocates from `EVENT_POOL` on every
/// `pygc::alloc` event, and counts them.
struct AllocatingSubscriber(std::sync::Arc<core::sync::atomic::AtomicUsize>);

impl tracing::Subscriber for AllocatingSubscriber {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if event.metadata().target() == "pygc::alloc" {
            EVENT_POOL.with(|pool| {
                let mut v = allocator_api2::vec::Vec::new_in(pool);
                v.extend([1u64, 2, 3]);
                assert_eq!(v.len(), 3);
            });
            self.0.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Finding 4 (regression): a subscriber that allocates from the same
/// `LocalPool` while handling an arena event. Before, the event was emitted
/// inside the pool's `RefCell::borrow_mut`, and the subscriber's allocation
/// panicked with "already borrowed". Now events are emitted after the
/// borrow ends.
#[test]
fn local_pool_events_outside_borrow() {
    use allocator_api2::alloc::Allocator as _;
    let seen = std::sync::Arc::new(core::sync::atomic::AtomicUsize::new(0));
    let subscriber = AllocatingSubscriber(seen.clone());
    crate::testutil::reliable_scoped_subscribers();
    EVENT_POOL.with(|pool| {
        tracing::subscriber::with_default(subscriber, || {
            // Enough 512-byte blocks for two arenas plus one: freeing them all
            // releases at least one arena (the last usable one is kept).
            let l = Layout::from_size_align(512, 8).unwrap();
            let per_arena = DefaultGeometry::POOLS_PER_ARENA
                * SizeClass::for_request::<DefaultGeometry>(512)
                    .unwrap()
                    .blocks_per_pool::<DefaultGeometry>();
            let blocks: Vec<_> = (0..2 * per_arena + 1)
                .map(|_| pool.allocate(l).unwrap())
                .collect();
            for b in blocks {
                // SAFETY: allocated above with `l`, freed once.
                unsafe { pool.deallocate(b.cast(), l) };
            }
        });
        let s = pool.stats();
        assert!(s.arenas_allocated_total >= 3 && s.arenas_reclaimed >= 1);
        assert_eq!(
            seen.load(core::sync::atomic::Ordering::Relaxed),
            s.arenas_allocated_total + s.arenas_reclaimed,
            "one event per acquire and per release, all delivered"
        );
        assert_eq!(s.bytes_in_use, 0);
        pool.check();
    });
}

/// The empty-pool hysteresis: an alloc/free loop on an otherwise empty class keeps its pool
/// (no arena traffic, the same block every time), the parked pool counts as unused, and
/// `trim` gives it back.
#[test]
fn empty_pool_is_parked_and_trimmed() {
    let mut a = Allocator::<DefaultGeometry>::new();
    let l = small(32);
    let first = a.alloc(l).unwrap();
    // SAFETY: allocated above with this layout, freed once.
    unsafe { a.dealloc(first, l) };
    let s = a.stats();
    assert_eq!(s.arenas_current, 1);
    assert_eq!(
        s.unused_pools,
        DefaultGeometry::POOLS_PER_ARENA,
        "the parked pool is unused"
    );
    a.check();
    for _ in 0..1000 {
        let p = a.alloc(l).unwrap();
        assert_eq!(p, first, "the parked pool's free list serves the loop");
        // SAFETY: as above.
        unsafe { a.dealloc(p, l) };
    }
    assert_eq!(a.stats().arenas_allocated_total, 1);
    a.check();
    // Another class empties its pool: the first parked pool goes back to the arena.
    let q = a.alloc(small(64)).unwrap();
    // SAFETY: as above.
    unsafe { a.dealloc(q, small(64)) };
    a.check();
    assert_eq!(a.stats().unused_pools, DefaultGeometry::POOLS_PER_ARENA);
    a.trim();
    a.check();
    assert_eq!(a.stats().unused_pools, DefaultGeometry::POOLS_PER_ARENA);
    // After `trim` the next 64-byte request carves a pool again, from the arena's free list.
    let r = a.alloc(small(64)).unwrap();
    assert_eq!(
        r.as_ptr().addr() % DefaultGeometry::POOL_SIZE,
        DefaultGeometry::POOL_OVERHEAD
    );
    // SAFETY: as above.
    unsafe { a.dealloc(r, small(64)) };
    a.check();
}

/// A parked pool never keeps an arena that CPython would release: when every other pool of
/// its arena is free, and another arena is usable, the parked pool goes back and the arena
/// is released.
#[test]
fn parked_pool_does_not_pin_its_arena() {
    let mut a = Allocator::<DefaultGeometry>::new();
    let l = small(512);
    let per_pool = SizeClass::for_request::<DefaultGeometry>(512)
        .unwrap()
        .blocks_per_pool::<DefaultGeometry>();
    let n = 2 * DefaultGeometry::POOLS_PER_ARENA * per_pool;
    let v: Vec<_> = (0..n).map(|_| a.alloc(l).unwrap()).collect();
    assert_eq!(a.stats().arenas_current, 2);
    // A 16-byte block lives in a third arena's pool, so the second arena is not the last.
    let keep = a.alloc(small(16)).unwrap();
    assert_eq!(a.stats().arenas_current, 3);
    for p in v {
        // SAFETY: allocated above with this layout, freed once.
        unsafe { a.dealloc(p, l) };
        a.check();
    }
    let s = a.stats();
    assert_eq!(s.arenas_reclaimed, 2, "both wholly free arenas went back");
    assert_eq!(s.arenas_current, 1);
    // SAFETY: as above.
    unsafe { a.dealloc(keep, small(16)) };
    a.check();
    assert_eq!(
        a.stats().arenas_current,
        1,
        "the last arena stays, as in CPython"
    );
}
