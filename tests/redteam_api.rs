//! Red-team tests against the `api` branch additions (safe code only).
//!
//! Each test is a concrete attempt at a soundness hole; the ones that pass document what was
//! checked and found sound. Run under Miri for the memory-safety verdict.

#![allow(dead_code)]

use std::cell::{Cell, OnceCell, RefCell};
use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use pygc::{
    ByAddress, ExternalMemory, Finalize, Gc, Heap, HeapConfig, Slot, Trace, Weak, WeakKeyMap,
    WeakValueMap, coerce_gc,
};

fn quiet(heap: &Heap) -> Rc<Cell<usize>> {
    let n = Rc::new(Cell::new(0));
    let n2 = n.clone();
    heap.set_unraisable_hook(move |_| n2.set(n2.get() + 1));
    n
}

#[derive(Trace)]
struct Node {
    next: Slot<Node>,
    #[trace(skip)]
    tag: u64,
}

fn node(heap: &Heap, tag: u64) -> Gc<Node> {
    heap.alloc(Node {
        next: Slot::empty(),
        tag,
    })
}

// ---------------------------------------------------------------------------------------
// try_unwrap on co-garbage from a finalizer (the object is in the collector's work list).

thread_local! {
    static STASH: RefCell<Vec<Leaf>> = const { RefCell::new(Vec::new()) };
    static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

#[derive(Trace)]
struct Fin {
    leaf: Slot<Leaf>,
    me: Slot<Fin>,
    #[trace(skip)]
    stash: bool,
}

#[derive(Trace)]
struct Leaf {
    back: Slot<Fin>,
    kid: Slot<Node>,
    #[trace(skip)]
    payload: Vec<u64>,
}

impl Finalize for Fin {
    fn finalize(this: &Gc<Self>) {
        if let Some(leaf) = this.leaf.take() {
            match Gc::try_unwrap(leaf) {
                Ok(value) => {
                    assert_eq!(value.payload.len(), 100);
                    if this.stash {
                        STASH.with(|s| s.borrow_mut().push(value));
                    } else {
                        drop(value);
                    }
                }
                Err(g) => this.leaf.set(Some(g)),
            }
        }
    }
}

fn try_unwrap_co_garbage(stash: bool) {
    let heap = Heap::new();
    let unraisable = quiet(&heap);
    let f = heap.alloc(Fin {
        leaf: Slot::empty(),
        me: Slot::empty(),
        stash,
    });
    let leaf = heap.alloc(Leaf {
        back: Slot::new(Some(f.clone())),
        kid: Slot::new(Some(node(&heap, 7))),
        payload: vec![1; 100],
    });
    f.leaf.set(Some(leaf));
    f.me.set(Some(f.clone()));
    drop(f);
    heap.check_invariants();
    heap.collect();
    heap.check_invariants();
    heap.collect();
    heap.check_invariants();
    assert_eq!(unraisable.get(), 0);
    let stashed = STASH.with(|s| std::mem::take(&mut *s.borrow_mut()));
    if stash {
        assert_eq!(stashed.len(), 1);
        let kid = stashed[0].kid.get().unwrap();
        assert_eq!(kid.tag, 7);
        let back = stashed[0].back.get().unwrap();
        assert!(
            !Gc::is_dead(&back),
            "resurrected through the moved-out value"
        );
    }
    drop(stashed);
    heap.collect();
    heap.check_invariants();
    assert_eq!(heap.live_objects(), 0);
}

#[test]
fn try_unwrap_co_garbage_in_finalizer_drop() {
    try_unwrap_co_garbage(false);
}

#[test]
fn try_unwrap_co_garbage_in_finalizer_stash() {
    try_unwrap_co_garbage(true);
}

// ---------------------------------------------------------------------------------------
// try_unwrap inside a Drop that runs in a refcount teardown (the release is queued).

struct Unwrapper {
    target: Slot<Node>,
    heap_anchor: Gc<Node>,
}
// SAFETY: reports both owned handles once.
#[allow(unsafe_code)]
unsafe impl Trace for Unwrapper {
    fn trace(&self, v: &mut pygc::Visitor<'_>) {
        self.target.trace(v);
        v.visit(&self.heap_anchor);
    }
}
impl Drop for Unwrapper {
    fn drop(&mut self) {
        let t = self.target.take().unwrap();
        let value = Gc::try_unwrap(t).ok().expect("unique");
        // Drop the moved value (its chain) while the teardown runs; also collect.
        let heap = Gc::heap(&self.heap_anchor);
        heap.collect();
        heap.check_invariants();
        drop(value);
        heap.check_invariants();
    }
}

#[test]
fn try_unwrap_in_drop_during_teardown() {
    let heap = Heap::new();
    let anchor = node(&heap, 0);
    // a chain under the target
    let target = node(&heap, 1);
    let mut cur = target.clone();
    for i in 2..50 {
        let n = node(&heap, i);
        cur.next.set(Some(n.clone()));
        cur = n;
    }
    drop(cur);
    // Outer owner: a chain of Unwrappers so the release of one happens inside a teardown.
    let outer = heap.alloc(Unwrapper {
        target: Slot::new(Some(target)),
        heap_anchor: anchor.clone(),
    });
    let head = heap.alloc((Slot::new(Some(outer)),));
    drop(head);
    heap.check_invariants();
    assert_eq!(heap.live_objects(), 1);
    drop(anchor);
    assert_eq!(heap.live_objects(), 0);
}

// ---------------------------------------------------------------------------------------
// Slot<T>'s Debug holds the handle out of the cell while user code (the fmt::Write) runs.

struct Sneaky<'a> {
    slot: &'a Slot<Node>,
    replacement: RefCell<Option<Gc<Node>>>,
    seen_empty: Cell<bool>,
}
impl std::fmt::Write for Sneaky<'_> {
    fn write_str(&mut self, _s: &str) -> std::fmt::Result {
        if self.slot.get().is_none() {
            self.seen_empty.set(true);
        }
        if let Some(r) = self.replacement.borrow_mut().take() {
            self.slot.set(Some(r));
        }
        Ok(())
    }
}

