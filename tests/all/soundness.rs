//! Regression tests for the ways safe code used to break pygc (the soundness issue's list),
//! one test per finding, named after it. Each failed on the code before the restructuring
//! (the comment says how: wrong result, panic, leak, or Miri/ASan use-after-free) and checks
//! that its scenario really happened.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use pygc::testutil::FnSubscriber;
use pygc::{DebugFlags, Finalize, Gc, Heap, HeapConfig, Trace, Unraisable, Visitor, Weak};

/// A heap with automatic collection off and a hook that records every unraisable report.
fn recording_heap() -> (Heap, Rc<RefCell<Vec<Unraisable>>>) {
    let heap = Heap::with_config(HeapConfig {
        enabled: false,
        ..HeapConfig::default()
    });
    let seen = Rc::new(RefCell::new(Vec::new()));
    let sink = seen.clone();
    heap.set_unraisable_hook(move |u| sink.borrow_mut().push(u.clone()));
    (heap, seen)
}

fn assert_no_reports(seen: &RefCell<Vec<Unraisable>>) {
    assert!(
        seen.borrow().is_empty(),
        "unexpected unraisable reports: {:?}",
        seen.borrow()
    );
}

/// A node whose `Drop` (run by the collector when it is garbage) does something to the
/// handle it holds: `on_drop` decides what.
#[derive(Trace)]
struct Probe {
    other: RefCell<Option<Gc<Probe>>>,
    weak: RefCell<Option<Weak<Probe>>>,
    #[trace(skip)]
    on_drop: Option<fn(&Probe)>,
}

impl Drop for Probe {
    fn drop(&mut self) {
        if let Some(f) = self.on_drop {
            f(self);
        }
    }
}

fn probe(heap: &Heap, on_drop: Option<fn(&Probe)>) -> Gc<Probe> {
    heap.alloc(Probe {
        other: RefCell::new(None),
        weak: RefCell::new(None),
        on_drop,
    })
}

/// A 2-cycle of probes, both with `on_drop`.
fn probe_cycle(heap: &Heap, on_drop: fn(&Probe)) {
    let a = probe(heap, Some(on_drop));
    let b = probe(heap, Some(on_drop));
    *a.other.borrow_mut() = Some(b.clone());
    *b.other.borrow_mut() = Some(a.clone());
}

/// Same box size as `Probe`, another type: reuses a freed probe's block.
#[derive(Trace)]
struct Filler {
    _a: RefCell<Option<Gc<Filler>>>,
    _b: RefCell<Option<Gc<Filler>>>,
    #[trace(skip)]
    _c: usize,
}

// ---- 1. downgrade of a dead handle -----------------------------------------------------------

thread_local! {
    static KEPT: RefCell<Vec<Weak<Probe>>> = const { RefCell::new(Vec::new()) };
}

/// Before: `downgrade` registered a weak reference to the DEAD co-garbage object; its box was
/// freed without clearing the list, and after the block was reused by a `Filler`, `upgrade`
/// returned a `Gc<Probe>` to it (Miri and ASan: use after free).
#[test]
fn downgrade_of_dead_handle_gives_a_dead_weak_reference() {
    let (heap, seen) = recording_heap();
    KEPT.with(|k| k.borrow_mut().clear());
    probe_cycle(&heap, |p| {
        let other = p.other.borrow();
        let other = other.as_ref().unwrap();
        assert!(Gc::is_dead(other), "the co-garbage handle is dead in Drop");
        let kept = [
            Gc::downgrade(other),
            Gc::downgrade_with_callback(other, |_| panic!("a dead object's callback ran")),
        ];
        KEPT.with(|k| k.borrow_mut().extend(kept));
    });
    assert_eq!(heap.collect(), 2);
    assert_eq!(KEPT.with(|k| k.borrow().len()), 4, "both Drops ran");
    let fillers: Vec<Gc<Filler>> = (0..64)
        .map(|i| {
            heap.alloc(Filler {
                _a: RefCell::new(None),
                _b: RefCell::new(None),
                _c: i,
            })
        })
        .collect();
    KEPT.with(|k| {
        for w in k.borrow().iter() {
            assert!(w.upgrade().is_none());
            assert!(w.is_dead());
            assert!(!w.has_callback());
        }
    });
    heap.check_invariants();
    KEPT.with(|k| k.borrow_mut().clear());
    drop(fillers);
    heap.check_invariants();
    assert_no_reports(&seen);
}

