//! Fuzz target: an arbitrary malloc / free / realloc program run against
//! pygc's allocator (both geometries) and a shadow model of live blocks.
//!
//! Input encoding, 4 bytes per op: `[op, a, b, c]`.
//! - op % 4 == 0: alloc `size = u16(a, b) % 1100`, align `1 << (c % 8)`;
//! - op % 4 == 1: dealloc live block `u16(a, b) % live`;
//! - op % 4 == 2: `free` (no layout) of that block if it is a pool block;
//! - op % 4 == 3: realloc that block to `u16(b, c) % 1100` bytes.
//!   The top bit of the first byte picks the CPython geometry.
//!
//! Checked after every op: alignment, no overlap, contents intact, stats
//! invariant and `Allocator::check`.
#![no_main]

use std::alloc::Layout;
use std::collections::BTreeMap;
use std::ptr::NonNull;

use libfuzzer_sys::fuzz_target;
use pygc::alloc::{Allocator, CPython311, DefaultGeometry, Geometry, SizeClass};

struct Live {
    ptr: NonNull<u8>,
    layout: Layout,
    fill: u8,
}

fn small<G: Geometry>(l: Layout) -> bool {
    (1..=512).contains(&l.size()) && l.align() <= G::ALIGNMENT
}

fn intact(b: &Live, len: usize) {
    // SAFETY: live block of at least `len` bytes.
    let s = unsafe { std::slice::from_raw_parts(b.ptr.as_ptr(), len) };
    assert!(s.iter().all(|&x| x == b.fill), "contents changed");
}

fn insert<G: Geometry>(a: &Allocator<G>, m: &mut BTreeMap<usize, Live>, b: Live) {
    let start = b.ptr.as_ptr().addr();
    assert_eq!(start % b.layout.align(), 0, "misaligned");
    assert_eq!(a.owns(b.ptr.as_ptr()), small::<G>(b.layout));
    if let Some((&s, p)) = m.range(..=start).next_back() {
        assert!(s + p.layout.size().max(1) <= start, "overlap");
    }
    if let Some((&s, _)) = m.range(start..).next() {
        assert!(start + b.layout.size().max(1) <= s, "overlap");
    }
    // SAFETY: fresh live block.
    unsafe { b.ptr.as_ptr().write_bytes(b.fill, b.layout.size()) };
    m.insert(start, b);
}

fn take(m: &mut BTreeMap<usize, Live>, pick: usize) -> Option<Live> {
    let key = *m.keys().nth(pick % m.len().max(1))?;
    m.remove(&key)
}

fn run<G: Geometry>(data: &[u8]) {
    let mut a = Allocator::<G>::new();
    let mut m = BTreeMap::new();
    for (i, op) in data.chunks_exact(4).enumerate() {
        let (x, y) = (u16::from_le_bytes([op[1], op[2]]) as usize, u16::from_le_bytes([op[2], op[3]]) as usize);
        let fill = (i % 250) as u8 + 1;
        match op[0] % 4 {
            0 => {
                let layout = Layout::from_size_align(x % 1100, 1 << (op[3] % 8)).unwrap();
                let ptr = a.alloc(layout).expect("oom");
                insert(&a, &mut m, Live { ptr, layout, fill });
            }
            1 | 2 => {
                if let Some(b) = take(&mut m, x) {
                    intact(&b, b.layout.size());
                    if op[0] % 4 == 2 && small::<G>(b.layout) {
                        // SAFETY: live pool block.
                        unsafe { a.free(b.ptr) };
                    } else {
                        // SAFETY: live block with its layout.
                        unsafe { a.dealloc(b.ptr, b.layout) };
                    }
                }
            }
            3 if op[3] >= 0xf0 => match op[3] & 3 {
                // Empty-pool hysteresis: on, off (gives the parked pool back), or trim.
                0 => a.set_keep_empty_pool(true),
                1 => a.set_keep_empty_pool(false),
                _ => a.trim(),
            },
            _ => {
                if let Some(b) = take(&mut m, x) {
                    let new = y % 1100;
                    // SAFETY: live block with its layout.
                    let p = unsafe { a.realloc(b.ptr, b.layout, new) }.expect("oom");
                    let nb = Live { ptr: p, layout: Layout::from_size_align(new, b.layout.align()).unwrap(), fill: b.fill };
                    intact(&nb, b.layout.size().min(new));
                    insert(&a, &mut m, nb);
                }
            }
        }
        a.check();
        let s = a.stats();
        for (c, row) in s.class_rows().iter().enumerate() {
            let bpp = SizeClass::from_index::<G>(c).unwrap().blocks_per_pool::<G>();
            assert_eq!(row.blocks_in_use + row.blocks_available, row.pools * bpp);
        }
    }
    for b in std::mem::take(&mut m).into_values() {
        intact(&b, b.layout.size());
        // SAFETY: live block with its layout.
        unsafe { a.dealloc(b.ptr, b.layout) };
    }
    a.check();
    assert_eq!(a.stats().bytes_in_use, 0);
}

fuzz_target!(|data: &[u8]| {
    if data.first().is_some_and(|b| b & 0x80 != 0) {
        run::<CPython311>(data);
    } else {
        run::<DefaultGeometry>(data);
    }
});
