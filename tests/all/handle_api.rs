//! The handle API of issue 11: `Gc::heap` and the conveniences users of rust-cc, dumpster,
//! bacon-rajan-cc and gc expect.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use pygc::{Finalize, Gc, Heap, Trace};

use crate::support::TestHeap;

#[derive(Trace, Debug)]
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

#[derive(Trace)]
struct Me {
    this: pygc::Weak<Me>,
    other: pygc::Slot<Me>,
}

#[test]
fn alloc_cyclic_gives_the_shared_weak_reference() {
    let heap = TestHeap::new();
    let me = heap.alloc_cyclic(|this: &pygc::Weak<Me>| {
        assert!(this.upgrade().is_none());
        Me {
            this: this.clone(),
            other: pygc::Slot::empty(),
        }
    });
    assert!(Gc::ptr_eq(&me.this.upgrade().unwrap(), &me));
    assert!(pygc::Weak::ptr_eq(&me.this, &Gc::downgrade(&me)));
    assert_eq!(Gc::weak_count(&me), 1);
    me.other.set(Some(me.clone()));
    drop(me);
    assert_eq!(
        heap.collect(),
        2,
        "the object and its weak-reference object"
    );
    assert_eq!(heap.live_objects(), 0);
}

#[test]
fn alloc_cyclic_build_panics_cleanly() {
    let heap = TestHeap::new();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        heap.alloc_cyclic(|_: &pygc::Weak<Me>| -> Me { panic!("build failed") })
    }));
    assert!(r.is_err());
    assert_eq!(heap.live_objects(), 0);
}

#[test]
fn try_unwrap_and_get_mut() {
    let heap = TestHeap::new();
    let n = heap.alloc(Node {
        next: RefCell::new(None),
    });
    let n2 = n.clone();
    let n = Gc::try_unwrap(n).unwrap_err();
    drop(n2);
    let w = Gc::downgrade(&n);
    let n = Gc::try_unwrap(n).unwrap_err(); // a weak reference names it
    drop(w);
    let node = Gc::try_unwrap(n).ok().unwrap();
    assert!(node.next.borrow().is_none());
    assert_eq!(heap.live_objects(), 0);
    assert_eq!(
        heap.count()[0],
        0,
        "the tracked object's count was taken back"
    );

    // get_mut: unique untracked atoms only.
    let mut s = heap.alloc(String::from("a"));
    Gc::get_mut(&mut s).unwrap().push('b');
    assert_eq!(*s, "ab");
    let mut t = heap.alloc(Node {
        next: RefCell::new(None),
    });
    assert!(Gc::get_mut(&mut t).is_none(), "tracked");
    let w = Gc::downgrade(&s);
    assert!(Gc::get_mut(&mut s).is_none(), "weakly referenced");
    drop(w);
}

#[test]
fn weak_new_and_strong_count() {
    let heap = TestHeap::new();
    let d: pygc::Weak<Node> = pygc::Weak::new();
    assert!(d.upgrade().is_none());
    assert_eq!(d.strong_count(), 0);
    assert!(pygc::Weak::ptr_eq(&d, &pygc::Weak::default()));
    // A dangling Weak inside an object traces as nothing.
    let holder = heap.alloc(RefCell::new(vec![d.clone()]));
    heap.collect();
    assert!(heap.referents(&holder).is_empty());
    let x = heap.alloc(Node {
        next: RefCell::new(None),
    });
    let w = Gc::downgrade(&x);
    let y = x.clone();
    assert_eq!(w.strong_count(), 2);
    drop((x, y));
    assert_eq!(w.strong_count(), 0);
}

#[test]
fn by_address_and_as_ptr() {
    use std::collections::{BTreeSet, HashSet};
    let heap = TestHeap::new();
    let a = heap.alloc(1u32);
    let b = heap.alloc(1u32);
    assert_eq!(a, b, "Gc's PartialEq compares values");
    let h: HashSet<_> = [&a, &b, &a]
        .into_iter()
        .map(|g| pygc::ByAddress(g.clone()))
        .collect();
    assert_eq!(h.len(), 2);
    let o: BTreeSet<_> = h.into_iter().collect();
    assert_eq!(o.len(), 2);
    assert_eq!(Gc::as_ptr(&a), &*a as *const u32);
    let any = pygc::ByAddress(Gc::to_any(&a));
    assert_eq!(any, pygc::ByAddress(Gc::to_any(&a)));
}

