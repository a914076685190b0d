//! Red-team tests against variable-size objects (`Heap::alloc_str`, `alloc_slice`,
//! `alloc_slice_from_iter`, `AnyGc::downcast_slice`/`downcast_str`): safe code only.
//!
//! Each test is a concrete attempt at breaking the count-before-header layout, the owner tag
//! found by masking, the accounting, or the drop-exactly-once promise. The ones that pass
//! document what was checked and held. Run under Miri for the memory-safety verdict (Miri
//! also reports any leaked box).

#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use pygc::{
    AllocatorGeometry, AnyGc, DebugFlags, Finalize, Gc, Heap, HeapConfig, LegacyFinalize, Slot,
    Trace, Weak, coerce_gc,
};

fn quiet(heap: &Heap) -> Rc<Cell<usize>> {
    let n = Rc::new(Cell::new(0));
    let n2 = n.clone();
    heap.set_unraisable_hook(move |_| n2.set(n2.get() + 1));
    n
}

fn heaps() -> [Heap; 2] {
    [
        Heap::new(),
        Heap::with_config(HeapConfig {
            geometry: AllocatorGeometry::CPython311,
            ..HeapConfig::default()
        }),
    ]
}

/// Everything allocated is freed: no live object, no block in use, no large block.
#[path = "common/heap_empty.rs"]
mod heap_empty;

/// Everything allocated is freed and no user code run by the collector panicked (see
/// `heap_empty`); tests that inject panics use [`assert_empty_after`].
fn assert_empty(heap: &Heap) {
    assert_empty_after(heap, 0);
}

fn assert_empty_after(heap: &Heap, unraisable: u64) {
    heap_empty::assert_heap_empty(heap, unraisable);
}

#[derive(Trace)]
struct Node {
    next: Slot<Node>,
    kids: RefCell<Option<Gc<[Gc<Node>]>>>,
    #[trace(skip)]
    tag: u32,
}

fn node(heap: &Heap, tag: u32) -> Gc<Node> {
    heap.alloc(Node {
        next: Slot::default(),
        kids: RefCell::new(None),
        tag,
    })
}