thread_local! {
    static MAP: pygc::WeakValueMap<u32, Probe> = pygc::WeakValueMap::new();
}

/// Before: `WeakValueMap::insert` of a dead handle registered the entry's weak reference the
/// same way (use after free on the next `get`).
#[test]
fn weak_value_map_insert_of_dead_handle_is_no_entry() {
    let (heap, seen) = recording_heap();
    probe_cycle(&heap, |p| {
        let other = p.other.borrow();
        MAP.with(|m| m.insert(7, other.as_ref().unwrap()));
    });
    assert_eq!(heap.collect(), 2);
    let _fillers: Vec<Gc<Filler>> = (0..64)
        .map(|i| {
            heap.alloc(Filler {
                _a: RefCell::new(None),
                _b: RefCell::new(None),
                _c: i,
            })
        })
        .collect();
    MAP.with(|m| {
        assert!(m.get(&7).is_none());
        assert_eq!(m.len(), 0);
    });
    heap.check_invariants();
    assert_no_reports(&seen);
}

// ---- 2. a callback's captures free a later weak reference in delete_garbage -----------------

#[derive(Trace)]
struct Fin {
    me: RefCell<Option<Gc<Fin>>>,
}

/// A live object whose weak reference (made while w1 is being freed) must keep its callback.
#[derive(Trace)]
struct Live {
    #[trace(skip)]
    _n: u8,
}

thread_local! {
    static OUTER: RefCell<Option<Weak<Fin>>> = const { RefCell::new(None) };
    static LIVE: RefCell<Option<Gc<Live>>> = const { RefCell::new(None) };
    static W3: RefCell<Option<Weak<Live>>> = const { RefCell::new(None) };
    static W3_CALLED: Cell<bool> = const { Cell::new(false) };
}

/// w2's callback capture: its `Drop` releases w1 and then makes a new weak reference with a
/// callback, which the pool places in w1's just-freed block.
struct ReleaseThenReuse {
    w1: Option<Weak<Fin>>,
}

impl Drop for ReleaseThenReuse {
    fn drop(&mut self) {
        drop(self.w1.take());
        if let Some(live) = LIVE.with(|l| l.borrow().clone()) {
            let w3 = Gc::downgrade_with_callback(&live, |_| W3_CALLED.with(|c| c.set(true)));
            W3.with(|w| *w.borrow_mut() = Some(w3));
        }
    }
}

impl Finalize for Fin {
    fn finalize(this: &Gc<Self>) {
        // Made during the finalizer: cleared (callbacks dropped, not run) in delete_garbage.
        // The list is newest first, so w2's callback is dropped before w1 is visited, and its
        // capture owns w1's last handle.
        let w1 = Gc::downgrade_with_callback(this, |_| panic!("w1's callback ran"));
        let capture = ReleaseThenReuse { w1: Some(w1) };
        let w2 = Gc::downgrade_with_callback(this, move |_| {
            let _owned = &capture;
            panic!("w2's callback ran");
        });
        OUTER.with(|o| *o.borrow_mut() = Some(w2));
    }
}

