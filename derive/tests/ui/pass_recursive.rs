#![deny(warnings, unsafe_code)]
#![allow(dead_code)]
use pygc::{Gc, Trace, Weak};

#[derive(Trace)]
struct Node {
    next: Option<Gc<Node>>,
}

// Recursion through `Self`, through `Box` (no handle: the derive answers the
// conservative `true` instead of a const-evaluation cycle), and through `Gc`
// in a generic type (no overflowing `Option<Gc<Tree<T>>>: Trace` bound).
#[derive(Trace)]
struct List {
    value: u32,
    next: Option<Box<Self>>,
}

#[derive(Trace)]
struct Tree<T> {
    value: T,
    parent: Option<Weak<Tree<T>>>,
    children: Vec<Gc<Tree<T>>>,
}

#[derive(Trace)]
enum Expr<T> {
    Lit(T),
    Add(Box<Expr<T>>, Box<Expr<T>>),
    Shared(Gc<Expr<T>>),
}

fn assert_trace<T: Trace + ?Sized>() {}

const _: () = assert!(Node::MAY_CONTAIN_HANDLES);
const _: () = assert!(List::MAY_CONTAIN_HANDLES);
const _: () = assert!(Tree::<u8>::MAY_CONTAIN_HANDLES);
const _: () = assert!(Expr::<u8>::MAY_CONTAIN_HANDLES);

fn main() {
    assert_trace::<Node>();
    assert_trace::<List>();
    assert_trace::<Tree<String>>();
    assert_trace::<Expr<Gc<Node>>>();
}
