//! Failure injection: panics in user code run by the collector, a panicking `Drop` during
//! refcount teardown, and bad input at the public entry points. Every test counts drops (no
//! double free, nothing live freed) and ends with `Heap::check_invariants` and a round of
//! normal use.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use pygc::{CallbackPhase, Finalize, Gc, GcError, Heap, HeapConfig, Trace, Unraisable, Weak};

use crate::support::TestHeap;

#[derive(Trace)]
struct PNode {
    edges: RefCell<Vec<Gc<PNode>>>,
    #[trace(skip)]
    drops: Rc<Cell<u32>>,
    #[trace(skip)]
    panic_in_drop: bool,
    #[trace(skip)]
    panic_in_finalize: bool,
    #[trace(skip)]
    on_finalize: RefCell<Option<Box<dyn Fn()>>>,
}

impl Drop for PNode {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
        if self.panic_in_drop {
            panic!("injected panic in Drop");
        }
    }
}

impl Finalize for PNode {
    fn finalize(this: &Gc<Self>) {
        if let Some(f) = &*this.on_finalize.borrow() {
            f();
        }
        if this.panic_in_finalize {
            panic!("injected panic in finalizer");
        }
    }
}

fn pnode(heap: &Heap, drops: &Rc<Cell<u32>>, panic_in_drop: bool) -> Gc<PNode> {
    heap.alloc_unfinalized(PNode {
        edges: RefCell::new(Vec::new()),
        drops: drops.clone(),
        panic_in_drop,
        panic_in_finalize: false,
        on_finalize: RefCell::new(None),
    })
}

fn link(a: &Gc<PNode>, b: &Gc<PNode>) {
    a.edges.borrow_mut().push(b.clone());
}

/// A heap with automatic collection off and an unraisable hook that records each report.
fn heap_with_hook() -> (TestHeap, Rc<RefCell<Vec<Unraisable>>>) {
    let heap = TestHeap::with_config(HeapConfig {
        thresholds: [700, 10, 10],
        enabled: false,
        ..HeapConfig::default()
    });
    let reports = Rc::new(RefCell::new(Vec::new()));
    let r = reports.clone();
    heap.set_unraisable_hook(move |u| r.borrow_mut().push(u.clone()));
    (heap, reports)
}

/// The heap still works: a fresh cycle is found, freed once, and the invariants hold.
fn still_usable(heap: &Heap) {
    let before = heap.live_objects();
    let drops = Rc::new(Cell::new(0));
    let a = pnode(heap, &drops, false);
    let b = pnode(heap, &drops, false);
    link(&a, &b);
    link(&b, &a);
    drop((a, b));
    assert_eq!(heap.collect(), 2);
    assert_eq!(drops.get(), 2);
    assert_eq!(heap.live_objects(), before);
    heap.check_invariants();
    assert_eq!(heap.trashcan_len(), 0);
}

// ---- panics in user code during a collection -----------------------------------------------

#[test]
fn panic_in_drop_during_collection_is_unraisable() {
    let (heap, reports) = heap_with_hook();
    heap.expect_unraisable(2);
    let drops = Rc::new(Cell::new(0));
    let keep_drops = Rc::new(Cell::new(0));
    let keep = pnode(&heap, &keep_drops, false);
    let a = pnode(&heap, &drops, true);
    let b = pnode(&heap, &drops, false);
    let c = pnode(&heap, &drops, true);
    link(&a, &b);
    link(&b, &c);
    link(&c, &a);
    link(&c, &keep); // garbage pointing at a live object
    drop((a, b, c));
    assert_eq!(heap.collect(), 3);
    assert_eq!(drops.get(), 3, "every garbage value dropped exactly once");
    assert_eq!(keep_drops.get(), 0, "a live object was dropped");
    assert_eq!(Gc::ref_count(&keep), 1);
    assert_eq!(heap.unraisable_count(), 2);
    assert_eq!(reports.borrow().len(), 2);
    assert!(
        reports
            .borrow()
            .iter()
            .all(|r| r.message.contains("injected panic in Drop"))
    );
    assert_eq!(heap.live_objects(), 1);
    heap.check_invariants();
    still_usable(&heap);
}

