//! Variable-size objects: `Gc<str>` and `Gc<[T]>` with a run-time length (`Heap::alloc_str`,
//! `alloc_slice`, `alloc_slice_from_iter`; issue 11). The box carries its length before the
//! header, so these tests check what depends on it: contents, tracing, every item dropped
//! exactly once (by refcount, by the collector, after a panic), the box freed with the
//! layout it was allocated with (pool or large block, over-aligned items, both geometries),
//! and the byte and allocator accounting returning to where it was.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use proptest::prelude::*;
use pygc::{AllocatorGeometry, Gc, Heap, HeapConfig, Trace};

use crate::support::TestHeap;

/// Counts its drops.
#[derive(Trace)]
struct Counted(#[trace(skip)] Rc<Cell<usize>>, u32);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

impl Clone for Counted {
    fn clone(&self) -> Self {
        assert_ne!(self.1, 13, "injected panic in clone");
        Counted(self.0.clone(), self.1)
    }
}

#[derive(Trace)]
struct Node {
    name: Gc<str>,
    children: RefCell<Option<Gc<[Gc<Node>]>>>,
}

fn node(heap: &Heap, name: &str) -> Gc<Node> {
    heap.alloc(Node {
        name: heap.alloc_str(name),
        children: RefCell::new(None),
    })
}

#[path = "../common/heap_empty.rs"]
mod heap_empty;

/// Everything allocated is freed (see `heap_empty`); no unraisable report.
fn assert_empty(heap: &Heap) {
    heap_empty::assert_heap_empty(heap, 0);
}

#[test]
fn strings() {
    let heap = TestHeap::new();
    // A large box (over 512 bytes); Miri formats it slowly, so it gets a shorter one.
    let long = "ü".repeat(if cfg!(miri) { 260 } else { 700 });
    let texts = [
        "",
        "a",
        "spam",
        "seven b",
        "eight by",
        "Grüße, 世界",
        long.as_str(),
    ];
    let strs: Vec<Gc<str>> = texts.iter().map(|t| heap.alloc_str(t)).collect();
    for (s, t) in strs.iter().zip(texts) {
        assert_eq!(&**s, t);
        assert_eq!(s.len(), t.len());
        assert_eq!(s.to_string(), t, "Display");
        assert_eq!(format!("{s:?}"), format!("{t:?}"), "Debug");
        assert!(!heap.is_tracked(s), "a string holds no handle");
        let any = Gc::to_any(s);
        assert_eq!(any.type_name(), "str");
        assert!(Gc::ptr_eq(&any.downcast_str().unwrap(), s));
        assert!(any.downcast_slice::<u8>().is_none());
        assert!(any.downcast::<String>().is_none());
    }
    assert_eq!(heap.live_objects(), texts.len());
    assert_eq!(heap.alloc_stats().large_blocks, 1);
    assert_eq!(
        heap.count()[0],
        0,
        "untracked: not counted toward generation 0"
    );
    // Value semantics: Eq, Ord, Hash and Borrow<str> agree with `str`.
    assert_eq!(heap.alloc_str("spam"), strs[2]);
    let sorted: BTreeSet<Gc<str>> = strs.iter().cloned().collect();
    assert_eq!(sorted.first().map(|s| &**s), Some(""));
    let index: HashMap<Gc<str>, usize> = strs.iter().cloned().zip(0..).collect();
    assert_eq!(index.get("spam"), Some(&2));
    assert_eq!(index.get(long.as_str()), Some(&6));
    drop((strs, sorted, index));
    assert_empty(&heap);
}

#[test]
fn accounting_follows_each_box() {
    let heap = TestHeap::new();
    // Header (32) + items, padded to 8, plus the 8-byte count.
    for (len, size) in [(0, 40), (1, 48), (8, 48), (9, 56), (600, 640)] {
        let s = heap.alloc_str(&"x".repeat(len));
        assert_eq!(heap.accounted_bytes(), size, "a str of {len} bytes");
        // Untracked and not referenced by a tracked object: not in a snapshot.
        assert!(heap.snapshot().node(&s).is_none());
        drop(s);
        assert_empty(&heap);
    }
    let words = heap.alloc_slice(&[1u64, 2, 3]);
    assert_eq!(heap.accounted_bytes(), 8 + 32 + 24);
    let holder = heap.alloc(RefCell::new(Some(words.clone())));
    let snapshot = heap.snapshot();
    let node = snapshot
        .node(&words)
        .expect("a slice referenced by a tracked object is in the snapshot");
    let info = snapshot.info(node);
    assert_eq!(info.type_name, "[u64]");
    assert_eq!(info.size, 8 + 32 + 24);
    drop((words, holder, snapshot));
    assert_empty(&heap);
}

#[test]
fn slices_are_traced_and_collected() {
    for geometry in [AllocatorGeometry::Default, AllocatorGeometry::CPython311] {
        let heap = TestHeap::with_config(HeapConfig {
            geometry,
            ..HeapConfig::default()
        });
        let root = node(&heap, "root");
        let n = if cfg!(miri) { 5 } else { 100 };
        let kids = heap.alloc_slice_from_iter((0..n).map(|i| node(&heap, &format!("kid {i}"))));
        assert!(heap.is_tracked(&kids), "a slice of handles is a container");
        assert_eq!(heap.referents(&kids).len(), n);
        assert_eq!(
            Gc::to_any(&kids).type_name(),
            std::any::type_name::<[Gc<Node>]>()
        );
        let again = Gc::to_any(&kids).downcast_slice::<Gc<Node>>().unwrap();
        assert!(Gc::ptr_eq(&again, &kids));
        drop(again);
        // Each child's children are its siblings: one cycle through the slice object.
        for kid in kids.iter() {
            *kid.children.borrow_mut() = Some(kids.clone());
        }
        *root.children.borrow_mut() = Some(kids.clone());
        drop(kids);
        assert_eq!(heap.collect(), 0, "reachable from root");
        assert_eq!(
            &*root.children.borrow().as_ref().unwrap()[n - 1].name,
            format!("kid {}", n - 1)
        );
        drop(root);
        // The slice and the n children are the tracked garbage; their names die with them.
        assert_eq!(heap.collect(), n + 1);
        assert_empty(&heap);
    }
}

#[test]
fn items_drop_exactly_once() {
    let heap = TestHeap::new();
    let drops = Rc::new(Cell::new(0));
    let items: Vec<Counted> = (0..50).map(|i| Counted(drops.clone(), i)).collect();
    // By refcount: the Vec moves in, nothing is dropped on the way.
    let s = heap.alloc_slice_from_iter(items);
    assert_eq!(drops.get(), 0);
    assert_eq!(s[49].1, 49);
    drop(s);
    assert_eq!(drops.get(), 50);

    // By the collector: a slice of counted items in a cycle with a node.
    #[derive(Trace)]
    struct Bag {
        items: Gc<[Counted]>,
        me: RefCell<Option<Gc<Bag>>>,
    }
    drops.set(0);
    let bag = heap.alloc(Bag {
        items: heap.alloc_slice_from_iter((0..7).map(|i| Counted(drops.clone(), i))),
        me: RefCell::new(None),
    });
    *bag.me.borrow_mut() = Some(bag.clone());
    drop(bag);
    assert_eq!(drops.get(), 0);
    assert_eq!(
        heap.collect(),
        1,
        "the bag; its slice of handle-free items is untracked"
    );
    assert_eq!(drops.get(), 7);
    assert_empty(&heap);
}

#[test]
fn a_panic_while_gathering_allocates_nothing() {
    let heap = TestHeap::new();
    let drops = Rc::new(Cell::new(0));
    let keep = heap.alloc_str("before");
    let bytes = heap.accounted_bytes();
    // The iterator panics after 5 items.
    let result = catch_unwind(AssertUnwindSafe(|| {
        heap.alloc_slice_from_iter((0..10).map(|i| {
            assert!(i < 5, "injected panic in the iterator");
            Counted(drops.clone(), i)
        }))
    }));
    assert!(result.is_err());
    assert_eq!(drops.get(), 5, "what it produced is dropped");
    assert_eq!(heap.live_objects(), 1);
    assert_eq!(heap.accounted_bytes(), bytes);

    // `Clone` panics on the item numbered 13.
    drops.set(0);
    let source: Vec<Counted> = (10..20).map(|i| Counted(drops.clone(), i)).collect();
    let result = catch_unwind(AssertUnwindSafe(|| heap.alloc_slice(&source)));
    assert!(result.is_err());
    assert_eq!(drops.get(), 3, "the clones of 10, 11 and 12");
    drop(source);
    assert_eq!(heap.live_objects(), 1);
    drop(keep);
    assert_empty(&heap);
}

/// An iterator whose `size_hint` lies.
struct Liar {
    left: usize,
    claims: usize,
}

impl Iterator for Liar {
    type Item = u16;
    fn next(&mut self) -> Option<u16> {
        self.left = self.left.checked_sub(1)?;
        Some(self.left as u16)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.claims, Some(self.claims))
    }
}

