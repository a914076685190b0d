//! Variable-size objects: `Gc<[T]>` and `Gc<str>` whose length is chosen at run time
//! (CPython's `PyVarObject`: the type gives the item size, `tp_itemsize`, and each object
//! carries its own count, `ob_size`).
//!
//! A fixed-size object's box layout belongs to its type ([`VTable::layout`]). A variable-size
//! object's depends on its length, so the box has to carry it: the collector holds only a
//! thin header pointer, yet must know the layout to free the box and the length to trace and
//! drop the items. The items must begin right after the header (a `Gc<[T]>` points at a
//! `GcBox<[T]>`), so the length goes *before* the header:
//!
//! ```text
//! block start                           block start + P  (P = the box's alignment, >= 8)
//! | padding ... | len: usize |          | Header (32 bytes) | item 0 | item 1 | ...
//! ```
//!
//! # Invariants
//! - A vtable with `item_layout: Some(item)` is only ever the vtable of a box written by
//!   [`init_slice`] or [`init_str`]: the `usize` right before its header is the item count,
//!   written once before the header and never changed, and the block was allocated with
//!   `BoxLayout::var(item, len)` at `block = header - header_offset`.
//! - The header pointer of such a box carries the provenance of the whole block (it is made by
//!   offsetting the block pointer), so reading the count behind it is in bounds.
//!
//! [`ObjRef::box_layout`] recomputes the allocation's layout from those two facts, so the box
//! is freed with the layout it was allocated with.
#![allow(unsafe_code)]

use std::alloc::Layout;
use std::any::TypeId;
use std::marker::PhantomData;
use std::ptr::{self, NonNull};

use super::handle::{AnyGc, Gc, GcBox};
use super::header::{Header, ObjRef};
use super::vtable::VTable;
use crate::{Trace, Visitor};

/// The memory block of one object box, and where its header sits in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BoxLayout {
    /// The block handed to the allocator.
    pub(crate) layout: Layout,
    /// Offset of the header in the block: 0 for fixed-size objects, the box's alignment
    /// (room for the item count) for variable-size ones.
    pub(crate) header_offset: usize,
}

impl BoxLayout {
    /// The block of a fixed-size object: its `GcBox<T>`, header first.
    #[inline]
    pub(crate) const fn fixed(layout: Layout) -> BoxLayout {
        BoxLayout {
            layout,
            header_offset: 0,
        }
    }

    /// The block of a variable-size object of `len` items laid out as `item`: the count, then
    /// a `GcBox<[item; len]>`. `None` if the size overflows `isize`.
    pub(crate) fn var(item: Layout, len: usize) -> Option<BoxLayout> {
        let items = Layout::from_size_align(item.size().checked_mul(len)?, item.align()).ok()?;
        let (gc_box, _) = Layout::new::<Header>().extend(items).ok()?;
        let (block, header_offset) = Layout::new::<usize>().extend(gc_box.pad_to_align()).ok()?;
        Some(BoxLayout {
            layout: block.pad_to_align(),
            header_offset,
        })
    }
}

impl ObjRef {
    /// The layout this object's box was allocated with.
    #[inline]
    pub(crate) fn box_layout(self) -> BoxLayout {
        let vtable = self.vtable();
        match vtable.item_layout {
            None => BoxLayout::fixed(vtable.layout),
            Some(item) => var_box_layout(self, item),
        }
    }

    /// The item count of a variable-size object.
    #[inline]
    fn var_len(self) -> usize {
        debug_assert!(self.vtable().item_layout.is_some());
        // SAFETY: (module invariants) a variable-size object's count is the initialised,
        // aligned `usize` right before its header, inside the block this pointer covers.
        unsafe { self.as_ptr().cast::<usize>().sub(1).read() }
    }
}

#[cold]
fn var_box_layout(obj: ObjRef, item: Layout) -> BoxLayout {
    BoxLayout::var(item, obj.var_len()).expect("the layout was valid at allocation")
}

/// `VTable::layout` of every variable-size type: size 0 marks it.
const VAR_SIZE: Layout = Layout::new::<()>();

/// The vtable of `[T]` boxes with a run-time length.
pub(crate) struct SliceVTable<T>(PhantomData<T>);