#[test]
fn weak_key_map_follows_key_lifetime() {
    let heap = TestHeap::new();
    let map: pygc::WeakKeyMap<Node, String> = pygc::WeakKeyMap::new();
    let k1 = heap.alloc(Node {
        next: RefCell::new(None),
    });
    let k2 = heap.alloc(Node {
        next: RefCell::new(None),
    });
    assert_eq!(map.insert(&k1, "one".into()), None);
    assert_eq!(map.insert(&k1, "uno".into()), Some("one".into()));
    map.insert(&k2, "two".into());
    assert_eq!(map.len(), 2);
    assert_eq!(map.get(&k1).as_deref(), Some("uno"));
    drop(k1);
    assert_eq!(map.len(), 1);
    // A key in a garbage cycle vanishes when the collector frees it.
    *k2.next.borrow_mut() = Some(k2.clone());
    assert!(map.contains_key(&k2));
    drop(k2);
    assert_eq!(map.len(), 1);
    heap.collect();
    assert!(map.is_empty());
}

#[test]
fn maps_inside_objects_are_traced() {
    // A WeakValueMap / WeakKeyMap stored in an object reports its weak-reference objects
    // (and a WeakKeyMap its values), so a cycle through a map value is collectable.
    #[derive(Trace)]
    struct Table {
        by_key: pygc::WeakKeyMap<Node, Gc<Table>>,
        by_name: pygc::WeakValueMap<String, Node>,
    }
    let heap = TestHeap::new();
    let t = heap.alloc(Table {
        by_key: pygc::WeakKeyMap::new(),
        by_name: pygc::WeakValueMap::new(),
    });
    let k = heap.alloc(Node {
        next: RefCell::new(None),
    });
    t.by_key.insert(&k, t.clone()); // t -> (weakref to k, t): a cycle through the value
    t.by_name.insert("k".into(), &k);
    assert_eq!(heap.referents(&t).len(), 3);
    drop(t);
    heap.collect();
    assert_eq!(heap.live_objects(), 1, "only k (held here) is left");
    drop(k);
    assert_eq!(heap.live_objects(), 0);
}

#[test]
fn new_trace_impls_and_untracked_atoms() {
    use std::cell::OnceCell;
    let heap = TestHeap::new();
    // Atoms: never tracked (CPython's untracked ints and strings).
    assert!(!heap.is_tracked(&heap.alloc(String::from("s"))));
    assert!(!heap.is_tracked(&heap.alloc(vec![1i64, 2, 3])));
    assert!(!heap.is_tracked(&heap.alloc(Box::<str>::from("b"))));
    assert!(!heap.is_tracked(&heap.alloc(Rc::<str>::from("r"))));
    assert!(!heap.is_tracked(&heap.alloc(&42u32)));
    assert!(!heap.is_tracked(&heap.alloc((|x| x + 1) as fn(i32) -> i32)));
    assert!(!heap.is_tracked(&heap.alloc(OnceCell::<u8>::new())));
    // Containers of handles are tracked and traced.
    let cell = heap.alloc(OnceCell::<Gc<Node>>::new());
    assert!(heap.is_tracked(&cell));
    let n = heap.alloc(Node {
        next: RefCell::new(None),
    });
    cell.set(n.clone()).ok().unwrap();
    assert_eq!(heap.referents(&cell).len(), 1);
    let anys = heap.alloc(RefCell::new(vec![Gc::to_any(&n), Gc::to_any(&cell)]));
    assert_eq!(heap.referents(&anys).len(), 2);
    // A heterogeneous cycle through AnyGc is collectable.
    *n.next.borrow_mut() = Some(n.clone());
    anys.borrow_mut().push(Gc::to_any(&anys));
    drop((cell, n, anys));
    assert_eq!(heap.collect(), 3);
}

#[test]
fn slot_is_one_word_and_cell_like() {
    assert_eq!(size_of::<pygc::Slot<Node>>(), size_of::<usize>());
    assert!(size_of::<RefCell<Option<Gc<Node>>>>() > size_of::<pygc::Slot<Node>>());
    let heap = TestHeap::new();
    let a = heap.alloc(Me {
        this: pygc::Weak::new(),
        other: pygc::Slot::empty(),
    });
    assert!(!a.other.is_some());
    assert!(a.other.replace(Some(a.clone())).is_none());
    assert_eq!(Gc::ref_count(&a), 2);
    let got = a.other.get().unwrap();
    assert_eq!(Gc::ref_count(&a), 3);
    drop(got);
    assert!(a.other.take().is_some());
    assert_eq!(Gc::ref_count(&a), 1);
}