impl ExactSizeIterator for Liar {}

#[test]
fn a_lying_size_hint_is_harmless() {
    let heap = TestHeap::new();
    let short = heap.alloc_slice_from_iter(Liar {
        left: 3,
        claims: 10,
    });
    assert_eq!(&*short, &[2, 1, 0]);
    let long = heap.alloc_slice_from_iter(Liar {
        left: 40,
        claims: 2,
    });
    assert_eq!(long.len(), 40);
    assert_eq!(long[0], 39);
    drop((short, long));
    assert_empty(&heap);
}

#[derive(Trace, Clone, Copy, Debug, PartialEq)]
#[repr(align(64))]
struct Align64(u8);

#[derive(Trace, Clone, Copy, Debug, PartialEq)]
#[repr(align(4096))]
struct Align4096(u8);

#[test]
fn zero_sized_and_over_aligned_items() {
    let heap = TestHeap::new();
    let units = heap.alloc_slice(&[(); 1000]);
    assert_eq!(units.len(), 1000);
    assert_eq!(heap.accounted_bytes(), 40, "no bytes for the items");
    for len in [0, 1, 3, 9] {
        let items: Vec<Align64> = (0..len).map(|i| Align64(i as u8)).collect();
        let s = heap.alloc_slice(&items);
        assert_eq!(&*s, &items[..]);
        assert_eq!(s.as_ptr().addr() % 64, 0, "items aligned");
        let big = heap.alloc_slice(&items.iter().map(|a| Align4096(a.0)).collect::<Vec<_>>());
        assert_eq!(big.as_ptr().addr() % 4096, 0, "items aligned");
        assert_eq!(big.len(), len);
        if len > 0 {
            assert_eq!(big[len - 1].0, (len - 1) as u8);
        }
    }
    drop(units);
    assert_empty(&heap);
}