/// Before: dropping w2's callback freed w1 mid-loop, the capture's new weak reference w3 took
/// w1's block, and the loop then took "w1's" callback out of it: w3 lost its callback, which
/// then never ran (Miri and ASan see nothing: the block stays inside a pool).
#[test]
fn delete_garbage_holds_weak_references_while_dropping_callbacks() {
    let (heap, seen) = recording_heap();
    let live = heap.alloc(Live { _n: 1 });
    LIVE.with(|l| *l.borrow_mut() = Some(live.clone()));
    let f = heap.alloc_with_finalizer(Fin {
        me: RefCell::new(None),
    });
    *f.me.borrow_mut() = Some(f.clone());
    drop(f);
    assert_eq!(heap.collect(), 1);
    let w2 = OUTER
        .with(|o| o.borrow_mut().take())
        .expect("the finalizer ran");
    assert!(w2.upgrade().is_none());
    assert!(!w2.has_callback(), "cleared without running");
    let w3 = W3
        .with(|w| w.borrow_mut().take())
        .expect("the capture's Drop ran");
    assert!(w3.has_callback(), "w3 kept its callback");
    heap.check_invariants();
    LIVE.with(|l| l.borrow_mut().take());
    W3_CALLED.with(|c| c.set(false));
    drop(live);
    assert!(
        W3_CALLED.with(Cell::get),
        "w3's callback ran when its referent died"
    );
    drop((w2, w3));
    heap.check_invariants();
    assert_no_reports(&seen);
}

// ---- 3. panicking hooks and subscribers ------------------------------------------------------

#[derive(Trace)]
struct Loud {
    me: RefCell<Option<Gc<Loud>>>,
    #[trace(skip)]
    drops: Rc<Cell<u32>>,
}

impl Finalize for Loud {
    fn finalize(_: &Gc<Self>) {
        panic!("finalizer panics");
    }
}

impl Drop for Loud {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
        panic!("Drop panics");
    }
}

fn loud_cycles(heap: &Heap, n: usize, drops: &Rc<Cell<u32>>) {
    for _ in 0..n {
        let x = heap.alloc_with_finalizer(Loud {
            me: RefCell::new(None),
            drops: drops.clone(),
        });
        *x.me.borrow_mut() = Some(x.clone());
    }
}

/// Before: the hook's panic unwound out of `collect()` with objects left in the work lists;
/// the next collection freed a reachable object (Miri: dangling reference in `unlink`).
#[test]
fn panicking_unraisable_hook_leaves_heap_consistent() {
    let heap = Heap::with_config(HeapConfig {
        enabled: false,
        ..HeapConfig::default()
    });
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    heap.set_unraisable_hook(move |_| {
        c.set(c.get() + 1);
        panic!("the hook panics too");
    });
    let drops = Rc::new(Cell::new(0));
    loud_cycles(&heap, 3, &drops);
    let keep = probe(&heap, None);
    assert_eq!(heap.collect(), 3);
    assert_eq!(drops.get(), 3, "every Drop ran despite the panics");
    // One finalizer and one Drop panic per object, each reported to the (panicking) hook.
    assert_eq!(calls.get(), 6);
    assert_eq!(heap.unraisable_count(), 6);
    heap.check_invariants();
    assert_eq!(heap.collect(), 0);
    assert!(Gc::try_get(&keep).is_some());
    heap.check_invariants();
}

thread_local! {
    static EVENTS: Cell<u32> = const { Cell::new(0) };
}

/// Panics on every event (counting it) and every span entry and exit.
const PANICKING_SUBSCRIBER: FnSubscriber = FnSubscriber {
    event: |event| {
        EVENTS.with(|e| e.set(e.get() + 1));
        panic!("subscriber panics on {}", event.metadata().target());
    },
    enter: || panic!("subscriber panics entering a span"),
    exit: || panic!("subscriber panics leaving a span"),
};

