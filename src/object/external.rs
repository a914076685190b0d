//! Memory an object owns outside its box (a `Vec`'s or `String`'s buffer), reported to the
//! heap so that its byte accounting and byte trigger see it.
//!
//! CPython counts objects, not bytes, and a list of 100,000 slots costs one count like an
//! empty one. A runtime that wants memory pressure to drive collections reports the buffers
//! its objects own with an [`ExternalMemory`] token kept in the object: the token adds its
//! size to the heap's external total and takes it back when it is dropped (with the object).
#![allow(unsafe_code)] // `unsafe impl Trace` only

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;

use super::handle::Gc;
use super::owner::Owner;
use crate::{Trace, Visitor};

/// A report of memory owned outside an object's box (made by
/// [`Heap::external_memory`](crate::Heap::external_memory) or [`ExternalMemory::for_object`]), counted in the heap's
/// [`accounted_bytes`](crate::Heap::accounted_bytes) until the token is dropped.
///
/// Keep the token inside the object whose buffer it describes and call
/// [`ExternalMemory::set`] when the buffer grows or shrinks. It holds no handle (it is an
/// atom for the collector) and may outlive its heap (it then reports into a counter nobody
/// reads).
///
/// ```
/// use std::cell::RefCell;
/// use pygc::{ExternalMemory, Heap, Trace};
///
/// #[derive(Trace)]
/// struct Buffer {
///     #[trace(skip)]
///     data: RefCell<Vec<u8>>,
///     external: ExternalMemory,
/// }
///
/// let heap = Heap::new();
/// let external = heap.external_memory();
/// let buf = heap.alloc(Buffer { data: RefCell::new(Vec::new()), external });
/// buf.data.borrow_mut().resize(1 << 20, 0);
/// buf.external.set(buf.data.borrow().capacity());
/// assert_eq!(heap.external_bytes(), 1 << 20);
/// drop(buf);
/// assert_eq!(heap.external_bytes(), 0);
/// ```
pub struct ExternalMemory {
    total: Rc<Cell<usize>>,
    bytes: Cell<usize>,
}

impl ExternalMemory {
    /// A token reporting 0 bytes into the heap that owns `object`.
    pub fn for_object<T: ?Sized>(object: &Gc<T>) -> ExternalMemory {
        ExternalMemory::with_total(Owner::of_obj(object).external_total())
    }

    pub(crate) fn with_total(total: Rc<Cell<usize>>) -> ExternalMemory {
        ExternalMemory {
            total,
            bytes: Cell::new(0),
        }
    }

    /// Report that the object now owns `bytes` bytes outside its box.
    pub fn set(&self, bytes: usize) {
        // Saturating: absurd sizes (the sum of all tokens past `usize::MAX`) pin the total at
        // its maximum instead of wrapping or panicking; the token keeps what it was told.
        let old = self.bytes.replace(bytes);
        self.total
            .set(self.total.get().saturating_sub(old).saturating_add(bytes));
    }

    /// The bytes this token reports.
    pub fn get(&self) -> usize {
        self.bytes.get()
    }
}

impl Drop for ExternalMemory {
    fn drop(&mut self) {
        self.total
            .set(self.total.get().saturating_sub(self.bytes.get()));
    }
}

impl fmt::Debug for ExternalMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ExternalMemory")
            .field(&self.bytes.get())
            .finish()
    }
}

// SAFETY: holds no handle (rule 5: an atom).
unsafe impl Trace for ExternalMemory {
    const MAY_CONTAIN_HANDLES: bool = false;
    fn trace(&self, _: &mut Visitor<'_>) {}
}