#[test]
fn get_mut_and_dead_handles() {
    let heap = TestHeap::new();
    let mut s = heap.alloc_slice(&[1i32, 2, 3]);
    Gc::get_mut(&mut s).unwrap()[1] = 20;
    assert_eq!(&*s, &[1, 20, 3]);
    let shared = s.clone();
    assert!(Gc::get_mut(&mut s).is_none());
    drop(shared);

    // A co-garbage slice seen from a Drop during the collector's clear phase.
    let seen = Rc::new(Cell::new(None));
    #[derive(Trace)]
    struct Peek {
        slice: RefCell<Option<Gc<[Gc<Peek>]>>>,
        #[trace(skip)]
        seen: Rc<Cell<Option<bool>>>,
    }
    impl Drop for Peek {
        fn drop(&mut self) {
            if let Some(slice) = self.slice.borrow().as_ref() {
                // Either the slice is still alive (then its items are readable) or dead.
                let alive = Gc::try_get(slice).is_some_and(|items| items.len() == 1);
                self.seen.set(Some(alive || Gc::is_dead(slice)));
            }
        }
    }
    let p = heap.alloc(Peek {
        slice: RefCell::new(None),
        seen: seen.clone(),
    });
    *p.slice.borrow_mut() = Some(heap.alloc_slice(std::slice::from_ref(&p)));
    drop(p);
    assert_eq!(heap.collect(), 2);
    assert_eq!(seen.get(), Some(true));
    drop(s);
    assert_empty(&heap);
}

#[derive(Debug, Clone)]
enum VarOp {
    Str(usize),
    Words(usize),
    Aligned(usize),
    Drop(usize),
}

fn var_op() -> impl Strategy<Value = VarOp> {
    let len = prop_oneof![3 => 0usize..70, 1 => 0usize..1500];
    prop_oneof![
        len.clone().prop_map(VarOp::Str),
        len.clone().prop_map(|n| VarOp::Words(n / 8)),
        (0usize..20).prop_map(VarOp::Aligned),
        any::<usize>().prop_map(VarOp::Drop),
    ]
}

enum Held {
    Str(Gc<str>, String),
    Words(Gc<[u64]>, Vec<u64>),
    Aligned(Gc<[Align64]>, Vec<Align64>),
}

impl Held {
    fn check(&self) {
        match self {
            Held::Str(g, s) => assert_eq!(&**g, s.as_str()),
            Held::Words(g, v) => assert_eq!(&**g, &v[..]),
            Held::Aligned(g, v) => assert_eq!(&**g, &v[..]),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 2 } else { 48 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random allocations and frees of strings and slices of every length class, in both
    /// geometries: every value reads back intact while others come and go, and all memory
    /// returns to the allocator.
    #[test]
    fn var_objects_round_trip(
        cpython311 in any::<bool>(),
        ops in prop::collection::vec(var_op(), 1..if cfg!(miri) { 12 } else { 80 }),
    ) {
        let geometry = if cpython311 { AllocatorGeometry::CPython311 } else { AllocatorGeometry::Default };
        let heap = TestHeap::with_config(HeapConfig { geometry, ..HeapConfig::default() });
        let mut held: Vec<Held> = Vec::new();
        for (step, op) in ops.into_iter().enumerate() {
            match op {
                VarOp::Str(n) => {
                    let s: String = (0..n).map(|i| char::from(b'a' + ((i + step) % 26) as u8)).collect();
                    held.push(Held::Str(heap.alloc_str(&s), s));
                }
                VarOp::Words(n) => {
                    let v: Vec<u64> = (0..n as u64).map(|i| i * 31 + step as u64).collect();
                    held.push(Held::Words(heap.alloc_slice(&v), v));
                }
                VarOp::Aligned(n) => {
                    let v: Vec<Align64> = (0..n).map(|i| Align64((i + step) as u8)).collect();
                    held.push(Held::Aligned(heap.alloc_slice(&v), v));
                }
                VarOp::Drop(i) if !held.is_empty() => {
                    let gone = held.swap_remove(i % held.len());
                    drop(gone);
                }
                VarOp::Drop(_) => {}
            }
            held.iter().for_each(Held::check);
            prop_assert_eq!(heap.live_objects(), held.len());
        }
        drop(held);
        assert_empty(&heap);
    }
}