#[test]
fn slot_debug_loses_a_concurrent_set() {
    let heap = Heap::new();
    let holder = node(&heap, 0);
    holder.next.set(Some(node(&heap, 1)));
    let replacement = node(&heap, 2);
    let mut w = Sneaky {
        slot: &holder.next,
        replacement: RefCell::new(Some(replacement)),
        seen_empty: Cell::new(false),
    };
    write!(w, "{:?}", holder.next).unwrap();
    let now = holder.next.get().map(|n| n.tag);
    // The user's `set(Some(node 2))` happened; a Cell-like slot must now hold node 2.
    assert!(
        !w.seen_empty.get(),
        "Slot::get returned None for a full slot during Debug"
    );
    assert_eq!(
        now,
        Some(2),
        "the set made during Debug was silently reverted"
    );
}

// ---------------------------------------------------------------------------------------
// HeapRef: a collection from a Drop during the heap's own teardown, after the Heap handle
// was dropped in that teardown (its final collection is queued then).

#[derive(Trace)]
struct Pair {
    other: Slot<Pair>,
    #[trace(skip)]
    name: u32,
}

struct OwnsHeap {
    heap: RefCell<Option<Heap>>,
    anchor: Gc<Pair>,
}
// SAFETY: reports its one handle.
#[allow(unsafe_code)]
unsafe impl Trace for OwnsHeap {
    fn trace(&self, v: &mut pygc::Visitor<'_>) {
        v.visit(&self.anchor);
    }
}
impl Drop for OwnsHeap {
    fn drop(&mut self) {
        let h = self.heap.borrow_mut().take();
        drop(h); // orphan during a teardown of this heap: final collection queued
        let heap = Gc::heap(&self.anchor);
        // garbage for the collections below
        let a = heap.alloc(Pair {
            other: Slot::empty(),
            name: 1,
        });
        let b = heap.alloc(Pair {
            other: Slot::new(Some(a.clone())),
            name: 2,
        });
        a.other.set(Some(b));
        drop(a);
        heap.collect(); // runs; then run_pending_shutdowns runs the final collection now
        heap.check_invariants();
        let _ = heap.collect_if_due();
        heap.enable();
        let c = heap.alloc(Pair {
            other: Slot::empty(),
            name: 3,
        });
        c.other.set(Some(c.clone()));
        drop(c);
        heap.collect();
        heap.check_invariants();
    }
}