/// Before: a panicking subscriber unwound out of the middle of `collect()` (the debug events
/// and the default unraisable report are emitted mid-collection).
#[test]
fn panicking_tracing_subscriber_leaves_heap_consistent() {
    EVENTS.with(|e| e.set(0));
    crate::support::reliable_scoped_subscribers();
    tracing::subscriber::with_default(PANICKING_SUBSCRIBER, || {
        // No hook: the unraisable reports themselves go to the subscriber.
        let heap = Heap::with_config(HeapConfig {
            enabled: false,
            ..HeapConfig::default()
        });
        heap.set_debug(DebugFlags::STATS | DebugFlags::COLLECTABLE | DebugFlags::UNCOLLECTABLE);
        let drops = Rc::new(Cell::new(0));
        loud_cycles(&heap, 2, &drops);
        let keep = probe(&heap, None);
        assert_eq!(heap.collect(), 2);
        assert_eq!(drops.get(), 2);
        assert!(EVENTS.with(Cell::get) > 0, "the subscriber saw events");
        heap.check_invariants();
        assert_eq!(heap.collect(), 0);
        assert!(Gc::try_get(&keep).is_some());
        heap.check_invariants();
    });
}

// ---- 4. user code before the weak references to the garbage are cleared ---------------------

thread_local! {
    static TARGET: RefCell<Option<Weak<Probe>>> = const { RefCell::new(None) };
    static RESURRECTED: RefCell<Option<Gc<Probe>>> = const { RefCell::new(None) };
}

/// Upgrades `TARGET` on every event.
fn upgrading_event(_: &tracing::Event<'_>) {
    EVENTS.with(|e| e.set(e.get() + 1));
    let up = TARGET.with(|t| t.borrow().as_ref().and_then(Weak::upgrade));
    if up.is_some() {
        RESURRECTED.with(|r| *r.borrow_mut() = up);
    }
}

/// Before: the DEBUG_COLLECTABLE events ran the subscriber right after move_unreachable; its
/// upgrade resurrected a garbage object without a finalizer, and the collector then dropped
/// the value of an object held from outside.
#[test]
fn debug_collectable_subscriber_cannot_reach_garbage() {
    EVENTS.with(|e| e.set(0));
    let (heap, seen) = recording_heap();
    let a = probe(&heap, None);
    let b = probe(&heap, None);
    *a.other.borrow_mut() = Some(b.clone());
    *b.other.borrow_mut() = Some(a.clone());
    TARGET.with(|t| *t.borrow_mut() = Some(Gc::downgrade(&a)));
    drop((a, b));
    heap.set_debug(DebugFlags::COLLECTABLE);
    crate::support::reliable_scoped_subscribers();
    let found = tracing::subscriber::with_default(FnSubscriber::on_event(upgrading_event), || {
        heap.collect()
    });
    heap.set_debug(DebugFlags::empty());
    assert!(
        EVENTS.with(Cell::get) >= 2,
        "one collectable event per object"
    );
    assert_eq!(found, 2);
    assert!(
        RESURRECTED.with(|r| r.borrow().is_none()),
        "the subscriber got a handle to garbage"
    );
    TARGET.with(|t| *t.borrow_mut() = None);
    heap.check_invariants();
    assert_no_reports(&seen);
}

// ---- 7. a heap dropped inside another heap's collection -------------------------------------

thread_local! {
    static INNER_HEAP: RefCell<Option<Heap>> = const { RefCell::new(None) };
}

