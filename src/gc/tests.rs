//! The collector without a heap: a `Host` made of a bare weak table and reporter, objects in
//! large blocks whose owner's `release` hook frees them directly. This is what the `Host`
//! seam buys: the pipeline runs on its own state and a test double.
#![allow(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::ptr::NonNull;

use super::collector::{Collector, Host};
use super::state::GcState;
use super::unraisable::Unraisables;
use crate::object::boxes::{alloc_large, free_large};
use crate::object::handle::{Gc, GcBox, drop_value, init_box};
use crate::object::header::{ObjRef, flag};
use crate::object::owner::{Owner, OwnerHooks};
use crate::object::var::BoxLayout;
use crate::object::vtable::{Plain, VTableOf};
use crate::object::weak::{WeakRefObj, WeakTable};
use crate::{Trace, Visitor};

thread_local! {
    static FREED: Cell<usize> = const { Cell::new(0) };
}

struct Node {
    next: RefCell<Option<Gc<Node>>>,
}

// SAFETY: reports its one owned handle, once, and does nothing else.
unsafe impl Trace for Node {
    fn trace(&self, visitor: &mut Visitor<'_>) {
        if let Some(next) = &*self.next.borrow() {
            visitor.visit(next);
        }
    }
}

/// # Safety
/// The `OwnerHooks::release` contract.
unsafe fn release(_: NonNull<Owner>, obj: ObjRef) {
    if obj.header().is_tracked() {
        super::list::GcList::unlink(obj);
    }
    if !obj.header().has(flag::DEAD) {
        // SAFETY: count zero, value initialised and not yet dropped.
        unsafe { drop_value(obj) };
    }
    FREED.with(|f| f.set(f.get() + 1));
    // SAFETY: made by `alloc_large` with this layout in `new_node`; nothing refers to it now.
    unsafe { free_large(obj.as_non_null().cast(), obj.box_layout()) }
}

/// # Safety
/// Never called: these tests make no weak reference.
unsafe fn alloc_weakref(_: NonNull<Owner>, _: WeakRefObj) -> Gc<WeakRefObj> {
    unreachable!("no weak references in the collector's unit tests")
}

static HOOKS: OwnerHooks = OwnerHooks {
    release,
    alloc_weakref,
};

struct TestHost {
    owner: Owner,
    unraisables: Unraisables,
}

impl Host for TestHost {
    fn weak_table(&self) -> &WeakTable {
        self.owner.weak_table()
    }
    fn unraisables(&self) -> &Unraisables {
        &self.unraisables
    }
    fn drain_trashcan(&self) {}
}

fn new_node(host: &TestHost, gc: &GcState) -> Gc<Node> {
    let vtable = VTableOf::<Node, Plain>::VTABLE;
    let owner = std::ptr::from_ref(&host.owner);
    let (memory, shift) = alloc_large(
        BoxLayout::fixed(std::alloc::Layout::new::<GcBox<Node>>()),
        owner.cast(),
    )
    .expect("memory");
    // SAFETY: a large block for `GcBox<Node>` tagged with `owner`; `vtable` is `Node`'s.
    let obj = unsafe {
        init_box(
            memory,
            shift,
            vtable,
            Node {
                next: RefCell::new(None),
            },
        )
    };
    gc.track(obj);
    // SAFETY: a fresh box of `Node` with count 1.
    unsafe { Gc::from_obj(obj) }
}

#[test]
fn collector_runs_on_its_own_state_and_a_host() {
    let host = Box::new(TestHost {
        owner: Owner::new(&HOOKS),
        unraisables: Unraisables::default(),
    });
    let gc = Box::new(GcState::new([700, 10, 10], false));
    gc.init_lists();
    FREED.with(|f| f.set(0));
    let a = new_node(&host, &gc);
    let b = new_node(&host, &gc);
    let c = new_node(&host, &gc);
    *a.next.borrow_mut() = Some(b.clone());
    *b.next.borrow_mut() = Some(a.clone());
    *c.next.borrow_mut() = Some(c.clone());
    drop((a, b));
    let collector = Collector::new(&gc, &*host);
    assert_eq!(collector.collect_explicit(0), 2, "the a <-> b cycle");
    assert_eq!(FREED.with(Cell::get), 2);
    assert_eq!(gc.generation(1).len(), 1, "c survived into generation 1");
    assert_eq!(collector.collect_explicit(2), 0, "c is held from outside");
    c.next.borrow_mut().take();
    drop(c);
    assert_eq!(FREED.with(Cell::get), 3);
    assert_eq!(host.unraisables.count(), 0);
}