#[test]
fn heap_ref_collects_during_own_teardown_after_heap_drop() {
    let heap = Heap::new();
    let anchor = heap.alloc(Pair {
        other: Slot::empty(),
        name: 0,
    });
    let owner = heap.alloc(OwnsHeap {
        heap: RefCell::new(None),
        anchor: anchor.clone(),
    });
    drop(anchor);
    *owner.heap.borrow_mut() = Some(heap);
    drop(owner); // teardown of an object of the heap it owns
}

// Same, but the anchor is itself part of a garbage cycle that the queued final collection
// could see; and the heap dropped from a weak callback at refcount death.
#[test]
fn heap_dropped_in_weak_callback_then_heap_ref_collect() {
    let heap = Heap::new();
    let cell: Rc<RefCell<Option<Heap>>> = Rc::new(RefCell::new(None));
    let victim = node(&heap, 1);
    let anchor = node(&heap, 2);
    let c2 = cell.clone();
    let state = anchor.clone();
    let w = Gc::downgrade_with_traced_callback(&victim, state, move |anchor, _w| {
        drop(c2.borrow_mut().take());
        let h = Gc::heap(&anchor);
        let x = node(&h, 3);
        x.next.set(Some(x.clone()));
        drop(x);
        h.collect();
        h.check_invariants();
        let y = node(&h, 4);
        y.next.set(Some(anchor.clone()));
        anchor.next.set(Some(y));
    });
    *cell.borrow_mut() = Some(heap);
    drop(victim);
    drop(w);
    let h = Gc::heap(&anchor);
    h.check_invariants();
    h.collect();
    h.check_invariants();
    let _ = h;
    anchor.next.set(None);
    drop(anchor);
}

// ---------------------------------------------------------------------------------------
// alloc_cyclic re-entrancy.

#[derive(Trace)]
struct Me {
    this: Weak<Me>,
    other: Slot<Me>,
    #[trace(skip)]
    depth: u32,
}

thread_local! {
    static WEAKS: RefCell<Vec<Weak<Me>>> = const { RefCell::new(Vec::new()) };
}

fn build_me(heap: &Heap, depth: u32) -> Gc<Me> {
    heap.alloc_cyclic(|this: &Weak<Me>| {
        assert!(this.upgrade().is_none());
        WEAKS.with(|w| w.borrow_mut().push(this.clone()));
        heap.collect();
        heap.check_invariants();
        let _ = heap.referrers(&[Weak::to_any(this)]);
        let _ = heap.weakrefs_of(this);
        let other = if depth > 0 {
            let inner = build_me(heap, depth - 1);
            inner.other.set(Some(inner.clone()));
            Some(inner)
        } else {
            None
        };
        if depth == 1 {
            // drop the only clone we were given apart from the stash
            let extra = this.clone();
            drop(extra);
        }
        Me {
            this: this.clone(),
            other: Slot::new(other),
            depth,
        }
    })
}

#[test]
fn alloc_cyclic_reentrant() {
    let heap = Heap::new();
    let me = build_me(&heap, 3);
    heap.check_invariants();
    WEAKS.with(|w| {
        for weak in w.borrow().iter() {
            let g = weak.upgrade().expect("alive");
            assert!(Weak::ptr_eq(&g.this, weak));
        }
    });
    drop(me);
    heap.collect();
    heap.check_invariants();
    WEAKS.with(|w| {
        for weak in w.borrow().iter() {
            assert!(weak.upgrade().is_none());
        }
        w.borrow_mut().clear();
    });
    heap.collect();
    assert_eq!(heap.live_objects(), 0);
}

#[test]
fn alloc_cyclic_panics_after_stashing() {
    let heap = Heap::new();
    let r = catch_unwind(AssertUnwindSafe(|| {
        heap.alloc_cyclic(|this: &Weak<Me>| -> Me {
            WEAKS.with(|w| w.borrow_mut().push(this.clone()));
            panic!("no")
        })
    }));
    assert!(r.is_err());
    heap.check_invariants();
    let w = WEAKS.with(|w| w.borrow_mut().pop().unwrap());
    assert!(w.upgrade().is_none());
    // The stashed weak-ref object must never start naming some later object.
    let later = build_me(&heap, 0);
    assert!(w.upgrade().is_none());
    drop(later);
    drop(w);
    WEAKS.with(|w| w.borrow_mut().clear());
    heap.collect();
    assert_eq!(heap.live_objects(), 0);
}

