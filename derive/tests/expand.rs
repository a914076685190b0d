//! Behaviour of the generated impls, observed through the heap's `referents`
//! (CPython's `gc.get_referents`): every unskipped handle is reported exactly once.

#![allow(dead_code)]

use pygc::{Gc, Heap, Trace, Weak};
use std::marker::PhantomData;
use std::rc::Rc;

#[derive(Trace)]
struct Leaf {
    #[trace(skip)]
    s: String,
    n: u32,
}

#[derive(Trace)]
struct Inner {
    g: Gc<Leaf>,
}

#[derive(Trace)]
struct Mixed {
    a: Gc<Leaf>,
    many: Vec<Gc<Inner>>,
    maybe: Option<Weak<Leaf>>,
    #[trace(skip)]
    cache: Rc<str>,
    pair: (u8, Gc<Leaf>),
}

#[derive(Trace)]
struct Tuple(Gc<Leaf>, #[trace(skip)] Rc<u8>, Weak<Leaf>);

#[derive(Trace)]
struct Unit;

#[derive(Trace)]
enum Shape {
    Empty,
    One(Gc<Leaf>),
    Two {
        a: Gc<Leaf>,
        #[trace(skip)]
        label: String,
        b: Weak<Leaf>,
    },
}

#[derive(Trace)]
enum Never {}

#[derive(Trace)]
struct Generic<T, U>
where
    U: Default,
{
    t: Vec<T>,
    #[trace(skip)]
    u: U,
    tag: PhantomData<T>,
}

#[derive(Trace)]
struct List {
    next: Option<Box<List>>,
    item: Option<Gc<Leaf>>,
}

mod alias {
    pub use pygc::{__private, Trace, Visitor};
}

#[derive(Trace)]
#[trace(crate = "crate::alias")]
struct ViaAlias(Gc<Leaf>);

const _: () = assert!(!Leaf::MAY_CONTAIN_HANDLES);
const _: () = assert!(Inner::MAY_CONTAIN_HANDLES);
const _: () = assert!(Mixed::MAY_CONTAIN_HANDLES);
const _: () = assert!(Tuple::MAY_CONTAIN_HANDLES);
const _: () = assert!(!Unit::MAY_CONTAIN_HANDLES);
const _: () = assert!(Shape::MAY_CONTAIN_HANDLES);
const _: () = assert!(!Never::MAY_CONTAIN_HANDLES);
const _: () = assert!(!Generic::<u8, Rc<u8>>::MAY_CONTAIN_HANDLES);
const _: () = assert!(Generic::<Gc<Leaf>, Rc<u8>>::MAY_CONTAIN_HANDLES);
const _: () = assert!(List::MAY_CONTAIN_HANDLES);
const _: () = assert!(ViaAlias::MAY_CONTAIN_HANDLES);

thread_local!(static HEAP: Heap = Heap::new());

/// (strong handles, weak handles) the value reports, via `Heap::referents`.
fn counts<T: Trace + 'static>(value: T) -> (usize, usize) {
    HEAP.with(|heap| {
        let obj = heap.alloc(value);
        let referents = heap.referents(&obj);
        let weak = referents.iter().filter(|r| r.is_weakref()).count();
        (referents.len() - weak, weak)
    })
}

fn leaf() -> Gc<Leaf> {
    HEAP.with(|heap| {
        heap.alloc(Leaf {
            s: String::new(),
            n: 0,
        })
    })
}

fn inner() -> Gc<Inner> {
    HEAP.with(|heap| heap.alloc(Inner { g: leaf() }))
}

fn weak() -> Weak<Leaf> {
    HEAP.with(|heap| {
        let leaf = heap.alloc(Leaf {
            s: String::new(),
            n: 1,
        });
        let w = Gc::downgrade_with_callback(&leaf, |_| {});
        std::mem::forget(leaf); // keep the referent alive for the test
        w
    })
}

#[test]
fn structs_visit_every_unskipped_handle_once() {
    let plain = Leaf {
        s: String::new(),
        n: 3,
    };
    assert_eq!(counts(plain), (0, 0));
    assert_eq!(counts(Inner { g: leaf() }), (1, 0));
    let mixed = Mixed {
        a: leaf(),
        many: vec![inner(), inner(), inner()],
        maybe: Some(weak()),
        cache: Rc::from("x"),
        pair: (1, leaf()),
    };
    assert_eq!(counts(mixed), (5, 1));
    assert_eq!(counts(Tuple(leaf(), Rc::new(0), weak())), (1, 1));
    assert_eq!(counts(Unit), (0, 0));
    assert_eq!(counts(ViaAlias(leaf())), (1, 0));
}

#[test]
fn enums_visit_the_active_variant() {
    assert_eq!(counts(Shape::Empty), (0, 0));
    assert_eq!(counts(Shape::One(leaf())), (1, 0));
    let two = Shape::Two {
        a: leaf(),
        label: "l".into(),
        b: weak(),
    };
    assert_eq!(counts(two), (1, 1));
}

#[test]
fn generics_and_recursion() {
    let g: Generic<Gc<Leaf>, Rc<u8>> = Generic {
        t: vec![leaf(), leaf()],
        u: Rc::new(1),
        tag: PhantomData,
    };
    assert_eq!(counts(g), (2, 0));
    let list = List {
        next: Some(Box::new(List {
            next: None,
            item: Some(leaf()),
        })),
        item: Some(leaf()),
    };
    assert_eq!(counts(list), (2, 0));
}
