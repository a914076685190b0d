//! Regression tests for bugs found by the conformance work, each named after what went wrong.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use pygc::{Gc, Heap, Trace, Weak};

#[derive(Trace)]
enum Item {
    Strong(Gc<Node>),
    Weak(Weak<Node>),
}

#[derive(Trace)]
struct Node {
    items: RefCell<Vec<Item>>,
}

fn node(heap: &Heap) -> Gc<Node> {
    heap.alloc(Node {
        items: RefCell::new(Vec::new()),
    })
}

/// Found by the differential test (seed 25690): `a` holds a callback weak reference `w` to
/// `b`, then a strong reference to `b`. When `a` dies, `w` and `b` both die inside `a`'s
/// teardown and wait in the trashcan; `b`'s death found `w` (count zero) still in its weak
/// list, took a new handle to it to run its callback, and released it a second time: a
/// double free. CPython skips callbacks of weak references whose count is zero.
#[test]
fn weakref_dying_in_trashcan_was_released_twice() {
    let heap = Heap::new();
    heap.disable();
    let calls = Rc::new(Cell::new(0));
    let b = node(&heap);
    let a = node(&heap);
    let c = calls.clone();
    let w = Gc::downgrade_with_callback(&b, move |_| c.set(c.get() + 1));
    a.items.borrow_mut().push(Item::Weak(w));
    a.items.borrow_mut().push(Item::Strong(b.clone()));
    drop(b);
    drop(a);
    assert_eq!(
        calls.get(),
        0,
        "the weak reference died before its referent: no callback"
    );
    assert_eq!(heap.live_objects(), 0);
    assert_eq!(heap.count(), [0, 0, 0]);
}