impl<T: Trace + 'static> SliceVTable<T> {
    pub(crate) const VTABLE: &'static VTable = &VTable {
        type_name: std::any::type_name::<[T]>,
        type_id: TypeId::of::<[T]>,
        trace: trace_slice::<T>,
        drop_value: drop_slice::<T>,
        finalize: None,
        legacy_finalize: None,
        // Variable-size: each box's layout comes from its count.
        layout: VAR_SIZE,
        item_layout: Some(Layout::new::<T>()),
        gc_capable: <[T] as Trace>::MAY_CONTAIN_HANDLES,
        is_weakref: false,
    };
}

/// The vtable of `str` boxes.
pub(crate) const STR_VTABLE: &VTable = &VTable {
    type_name: || "str",
    type_id: TypeId::of::<str>,
    trace: |_, _| {},
    drop_value: |_| {},
    finalize: None,
    legacy_finalize: None,
    layout: VAR_SIZE,
    item_layout: Some(Layout::new::<u8>()),
    gc_capable: false,
    is_weakref: false,
};

/// The box of a `[T]` object, as a pointer with its length.
///
/// # Safety
/// `h` is the live header of a box written by [`init_slice::<T>`].
#[inline]
unsafe fn slice_box<T>(h: NonNull<Header>) -> *mut GcBox<[T]> {
    // SAFETY: forwarded: the object is a variable-size box.
    let len = unsafe { ObjRef::new(h) }.var_len();
    // Same address, the count as metadata; `GcBox<[T]>` ends in `[T]`, so the cast keeps it.
    ptr::slice_from_raw_parts_mut(h.as_ptr().cast::<T>(), len) as *mut GcBox<[T]>
}

/// # Safety
/// `h` is a live `[T]` box whose items are initialised (the vtable contract).
unsafe fn trace_slice<T: Trace>(h: NonNull<Header>, visitor: &mut Visitor<'_>) {
    // SAFETY: forwarded; the items are initialised.
    let items = unsafe { &(*slice_box::<T>(h)).value };
    items.trace(visitor);
}

/// # Safety
/// `h` is a live `[T]` box whose items are initialised and are dropped here exactly once.
unsafe fn drop_slice<T>(h: NonNull<Header>) {
    // SAFETY: forwarded. `drop_in_place` of a slice drops every item, also when one panics.
    unsafe { ptr::drop_in_place(&raw mut (*slice_box::<T>(h)).value) }
}

/// Write a `[T]` box into `block`: the count, the header, and the items moved out of `items`
/// (its buffer is freed, nothing is dropped twice). Nothing here can panic.
///
/// # Safety
/// `block` is valid for writes of `layout = BoxLayout::var(Layout::new::<T>(), items.len())`,
/// carries provenance over its whole owner block (of log2 size `owner_shift`), and `vtable` is
/// `SliceVTable::<T>::VTABLE`.
pub(crate) unsafe fn init_slice<T>(
    block: NonNull<u8>,
    layout: BoxLayout,
    owner_shift: u32,
    vtable: &'static VTable,
    mut items: Vec<T>,
) -> ObjRef {
    let len = items.len();
    // SAFETY: the caller's block fits the layout: the count ends at the header, and the
    // header and `len` items follow it.
    unsafe {
        let header = write_prefix(block, layout, owner_shift, vtable, len);
        let gc_box = slice_box::<T>(header);
        ptr::copy_nonoverlapping(items.as_ptr(), (&raw mut (*gc_box).value).cast::<T>(), len);
        // The items now live in the box: the vector only frees its buffer.
        items.set_len(0);
        ObjRef::new(header)
    }
}

/// Write a `str` box holding `s` into `block`.
///
/// # Safety
/// As [`init_slice`], with `layout = BoxLayout::var(Layout::new::<u8>(), s.len())` and
/// `vtable` = [`STR_VTABLE`]. (A `str` box is a `[u8]` box whose bytes are UTF-8.)
pub(crate) unsafe fn init_str(
    block: NonNull<u8>,
    layout: BoxLayout,
    owner_shift: u32,
    vtable: &'static VTable,
    s: &str,
) -> ObjRef {
    // SAFETY: as in `init_slice`: the bytes follow the header.
    unsafe {
        let header = write_prefix(block, layout, owner_shift, vtable, s.len());
        let gc_box = slice_box::<u8>(header);
        ptr::copy_nonoverlapping(s.as_ptr(), (&raw mut (*gc_box).value).cast::<u8>(), s.len());
        ObjRef::new(header)
    }
}

