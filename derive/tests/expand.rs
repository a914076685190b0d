//! Behaviour of the generated impls.
//!
//! NOTE: these tests use the branch-local MOCK surface (`Visitor::new()`,
//! its `strong`/`weak` counters and `Gc::dangling()`/`Weak::dangling()`);
//! they need adjusting when the mock is replaced by the real object layer.

#![allow(dead_code)]

use pygc::{Gc, Trace, Visitor, Weak};
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
    pub use pygc::{Trace, Visitor};
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

fn counts<T: Trace + ?Sized>(value: &T) -> (usize, usize) {
    let mut visitor = Visitor::new();
    value.trace(&mut visitor);
    (visitor.strong, visitor.weak)
}

fn gc<T>() -> Gc<T> {
    Gc::dangling()
}

fn weak<T>() -> Weak<T> {
    Weak::dangling()
}

#[test]
fn structs_visit_every_unskipped_handle_once() {
    let leaf = Leaf {
        s: String::new(),
        n: 3,
    };
    assert_eq!(counts(&leaf), (0, 0));
    assert_eq!(counts(&Inner { g: gc() }), (1, 0));
    let mixed = Mixed {
        a: gc(),
        many: vec![gc(), gc(), gc()],
        maybe: Some(weak()),
        cache: Rc::from("x"),
        pair: (1, gc()),
    };
    assert_eq!(counts(&mixed), (5, 1));
    assert_eq!(counts(&Tuple(gc(), Rc::new(0), weak())), (1, 1));
    assert_eq!(counts(&Unit), (0, 0));
    assert_eq!(counts(&ViaAlias(gc())), (1, 0));
}

#[test]
fn enums_visit_the_active_variant() {
    assert_eq!(counts(&Shape::Empty), (0, 0));
    assert_eq!(counts(&Shape::One(gc())), (1, 0));
    let two = Shape::Two {
        a: gc(),
        label: "l".into(),
        b: weak(),
    };
    assert_eq!(counts(&two), (1, 1));
}

#[test]
fn generics_and_recursion() {
    let g: Generic<Gc<Leaf>, Rc<u8>> = Generic {
        t: vec![gc(), gc()],
        u: Rc::new(1),
        tag: PhantomData,
    };
    assert_eq!(counts(&g), (2, 0));
    let list = List {
        next: Some(Box::new(List {
            next: None,
            item: Some(gc()),
        })),
        item: Some(gc()),
    };
    assert_eq!(counts(&list), (2, 0));
}