// alloc_cyclic where build drops the Heap (reached through a HeapRef).
#[test]
fn alloc_cyclic_build_drops_the_heap() {
    let heap = Heap::new();
    let keep = node(&heap, 0);
    let hr = Gc::heap(&keep);
    let me = hr.alloc_cyclic(move |this: &Weak<Me>| {
        drop(heap);
        Me {
            this: this.clone(),
            other: Slot::empty(),
            depth: 0,
        }
    });
    assert!(Gc::ptr_eq(&me.this.upgrade().unwrap(), &me));
    hr.check_invariants();
    me.other.set(Some(me.clone()));
    drop(me);
    hr.collect();
    hr.check_invariants();
    let _ = hr;
    drop(keep);
}

// ---------------------------------------------------------------------------------------
// Traced callback state.

#[derive(Trace)]
struct Holder {
    w: RefCell<Option<Weak<Node>>>,
    keep: Slot<Node>,
}

#[test]
fn traced_state_holds_its_own_weak_reference() {
    let heap = Heap::new();
    let unraisable = quiet(&heap);
    let x = node(&heap, 1);
    let holder = heap.alloc(Holder {
        w: RefCell::new(None),
        keep: Slot::empty(),
    });
    let ran = Rc::new(Cell::new(0));
    let r = ran.clone();
    let w = Gc::downgrade_with_traced_callback(&x, holder.clone(), move |h: Gc<Holder>, dead| {
        r.set(r.get() + 1);
        assert!(dead.upgrade().is_none());
        let mine = h.w.borrow().clone();
        assert!(mine.unwrap().upgrade().is_none());
        // store the dead weak where the state is reachable again
        h.w.borrow_mut().replace(dead);
    });
    *holder.w.borrow_mut() = Some(w);
    // weakref -> state(holder) -> weakref : a cycle; x is the referent, held by holder.keep
    holder.keep.set(Some(x.clone()));
    x.next.set(Some(x.clone()));
    drop(holder);
    drop(x);
    heap.check_invariants();
    assert!(heap.collect() >= 3);
    heap.check_invariants();
    assert_eq!(ran.get(), 0, "weakref garbage too: no callback");
    assert_eq!(heap.live_objects(), 0);
    assert_eq!(unraisable.get(), 0);
}

#[test]
fn traced_callback_reachable_weakref_garbage_referent_does_everything() {
    let heap = Heap::new();
    let unraisable = quiet(&heap);
    let x = node(&heap, 1);
    x.next.set(Some(x.clone()));
    let outside = node(&heap, 9);
    let ran = Rc::new(Cell::new(0));
    let r = ran.clone();
    let w = Gc::downgrade_with_traced_callback(&x, outside.clone(), move |s: Gc<Node>, dead| {
        r.set(r.get() + 1);
        assert!(dead.upgrade().is_none());
        let heap = Gc::heap(&s);
        assert_eq!(heap.collect(), 0, "nested collections do not run");
        assert_eq!(heap.collect_if_due(), None);
        // Everything the callback can see through introspection, try to take apart.
        for any in heap.objects(None).unwrap() {
            if let Some(n) = any.downcast::<Node>() {
                drop(any);
                if let Some(next) = n.next.take() {
                    // try to take unique ownership of anything reachable
                    match Gc::try_unwrap(next) {
                        Ok(v) => drop(v),
                        Err(g) => n.next.set(Some(g)),
                    }
                }
            }
        }
        heap.freeze();
        heap.unfreeze();
        let fresh = node(&heap, 5);
        s.next.set(Some(fresh));
        // a new traced weak from inside the callback
        let _w2 = Gc::downgrade_with_traced_callback(&s, s.clone(), |_, _| {});
    });
    drop(x);
    heap.collect();
    heap.check_invariants();
    assert_eq!(ran.get(), 1);
    drop(w);
    drop(outside);
    heap.collect();
    heap.check_invariants();
    assert_eq!(heap.live_objects(), 0);
    assert_eq!(unraisable.get(), 0);
}

// State whose Drop panics and re-enters the heap, on a garbage weakref.
struct PanicState(Gc<Node>);
// SAFETY: reports its one handle.
#[allow(unsafe_code)]
unsafe impl Trace for PanicState {
    fn trace(&self, v: &mut pygc::Visitor<'_>) {
        v.visit(&self.0);
    }
}
impl Drop for PanicState {
    fn drop(&mut self) {
        let heap = Gc::heap(&self.0);
        let n = node(&heap, 99);
        n.next.set(Some(self.0.clone()));
        let _ = heap.collect();
        panic!("state drop");
    }
}

