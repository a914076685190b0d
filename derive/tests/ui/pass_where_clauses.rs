#![deny(warnings, unsafe_code)]
#![allow(dead_code)]
use pygc::{Gc, Trace};
use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;

trait Family {
    type Member;
}

struct Handles;
impl Family for Handles {
    type Member = Gc<u32>;
}

// Existing where clauses are kept; bounds are added per field type,
// including associated types and defaults.
#[derive(Trace)]
struct Keyed<K, V = u32>
where
    K: Eq + Hash + Debug,
{
    map: HashMap<K, V>,
    #[trace(skip)]
    hint: Option<K>,
}

#[derive(Trace)]
struct ViaAssoc<F: Family>
where
    F::Member: Sized + 'static,
{
    member: F::Member,
    count: u32,
}

#[derive(Trace)]
struct Qualified<F>(Vec<<F as Family>::Member>)
where
    F: Family;

// `crate = "..."` renames the path the impl is written against.
mod reexport {
    pub use pygc::{__private, Trace, Visitor};
}

#[derive(Trace)]
#[trace(crate = "crate::reexport")]
struct Renamed {
    g: Gc<u32>,
}

fn assert_trace<T: Trace + ?Sized>() {}

const _: () = assert!(!Keyed::<String>::MAY_CONTAIN_HANDLES);
const _: () = assert!(Keyed::<String, Gc<u32>>::MAY_CONTAIN_HANDLES);
const _: () = assert!(ViaAssoc::<Handles>::MAY_CONTAIN_HANDLES);
const _: () = assert!(Qualified::<Handles>::MAY_CONTAIN_HANDLES);
const _: () = assert!(Renamed::MAY_CONTAIN_HANDLES);

fn main() {
    assert_trace::<Keyed<u8, Gc<u32>>>();
    assert_trace::<ViaAssoc<Handles>>();
    assert_trace::<Qualified<Handles>>();
    assert_trace::<Renamed>();
}
