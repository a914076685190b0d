//! The handle API of issue 11: `Gc::heap` and the conveniences users of rust-cc, dumpster,
//! bacon-rajan-cc and gc expect.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use pygc::{Finalize, Gc, Heap, Trace};

use crate::support::TestHeap;

#[derive(Trace)]
struct Node {
    next: RefCell<Option<Gc<Node>>>,
}

thread_local! {
    static MADE: Cell<usize> = const { Cell::new(0) };
}

#[derive(Trace)]
struct Spawner {
    me: RefCell<Option<Gc<Spawner>>>,
}
impl Finalize for Spawner {
    fn finalize(this: &Gc<Self>) {
        // A finalizer reaches its heap and allocates there, mid-collection.
        let heap = Gc::heap(this);
        let n = heap.alloc(Node {
            next: RefCell::new(None),
        });
        drop(n);
        MADE.with(|m| m.set(m.get() + 1));
    }
}

#[test]
fn finalizer_reaches_its_heap() {
    let heap = TestHeap::new();
    let s = heap.alloc(Spawner {
        me: RefCell::new(None),
    });
    *s.me.borrow_mut() = Some(s.clone());
    assert!(Gc::heap(&s).ptr_eq(&heap));
    drop(s);
    heap.collect();
    assert_eq!(MADE.with(Cell::get), 1);
    assert_eq!(heap.live_objects(), 0);
}

#[test]
fn heap_ref_outlives_the_heap_handle() {
    let heap = Heap::new();
    let keep = heap.alloc(Node {
        next: RefCell::new(None),
    });
    drop(heap); // the state lives on with `keep`
    {
        let h = Gc::heap(&keep);
        let other = h.alloc(Node {
            next: RefCell::new(Some(keep.clone())),
        });
        *keep.next.borrow_mut() = Some(other.clone());
        drop(other);
        assert_eq!(h.live_objects(), 2);
        assert_eq!(h.collect(), 0, "both reachable from `keep`");
    }
    *keep.next.borrow_mut() = None; // breaks the cycle: `other` dies by refcount
    assert_eq!(Gc::heap(&keep).live_objects(), 1);
    drop(keep); // the last object frees the state
}

#[test]
fn heap_of_objects_in_two_heaps() {
    let (a, b) = (TestHeap::new(), TestHeap::new());
    let x = a.alloc(1u32);
    let y = b.alloc(2u32);
    assert!(Gc::heap(&x).ptr_eq(&a));
    assert!(Gc::heap(&y).ptr_eq(&b));
    assert!(!Gc::heap(&x).ptr_eq(&Gc::heap(&y)));
}