#[test]
fn traced_state_drop_panics_in_collection_and_teardown() {
    let heap = Heap::new();
    let unraisable = quiet(&heap);
    // garbage weakref case
    let x = node(&heap, 1);
    let w = Gc::downgrade_with_traced_callback(&x, PanicState(x.clone()), |_s, _w| {});
    let holder = heap.alloc(Holder {
        w: RefCell::new(Some(w)),
        keep: Slot::new(Some(x.clone())),
    });
    x.next.set(Some(x.clone()));
    drop(x);
    // holder dies by refcount: its Weak's object dies, the state's Drop panics out of `drop`
    let r = catch_unwind(AssertUnwindSafe(|| drop(holder)));
    assert!(r.is_err());
    heap.check_invariants();
    heap.collect();
    heap.check_invariants();
    // refcount-death of the weakref before its referent: the state drops in dealloc
    let y = node(&heap, 2);
    let w = Gc::downgrade_with_traced_callback(&y, PanicState(node(&heap, 3)), |_s, _w| {});
    let r = catch_unwind(AssertUnwindSafe(|| drop(w)));
    assert!(r.is_err());
    heap.check_invariants();
    drop(y);
    heap.collect();
    heap.check_invariants();
    assert_eq!(heap.live_objects(), 0);
    let _ = unraisable;
}

// ---------------------------------------------------------------------------------------
// WeakKeyMap: keys dying during iteration / in callbacks.

thread_local! {
    static KILL: RefCell<Vec<Gc<Node>>> = const { RefCell::new(Vec::new()) };
}

struct Killer {
    map: Rc<WeakKeyMap<Node, Killer>>,
    heap_anchor: Gc<Node>,
}
impl Clone for Killer {
    fn clone(&self) -> Self {
        // kill keys while the map is borrowed (entries()/get())
        KILL.with(|k| k.borrow_mut().clear());
        let heap = Gc::heap(&self.heap_anchor);
        heap.collect();
        let k = node(&heap, 77);
        self.map.insert(
            &k,
            Killer {
                map: self.map.clone(),
                heap_anchor: self.heap_anchor.clone(),
            },
        );
        Killer {
            map: self.map.clone(),
            heap_anchor: self.heap_anchor.clone(),
        }
    }
}

#[test]
fn weak_key_map_keys_die_during_iteration() {
    let heap = Heap::new();
    let anchor = node(&heap, 0);
    let map = Rc::new(WeakKeyMap::new());
    for i in 0..8 {
        let k = node(&heap, i);
        if i % 2 == 0 {
            k.next.set(Some(k.clone())); // cyclic keys: die only in collect
        }
        map.insert(
            &k,
            Killer {
                map: map.clone(),
                heap_anchor: anchor.clone(),
            },
        );
        KILL.with(|kk| kk.borrow_mut().push(k));
    }
    let r = catch_unwind(AssertUnwindSafe(|| map.entries().len()));
    let _ = r; // a RefCell panic is acceptable; memory safety is what we check
    heap.check_invariants();
    let _ = catch_unwind(AssertUnwindSafe(|| map.len()));
    heap.collect();
    heap.check_invariants();
    let n = catch_unwind(AssertUnwindSafe(|| map.len()));
    let _ = n;
    KILL.with(|k| k.borrow_mut().clear());
    drop(map); // Rc cycles through Killer values leak the map; fine
    heap.collect();
    heap.check_invariants();
}

// A WeakKeyMap inside an object, whose value's Drop runs a collection that finds the map's
// owner garbage while the callback holds the map's Rc.
#[derive(Trace)]
struct MapOwner {
    map: WeakKeyMap<Node, DropCollects>,
    me: Slot<MapOwner>,
}

struct DropCollects {
    anchor: Gc<Node>,
    other: Slot<Node>,
}
// SAFETY: reports both handles once.
#[allow(unsafe_code)]
unsafe impl Trace for DropCollects {
    fn trace(&self, v: &mut pygc::Visitor<'_>) {
        v.visit(&self.anchor);
        self.other.trace(v);
    }
}
impl Drop for DropCollects {
    fn drop(&mut self) {
        let heap = Gc::heap(&self.anchor);
        heap.collect();
        heap.check_invariants();
        if let Some(o) = self.other.get() {
            let _ = Gc::try_get(&o).map(|n| n.tag);
        }
    }
}

