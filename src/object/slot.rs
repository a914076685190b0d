//! `Slot<T>`: one optional edge, cheaper than `RefCell<Option<Gc<T>>>`.
#![allow(unsafe_code)] // `unsafe impl Trace` only

use std::cell::Cell;
use std::fmt;

use super::handle::Gc;
use crate::{Trace, Visitor};

/// A mutable slot holding at most one handle: `Cell`-like (`get` clones, `set`, `replace`,
/// `take`), with no borrow flag and no way to hold a borrow across user code. It is one
/// word, as `Option<Gc<T>>` is; `RefCell<Option<Gc<T>>>` is two.
///
/// ```
/// use pygc::{Gc, Heap, Slot, Trace};
///
/// #[derive(Trace)]
/// struct Node {
///     next: Slot<Node>,
/// }
///
/// let heap = Heap::new();
/// let a = heap.alloc(Node { next: Slot::empty() });
/// a.next.set(Some(a.clone())); // a self-loop
/// assert!(Gc::ptr_eq(&a.next.get().unwrap(), &a));
/// drop(a);
/// assert_eq!(heap.collect(), 1);
/// ```
pub struct Slot<T> {
    cell: Cell<Option<Gc<T>>>,
}

impl<T> Slot<T> {
    /// A slot holding `value`.
    pub const fn new(value: Option<Gc<T>>) -> Slot<T> {
        Slot {
            cell: Cell::new(value),
        }
    }

    /// An empty slot.
    pub const fn empty() -> Slot<T> {
        Slot::new(None)
    }

    /// A clone of the handle in the slot.
    pub fn get(&self) -> Option<Gc<T>> {
        let value = self.cell.take();
        let copy = value.clone();
        self.cell.set(value);
        copy
    }

    /// Store `value`, dropping the previous handle (after the store).
    pub fn set(&self, value: Option<Gc<T>>) {
        drop(self.cell.replace(value));
    }

    /// Store `value` and return the previous handle.
    pub fn replace(&self, value: Option<Gc<T>>) -> Option<Gc<T>> {
        self.cell.replace(value)
    }

    /// Empty the slot, returning its handle.
    pub fn take(&self) -> Option<Gc<T>> {
        self.cell.take()
    }

    /// Whether the slot holds a handle.
    pub fn is_some(&self) -> bool {
        let value = self.cell.take();
        let some = value.is_some();
        self.cell.set(value);
        some
    }
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot::empty()
    }
}

impl<T> fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Read the identity and put the handle back before writing: the formatter may run
        // user code (a custom `fmt::Write`) that reads or sets this slot.
        let value = self.cell.take();
        let id = value.as_ref().map(Gc::id);
        self.cell.set(value);
        match id {
            Some(id) => write!(f, "Slot({id:#x})"),
            None => f.write_str("Slot(None)"),
        }
    }
}

// SAFETY: the slot owns the handle it holds; `trace` reports it once. It moves the handle
// out and back (no count changes, no user code), so two traces agree (item 3).
unsafe impl<T> Trace for Slot<T> {
    #[inline]
    fn trace(&self, visitor: &mut Visitor<'_>) {
        let value = self.cell.take();
        if let Some(handle) = &value {
            visitor.visit(handle);
        }
        self.cell.set(value);
    }
}