/// Write the count and the header of a variable-size box; returns the header.
///
/// # Safety
/// `block` is valid for writes of `layout`, which is a variable-size layout (`header_offset`
/// >= 8, a multiple of 8), with provenance over the owner block.
unsafe fn write_prefix(
    block: NonNull<u8>,
    layout: BoxLayout,
    owner_shift: u32,
    vtable: &'static VTable,
    len: usize,
) -> NonNull<Header> {
    debug_assert!(layout.header_offset >= size_of::<usize>());
    // SAFETY: the header sits `header_offset` into the block, the count right before it;
    // both are aligned (the block is aligned to `layout.align() >= 8`, and `header_offset`
    // is a multiple of that alignment).
    unsafe {
        let header = block.add(layout.header_offset).cast::<Header>();
        header.cast::<usize>().sub(1).write(len);
        header.write(Header::new(vtable, owner_shift));
        header
    }
}

impl<T: 'static> Gc<[T]> {
    /// The handle of a fresh `[T]` box, taking over its count.
    ///
    /// # Safety
    /// `obj` is a live box written by [`init_slice::<T>`], and one count is transferred.
    pub(crate) unsafe fn from_slice_obj(obj: ObjRef) -> Gc<[T]> {
        // SAFETY: forwarded; `slice_box` never returns null for a live header.
        unsafe { Gc::__from_raw(NonNull::new_unchecked(slice_box::<T>(obj.as_non_null()))) }
    }
}

impl Gc<str> {
    /// The handle of a fresh `str` box, taking over its count.
    ///
    /// # Safety
    /// `obj` is a live box written by [`init_str`], and one count is transferred.
    pub(crate) unsafe fn from_str_obj(obj: ObjRef) -> Gc<str> {
        // SAFETY: the box holds `len` bytes of UTF-8 after its header; `GcBox<str>` has
        // the same layout and metadata as `GcBox<[u8]>`.
        unsafe {
            let bytes = slice_box::<u8>(obj.as_non_null());
            Gc::__from_raw(NonNull::new_unchecked(bytes as *mut GcBox<str>))
        }
    }
}

impl AnyGc {
    /// Back to a typed handle, if the object is a `[T]` made by
    /// [`Heap::alloc_slice`](crate::Heap::alloc_slice) or
    /// [`Heap::alloc_slice_from_iter`](crate::Heap::alloc_slice_from_iter).
    /// (A `Gc<[T]>` coerced from an array is a `[T; N]` object: downcast it to that.)
    ///
    /// ```
    /// use pygc::{Gc, Heap};
    /// let heap = Heap::new();
    /// let xs = heap.alloc_slice(&[1u8, 2, 3]);
    /// let any = Gc::to_any(&xs);
    /// assert_eq!(any.type_name(), "[u8]");
    /// assert_eq!(&*any.downcast_slice::<u8>().unwrap(), &[1, 2, 3]);
    /// assert!(any.downcast_slice::<u16>().is_none());
    /// ```
    pub fn downcast_slice<T: 'static>(&self) -> Option<Gc<[T]>> {
        let vtable = self.obj.vtable();
        if vtable.item_layout.is_none() || (vtable.type_id)() != TypeId::of::<[T]>() {
            return None;
        }
        self.obj.header().inc_rc();
        // SAFETY: a variable-size `[T]` object (its vtable says so); the count is the one
        // just taken.
        Some(unsafe { Gc::from_slice_obj(self.obj) })
    }

    /// Back to a typed handle, if the object is a string made by
    /// [`Heap::alloc_str`](crate::Heap::alloc_str).
    ///
    /// ```
    /// use pygc::{Gc, Heap};
    /// let heap = Heap::new();
    /// let any = Gc::to_any(&heap.alloc_str("spam"));
    /// assert_eq!(any.type_name(), "str");
    /// assert_eq!(&*any.downcast_str().unwrap(), "spam");
    /// ```
    pub fn downcast_str(&self) -> Option<Gc<str>> {
        if (self.obj.vtable().type_id)() != TypeId::of::<str>() {
            return None;
        }
        self.obj.header().inc_rc();
        // SAFETY: a string object (only `STR_VTABLE` has `str`'s type id); the count is
        // the one just taken.
        Some(unsafe { Gc::from_str_obj(self.obj) })
    }
}