#[test]
fn weak_key_map_callback_value_drop_collects_map_owner() {
    let heap = Heap::new();
    let unraisable = quiet(&heap);
    let anchor = node(&heap, 0);
    let owner = heap.alloc(MapOwner {
        map: WeakKeyMap::new(),
        me: Slot::empty(),
    });
    owner.me.set(Some(owner.clone()));
    let k1 = node(&heap, 1);
    let k2 = node(&heap, 2);
    let garbage_target = node(&heap, 3);
    owner.map.insert(
        &k1,
        DropCollects {
            anchor: anchor.clone(),
            other: Slot::new(Some(garbage_target.clone())),
        },
    );
    owner.map.insert(
        &k2,
        DropCollects {
            anchor: anchor.clone(),
            other: Slot::new(Some(garbage_target)),
        },
    );
    drop(owner); // now a garbage cycle, not yet collected
    drop(k1); // callback -> removes entry -> value Drop collects the map owner
    heap.check_invariants();
    drop(k2);
    heap.collect();
    heap.check_invariants();
    drop(anchor);
    heap.collect();
    assert_eq!(heap.live_objects(), 0);
    let _ = unraisable;
}

// ---------------------------------------------------------------------------------------
// Unsized handles.

trait Speak {
    fn speak(&self) -> u64;
}

#[derive(Trace)]
struct Zst;
impl Speak for Zst {
    fn speak(&self) -> u64 {
        0
    }
}

#[repr(align(256))]
struct Aligned {
    x: u64,
    next: Slot<Node>,
}
// SAFETY: reports the slot.
#[allow(unsafe_code)]
unsafe impl Trace for Aligned {
    fn trace(&self, v: &mut pygc::Visitor<'_>) {
        self.next.trace(v);
    }
}
impl Speak for Aligned {
    fn speak(&self) -> u64 {
        assert_eq!(self as *const Self as usize % 256, 0);
        self.x
    }
}
thread_local! { static DROPS: Cell<u32> = const { Cell::new(0) }; }
impl Drop for Aligned {
    fn drop(&mut self) {
        DROPS.with(|d| d.set(d.get() + 1));
    }
}

#[test]
fn unsized_zst_aligned_empty() {
    let heap = Heap::new();
    let z: Gc<dyn Speak> = coerce_gc!(heap.alloc(Zst));
    assert_eq!(z.speak(), 0);
    let a = heap.alloc(Aligned {
        x: 5,
        next: Slot::empty(),
    });
    a.next.set(Some(node(&heap, 1)));
    let d: Gc<dyn Speak> = coerce_gc!(a.clone());
    assert_eq!(d.speak(), 5);
    let e: Gc<[Gc<Node>]> = coerce_gc!(heap.alloc([] as [Gc<Node>; 0]));
    assert_eq!(e.len(), 0);
    let zs: Gc<[Zst]> = coerce_gc!(heap.alloc([Zst, Zst, Zst]));
    assert_eq!(zs.len(), 3);
    let al: Gc<[Aligned]> = coerce_gc!(heap.alloc([
        Aligned {
            x: 1,
            next: Slot::empty()
        },
        Aligned {
            x: 2,
            next: Slot::empty()
        }
    ]));
    assert_eq!(al[1].speak(), 2);
    al[0].next.set(Some(node(&heap, 3)));
    let mut u: Gc<[u8]> = coerce_gc!(heap.alloc([1u8, 2, 3]));
    Gc::get_mut(&mut u).unwrap()[0] = 9;
    assert_eq!(&*u, &[9, 2, 3]);
    let any: Gc<dyn std::any::Any> = coerce_gc!(heap.alloc(7u32));
    assert_eq!(any.downcast_ref::<u32>(), Some(&7));
    drop(a);
    heap.collect();
    drop((z, d, e, zs, al, u, any));
    assert_eq!(DROPS.with(Cell::get), 3);
    heap.check_invariants();
    assert_eq!(heap.live_objects(), 0);
}