#[derive(Trace)]
struct Counted {
    me: RefCell<Option<Gc<Counted>>>,
    #[trace(skip)]
    drops: Rc<Cell<u32>>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

/// Before: the inner heap's `Drop` saw "a collection is running" (the flag was per thread)
/// and skipped its final collection: its cycle and its arenas leaked.
#[test]
fn heap_dropped_inside_another_heaps_collection_is_collected() {
    let (outer, seen) = recording_heap();
    let inner = Heap::new();
    let drops = Rc::new(Cell::new(0));
    let c = inner.alloc(Counted {
        me: RefCell::new(None),
        drops: drops.clone(),
    });
    *c.me.borrow_mut() = Some(c.clone());
    drop(c);
    INNER_HEAP.with(|h| *h.borrow_mut() = Some(inner));
    probe_cycle(&outer, |_| {
        if let Some(inner) = INNER_HEAP.with(|h| h.borrow_mut().take()) {
            drop(inner);
        }
    });
    assert_eq!(outer.collect(), 2);
    assert!(INNER_HEAP.with(|h| h.borrow().is_none()), "the Drop ran");
    assert_eq!(
        drops.get(),
        1,
        "the inner heap's final collection ran when the outer one ended"
    );
    outer.check_invariants();
    assert_no_reports(&seen);
}

// ---- 8. the unraisable hook is released with the heap --------------------------------------

/// Before: `Drop for Heap` kept the hook, and a hook holding a handle kept the heap (and the
/// object) alive forever.
#[test]
fn heap_drop_releases_the_unraisable_hook() {
    let heap = Heap::new();
    let drops = Rc::new(Cell::new(0));
    let held = heap.alloc(Counted {
        me: RefCell::new(None),
        drops: drops.clone(),
    });
    heap.set_unraisable_hook(move |_| {
        let _ = &held;
    });
    drop(heap);
    assert_eq!(drops.get(), 1, "the hook's handle was released");
}

// ---- 10. weak methods on a dead weak-reference object ---------------------------------------

thread_local! {
    static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Before: `upgrade`, `is_dead`, `has_callback` and `Debug` dereferenced the DEAD
/// weak-reference object and panicked (reported as unraisable) where `None` is promised.
#[test]
fn weak_methods_on_dead_weakref_object_in_drop() {
    let (heap, seen) = recording_heap();
    LOG.with(|l| l.borrow_mut().clear());
    let a = probe(
        &heap,
        Some(|p| {
            let w = p.weak.borrow();
            let w = w.as_ref().unwrap();
            let line = format!(
                "{} {} {} {:?}",
                w.upgrade().is_none(),
                w.is_dead(),
                w.has_callback(),
                w
            );
            LOG.with(|l| l.borrow_mut().push(line));
        }),
    );
    *a.other.borrow_mut() = Some(a.clone());
    *a.weak.borrow_mut() = Some(Gc::downgrade(&a));
    drop(a);
    // The probe and its weak-reference object (held only by the probe).
    assert_eq!(heap.collect(), 2);
    assert_eq!(
        LOG.with(|l| l.borrow().clone()),
        vec!["true true false <weakref; dead>".to_string()]
    );
    heap.check_invariants();
    assert_no_reports(&seen);
}

// ---- 12. an atom with a resurrecting finalizer -----------------------------------------------

#[derive(Trace)]
struct Atom {
    #[trace(skip)]
    n: u32,
}

thread_local! {
    static SAVED_ATOM: RefCell<Option<Gc<Atom>>> = const { RefCell::new(None) };
}

impl Finalize for Atom {
    fn finalize(this: &Gc<Self>) {
        SAVED_ATOM.with(|s| *s.borrow_mut() = Some(this.clone()));
    }
}

/// Before: the atom was put in generation 0 while its finalizer ran and stayed there after
/// resurrecting (`check_invariants`: "untracked type in list 0").
#[test]
fn atom_with_resurrecting_finalizer_stays_untracked() {
    let (heap, seen) = recording_heap();
    let x = heap.alloc_with_finalizer(Atom { n: 5 });
    assert!(!heap.is_tracked(&x));
    drop(x);
    let x = SAVED_ATOM
        .with(|s| s.borrow_mut().take())
        .expect("resurrected");
    assert_eq!(x.n, 5);
    assert!(!heap.is_tracked(&x));
    assert!(heap.is_finalized(&x));
    heap.check_invariants();
    drop(x);
    assert_eq!(heap.live_objects(), 0);
    assert_no_reports(&seen);
}

// ---- 13. a panicking Trace ------------------------------------------------------------------

thread_local! {
    static TRACE_PANICS: Cell<bool> = const { Cell::new(false) };
}

struct BadTrace {
    next: RefCell<Option<Gc<BadTrace>>>,
}

// SAFETY: reports its one owned handle, once; it panics (against item 4 of the contract) when
// the test asks it to, which is what the test is about.
#[allow(unsafe_code)]
unsafe impl Trace for BadTrace {
    fn trace(&self, visitor: &mut Visitor<'_>) {
        if TRACE_PANICS.with(Cell::get) {
            panic!("Trace panics");
        }
        if let Some(next) = &*self.next.borrow() {
            visitor.visit(next);
        }
    }
}

/// A garbage 2-cycle; returns a weak handle to break it by hand if it must be.
fn bad_cycle(heap: &Heap) -> Weak<BadTrace> {
    let a = heap.alloc(BadTrace {
        next: RefCell::new(None),
    });
    let b = heap.alloc(BadTrace {
        next: RefCell::new(Some(a.clone())),
    });
    *a.next.borrow_mut() = Some(b);
    Gc::downgrade(&a)
}

/// Before: the panic left the generation singly linked with `gc_refs` in `prev`; the next
/// collection (or `Heap::drop`'s) then panicked again or freed garbage wrongly, and a heap
/// dropped during the unwind aborted the process.
#[test]
fn panicking_trace_leaves_heap_consistent() {
    let (heap, seen) = recording_heap();
    let old: Vec<Gc<BadTrace>> = (0..2)
        .map(|_| bad_cycle(&heap).upgrade().unwrap())
        .collect();
    let live = heap.alloc(BadTrace {
        next: RefCell::new(None),
    });
    assert_eq!(heap.collect_generation(0), Ok(0)); // now in generation 1
    drop(old);
    let _ = bad_cycle(&heap);
    TRACE_PANICS.with(|t| t.set(true));
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| heap.collect()));
    TRACE_PANICS.with(|t| t.set(false));
    assert!(outcome.is_err(), "the Trace panic reaches the caller");
    heap.check_invariants();
    assert_eq!(heap.collect(), 6, "the three cycles are still found");
    assert!(Gc::try_get(&live).is_some());
    heap.check_invariants();
    // A heap dropped while its Trace panics: the panic propagates once, nothing aborts, and
    // the objects stay valid (their cycle leaks until broken by hand).
    let leaked = bad_cycle(&heap);
    TRACE_PANICS.with(|t| t.set(true));
    let outcome = panic::catch_unwind(AssertUnwindSafe(move || drop(heap)));
    TRACE_PANICS.with(|t| t.set(false));
    assert!(outcome.is_err());
    assert_no_reports(&seen);
    let a = leaked.upgrade().expect("the cycle outlived its heap");
    a.next.borrow_mut().take();
    drop((a, leaked, live));
}

