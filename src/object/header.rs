//! The object header: refcount, collector links and flags (CPython's `PyObject` head plus
//! `PyGC_Head`, in 32 bytes).
//!
//! Every object pygc manages lives in a [`GcBox`](super::handle) whose first field is a
//! [`Header`]. The header is the only place a refcount changes and the only memory the
//! collector touches besides what `Trace` reports.
//!
//! # Field states
//!
//! | field   | between collections                          | during a collection (objects in the set)                  |
//! |---------|----------------------------------------------|-----------------------------------------------------------|
//! | `prev`  | previous node of the generation list, or null when untracked | young, ahead of the scan: `gc_refs << 1 | COLLECTING`; in `unreachable`: previous node `| COLLECTING` |
//! | `next`  | next node, or null when untracked (`is_tracked` is exactly `next != null`) | next node                                  |
//! | `rc`    | the refcount (strong handles + holds)        | unchanged (the collector only *copies* it into `gc_refs`) |
//! | `flags` | FINALIZED, DEAD, HAS_WEAKREFS, owner shift   | plus UNREACHABLE while in the unreachable list            |
//!
//! `prev` borrows its bit 0 as COLLECTING: real node pointers are 8-aligned, so bit 0 of a
//! pointer is always clear, and an object outside the set being collected never reads as
//! collecting. While an object is young and ahead of `move_unreachable`'s cursor, `prev` holds
//! no pointer at all but its scratch count (the list is then singly linked, as in CPython).
//!
//! # Finding the heap
//!
//! A header records in `flags` the log2 of the alignment block it sits in (its pool for small
//! objects, its own large block otherwise). The first word of that block is the owner tag: a
//! pointer to the [`Owner`] at the start of the heap state that owns the object. So an object finds its heap
//! by masking its own address, and no object pays a word for a heap pointer. The tag names an
//! [`Owner`] (`object/owner.rs`): refcount death reaches the heap through the hooks found
//! there, so this layer never names the heap's type.
#![allow(unsafe_code)]

use std::cell::Cell;
use std::ptr::{self, NonNull};

use super::owner::Owner;
use super::vtable::VTable;

/// Flag bits kept in [`Header::flags`].
pub(crate) mod flag {
    /// PEP 442: the finalizer has run (permanent).
    pub const FINALIZED: u32 = 1 << 0;
    /// The value has been dropped; the header lives on only while handles remain.
    pub const DEAD: u32 = 1 << 1;
    /// The heap's weak-list table has an entry for this object.
    pub const HAS_WEAKREFS: u32 = 1 << 2;
    /// In `move_unreachable`'s unreachable list (collection scratch).
    pub const UNREACHABLE: u32 = 1 << 3;
    /// List sentinel, never an object.
    pub const SENTINEL: u32 = 1 << 4;
    /// Its refcount reached zero and it waits in the trashcan queue.
    pub const TRASHED: u32 = 1 << 5;
    /// The value is being dropped by the collector (clear phase).
    pub const CLEARING: u32 = 1 << 6;
    /// Bits 24..32: log2 of the alignment block holding the owner tag.
    pub const SHIFT_POS: u32 = 24;
}

/// Bit 0 of `prev`: the object is in the set being collected.
const COLLECTING: usize = 1;

/// The header at the start of every object box.
///
/// # Invariants
/// - `vtable` describes the value that follows the header in its `GcBox` (type, layout,
///   trace, drop) and never changes.
/// - `rc` counts every `Gc`, `AnyGc` and internal hold; the box is freed exactly when it
///   reaches zero (after the value was dropped). It never exceeds `u32::MAX`: an increment
///   that would overflow aborts the process, as `Rc` does.
/// - `next` is null iff the object is untracked; a tracked object is a node of exactly one
///   circular list (a generation, the permanent generation, or a collector work list).
/// - the address block of size `1 << (flags >> SHIFT_POS)` containing the header begins with
///   a pointer-sized owner tag naming the owning heap, valid while the object lives.
#[repr(C)]
pub(crate) struct Header {
    prev: Cell<*mut Header>,
    next: Cell<*mut Header>,
    pub(crate) vtable: &'static VTable,
    rc: Cell<u32>,
    flags: Cell<u32>,
}

impl Header {
    /// A fresh, untracked header with refcount 1.
    pub(crate) fn new(vtable: &'static VTable, owner_shift: u32) -> Header {
        debug_assert!(owner_shift < 32);
        Header {
            prev: Cell::new(ptr::null_mut()),
            next: Cell::new(ptr::null_mut()),
            vtable,
            rc: Cell::new(1),
            flags: Cell::new(owner_shift << flag::SHIFT_POS),
        }
    }

