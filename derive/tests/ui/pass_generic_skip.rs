#![deny(warnings, unsafe_code)]
#![allow(dead_code)]
use pygc::{Gc, Trace};
use std::marker::PhantomData;
use std::rc::Rc;

struct NotTrace;

// `t` is skipped, so no `T: Trace` bound: `W<NotTrace>` is still `Trace`.
#[derive(Trace)]
struct W<T> {
    #[trace(skip)]
    t: T,
    n: Gc<Leaf>,
}

#[derive(Trace)]
struct Leaf {
    #[trace(skip)]
    cache: Rc<str>,
    n: u32,
}

// `PhantomData<T>: Trace` for every `T`, so no `T: Trace` either.
#[derive(Trace)]
struct Tagged<T, U> {
    tag: PhantomData<T>,
    u: Vec<U>,
}

#[derive(Trace)]
struct Tuple<A, B>(A, #[trace(skip)] B, u8);

#[derive(Trace)]
struct Unit;

// Lifetimes and const generics pass through; `items` needs `[Option<T>; N]: Trace`.
#[derive(Trace)]
struct Borrowing<'a, T: 'a, const N: usize> {
    #[trace(skip)]
    r: &'a [T],
    arr: [u32; N],
    items: [Option<T>; N],
}

fn assert_trace<T: Trace + ?Sized>() {}

const _: () = assert!(!Leaf::MAY_CONTAIN_HANDLES);
const _: () = assert!(W::<NotTrace>::MAY_CONTAIN_HANDLES);
const _: () = assert!(!Tagged::<NotTrace, u8>::MAY_CONTAIN_HANDLES);
const _: () = assert!(Tagged::<NotTrace, Gc<Leaf>>::MAY_CONTAIN_HANDLES);
const _: () = assert!(!Tuple::<u8, NotTrace>::MAY_CONTAIN_HANDLES);
const _: () = assert!(Tuple::<Gc<Leaf>, NotTrace>::MAY_CONTAIN_HANDLES);
const _: () = assert!(!Unit::MAY_CONTAIN_HANDLES);
const _: () = assert!(!Borrowing::<'static, u8, 0>::MAY_CONTAIN_HANDLES);
const _: () = assert!(Borrowing::<'static, Gc<Leaf>, 0>::MAY_CONTAIN_HANDLES);

fn main() {
    assert_trace::<W<NotTrace>>();
    assert_trace::<Tagged<NotTrace, u8>>();
    assert_trace::<Tuple<u8, NotTrace>>();
    assert_trace::<Borrowing<'static, Gc<Leaf>, 3>>();
    assert_trace::<Unit>();
}