// A dyn handle in a garbage cycle whose Drop reaches the co-garbage through the dyn handle.
struct DynCycle {
    peer: RefCell<Option<Gc<dyn Speak>>>,
}
// SAFETY: reports the one handle.
#[allow(unsafe_code)]
unsafe impl Trace for DynCycle {
    fn trace(&self, v: &mut pygc::Visitor<'_>) {
        if let Ok(p) = self.peer.try_borrow() {
            if let Some(p) = p.as_ref() {
                v.visit(p);
            }
        }
    }
}
impl Speak for DynCycle {
    fn speak(&self) -> u64 {
        1
    }
}
impl Drop for DynCycle {
    fn drop(&mut self) {
        if let Some(p) = self.peer.borrow().as_ref() {
            let _ = Gc::try_get(p).map(|s| s.speak());
            assert!(Gc::is_dead(p));
        }
    }
}

#[test]
fn dyn_cycle_collected() {
    let heap = Heap::new();
    let a = heap.alloc(DynCycle {
        peer: RefCell::new(None),
    });
    let b = heap.alloc(DynCycle {
        peer: RefCell::new(Some(coerce_gc!(a.clone()))),
    });
    *a.peer.borrow_mut() = Some(coerce_gc!(b));
    drop(a);
    assert_eq!(heap.collect(), 2);
    heap.check_invariants();
    assert_eq!(heap.live_objects(), 0);
}

// ---------------------------------------------------------------------------------------
// ExternalMemory arithmetic.

#[test]
fn external_memory_huge_does_not_break_alloc() {
    let heap = Heap::with_config(HeapConfig {
        byte_trigger: Some(1024),
        ..HeapConfig::default()
    });
    let t = heap.external_memory();
    t.set(usize::MAX - 8);
    let r = catch_unwind(AssertUnwindSafe(|| heap.alloc(1u64)));
    assert!(
        r.is_ok(),
        "allocation panicked because of a reported byte count"
    );
    drop(r);
    drop(t);
    heap.check_invariants();
}

#[test]
fn external_memory_outlives_heap() {
    let heap = Heap::new();
    let x = heap.alloc(1u8);
    let t = ExternalMemory::for_object(&x);
    t.set(100);
    drop(x);
    drop(heap);
    t.set(5);
    drop(t);
}

// ---------------------------------------------------------------------------------------
// Safe points from inside collections and teardowns.

#[derive(Trace)]
struct SafePointFin {
    me: Slot<SafePointFin>,
}
impl Finalize for SafePointFin {
    fn finalize(this: &Gc<Self>) {
        let heap = Gc::heap(this);
        for _ in 0..50 {
            let n = node(&heap, 1);
            n.next.set(Some(n.clone()));
        }
        assert_eq!(heap.collect_if_due(), None);
        LOG.with(|l| {
            l.borrow_mut()
                .push(format!("due={}", heap.is_collection_due()))
        });
    }
}

struct DropSafePoint(Gc<Node>);
// SAFETY: reports its handle.
#[allow(unsafe_code)]
unsafe impl Trace for DropSafePoint {
    fn trace(&self, v: &mut pygc::Visitor<'_>) {
        v.visit(&self.0);
    }
}
impl Drop for DropSafePoint {
    fn drop(&mut self) {
        let heap = Gc::heap(&self.0);
        for _ in 0..50 {
            let n = node(&heap, 1);
            n.next.set(Some(n.clone()));
        }
        let _ = heap.collect_if_due();
        heap.check_invariants();
    }
}

#[test]
fn safe_points_inside_collection_and_teardown() {
    let heap = Heap::with_config(HeapConfig {
        safe_points: true,
        thresholds: [10, 2, 2],
        byte_trigger: Some(256),
        ..HeapConfig::default()
    });
    for _ in 0..5 {
        let f = heap.alloc(SafePointFin { me: Slot::empty() });
        f.me.set(Some(f.clone()));
    }
    heap.collect();
    heap.check_invariants();
    // teardown: a chain of DropSafePoint-holding nodes
    let mut keep = Vec::new();
    for i in 0..20 {
        let n = node(&heap, i);
        keep.push(heap.alloc(DropSafePoint(n)));
    }
    let head = heap.alloc(RefCell::new(keep));
    drop(head);
    heap.check_invariants();
    while heap.collect_if_due().is_some() {}
    heap.collect();
    heap.check_invariants();
    assert_eq!(heap.live_objects(), 0);
    // The finalizers' and `Drop`s' own checks run as user code: a failure there is reported
    // as unraisable, not raised, so count the reports.
    assert_eq!(
        heap.unraisable_count(),
        0,
        "a check inside a finalizer or Drop failed"
    );
}