/// The heap walk behind `Heap::snapshot` borrows the `prev` words for node numbers, as the
/// collector does for `gc_refs`: a `Trace` panicking mid-walk must leave every list doubly
/// linked (checked by `check_invariants`), and the next snapshot and collection work.
#[test]
fn panicking_trace_during_a_snapshot_leaves_lists_linked() {
    let (heap, seen) = recording_heap();
    let live = heap.alloc(BadTrace {
        next: RefCell::new(None),
    });
    let _ = bad_cycle(&heap);
    heap.freeze();
    let _ = bad_cycle(&heap);
    TRACE_PANICS.with(|t| t.set(true));
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| heap.snapshot()));
    TRACE_PANICS.with(|t| t.set(false));
    assert!(outcome.is_err(), "the Trace panic reaches the caller");
    heap.check_invariants();
    let snap = heap.snapshot();
    assert_eq!(snap.len(), 5);
    assert_eq!(snap.roots().count(), 1);
    heap.unfreeze();
    assert_eq!(heap.collect(), 4);
    heap.check_invariants();
    assert_no_reports(&seen);
    drop(live);
}

// ---- 11. a subscriber that allocates in the heap during an arena event ----------------------

thread_local! {
    static ALLOC_HEAP: RefCell<Option<Rc<Heap>>> = const { RefCell::new(None) };
    static ALLOCATED: RefCell<Vec<Gc<u64>>> = const { RefCell::new(Vec::new()) };
}