#[test]
fn panic_in_finalizer_during_collection_is_unraisable() {
    let (heap, reports) = heap_with_hook();
    heap.expect_unraisable(1);
    let drops = Rc::new(Cell::new(0));
    let a = heap.alloc_with_finalizer(PNode {
        edges: RefCell::new(Vec::new()),
        drops: drops.clone(),
        panic_in_drop: false,
        panic_in_finalize: true,
        on_finalize: RefCell::new(None),
    });
    let b = pnode(&heap, &drops, false);
    link(&a, &b);
    link(&b, &a);
    drop((a, b));
    assert_eq!(
        heap.collect(),
        2,
        "a panicking finalizer does not resurrect"
    );
    assert_eq!(drops.get(), 2);
    assert_eq!(heap.unraisable_count(), 1);
    assert!(reports.borrow()[0].context.contains("finalizer"));
    assert_eq!(reports.borrow()[0].message, "injected panic in finalizer");
    heap.check_invariants();
    still_usable(&heap);
}

#[test]
fn panic_in_weak_callback_during_collection_is_unraisable() {
    let (heap, reports) = heap_with_hook();
    heap.expect_unraisable(1);
    let drops = Rc::new(Cell::new(0));
    let a = pnode(&heap, &drops, false);
    link(&a, &a);
    let ran = Rc::new(Cell::new(0));
    let r = ran.clone();
    let w = Gc::downgrade_with_callback(&a, move |_: Weak<PNode>| {
        r.set(r.get() + 1);
        panic!("injected panic in weak callback");
    });
    drop(a);
    assert_eq!(heap.collect(), 1);
    assert_eq!(ran.get(), 1);
    assert_eq!(drops.get(), 1);
    assert!(w.upgrade().is_none());
    assert_eq!(heap.unraisable_count(), 1);
    assert!(
        reports.borrow()[0]
            .message
            .contains("injected panic in weak callback")
    );
    heap.check_invariants();
    drop(w);
    still_usable(&heap);
}

#[test]
fn panic_in_gc_callback_is_unraisable() {
    let (heap, reports) = heap_with_hook();
    heap.expect_unraisable(2);
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let id = heap.add_callback(move |phase, info| {
        c.set(c.get() + 1);
        if phase == CallbackPhase::Stop {
            assert_eq!(info.collected, 1);
        }
        panic!("injected panic in gc callback");
    });
    let drops = Rc::new(Cell::new(0));
    let a = pnode(&heap, &drops, false);
    link(&a, &a);
    drop(a);
    assert_eq!(
        heap.collect(),
        1,
        "the collection completes around panicking callbacks"
    );
    assert_eq!(calls.get(), 2);
    assert_eq!(drops.get(), 1);
    assert_eq!(heap.unraisable_count(), 2);
    assert!(reports.borrow().iter().all(|r| r.context == "gc callback"));
    // The `assert_eq!(info.collected, 1)` in the callback held: its failure would be
    // reported in place of the injected panic.
    assert!(
        reports
            .borrow()
            .iter()
            .all(|r| r.message == "injected panic in gc callback"),
        "{:?}",
        reports.borrow()
    );
    heap.check_invariants();
    assert!(heap.remove_callback(id));
    still_usable(&heap);
}

// ---- a panicking Drop during refcount teardown ----------------------------------------------