// ---------------------------------------------------------------------------------------
// Misc: OnceCell / ByAddress / AnyGc traces; WeakValueMap inside garbage.

#[derive(Trace)]
struct Misc {
    once: OnceCell<Gc<Misc>>,
    by: RefCell<Vec<ByAddress<Gc<Node>>>>,
    any: RefCell<Option<pygc::AnyGc>>,
    vmap: WeakValueMap<u32, Misc>,
    f: fn(u8) -> u8,
    s: &'static str,
}

#[test]
fn misc_new_trace_impls_cycles() {
    let heap = Heap::new();
    let m = heap.alloc(Misc {
        once: OnceCell::new(),
        by: RefCell::new(vec![]),
        any: RefCell::new(None),
        vmap: WeakValueMap::new(),
        f: |x| x,
        s: "x",
    });
    let _ = m.once.set(m.clone());
    let n = node(&heap, 1);
    m.by.borrow_mut().push(ByAddress(n.clone()));
    *m.any.borrow_mut() = Some(Gc::to_any(&m));
    m.vmap.insert(1, &m);
    let w = Weak::to_any(&Gc::downgrade(&m));
    *m.any.borrow_mut() = Some(w);
    drop(n);
    drop(m);
    heap.collect();
    heap.check_invariants();
    assert_eq!(heap.live_objects(), 0);
}

/// The covariance hole (a red-team find): `Gc<T>` and `Weak<T>` were covariant, so a
/// `Gc<&'static str>` viewed as `Gc<&'a str>` could be written through `Gc::get_mut` and read
/// back as its allocation type (`AnyGc::downcast`, `referents`, the finalizer): a use after
/// free in safe code. Both are invariant now; these programs must not compile.
#[test]
#[cfg_attr(miri, ignore = "trybuild runs rustc")]
fn covariance_programs_do_not_compile() {
    // The expected `.stderr` files are stable rustc's wording; the sanitizer run
    // (ci/asan.sh) builds with nightly, whose notes differ, and sets this to skip.
    if std::env::var_os("PYGC_NIGHTLY_RUSTC").is_some() {
        eprintln!("skipped: expected compiler output is recorded for stable rustc");
        return;
    }
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/covariance/*.rs");
}

// Over-aligned ZSTs and empty arrays of them, as dyn and slice handles (large boxes).
#[repr(align(8192))]
struct HugeAlignZst;
// SAFETY: holds nothing.
#[allow(unsafe_code)]
unsafe impl Trace for HugeAlignZst {
    const MAY_CONTAIN_HANDLES: bool = false;
    fn trace(&self, _: &mut pygc::Visitor<'_>) {}
}
impl Speak for HugeAlignZst {
    fn speak(&self) -> u64 {
        (self as *const Self as usize % 8192) as u64
    }
}
impl Drop for HugeAlignZst {
    fn drop(&mut self) {
        DROPS.with(|d| d.set(d.get() + 100));
    }
}

#[test]
fn unsized_huge_alignment() {
    DROPS.with(|d| d.set(0));
    let heap = Heap::new();
    let a: Gc<dyn Speak> = coerce_gc!(heap.alloc(HugeAlignZst));
    assert_eq!(a.speak(), 0);
    let b: Gc<[HugeAlignZst]> = coerce_gc!(heap.alloc([HugeAlignZst, HugeAlignZst]));
    assert_eq!(b[1].speak(), 0);
    let c: Gc<[HugeAlignZst]> = coerce_gc!(heap.alloc([] as [HugeAlignZst; 0]));
    assert_eq!(c.len(), 0);
    let any = Gc::to_any(&b);
    let back = any.downcast::<[HugeAlignZst; 2]>().unwrap();
    drop(any);
    let mut b2 = b.clone();
    assert!(Gc::get_mut(&mut b2).is_none());
    drop(b2);
    drop(b);
    let v = Gc::try_unwrap(back).ok().unwrap();
    drop(v);
    drop((a, c));
    assert_eq!(DROPS.with(Cell::get), 300);
    heap.check_invariants();
    assert_eq!(heap.live_objects(), 0);
}
