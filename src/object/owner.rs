//! The owner tag's target: how an object reaches its heap without this layer naming the heap.
//!
//! Every object box sits in an aligned block (its pool, or its own large block) whose first
//! word is the *owner tag*, a pointer to an [`Owner`]. The heap state begins with its `Owner`
//! (`#[repr(C)]`, first field), and the tag is the pointer the state was boxed at, so it
//! carries provenance for the whole state. Two things live here:
//!
//! - [`OwnerHooks`]: the typed entry points of the heap that the object layer calls: refcount
//!   death (`release`) and allocation of a weak-reference object. The heap fills them in.
//! - the [`WeakTable`]: each referent's weak-reference objects, which `Gc::downgrade` and
//!   `Weak::upgrade` need and which the collector and the dealloc path clear.
//!
//! Knowledge flows one way: the heap knows `Owner`; `Owner` knows nothing of the heap.
#![allow(unsafe_code)]

use std::cell::Cell;
use std::ptr::NonNull;
use std::rc::Rc;

use super::handle::Gc;
use super::header::ObjRef;
use super::weak::{WeakRefObj, WeakTable};

/// The heap's entry points, as the object layer sees them.
pub(crate) struct OwnerHooks {
    /// Refcount death: `obj`'s count reached zero.
    ///
    /// Safety (of calling it): `owner` is `obj`'s owner tag (full provenance over the heap
    /// state); `obj` is live with count zero and no handle to it remains.
    pub(crate) release: unsafe fn(NonNull<Owner>, ObjRef),
    /// Allocate and track a weak-reference object in the owner's heap. Aborts through
    /// `handle_alloc_error` when memory is exhausted.
    ///
    /// Safety (of calling it): `owner` is an owner tag of a heap with at least one live
    /// object (so the state is alive for the call).
    pub(crate) alloc_weakref: unsafe fn(NonNull<Owner>, WeakRefObj) -> Gc<WeakRefObj>,
}

impl std::fmt::Debug for OwnerHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OwnerHooks")
    }
}

/// What an owner tag points at. See the module docs.
///
/// # Invariants
/// - An `Owner` is the first field of a `#[repr(C)]` heap state that is boxed at a stable
///   address and freed only after its last object (so it outlives every object tagged with it).
/// - Every owner tag written into a pool or large block is that box's pointer.
#[derive(Debug)]
pub(crate) struct Owner {
    hooks: &'static OwnerHooks,
    weak_table: WeakTable,
    /// Bytes reported by [`ExternalMemory`](super::external::ExternalMemory) tokens (shared
    /// with them: a token may outlive the heap).
    external: Rc<Cell<usize>>,
}

impl Owner {
    pub(crate) fn new(hooks: &'static OwnerHooks) -> Owner {
        Owner {
            hooks,
            weak_table: WeakTable::default(),
            external: Rc::new(Cell::new(0)),
        }
    }

    /// The weak-reference table of this heap.
    pub(crate) fn weak_table(&self) -> &WeakTable {
        &self.weak_table
    }

    /// The counter external-memory tokens of this heap report into.
    pub(crate) fn external_total(&self) -> Rc<Cell<usize>> {
        self.external.clone()
    }

    /// Bytes reported by this heap's external-memory tokens.
    #[inline]
    pub(crate) fn external_bytes(&self) -> usize {
        self.external.get()
    }

    /// The owner of the object behind `handle`, borrowed for as long as the handle is (a
    /// handle keeps its object, hence its heap state, alive).
    pub(crate) fn of_obj<T: ?Sized>(handle: &Gc<T>) -> &Owner {
        // SAFETY: `handle` owns a count, so its object is live and its owner state outlives
        // the borrow (type invariant); the state is only ever shared, mutated through cells.
        unsafe { handle.obj().owner().as_ref() }
    }
}

/// Refcount death of `obj`, routed to its heap.
///
/// # Safety
/// `obj` is live with count zero, and no handle to it remains.
#[inline(never)]
pub(crate) unsafe fn release(obj: ObjRef) {
    let owner = obj.owner();
    // SAFETY: a live object's owner is alive; the hook reference is copied out before the call.
    let hook = unsafe { owner.as_ref() }.hooks.release;
    // SAFETY: forwarded from the caller; `owner` is `obj`'s tag.
    unsafe { hook(owner, obj) }
}

/// Allocate a weak-reference object in the heap that owns `referent`.
pub(crate) fn alloc_weakref<T>(referent: &Gc<T>, value: WeakRefObj) -> Gc<WeakRefObj> {
    let owner = referent.obj().owner();
    // SAFETY: `referent` is a live object of that heap for the whole call.
    let hook = unsafe { owner.as_ref() }.hooks.alloc_weakref;
    // SAFETY: `referent` keeps the heap state alive for the call.
    unsafe { hook(owner, value) }
}