#[test]
fn panic_in_drop_during_teardown_propagates_after_the_teardown_finishes() {
    let (heap, _) = heap_with_hook();
    let drops = Rc::new(Cell::new(0));
    let a = pnode(&heap, &drops, true);
    let b = pnode(&heap, &drops, false);
    let c = pnode(&heap, &drops, false);
    link(&a, &b);
    link(&b, &c);
    drop((b, c));
    let result = panic::catch_unwind(AssertUnwindSafe(|| drop(a)));
    let payload = result.expect_err("the Drop panic reaches whoever dropped the last handle");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"injected panic in Drop"),
        "it is the injected panic"
    );
    assert_eq!(
        heap.unraisable_count(),
        0,
        "not a collection: nothing is unraisable"
    );
    // `a` was dropped and freed; dropping its fields while unwinding released `b`, whose
    // death was queued in the trashcan. The teardown finished the queue (`b`, then `c`)
    // before the panic went on: no death is left waiting (an orphaned heap would never get
    // to it; it used to wait for the next teardown or collection).
    assert_eq!(drops.get(), 3);
    assert_eq!(heap.trashcan_len(), 0);
    assert_eq!(heap.live_objects(), 0);
    heap.check_invariants();
    assert_eq!(heap.collect(), 0);
    still_usable(&heap);
}

// ---- bad input at the public entries --------------------------------------------------------

#[test]
fn invalid_generations_are_errors() {
    let heap = TestHeap::new();
    assert_eq!(heap.collect_generation(3), Err(GcError::InvalidGeneration));
    assert_eq!(
        heap.collect_generation(usize::MAX),
        Err(GcError::InvalidGeneration)
    );
    assert_eq!(
        heap.objects(Some(3)).err(),
        Some(GcError::GenerationTooLarge)
    );
    assert_eq!(
        heap.objects(Some(usize::MAX)).err(),
        Some(GcError::GenerationTooLarge)
    );
    assert_eq!(heap.stats().iter().map(|s| s.collections).sum::<usize>(), 0);
    for g in 0..3 {
        assert_eq!(heap.collect_generation(g), Ok(0));
        assert!(heap.objects(Some(g)).is_ok());
    }
    heap.check_invariants();
}

#[test]
fn zero_thresholds_mean_no_automatic_collection() {
    let heap = TestHeap::new();
    heap.set_threshold(0, 0, 0);
    let drops = Rc::new(Cell::new(0));
    // Miri: fewer objects (still more than the default threshold 700), same checks.
    let n = if cfg!(miri) { 800 } else { 2000 };
    for _ in 0..n {
        let a = pnode(&heap, &drops, false);
        link(&a, &a);
    }
    assert_eq!(heap.stats().iter().map(|s| s.collections).sum::<usize>(), 0);
    assert_eq!(drops.get(), 0);
    assert_eq!(heap.count()[0], n);
    heap.check_invariants();
    assert_eq!(heap.collect(), n);
    assert_eq!(drops.get() as usize, n);
    // Only t0 = 0 disables; t1 = t2 = 0 with t0 > 0 still collects.
    heap.set_threshold(5, 0, 0);
    for _ in 0..20 {
        let a = pnode(&heap, &drops, false);
        link(&a, &a);
    }
    assert!(heap.stats().iter().map(|s| s.collections).sum::<usize>() > 1);
    heap.check_invariants();
}

#[test]
fn collect_inside_gc_callback_returns_zero() {
    let heap = Rc::new(TestHeap::new());
    let nested = Rc::new(RefCell::new(Vec::new()));
    let (h, n) = (Rc::downgrade(&heap), nested.clone());
    heap.add_callback(move |_, _| {
        if let Some(h) = h.upgrade() {
            n.borrow_mut().push((h.collect(), h.collect_generation(0)));
        }
    });
    let drops = Rc::new(Cell::new(0));
    let a = pnode(&heap, &drops, false);
    link(&a, &a);
    drop(a);
    assert_eq!(heap.collect(), 1);
    assert_eq!(*nested.borrow(), vec![(0, Ok(0)), (0, Ok(0))]);
    assert_eq!(drops.get(), 1);
    heap.check_invariants();
}