/// Counts its drops.
#[derive(Trace)]
struct Counted(#[trace(skip)] Rc<Cell<usize>>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

macro_rules! aligned {
    ($($name:ident = $n:literal),*) => {$(
        #[derive(Trace, Clone)]
        #[repr(align($n))]
        struct $name(#[trace(skip)] u8, Option<Gc<u8>>);
    )*};
}
aligned!(
    A16 = 16,
    A32 = 32,
    A64 = 64,
    A256 = 256,
    A4096 = 4096,
    A65536 = 65536
);
#[derive(Trace, Clone)]
#[repr(align(1048576))]
struct A1M(#[trace(skip)] u8, Option<Gc<u8>>);

/// Over-aligned items at every length around the pool limit: the header sits `align` bytes
/// into the box and the large block's alignment must still cover it, or the owner tag found
/// by masking (used by every handle drop, `Gc::heap`) is garbage.
#[test]
fn owner_tag_of_over_aligned_slices() {
    macro_rules! probe {
        ($heap:expr, $t:ident, $lens:expr) => {{
            let heap: &Heap = $heap;
            let leaf = heap.alloc(7u8);
            for len in $lens {
                let s =
                    heap.alloc_slice_from_iter((0..len).map(|i| $t(i as u8, Some(leaf.clone()))));
                assert_eq!(s.len(), len);
                assert_eq!(s.as_ptr().addr() % std::mem::align_of::<$t>(), 0);
                assert!(Gc::heap(&s).ptr_eq(heap), "owner tag of {}", stringify!($t));
                assert!(heap.is_tracked(&s));
                for (i, x) in s.iter().enumerate() {
                    assert_eq!(x.0, i as u8);
                }
                assert_eq!(Gc::ref_count(&leaf), 1 + len);
                let any = Gc::to_any(&s);
                assert!(any.downcast_slice::<$t>().is_some());
                // Also as co-garbage: a cycle through the slice.
                let n = node(heap, 0);
                *n.kids.borrow_mut() = Some(heap.alloc_slice(std::slice::from_ref(&n)));
                drop(n);
                drop((s, any));
                assert_eq!(heap.collect(), 2);
                assert_eq!(Gc::ref_count(&leaf), 1);
            }
            drop(leaf);
            assert_empty(heap);
        }};
    }
    let small = if cfg!(miri) { 2 } else { 40 };
    for heap in heaps() {
        probe!(&heap, A16, 0..small);
        probe!(&heap, A32, 0..small);
        probe!(&heap, A64, 0..small);
        probe!(&heap, A256, [0, 1, 2, 3]);
        probe!(&heap, A4096, [0, 1, 2]);
        if !cfg!(miri) {
            probe!(&heap, A65536, [0, 1, 2]);
            probe!(&heap, A1M, [0, 1, 2]);
        }
    }
}

/// Strings of every length across the small/large boundary (512-byte boxes), in both
/// geometries, freed in an interleaved order; the byte count follows each box.
#[test]
fn strings_across_the_pool_limit() {
    let (max, step) = if cfg!(miri) { (600, 37) } else { (1200, 1) };
    for heap in heaps() {
        let text: String = (0..max).map(|i| (b'a' + (i % 26) as u8) as char).collect();
        let mut held = Vec::new();
        let mut bytes = 0;
        for len in (0..max).step_by(step) {
            let before = heap.accounted_bytes();
            let s = heap.alloc_str(&text[..len]);
            assert_eq!(&*s, &text[..len]);
            assert!(Gc::heap(&s).ptr_eq(&heap));
            bytes += heap.accounted_bytes() - before;
            // Each box holds the count, the header and the bytes, rounded to 8.
            assert!(heap.accounted_bytes() - before >= len + 40);
            held.push(s);
        }
        assert_eq!(heap.accounted_bytes(), bytes);
        assert_eq!(heap.live_objects(), held.len());
        // Every other one first, then the rest backwards.
        let mut odd = Vec::new();
        for (i, s) in held.into_iter().enumerate() {
            if i % 2 == 1 {
                odd.push(s);
            }
        }
        while let Some(s) = odd.pop() {
            let any = Gc::to_any(&s);
            assert_eq!(&*any.downcast_str().unwrap(), &*s);
            assert!(any.downcast_slice::<u8>().is_none(), "a str is not a [u8]");
        }
        assert_empty(&heap);
    }
}

/// Zero-sized items with a `Drop`: one box of a header and a count, each item dropped once.
#[test]
fn zero_sized_items_drop_once() {
    #[derive(Trace)]
    struct Z;
    thread_local!(static DROPS: Cell<usize> = const { Cell::new(0) });
    impl Drop for Z {
        fn drop(&mut self) {
            DROPS.with(|d| d.set(d.get() + 1));
        }
    }
    let n = if cfg!(miri) { 100 } else { 100_000 };
    let heap = Heap::new();
    let s = heap.alloc_slice_from_iter(std::iter::repeat_with(|| Z).take(n));
    assert_eq!(s.len(), n);
    assert_eq!(heap.accounted_bytes(), 40);
    assert!(!heap.is_tracked(&s));
    let any = Gc::to_any(&s);
    drop(s);
    assert_eq!(DROPS.with(Cell::get), 0);
    assert_eq!(any.downcast_slice::<Z>().unwrap().len(), n);
    drop(any);
    assert_eq!(DROPS.with(Cell::get), n);
    assert_empty(&heap);
}

/// Over-aligned zero-sized items: the box is the count padded to the alignment, the header
/// and nothing else.
#[test]
fn over_aligned_zero_sized_items() {
    #[derive(Trace, Clone, Copy)]
    #[repr(align(4096))]
    struct Z4k;
    for heap in heaps() {
        for len in [0, 1, 1000] {
            let s = heap.alloc_slice(&vec![Z4k; len]);
            assert_eq!(s.len(), len);
            assert_eq!(s.as_ptr().addr() % 4096, 0);
            assert!(Gc::heap(&s).ptr_eq(&heap));
        }
        assert_empty(&heap);
    }
}

thread_local!(static RESCUED: RefCell<Vec<AnyGc>> = const { RefCell::new(Vec::new()) });

#[derive(Trace)]
struct Phoenix {
    kids: RefCell<Option<Gc<[Gc<Phoenix>]>>>,
    #[trace(skip)]
    ran: Cell<u32>,
}

impl Finalize for Phoenix {
    fn finalize(this: &Gc<Self>) {
        this.ran.set(this.ran.get() + 1);
        if let Some(kids) = this.kids.borrow().as_ref() {
            RESCUED.with(|r| r.borrow_mut().push(Gc::to_any(kids)));
        }
    }
}

/// PEP 442 resurrection through a slice: the finalizer of a cycle member stores the slice;
/// nothing is freed, the items stay readable; once let go the cycle is freed without a
/// second finalizer run.
#[test]
fn resurrection_through_a_slice() {
    for heap in heaps() {
        let p = heap.alloc_with_finalizer(Phoenix {
            kids: RefCell::new(None),
            ran: Cell::new(0),
        });
        let kids = heap.alloc_slice(&[p.clone(), p.clone(), p.clone()]);
        *p.kids.borrow_mut() = Some(kids);
        drop(p);
        assert_eq!(heap.collect(), 0, "resurrected");
        let any = RESCUED.with(|r| r.borrow_mut().pop()).unwrap();
        let kids = any.downcast_slice::<Gc<Phoenix>>().unwrap();
        assert_eq!(kids.len(), 3);
        assert!(
            kids.iter()
                .all(|k| k.ran.get() == 1 && Gc::ptr_eq(k, &kids[0]))
        );
        assert!(heap.is_finalized(&kids[0]));
        drop((any, kids));
        assert_eq!(heap.collect(), 2);
        assert!(RESCUED.with(|r| r.borrow().is_empty()));
        assert_empty(&heap);
    }
}

#[derive(Trace)]
struct Legacy {
    kids: RefCell<Option<Gc<[Gc<Legacy>]>>>,
}

impl LegacyFinalize for Legacy {
    fn legacy_finalize(_: &Gc<Self>) {}
}

/// A slice in an uncollectable cycle (a legacy finalizer): it lands in `garbage`, comes back
/// through `downcast_slice`, and the cycle is freed once broken by hand.
#[test]
fn slices_in_gc_garbage() {
    let heap = Heap::new();
    let l = heap.alloc_with_legacy_finalizer(Legacy {
        kids: RefCell::new(None),
    });
    *l.kids.borrow_mut() = Some(heap.alloc_slice(&[l.clone(), l.clone()]));
    drop(l);
    heap.collect();
    // Only the object with the legacy finalizer is listed (CPython 3.4+); the slice stays
    // alive behind it.
    let garbage = heap.take_garbage();
    assert_eq!(garbage.len(), 1);
    assert!(garbage[0].downcast_slice::<Gc<Legacy>>().is_none());
    assert!(garbage[0].downcast_str().is_none());
    let l = garbage[0].downcast::<Legacy>().unwrap();
    let kids = heap.referents(&l);
    assert_eq!(kids.len(), 1);
    let slice = kids[0].downcast_slice::<Gc<Legacy>>().expect("the slice");
    drop((l, kids));
    assert_eq!(heap.referents(&slice).len(), 2);
    assert_eq!(heap.referrers(&[Gc::to_any(&slice)]).len(), 1);
    slice[0].kids.borrow_mut().take();
    drop((slice, garbage));
    assert_eq!(heap.collect(), 0);
    assert_empty(&heap);
}

/// Items whose `Drop` re-enters the heap: allocates strings and slices, runs a collection,
/// and one of them panics. Every item is dropped exactly once, whether the slice dies by
/// refcount or in a collected cycle, and the heap stays consistent.
#[test]
fn item_drops_that_reenter_the_heap() {
    #[derive(Trace)]
    struct Noisy {
        back: Slot<Holder>,
        #[trace(skip)]
        drops: Rc<Cell<usize>>,
        #[trace(skip)]
        panic: bool,
    }
    #[derive(Trace)]
    struct Holder {
        items: RefCell<Option<Gc<[Noisy]>>>,
    }
    impl Drop for Noisy {
        fn drop(&mut self) {
            self.drops.set(self.drops.get() + 1);
            // Reach the heap through a live handle this item owns.
            let leaf = Rc::new(());
            let _ = leaf;
            if let Some(h) = self.back.get() {
                let heap = Gc::heap(&h);
                let s = heap.alloc_str("from a drop");
                let xs = heap.alloc_slice_from_iter((0..50).map(|i| heap.alloc(i as u64)));
                heap.collect();
                assert_eq!(&*s, "from a drop");
                assert_eq!(xs.len(), 50);
            }
            if self.panic {
                panic!("injected panic in an item's drop");
            }
        }
    }
    for heap in heaps() {
        let unraisables = quiet(&heap);
        let drops = Rc::new(Cell::new(0));
        let make = |holder: &Gc<Holder>, n: usize| {
            heap.alloc_slice_from_iter((0..n).map(|i| {
                let back = Slot::default();
                back.set(Some(holder.clone()));
                Noisy {
                    back,
                    drops: drops.clone(),
                    panic: i == 2,
                }
            }))
        };
        // By refcount: the panic reaches whoever dropped the last handle.
        let holder = heap.alloc(Holder {
            items: RefCell::new(None),
        });
        let items = make(&holder, 5);
        let r = catch_unwind(AssertUnwindSafe(|| drop(items)));
        assert!(r.is_err());
        assert_eq!(drops.get(), 5);
        drop(holder);
        assert_eq!(heap.collect(), 0);
        // In a cycle: holder -> slice -> items -> holder.
        drops.set(0);
        let holder = heap.alloc(Holder {
            items: RefCell::new(None),
        });
        *holder.items.borrow_mut() = Some(make(&holder, 5));
        drop(holder);
        heap.collect();
        assert_eq!(drops.get(), 5);
        // The injected panic of the collected cycle, reported (not unwound); the item `Drop`s'
        // own checks would add more.
        assert_eq!(unraisables.get(), 1);
        assert_empty_after(&heap, 1);
    }
}

/// The heap dropped while slices and strings are alive (some holding handles, one in a
/// cycle): the survivors are freed later by refcount; nothing leaks (Miri checks).
#[test]
fn heap_dropped_before_its_slices() {
    let heap = Heap::new();
    let a = heap.alloc_str("survivor");
    let n = node(&heap, 1);
    let s = heap.alloc_slice(&[n.clone(), n.clone()]);
    let big = heap.alloc_slice_from_iter((0..200u64).map(|i| heap.alloc(i)));
    let cyc = node(&heap, 2);
    *cyc.kids.borrow_mut() = Some(heap.alloc_slice(std::slice::from_ref(&cyc)));
    drop(cyc); // a cycle the heap's teardown must deal with
    drop(heap);
    assert_eq!(&*a, "survivor");
    assert_eq!(s[1].tag, 1);
    assert_eq!(*big[199], 199);
    drop(n);
    drop((a, s, big));
}

/// A slice in one heap holding handles into another, heaps dropped in both orders.
#[test]
fn slices_across_heaps() {
    for first in [0, 1] {
        let h1 = Heap::new();
        let h2 = Heap::new();
        let xs: Vec<Gc<Node>> = (0..4).map(|i| node(&h1, i)).collect();
        let s = h2.alloc_slice(&xs);
        let t = h1.alloc_slice(std::slice::from_ref(&s));
        drop(xs);
        assert_eq!(Gc::ref_count(&s[0]), 1);
        h1.collect();
        h2.collect();
        assert_eq!(s[3].tag, 3);
        if first == 0 {
            drop(h1);
            drop(h2);
        } else {
            drop(h2);
            drop(h1);
        }
        assert_eq!(t[0][2].tag, 2);
        drop((s, t));
    }
}

/// `byte_trigger` with big strings: the allocations themselves run collections (the string
/// box counts toward the trigger), which free a cycle of big slices each time.
#[test]
fn byte_trigger_with_big_strings() {
    let heap = Heap::with_config(HeapConfig {
        byte_trigger: Some(64 * 1024),
        ..HeapConfig::default()
    });
    let rounds = if cfg!(miri) { 10 } else { 200 };
    for i in 0..rounds {
        let s = heap.alloc_str(&"x".repeat(16 * 1024 + i));
        let n = node(&heap, i as u32);
        *n.kids.borrow_mut() =
            Some(heap.alloc_slice_from_iter(std::iter::repeat_n(n.clone(), 1000)));
        drop(n);
        assert_eq!(s.len(), 16 * 1024 + i);
        assert!(
            heap.accounted_bytes() < 4 * 64 * 1024,
            "round {i}: {}",
            heap.accounted_bytes()
        );
    }
    heap.collect();
    assert_empty(&heap);
}

/// Slices of weak references, type-erased handles and slots.
#[test]
fn slices_of_weak_anygc_and_slots() {
    let heap = Heap::new();
    let n = node(&heap, 5);
    let weaks = heap.alloc_slice(&[Gc::downgrade(&n), Gc::downgrade(&n)]);
    let anys = heap.alloc_slice(&[Gc::to_any(&n), Gc::to_any(&heap.alloc_str("s"))]);
    let slots = heap.alloc_slice_from_iter((0..3).map(|_| Slot::<Node>::default()));
    slots[1].set(Some(n.clone()));
    n.next.set(Some(n.clone()));
    *n.kids.borrow_mut() = Some(heap.alloc_slice(std::slice::from_ref(&n)));
    assert_eq!(weaks[0].upgrade().unwrap().tag, 5);
    assert_eq!(&*anys[1].downcast_str().unwrap(), "s");
    drop(n);
    assert_eq!(
        heap.collect(),
        0,
        "held by the slots slice and the AnyGc slice"
    );
    drop((anys, slots));
    assert_eq!(heap.collect(), 2);
    assert!(weaks.iter().all(|w: &Weak<Node>| w.upgrade().is_none()));
    drop(weaks);
    assert_empty(&heap);
}

/// Array-backed `Gc<[T]>` (`coerce_gc!`) and var-backed ones side by side: comparisons,
/// hashing and `Borrow` agree, downcasts keep them apart.
#[test]
fn array_backed_and_var_backed_slices() {
    let heap = Heap::new();
    let arr: Gc<[u32]> = coerce_gc!(heap.alloc([1u32, 2, 3]));
    let var = heap.alloc_slice(&[1u32, 2, 3]);
    assert_eq!(arr, var);
    assert_eq!(arr.cmp(&var), std::cmp::Ordering::Equal);
    assert!(Gc::to_any(&arr).downcast_slice::<u32>().is_none());
    assert!(Gc::to_any(&var).downcast::<[u32; 3]>().is_none());
    assert!(Gc::to_any(&arr).downcast::<[u32; 3]>().is_some());
    let mut set = HashSet::new();
    assert!(set.insert(arr.clone()));
    assert!(!set.insert(var.clone()));
    assert!(set.contains(&[1u32, 2, 3][..]));
    let mut names: HashMap<Gc<str>, usize> = HashMap::new();
    names.insert(heap.alloc_str("a"), 1);
    assert_eq!(names.get("a"), Some(&1));
    assert_eq!(format!("{}", heap.alloc_str("disp")), "disp");
    assert_eq!(Gc::id(&var), Gc::to_any(&var).id());
    assert_eq!(Gc::as_ptr(&var).cast::<u8>(), var.as_ptr().cast::<u8>());
    let mut s = heap.alloc_str("abc");
    Gc::get_mut(&mut s).unwrap().make_ascii_uppercase();
    assert_eq!(&*s, "ABC");
    let mut v = var.clone();
    assert!(Gc::get_mut(&mut v).is_none());
    drop((arr, var, set, names, s, v));
    assert_empty(&heap);
}

/// Introspection over slices: snapshot sizes are the boxes' real sizes, retained sizes add
/// up, why_alive finds the path through a slice.
#[test]
fn introspection_of_slices() {
    let heap = Heap::new();
    let root = node(&heap, 0);
    let kids = heap.alloc_slice_from_iter((1..=100).map(|i| node(&heap, i)));
    *root.kids.borrow_mut() = Some(kids.clone());
    let before = heap.accounted_bytes();
    let snap = heap.snapshot();
    let k = snap.node(&kids).unwrap();
    let info = snap.info(k);
    assert_eq!(info.type_name, std::any::type_name::<[Gc<Node>]>());
    // The count, the header, 100 pointers.
    assert_eq!(info.size, 8 + 32 + 100 * 8);
    let total: usize = snap.graph().node_indices().map(|n| snap.info(n).size).sum();
    assert_eq!(total, before);
    let leaf = snap.node(&kids[57]).unwrap();
    let chain = snap.why_alive(leaf).unwrap();
    assert!(chain.contains(&k));
    let sizes = snap.retained_sizes();
    let r = snap.node(&root).unwrap();
    drop(kids);
    assert!(sizes.retained(r).is_some());
    drop(snap);
    drop(root);
    assert_empty(&heap);
}

/// `freeze` and generation listings with slices in them.
#[test]
fn freeze_and_objects_with_slices() {
    let heap = Heap::new();
    let n = node(&heap, 3);
    *n.kids.borrow_mut() = Some(heap.alloc_slice(&[n.clone(), n.clone()]));
    heap.freeze();
    drop(n);
    assert_eq!(heap.collect(), 0, "frozen");
    // Frozen objects are not listed (CPython's `gc.get_objects()`).
    assert!(heap.objects(None).unwrap().is_empty());
    heap.unfreeze();
    let all = heap.objects(None).unwrap();
    let s = all
        .iter()
        .find_map(|o| o.downcast_slice::<Gc<Node>>())
        .unwrap();
    assert_eq!(s.len(), 2);
    drop((s, all));
    assert_eq!(heap.collect(), 2);
    assert_empty(&heap);
}

/// A slice whose item points back at the slice itself (the only cycle is through its own
/// items), collected; with `DEBUG_SAVEALL` the slice is kept in `garbage`, comes back
/// through `downcast_slice`, and the heap can be dropped with it still listed.
#[test]
fn self_referential_slice_and_saveall() {
    #[derive(Trace)]
    struct Back(RefCell<Option<Gc<[Back]>>>, #[trace(skip)] Rc<Cell<usize>>);
    impl Drop for Back {
        fn drop(&mut self) {
            self.1.set(self.1.get() + 1);
            // Co-garbage: the slice is DEAD while its items drop.
            if let Some(s) = self.0.borrow().as_ref() {
                assert!(Gc::try_get(s).is_none());
            }
        }
    }
    let drops = Rc::new(Cell::new(0));
    let make = |heap: &Heap| {
        let s = heap.alloc_slice_from_iter((0..3).map(|_| Back(RefCell::new(None), drops.clone())));
        *s[0].0.borrow_mut() = Some(s.clone());
        *s[2].0.borrow_mut() = Some(s.clone());
    };
    for heap in heaps() {
        drops.set(0);
        make(&heap);
        assert_eq!(heap.collect(), 1);
        assert_eq!(drops.get(), 3);
        assert_empty(&heap);

        drops.set(0);
        heap.set_debug(DebugFlags::SAVEALL);
        make(&heap);
        assert_eq!(heap.collect(), 1);
        let garbage = heap.garbage();
        assert_eq!(garbage.len(), 1);
        let s = garbage[0].downcast_slice::<Back>().unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(drops.get(), 0);
        drop((s, garbage));
        make(&heap);
        heap.collect();
        assert_eq!(heap.garbage().len(), 2);
        drop(heap);
        // The garbage list went with the heap; Miri reports any box left behind.
        assert_eq!(drops.get(), 6);
    }
}

/// An untracked slice whose items own the heap itself (`Rc<Heap>`): replacing an item through
/// `Gc::get_mut` runs a `Drop` that allocates in the heap, and dropping the last handle drops
/// the heap from inside the slice's own teardown.
#[test]
fn slice_items_owning_their_heap() {
    #[derive(Trace)]
    struct Owns(#[trace(skip)] Rc<Heap>, #[trace(skip)] Rc<Cell<usize>>);
    impl Drop for Owns {
        fn drop(&mut self) {
            self.1.set(self.1.get() + 1);
            let s = self.0.alloc_str("allocated while an item drops");
            let xs = self.0.alloc_slice(&[1u64; 100]);
            self.0.collect();
            assert_eq!(xs.len(), 100);
            assert!(s.starts_with("allocated"));
        }
    }
    for heap in heaps() {
        let heap = Rc::new(heap);
        let drops = Rc::new(Cell::new(0));
        let mut s = heap.alloc_slice_from_iter((0..4).map(|_| Owns(heap.clone(), drops.clone())));
        assert!(!heap.is_tracked(&s));
        Gc::get_mut(&mut s).unwrap()[1] = Owns(heap.clone(), drops.clone());
        assert_eq!(drops.get(), 1);
        assert_eq!(heap.live_objects(), 1);
        drop(heap); // the slice's items hold the last references
        drop(s);
        assert_eq!(drops.get(), 5);
    }
}

/// 2^40 unit items: the box is a count and a header (40 bytes) and nothing the heap does is
/// proportional to the length of a slice of droppless zero-sized items. (Natively only: the
/// optimised build, `[profile.dev] opt-level = 1` included, collects the iterator in O(1);
/// Miri would walk it item by item.)
#[test]
fn a_trillion_units() {
    if cfg!(miri) {
        return;
    }
    let heap = Heap::new();
    let s = heap.alloc_slice_from_iter(std::iter::repeat_n((), 1 << 40));
    assert_eq!(s.len(), 1 << 40);
    assert_eq!(heap.accounted_bytes(), 40);
    let any = Gc::to_any(&s);
    drop(s);
    assert_eq!(any.downcast_slice::<()>().unwrap().len(), 1 << 40);
    drop(any);
    assert_empty(&heap);
}