    /// A list sentinel: a header that points at itself.
    pub(crate) fn new_sentinel(vtable: &'static VTable) -> Header {
        Header {
            prev: Cell::new(ptr::null_mut()),
            next: Cell::new(ptr::null_mut()),
            vtable,
            rc: Cell::new(1),
            flags: Cell::new(flag::SENTINEL),
        }
    }

    // ---- refcount -------------------------------------------------------------------

    #[inline]
    pub(crate) fn rc(&self) -> u32 {
        self.rc.get()
    }

    #[inline]
    pub(crate) fn inc_rc(&self) {
        let rc = self.rc.get();
        if rc == u32::MAX {
            refcount_overflow();
        }
        self.rc.set(rc + 1);
    }

    /// Decrement and return the new count.
    #[inline]
    pub(crate) fn dec_rc(&self) -> u32 {
        let rc = self.rc.get() - 1;
        self.rc.set(rc);
        rc
    }

    #[inline]
    pub(crate) fn set_rc(&self, rc: u32) {
        self.rc.set(rc);
    }

    // ---- flags ----------------------------------------------------------------------

    #[inline]
    pub(crate) fn has(&self, bits: u32) -> bool {
        self.flags.get() & bits != 0
    }

    #[inline]
    pub(crate) fn set(&self, bits: u32) {
        self.flags.set(self.flags.get() | bits);
    }

    #[inline]
    pub(crate) fn clear(&self, bits: u32) {
        self.flags.set(self.flags.get() & !bits);
    }

    /// All flag bits (for diagnostics).
    #[cfg(any(test, feature = "checked"))]
    pub(crate) fn flags_bits(&self) -> u32 {
        self.flags.get()
    }

    #[inline]
    pub(crate) fn owner_shift(&self) -> u32 {
        self.flags.get() >> flag::SHIFT_POS
    }

    // ---- links ----------------------------------------------------------------------

    #[inline]
    pub(crate) fn is_tracked(&self) -> bool {
        !self.next.get().is_null()
    }

    #[inline]
    pub(crate) fn next(&self) -> *mut Header {
        self.next.get()
    }

    #[inline]
    pub(crate) fn set_next(&self, next: *mut Header) {
        self.next.set(next);
    }

    /// The previous node, without the COLLECTING bit. Meaningless while `prev` holds
    /// `gc_refs` (young objects ahead of `move_unreachable`'s cursor).
    #[inline]
    pub(crate) fn prev(&self) -> *mut Header {
        self.prev.get().map_addr(|a| a & !COLLECTING)
    }

    /// Set the previous node, keeping the COLLECTING bit.
    #[inline]
    pub(crate) fn set_prev(&self, prev: *mut Header) {
        let bit = self.prev.get().addr() & COLLECTING;
        self.prev.set(prev.map_addr(|a| a | bit));
    }

    /// Set the previous node and clear COLLECTING.
    #[inline]
    pub(crate) fn set_prev_plain(&self, prev: *mut Header) {
        self.prev.set(prev);
    }

    /// Untracked: both links null.
    #[inline]
    pub(crate) fn set_untracked(&self) {
        self.prev.set(ptr::null_mut());
        self.next.set(ptr::null_mut());
    }

    // ---- collection scratch (`prev` as gc_refs) ---------------------------------------

    #[inline]
    pub(crate) fn is_collecting(&self) -> bool {
        self.prev.get().addr() & COLLECTING != 0
    }

    /// `update_refs`: `gc_refs = rc`, COLLECTING set. The list becomes singly linked here.
    #[inline]
    pub(crate) fn start_collecting(&self) {
        self.prev.set(ptr::without_provenance_mut(
            (self.rc.get() as usize) << 1 | COLLECTING,
        ));
    }

    #[inline]
    pub(crate) fn gc_refs(&self) -> usize {
        self.prev.get().addr() >> 1
    }

    #[inline]
    pub(crate) fn set_gc_refs(&self, refs: usize) {
        self.prev
            .set(ptr::without_provenance_mut(refs << 1 | COLLECTING));
    }

    #[inline]
    pub(crate) fn clear_collecting(&self) {
        self.prev.set(self.prev.get().map_addr(|a| a & !COLLECTING));
    }
}