#[test]
fn collect_inside_finalizer_and_weak_callback_returns_zero() {
    let heap = Rc::new(TestHeap::new());
    heap.disable();
    let nested = Rc::new(RefCell::new(Vec::new()));
    let drops = Rc::new(Cell::new(0));
    let (h, n) = (Rc::downgrade(&heap), nested.clone());
    let a = heap.alloc_with_finalizer(PNode {
        edges: RefCell::new(Vec::new()),
        drops: drops.clone(),
        panic_in_drop: false,
        panic_in_finalize: false,
        on_finalize: RefCell::new(Some(Box::new(move || {
            n.borrow_mut()
                .push(("finalizer", h.upgrade().map(|h| h.collect())));
        }))),
    });
    link(&a, &a);
    let live = pnode(&heap, &drops, false);
    let (h, n) = (Rc::downgrade(&heap), nested.clone());
    // A live weak reference to garbage: its callback runs during the collection.
    let w = Gc::downgrade_with_callback(&a, move |_: Weak<PNode>| {
        n.borrow_mut()
            .push(("weak callback", h.upgrade().map(|h| h.collect())));
    });
    drop(a);
    assert_eq!(heap.collect(), 1);
    assert_eq!(
        *nested.borrow(),
        vec![("weak callback", Some(0)), ("finalizer", Some(0))]
    );
    assert_eq!(drops.get(), 1);
    assert!(Gc::try_get(&live).is_some());
    heap.check_invariants();
    drop((w, live));
    assert_eq!(drops.get(), 2);
}

#[test]
fn handles_of_one_heap_inside_another_heap_are_safe() {
    let h1 = TestHeap::new();
    let h2 = TestHeap::new();
    let drops = Rc::new(Cell::new(0));
    let a = pnode(&h1, &drops, false);
    let b = pnode(&h2, &drops, false);
    link(&a, &b);
    link(&b, &a);
    let wa = Gc::downgrade(&a);
    drop((a, b));
    // A cycle across heaps: each collector sees the other heap's object as external.
    assert_eq!(h1.collect(), 0);
    assert_eq!(h2.collect(), 0);
    assert_eq!(drops.get(), 0);
    // Introspection with a foreign handle answers without crashing.
    let a = wa.upgrade().expect("cross-heap cycle is alive");
    assert!(h1.is_tracked(&a) && h2.is_tracked(&a));
    assert!(
        h2.referrers(&[Gc::to_any(&a)]).len() == 1,
        "h2's object refers to a"
    );
    assert_eq!(
        h2.weakrefs_of(&a).len(),
        0,
        "h2's weak-list table knows nothing of h1's objects"
    );
    assert_eq!(h1.referents(&a).len(), 1);
    h1.check_invariants();
    h2.check_invariants();
    // Breaking the cycle by hand frees both, each into its own heap.
    let b = a.edges.borrow_mut().pop().expect("edge to b");
    b.edges.borrow_mut().clear();
    drop((a, b));
    assert_eq!(drops.get(), 2);
    assert_eq!((h1.live_objects(), h2.live_objects()), (1, 0)); // h1 still holds wa's object
    drop(wa);
    assert_eq!(h1.live_objects(), 0);
    h1.check_invariants();
    h2.check_invariants();
}

#[test]
fn dropping_the_heap_while_handles_live() {
    let drops = Rc::new(Cell::new(0));
    let heap = TestHeap::new();
    let a = pnode(&heap, &drops, false);
    let b = pnode(&heap, &drops, false);
    link(&a, &b);
    let garbage = pnode(&heap, &drops, false);
    link(&garbage, &garbage);
    drop(garbage);
    let w = Gc::downgrade(&b);
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let wc = Gc::downgrade_with_callback(&a, move |_: Weak<PNode>| r.set(true));
    drop(heap); // shutdown collection frees the garbage cycle, not what handles hold
    assert_eq!(drops.get(), 1);
    assert_eq!(Gc::ref_count(&b), 2);
    assert!(w.upgrade().is_some());
    let b2 = a.edges.borrow()[0].clone();
    assert!(Gc::ptr_eq(&b, &b2));
    drop((b, b2));
    assert_eq!(drops.get(), 1, "b is still held by a");
    drop(a); // refcount death still works on an orphaned heap, callbacks included
    assert!(ran.get());
    assert_eq!(drops.get(), 3);
    assert!(w.upgrade().is_none());
    drop((w, wc)); // the last objects: the heap state is freed here
}
