#![deny(warnings, unsafe_code)]
#![allow(dead_code)]
use pygc::{Gc, Trace, Weak};

#[derive(Trace)]
struct Obj;

#[derive(Trace)]
enum Shapes<T> {
    Unit,
    Tuple(u8, #[trace(skip)] String, T),
    Named {
        strong: Gc<Obj>,
        #[trace(skip)]
        name: String,
        weak: Weak<Obj>,
    },
    AllSkipped {
        #[trace(skip)]
        a: u32,
    },
    EmptyTuple(),
    EmptyNamed {},
}

#[derive(Trace)]
enum NoHandles {
    A(u8),
    B { s: String },
    C,
}

#[derive(Trace)]
enum OnlyUnits {
    A,
    B,
}

#[derive(Trace)]
enum Never {}

// Field and binding names that could collide with generated ones.
#[derive(Trace)]
enum Collide {
    V {
        visitor: u32,
        __pygc_field_0: u8,
        r#type: Gc<Obj>,
    },
}

fn assert_trace<T: Trace + ?Sized>() {}

const _: () = assert!(Shapes::<u8>::MAY_CONTAIN_HANDLES);
const _: () = assert!(!NoHandles::MAY_CONTAIN_HANDLES);
const _: () = assert!(!OnlyUnits::MAY_CONTAIN_HANDLES);
const _: () = assert!(!Never::MAY_CONTAIN_HANDLES);
const _: () = assert!(Collide::MAY_CONTAIN_HANDLES);

fn main() {
    assert_trace::<Shapes<Gc<Obj>>>();
    assert_trace::<Never>();
}