#[cold]
#[inline(never)]
fn refcount_overflow() -> ! {
    // As `Rc` does: a count this large can only come from leaking handles in a loop.
    std::process::abort()
}

/// The [`Owner`] named by the owner tag of the block containing `header`.
///
/// # Safety
/// `header` points to a live object header (invariant of [`Header`]): its owner block starts
/// with the owner tag and the pointer carries provenance for that whole block.
#[inline]
unsafe fn owner_tag(header: NonNull<Header>) -> NonNull<Owner> {
    // SAFETY: caller guarantees `header` is live.
    let shift = unsafe { header.as_ref() }.owner_shift();
    let mask = (1usize << shift) - 1;
    let block = header.as_ptr().cast::<u8>().map_addr(|a| a & !mask);
    // SAFETY: by the header invariant the block begins with an aligned, initialised owner
    // tag, and `header`'s provenance covers the block (boxes are carved from it by offset).
    let tag = unsafe { block.cast::<*const Owner>().read() };
    // SAFETY: an owner tag is written once, from a non-null `Owner` pointer, before any box
    // of the block exists (`Owner` docs).
    unsafe { NonNull::new_unchecked(tag.cast_mut()) }
}

/// A header reference the collector passes around.
///
/// # Invariant
/// An `ObjRef` is only created (by the `unsafe` constructors, whose callers vouch for it) for,
/// and only used while, its object's header is live: it is a node of one of the heap's lists,
/// or reached through `Trace` from such a node, or held by a strong count the holder owns.
/// The collector keeps this true across user code by holding a count on every object user
/// code could otherwise free (CPython's discipline).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ObjRef(NonNull<Header>);

impl std::fmt::Debug for ObjRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ObjRef({:p})", self.0)
    }
}

impl std::fmt::Pointer for ObjRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Pointer::fmt(&self.0, f)
    }
}

impl ObjRef {
    /// # Safety
    /// `ptr` satisfies the `ObjRef` invariant for as long as the result is used.
    #[inline]
    pub(crate) unsafe fn new(ptr: NonNull<Header>) -> ObjRef {
        ObjRef(ptr)
    }

    /// # Safety
    /// As for [`ObjRef::new`]; `ptr` is non-null.
    #[inline]
    pub(crate) unsafe fn from_raw(ptr: *mut Header) -> ObjRef {
        debug_assert!(!ptr.is_null());
        // SAFETY: caller guarantees non-null.
        ObjRef(unsafe { NonNull::new_unchecked(ptr) })
    }

    #[inline]
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: the `ObjRef` invariant says the header is live.
        unsafe { self.0.as_ref() }
    }

    #[inline]
    pub(crate) fn as_ptr(self) -> *mut Header {
        self.0.as_ptr()
    }

    #[inline]
    pub(crate) fn as_non_null(self) -> NonNull<Header> {
        self.0
    }

    /// The owner of this object: the heap state's [`Owner`], with provenance for the whole
    /// state (what the hooks need). Valid while the object lives (the state outlives it).
    #[inline]
    pub(crate) fn owner(self) -> NonNull<Owner> {
        // SAFETY: the `ObjRef` invariant says the header is live.
        unsafe { owner_tag(self.0) }
    }

    #[inline]
    pub(crate) fn vtable(self) -> &'static VTable {
        self.header().vtable
    }

    /// The Rust type name of the value (for diagnostics).
    #[inline]
    pub(crate) fn type_name(self) -> &'static str {
        (self.vtable().type_name)()
    }

    /// Ask the CPU to start loading this object's header into cache (a hint: no effect on
    /// what any later read returns). The collector's per-edge passes touch headers in
    /// random order; issuing the loads a few edges ahead overlaps their DRAM latency.
    #[inline(always)]
    pub(crate) fn prefetch(self) {
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        // SAFETY: a prefetch is a hint: it never faults and never changes memory, whatever
        // the address; this one points at a live header anyway (ObjRef invariant).
        unsafe {
            use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            _mm_prefetch::<_MM_HINT_T0>(self.0.as_ptr().cast::<i8>());
        }
    }

    /// Run the type's `trace` on this object's value.
    #[inline]
    pub(crate) fn trace(self, visitor: &mut crate::Visitor<'_>) {
        if self.header().has(flag::DEAD) {
            return; // a dead value owns nothing any more
        }
        // SAFETY: the header is live and not DEAD, so the value after it is initialised and
        // matches the vtable.
        unsafe { (self.vtable().trace)(self.0, visitor) }
    }
}