/// Allocates in `ALLOC_HEAP` on every `pygc::alloc` event.
fn allocating_event(event: &tracing::Event<'_>) {
    if event.metadata().target() == "pygc::alloc" {
        EVENTS.with(|e| e.set(e.get() + 1));
        let heap = ALLOC_HEAP.with(|h| h.borrow().clone());
        if let Some(heap) = heap {
            let x = heap.alloc(7u64);
            ALLOCATED.with(|a| a.borrow_mut().push(x));
        }
    }
}

/// Before: the heap emitted arena events while its pools were mutably borrowed, so a
/// subscriber allocating in the same heap panicked ("already mutably borrowed").
#[test]
fn subscriber_allocating_during_an_arena_event() {
    EVENTS.with(|e| e.set(0));
    let (heap, seen) = recording_heap();
    let heap = Rc::new(heap);
    ALLOC_HEAP.with(|h| *h.borrow_mut() = Some(heap.clone()));
    crate::support::reliable_scoped_subscribers();
    let objects: Vec<Gc<Probe>> =
        tracing::subscriber::with_default(FnSubscriber::on_event(allocating_event), || {
            // Enough for a few arenas (Miri's geometry is 16 KiB arenas).
            let n = if cfg!(miri) { 1_000 } else { 20_000 };
            let objects = (0..n).map(|_| probe(&heap, None)).collect();
            ALLOC_HEAP.with(|h| *h.borrow_mut() = None);
            objects
        });
    assert!(EVENTS.with(Cell::get) >= 2, "arenas were acquired");
    assert_eq!(
        ALLOCATED.with(|a| a.borrow().len()) as u32,
        EVENTS.with(Cell::get),
        "every event allocated"
    );
    heap.check_invariants();
    drop(objects);
    ALLOCATED.with(|a| a.borrow_mut().clear());
    assert_eq!(heap.live_objects(), 0);
    assert_no_reports(&seen);
}

// ---- user code in the captures of callbacks that never run ----------------------------------

struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("a callback's capture panics on drop");
    }
}

#[derive(Trace)]
struct FinCaptures {
    me: RefCell<Option<Gc<FinCaptures>>>,
}

thread_local! {
    static KEEP_CAPTURING: RefCell<Vec<Weak<FinCaptures>>> = const { RefCell::new(Vec::new()) };
}

impl Finalize for FinCaptures {
    fn finalize(this: &Gc<Self>) {
        // Made during the finalizer: their callbacks are dropped unrun in delete_garbage.
        for _ in 0..2 {
            let capture = PanicOnDrop;
            let w = Gc::downgrade_with_callback(this, move |_| {
                let _owned = &capture;
            });
            KEEP_CAPTURING.with(|k| k.borrow_mut().push(w));
        }
    }
}

/// Before: the first capture's panic unwound out of `collect()` mid-`delete_garbage`; with
/// both dropped in one batch the second panic would abort. Each is reported on its own now.
#[test]
fn panicking_captures_of_dropped_callbacks_are_reported() {
    let (heap, seen) = recording_heap();
    let x = heap.alloc_with_finalizer(FinCaptures {
        me: RefCell::new(None),
    });
    *x.me.borrow_mut() = Some(x.clone());
    drop(x);
    assert_eq!(heap.collect(), 1);
    assert_eq!(
        seen.borrow().len(),
        2,
        "one report per capture: {:?}",
        seen.borrow()
    );
    assert!(
        seen.borrow()
            .iter()
            .all(|u| u.message.contains("capture panics"))
    );
    KEEP_CAPTURING.with(|k| {
        assert_eq!(k.borrow().len(), 2);
        assert!(
            k.borrow()
                .iter()
                .all(|w| w.upgrade().is_none() && !w.has_callback())
        );
        k.borrow_mut().clear();
    });
    heap.check_invariants();
}
