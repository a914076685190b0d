use std::cell::{Cell, RefCell};
use std::rc::Rc;

use pygc::{DebugFlags, Finalize, Gc, Heap, LegacyFinalize, Trace, Weak};

use crate::support::TestHeap;

#[derive(Trace)]
struct Node {
    edges: RefCell<Vec<Gc<Node>>>,
}

fn node(heap: &Heap) -> Gc<Node> {
    heap.alloc(Node {
        edges: RefCell::new(Vec::new()),
    })
}

#[test]
fn self_loop_is_collected() {
    let heap = TestHeap::new();
    heap.disable();
    let a = node(&heap);
    a.edges.borrow_mut().push(a.clone());
    assert_eq!(Gc::ref_count(&a), 2);
    drop(a);
    assert_eq!(heap.live_objects(), 1);
    assert_eq!(heap.collect(), 1);
    assert_eq!(heap.live_objects(), 0);
    assert_eq!(heap.collect(), 0);
}

#[test]
fn ring_and_live_graph() {
    let heap = TestHeap::new();
    heap.disable();
    let n = if cfg!(miri) { 50 } else { 1000 };
    let nodes: Vec<_> = (0..n).map(|_| node(&heap)).collect();
    for i in 0..n {
        nodes[i].edges.borrow_mut().push(nodes[(i + 1) % n].clone());
    }
    let keep = nodes[0].clone();
    drop(nodes);
    assert_eq!(heap.collect(), 0);
    drop(keep);
    assert_eq!(heap.collect(), n);
    assert_eq!(heap.live_objects(), 0);
}

#[test]
fn weak_callbacks_order_and_gc() {
    let heap = TestHeap::new();
    let log = Rc::new(RefCell::new(Vec::new()));
    let a = node(&heap);
    let mut ws = Vec::new();
    for i in 0..3 {
        let log = log.clone();
        ws.push(Gc::downgrade_with_callback(&a, move |w: Weak<Node>| {
            assert!(w.upgrade().is_none());
            log.borrow_mut().push(i)
        }));
    }
    drop(a);
    assert_eq!(*log.borrow(), vec![2, 1, 0]);
    // under gc
    let b = node(&heap);
    b.edges.borrow_mut().push(b.clone());
    let l2 = log.clone();
    let w = Gc::downgrade_with_callback(&b, move |_| l2.borrow_mut().push(9));
    drop(b);
    assert_eq!(heap.collect(), 1);
    assert_eq!(log.borrow().last(), Some(&9));
    assert!(w.upgrade().is_none());
}

thread_local!(static FIN: Cell<u32> = const { Cell::new(0) });
thread_local!(static LAZARUS: RefCell<Vec<Gc<Fin>>> = const { RefCell::new(Vec::new()) });

#[derive(Trace)]
struct Fin {
    edges: RefCell<Vec<Gc<Fin>>>,
    #[trace(skip)]
    resurrect: bool,
}
impl Finalize for Fin {
    fn finalize(this: &Gc<Self>) {
        FIN.with(|f| f.set(f.get() + 1));
        if this.resurrect {
            LAZARUS.with(|l| l.borrow_mut().push(this.clone()));
        }
    }
}

#[test]
fn finalizers_and_resurrection() {
    let heap = TestHeap::new();
    heap.disable();
    let a = heap.alloc_with_finalizer(Fin {
        edges: RefCell::new(vec![]),
        resurrect: false,
    });
    let b = heap.alloc_with_finalizer(Fin {
        edges: RefCell::new(vec![]),
        resurrect: false,
    });
    a.edges.borrow_mut().push(b.clone());
    b.edges.borrow_mut().push(a.clone());
    drop((a, b));
    assert_eq!(heap.collect(), 2);
    assert_eq!(FIN.with(Cell::get), 2);

    let l = heap.alloc_with_finalizer(Fin {
        edges: RefCell::new(vec![]),
        resurrect: true,
    });
    l.edges.borrow_mut().push(l.clone());
    assert!(!heap.is_finalized(&l));
    drop(l);
    assert_eq!(heap.collect(), 0);
    assert_eq!(FIN.with(Cell::get), 3);
    let back = LAZARUS.with(|l| l.borrow_mut().pop().unwrap());
    assert!(heap.is_finalized(&back));
    drop(back);
    assert_eq!(heap.collect(), 1);
    assert_eq!(FIN.with(Cell::get), 3);
}

#[derive(Trace)]
struct Legacy {
    edges: RefCell<Vec<Gc<Legacy>>>,
}
impl LegacyFinalize for Legacy {
    fn legacy_finalize(_: &Gc<Self>) {}
}

#[test]
fn legacy_and_saveall() {
    let heap = TestHeap::new();
    heap.disable();
    let l = heap.alloc_with_legacy_finalizer(Legacy {
        edges: RefCell::new(vec![]),
    });
    l.edges.borrow_mut().push(l.clone());
    let p = node(&heap);
    p.edges.borrow_mut().push(p.clone());
    drop((l, p));
    assert_eq!(heap.collect(), 2);
    assert_eq!(heap.garbage().len(), 1);
    assert_eq!(heap.stats()[2].uncollectable, 1);
    // Uncollectable means exactly that: break the cycle by hand to free it.
    for obj in heap.take_garbage() {
        obj.downcast::<Legacy>().unwrap().edges.borrow_mut().clear();
    }
    assert_eq!(heap.live_objects(), 0);

    let heap = TestHeap::new();
    heap.set_debug(DebugFlags::SAVEALL);
    let p = node(&heap);
    p.edges.borrow_mut().push(p.clone());
    drop(p);
    assert_eq!(heap.collect(), 1);
    let g = heap.garbage();
    assert_eq!(g.len(), 1);
    assert!(heap.is_tracked(&g[0]));
}

#[derive(Trace)]
struct Chain(Option<Gc<Chain>>);

#[test]
fn deep_chain_small_stack() {
    let n = if cfg!(miri) { 1000 } else { 1_000_000 };
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let heap = TestHeap::new();
            let mut head = heap.alloc(Chain(None));
            for _ in 0..n {
                head = heap.alloc(Chain(Some(head)));
            }
            assert_eq!(heap.live_objects(), n + 1);
            drop(head);
            assert_eq!(heap.live_objects(), 0);
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn heap_dropped_before_handles() {
    let heap = TestHeap::new();
    let a = node(&heap);
    let w = Gc::downgrade(&a);
    drop(heap);
    assert_eq!(a.edges.borrow().len(), 0);
    assert!(w.upgrade().is_some());
    drop(a);
    assert!(w.upgrade().is_none());
}
