//! `Heap::alloc` and `Finalize` (issue 11): implementing `Finalize` and calling plain `alloc`
//! used to compile and never finalize. Now the derive finds the impl (without a bound) and
//! `alloc` gives the object its finalizer; `alloc_unfinalized` opts out.

use std::cell::{Cell, RefCell};

use pygc::{Finalize, Gc, Trace};

use crate::support::TestHeap;

thread_local! {
    static RAN: Cell<u32> = const { Cell::new(0) };
}

fn ran() -> u32 {
    RAN.with(Cell::get)
}

fn bump() {
    RAN.with(|r| r.set(r.get() + 1));
}

#[derive(Trace)]
struct Fin {
    other: RefCell<Option<Gc<Fin>>>,
}
impl Finalize for Fin {
    fn finalize(_: &Gc<Self>) {
        bump();
    }
}

#[derive(Trace)]
struct Blanket<T: 'static>(#[trace(skip)] T);
impl<T: 'static> Finalize for Blanket<T> {
    fn finalize(_: &Gc<Self>) {
        bump();
    }
}

#[derive(Trace)]
struct OneInstance<T: 'static>(#[trace(skip)] T);
impl Finalize for OneInstance<u8> {
    fn finalize(_: &Gc<Self>) {
        bump();
    }
}

#[derive(Trace)]
struct NoFin(u32);

#[test]
fn alloc_runs_the_finalizer_of_a_derived_type() {
    let heap = TestHeap::new();
    let before = ran();
    drop(heap.alloc(Fin {
        other: RefCell::new(None),
    }));
    assert_eq!(ran(), before + 1, "refcount death");
    let a = heap.alloc(Fin {
        other: RefCell::new(None),
    });
    *a.other.borrow_mut() = Some(a.clone());
    assert!(!heap.is_finalized(&a));
    drop(a);
    assert_eq!(heap.collect(), 1);
    assert_eq!(ran(), before + 2, "in a garbage cycle");
    drop(heap.alloc(NoFin(1)));
    assert_eq!(ran(), before + 2);
}

#[test]
fn generic_types_with_a_blanket_impl_are_seen() {
    let heap = TestHeap::new();
    let before = ran();
    drop(heap.alloc(Blanket(1u8)));
    drop(heap.alloc(Blanket("x")));
    assert_eq!(ran(), before + 2);
}

#[test]
fn an_impl_for_one_instantiation_needs_alloc_with_finalizer() {
    // The documented limit: the derive's probe sees `OneInstance<T>`, for which `Finalize`
    // does not hold in general.
    let heap = TestHeap::new();
    let before = ran();
    drop(heap.alloc(OneInstance(1u8)));
    assert_eq!(ran(), before);
    drop(heap.alloc_with_finalizer(OneInstance(1u8)));
    assert_eq!(ran(), before + 1);
}

#[test]
fn alloc_unfinalized_opts_out() {
    let heap = TestHeap::new();
    let before = ran();
    let a = heap.alloc_unfinalized(Fin {
        other: RefCell::new(None),
    });
    *a.other.borrow_mut() = Some(a.clone());
    drop(a);
    assert_eq!(heap.collect(), 1);
    assert_eq!(ran(), before);
}
