//! `Gc<T>` and `AnyGc`: refcounted handles (CPython's `Py_INCREF` / `Py_DECREF`), the object
//! box, and refcount death (`subtype_dealloc`) with the trashcan that keeps teardown of deep
//! structures off the call stack.
//!
//! A handle is one pointer to a [`GcBox`]. Clone increments the header's count, drop
//! decrements it; reaching zero hands the object to its heap's `release` hook (found at the
//! owner tag, see `owner.rs`), which runs CPython's dealloc sequence: untrack, PEP 442 finalizer (may resurrect), clear weak references and
//! run their callbacks, legacy finalizer, drop the value, free the box.
#![allow(unsafe_code)]

use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::ptr::NonNull;

use super::header::{Header, ObjRef, flag};
use super::vtable::VTable;
use crate::{Finalize, LegacyFinalize, Trace, Visitor};

/// The allocation behind every handle: header first, then the value.
#[repr(C)]
#[doc(hidden)]
pub struct GcBox<T: ?Sized> {
    pub(crate) header: Header,
    pub(crate) value: T,
}

impl<T: ?Sized> fmt::Debug for GcBox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcBox").finish_non_exhaustive()
    }
}

/// A strong, refcounted handle to an object in a [`Heap`](crate::Heap).
///
/// Cloning increments the object's count; dropping decrements it; the object is destroyed
/// the moment its count reaches zero (after its finalizer, weak-reference callbacks and
/// `Drop`), and whatever it held is released in turn without recursion. Cycles are reclaimed
/// by the collector ([`Heap::collect`](crate::Heap::collect)).
///
/// `Gc` is neither `Send` nor `Sync`: counts are plain integers, as in CPython.
///
/// `Gc<T>` is *invariant* in `T` (`Rc<T>` is covariant): an object remembers the type it was
/// allocated with, and gives it back ([`AnyGc::downcast`], the finalizer, which runs with
/// that type), so a `Gc<&'static str>` viewed as a `Gc<&'a str>` and written through
/// [`Gc::get_mut`] would hand a short-lived reference back as `&'static str`. [`Weak`](crate::Weak)
/// is invariant for the same reason.
///
/// ```compile_fail
/// let heap = pygc::Heap::new();
/// let g: pygc::Gc<&'static str> = heap.alloc("static");
/// let local = String::from("short-lived");
/// let mut short: pygc::Gc<&str> = g; // does not compile: `Gc` is invariant
/// *pygc::Gc::get_mut(&mut short).unwrap() = local.as_str();
/// ```
///
/// # Dead handles
/// When the collector breaks a garbage cycle it drops the values of *all* its members. A
/// handle to a co-member reached from one of those `Drop`s (or kept alive past it) is dead:
/// dereferencing it panics with "pygc: handle to an object whose value was already dropped",
/// and [`Gc::try_get`] returns `None`. It never reads freed memory.
///
/// # Example
/// ```
/// use pygc::Heap;
///
/// let heap = Heap::new();
/// let a = heap.alloc(String::from("spam"));
/// assert_eq!(pygc::Gc::ref_count(&a), 1);
/// let b = a.clone();
/// assert_eq!(pygc::Gc::ref_count(&a), 2);
/// drop(b);
/// assert_eq!(*a, "spam");
/// ```
pub struct Gc<T: ?Sized> {
    ptr: NonNull<GcBox<T>>,
    _owns: PhantomData<(*mut T, GcBox<T>)>,
}

impl<T> Gc<T> {
    /// # Safety
    /// `obj` is a live object whose value type is `T`; one count is transferred.
    #[inline]
    pub(crate) unsafe fn from_obj(obj: ObjRef) -> Gc<T> {
        Gc {
            ptr: obj.as_non_null().cast(),
            _owns: PhantomData,
        }
    }

    /// The value, by move, if this is the only handle (count 1), the object has no weak
    /// references and its value is alive; otherwise the handle back (`Rc::try_unwrap`).
    /// The object's box is freed; its finalizer does not run (the value did not die).
    ///
    /// ```
    /// use pygc::{Gc, Heap};
    /// let heap = Heap::new();
    /// let x = heap.alloc(String::from("mine"));
    /// let y = x.clone();
    /// let x = Gc::try_unwrap(x).unwrap_err(); // two handles
    /// drop(y);
    /// assert_eq!(Gc::try_unwrap(x).unwrap(), "mine");
    /// assert_eq!(heap.live_objects(), 0);
    /// ```
    pub fn try_unwrap(this: Self) -> Result<T, Self> {
        let h = this.header();
        if h.rc() != 1 || h.has(flag::DEAD | flag::HAS_WEAKREFS | flag::TRASHED | flag::CLEARING) {
            return Err(this);
        }
        // Mark the value gone first: the refcount death below then frees the box as a
        // zombie (untracked, weak references cleared, no finalizer, no drop).
        h.set(flag::DEAD);
        // SAFETY: the value is initialised (it was not DEAD), this handle is the only count
        // (so nothing else can read it), and DEAD now keeps anyone from dropping it again.
        let value = unsafe { std::ptr::read(&raw const (*this.ptr.as_ptr()).value) };
        drop(this);
        Ok(value)
    }
}

impl<T: ?Sized> Gc<T> {
    /// Give up the handle as a raw pointer (for [`coerce_gc!`](crate::coerce_gc)).
    #[doc(hidden)]
    pub fn __into_raw(this: Self) -> NonNull<GcBox<T>> {
        let ptr = this.ptr;
        std::mem::forget(this);
        ptr
    }

    /// # Safety
    /// `ptr` came from [`Gc::__into_raw`], possibly through an unsizing coercion (which
    /// keeps the address and adds the metadata of the same value); its count is taken over.
    #[doc(hidden)]
    pub unsafe fn __from_raw(ptr: NonNull<GcBox<T>>) -> Self {
        Gc {
            ptr,
            _owns: PhantomData,
        }
    }

    #[inline]
    pub(crate) fn header_ptr(&self) -> NonNull<Header> {
        self.ptr.cast()
    }

    #[inline]
    pub(crate) fn obj(&self) -> ObjRef {
        // SAFETY: a handle owns a count, so its object is live while the handle is.
        unsafe { ObjRef::new(self.ptr.cast()) }
    }

    #[inline]
    fn header(&self) -> &Header {
        // SAFETY: a handle keeps its box alive (it owns a count). Project to the header field
        // without referencing the whole box: the value may be mutably borrowed (its own
        // `Drop` can be running while it drops a handle to itself).
        unsafe { &(*self.ptr.as_ptr()).header }
    }

    /// The value, or `None` if the collector already dropped it (see "Dead handles").
    #[inline]
    pub fn try_get(this: &Self) -> Option<&T> {
        if this.header().has(flag::DEAD) {
            None
        } else {
            // SAFETY: the box is alive and the value not yet dropped; values are dropped only
            // by the collector for unreachable objects (never while a `&T` from a reachable
            // handle exists) or at refcount zero (impossible while `this` holds a count).
            Some(unsafe { &(*this.ptr.as_ptr()).value })
        }
    }

    /// Current strong count: handles plus references held by other objects.
    ///
    /// This is the analogue of `sys.getrefcount(x)`, which reports one more because passing
    /// `x` as an argument takes a temporary reference.
    #[inline]
    pub fn ref_count(this: &Self) -> usize {
        this.header().rc() as usize
    }

    /// Whether two handles name the same object (Python's `is`).
    #[inline]
    pub fn ptr_eq(this: &Self, other: &Self) -> bool {
        std::ptr::addr_eq(this.ptr.as_ptr(), other.ptr.as_ptr())
    }

    /// A type-erased handle to the same object.
    #[inline]
    pub fn to_any(this: &Self) -> AnyGc {
        this.header().inc_rc();
        AnyGc { obj: this.obj() }
    }

    /// Whether the collector has already dropped this object's value.
    #[inline]
    pub fn is_dead(this: &Self) -> bool {
        this.header().has(flag::DEAD)
    }

    /// A pointer to the value (like `Rc::as_ptr`). Valid while a handle keeps the object
    /// alive and the collector has not dropped the value (see "Dead handles"). For identity
    /// use [`Gc::ptr_eq`] or [`ByAddress`].
    ///
    /// ```
    /// use pygc::{Gc, Heap};
    /// let heap = Heap::new();
    /// let x = heap.alloc(5u32);
    /// // SAFETY: `x` keeps the object alive and its value is not dropped.
    /// assert_eq!(unsafe { *Gc::as_ptr(&x) }, 5);
    /// ```
    #[inline]
    pub fn as_ptr(this: &Self) -> *const T {
        // SAFETY: the box is alive (the handle owns a count); no reference is created.
        unsafe { &raw const (*this.ptr.as_ptr()).value }
    }

    /// The object's identity, CPython's `id(obj)`: the address of its header, the same for
    /// every handle to the object (`Gc`, [`AnyGc::id`], whatever the handle's type), and the
    /// identity introspection snapshots use (`ObjectInfo::id`).
    ///
    /// ```
    /// use pygc::{Gc, Heap};
    /// let heap = Heap::new();
    /// let x = heap.alloc(5u32);
    /// assert_eq!(Gc::id(&x), Gc::to_any(&x).id());
    /// assert_ne!(Gc::id(&x), Gc::id(&heap.alloc(5u32)));
    /// ```
    #[inline]
    pub fn id(this: &Self) -> usize {
        this.obj().as_ptr() as usize
    }

    /// A mutable reference to the value if this is the only handle (count 1), the object
    /// has no weak references, its value is alive, and it is untracked (`Rc::get_mut`).
    ///
    /// Tracked objects (types that may hold handles) are refused: the collector reads their
    /// values during any collection, which a `&mut T` held across an allocation would alias.
    /// Atoms (`Gc<String>`, `Gc<Vec<i64>>`) qualify.
    ///
    /// ```
    /// use pygc::{Gc, Heap};
    /// let heap = Heap::new();
    /// let mut v = heap.alloc(vec![1i64, 2]);
    /// Gc::get_mut(&mut v).unwrap().push(3);
    /// let w = v.clone();
    /// assert!(Gc::get_mut(&mut v).is_none()); // shared
    /// # drop(w);
    /// assert_eq!(*v, [1, 2, 3]);
    /// ```
    pub fn get_mut(this: &mut Self) -> Option<&mut T> {
        let h = this.header();
        if h.rc() != 1 || h.is_tracked() || h.has(flag::DEAD | flag::HAS_WEAKREFS) {
            return None;
        }
        // SAFETY: the only count is `this`, borrowed mutably for the result's lifetime, so
        // no other handle can reach the value; the object is untracked, so no collection
        // reads it; and it has no weak references that could be upgraded to a new handle.
        Some(unsafe { &mut (*this.ptr.as_ptr()).value })
    }
}

/// A handle compared, hashed and ordered by object identity (Python's `id`), for use as a
/// map key or in a set; `Gc`'s own `PartialEq` compares values.
///
/// ```
/// use std::collections::HashSet;
/// use pygc::{ByAddress, Heap};
/// let heap = Heap::new();
/// let (a, b) = (heap.alloc(1u8), heap.alloc(1u8));
/// let set: HashSet<_> = [ByAddress(a.clone()), ByAddress(b), ByAddress(a)].into_iter().collect();
/// assert_eq!(set.len(), 2); // equal values, two objects
/// ```
#[derive(Clone, Debug)]
pub struct ByAddress<H>(pub H);

impl<H: Handle> ByAddress<H> {
    fn addr(&self) -> usize {
        self.0.object_ptr().as_ptr().addr()
    }
}

impl<H: Handle> PartialEq for ByAddress<H> {
    fn eq(&self, other: &Self) -> bool {
        self.addr() == other.addr()
    }
}
impl<H: Handle> Eq for ByAddress<H> {}
impl<H: Handle> std::hash::Hash for ByAddress<H> {
    fn hash<S: std::hash::Hasher>(&self, state: &mut S) {
        self.addr().hash(state);
    }
}
impl<H: Handle> PartialOrd for ByAddress<H> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<H: Handle> Ord for ByAddress<H> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.addr().cmp(&other.addr())
    }
}
impl<H> Deref for ByAddress<H> {
    type Target = H;
    fn deref(&self) -> &H {
        &self.0
    }
}

impl<T: ?Sized> Clone for Gc<T> {
    #[inline]
    fn clone(&self) -> Self {
        self.header().inc_rc();
        Gc {
            ptr: self.ptr,
            _owns: PhantomData,
        }
    }
}

impl<T: ?Sized> Drop for Gc<T> {
    #[inline]
    fn drop(&mut self) {
        if self.header().dec_rc() == 0 {
            // SAFETY: the count just reached zero: nothing else refers to the object.
            unsafe { super::owner::release(self.obj()) }
        }
    }
}

impl<T: ?Sized> Deref for Gc<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        match Gc::try_get(self) {
            Some(value) => value,
            None => dead_handle(std::any::type_name::<T>()),
        }
    }
}

#[cold]
#[inline(never)]
fn dead_handle(type_name: &str) -> ! {
    panic!(
        "pygc: handle to an object whose value was already dropped (a `{type_name}` broken \
         up by the cycle collector); use Gc::try_get in Drop impls that may see co-garbage"
    )
}

impl<T: fmt::Debug + ?Sized> fmt::Debug for Gc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Gc::try_get(self) {
            Some(value) => fmt::Debug::fmt(value, f),
            None => write!(f, "<dead {}>", std::any::type_name::<T>()),
        }
    }
}

impl<T: PartialEq + ?Sized> PartialEq for Gc<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Eq + ?Sized> Eq for Gc<T> {}

impl<T: PartialOrd + ?Sized> PartialOrd for Gc<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        (**self).partial_cmp(&**other)
    }
}

impl<T: Ord + ?Sized> Ord for Gc<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (**self).cmp(&**other)
    }
}

/// Hashes the value, like `Rc` (consistent with `PartialEq` and `Borrow`); for identity use
/// [`ByAddress`].
impl<T: std::hash::Hash + ?Sized> std::hash::Hash for Gc<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

impl<T: fmt::Display + ?Sized> fmt::Display for Gc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Gc::try_get(self) {
            Some(value) => fmt::Display::fmt(value, f),
            None => write!(f, "<dead {}>", std::any::type_name::<T>()),
        }
    }
}

impl<T: ?Sized> std::borrow::Borrow<T> for Gc<T> {
    fn borrow(&self) -> &T {
        self
    }
}

impl<T: ?Sized> AsRef<T> for Gc<T> {
    fn as_ref(&self) -> &T {
        self
    }
}

impl<T: ?Sized> fmt::Pointer for Gc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Pointer::fmt(&self.ptr, f)
    }
}

/// A strong handle to an object of any type: what introspection (`objects`, `referrers`,
/// `garbage`) returns. Downcast it back with [`AnyGc::downcast`].
///
/// ```
/// use pygc::Heap;
/// let heap = Heap::new();
/// let s = heap.alloc(5u32);
/// let any = pygc::Gc::to_any(&s);
/// assert_eq!(any.type_name(), "u32");
/// assert_eq!(*any.downcast::<u32>().unwrap(), 5);
/// ```
pub struct AnyGc {
    pub(crate) obj: ObjRef,
}

impl AnyGc {
    /// Take a new count on `obj` and wrap it (the collector's "hold").
    ///
    /// Never revives: an object whose count is zero is dying (queued in the trashcan or in
    /// its dealloc), and a new count would let it be freed under the new handle. Reaching
    /// that here means pygc's own bookkeeping is broken, so the process aborts.
    #[inline]
    pub(crate) fn new_ref(obj: ObjRef) -> AnyGc {
        if obj.header().rc() == 0 {
            crate::object::corrupted("a new strong count on an object whose count is zero");
        }
        obj.header().inc_rc();
        AnyGc { obj }
    }

    /// The Rust type name of the value.
    pub fn type_name(&self) -> &'static str {
        (self.obj.vtable().type_name)()
    }

    /// Back to a typed handle, if the value is a `T`.
    pub fn downcast<T: 'static>(&self) -> Option<Gc<T>> {
        if self.obj.vtable().is_weakref {
            return None; // weak-reference objects are internal: reach them through `Weak`
        }
        self.downcast_internal()
    }

    pub(crate) fn downcast_internal<T: 'static>(&self) -> Option<Gc<T>> {
        if (self.obj.vtable().type_id)() == std::any::TypeId::of::<T>() {
            self.obj.header().inc_rc();
            // SAFETY: the vtable says the value is a `T`; we just took the count we hand over.
            Some(unsafe { Gc::from_obj(self.obj) })
        } else {
            None
        }
    }

    /// Strong count (see [`Gc::ref_count`]).
    pub fn ref_count(&self) -> usize {
        self.obj.header().rc() as usize
    }

    /// Identity comparison.
    pub fn ptr_eq(&self, other: &AnyGc) -> bool {
        self.obj == other.obj
    }

    /// The object's address.
    pub fn as_ptr(&self) -> *const () {
        self.obj.as_ptr().cast_const().cast()
    }

    /// The object's identity, CPython's `id(obj)` (the same as [`Gc::id`] of any handle to it).
    ///
    /// ```
    /// use pygc::{Gc, Heap};
    /// let heap = Heap::new();
    /// let x = heap.alloc(vec![1, 2]);
    /// assert_eq!(Gc::to_any(&x).id(), Gc::id(&x));
    /// ```
    pub fn id(&self) -> usize {
        self.obj.as_ptr() as usize
    }

    /// Whether this is a weak-reference object (what a [`Weak`](crate::Weak) points at).
    pub fn is_weakref(&self) -> bool {
        self.obj.vtable().is_weakref
    }
}

impl Clone for AnyGc {
    fn clone(&self) -> Self {
        AnyGc::new_ref(self.obj)
    }
}

impl Drop for AnyGc {
    #[inline]
    fn drop(&mut self) {
        if self.obj.header().dec_rc() == 0 {
            // SAFETY: the count just reached zero.
            unsafe { super::owner::release(self.obj) }
        }
    }
}

impl PartialEq for AnyGc {
    fn eq(&self, other: &Self) -> bool {
        self.ptr_eq(other)
    }
}
impl Eq for AnyGc {}

impl std::hash::Hash for AnyGc {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.obj.hash(state);
    }
}

impl fmt::Debug for AnyGc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} {:p}>", self.type_name(), self.obj)
    }
}

/// Handles the heap's introspection methods accept: [`Gc`], [`AnyGc`] and [`Weak`](crate::Weak).
pub trait Handle: sealed::Sealed {}
impl<T: ?Sized> Handle for Gc<T> {}
impl Handle for AnyGc {}

pub(crate) mod sealed {
    /// Gives the crate the object behind a handle.
    pub trait Sealed {
        #[doc(hidden)]
        fn object_ptr(&self) -> std::ptr::NonNull<u8>;
    }
}

impl<T: ?Sized> sealed::Sealed for Gc<T> {
    fn object_ptr(&self) -> NonNull<u8> {
        self.ptr.cast()
    }
}
impl sealed::Sealed for AnyGc {
    fn object_ptr(&self) -> NonNull<u8> {
        self.obj.as_non_null().cast()
    }
}

/// The object behind any handle.
pub(crate) fn obj_of<H: Handle + ?Sized>(handle: &H) -> ObjRef {
    // SAFETY: a handle owns a count, so its object is live for the borrow.
    unsafe { ObjRef::new(handle.object_ptr().cast()) }
}

// ---- vtable shims -----------------------------------------------------------------------

/// # Safety
/// `h` is a live `GcBox<T>` whose value is initialised.
pub(crate) unsafe fn trace_shim<T: Trace>(h: NonNull<Header>, visitor: &mut Visitor<'_>) {
    // SAFETY: caller guarantees the value is initialised.
    let value = unsafe { &(*h.cast::<GcBox<T>>().as_ptr()).value };
    value.trace(visitor);
}

/// # Safety
/// `h` is a live `GcBox<T>` whose value is initialised and is dropped here exactly once.
pub(crate) unsafe fn drop_value_shim<T>(h: NonNull<Header>) {
    // SAFETY: caller guarantees the value is initialised and not dropped before.
    unsafe { std::ptr::drop_in_place(&raw mut (*h.cast::<GcBox<T>>().as_ptr()).value) }
}

/// # Safety
/// `h` is a live `GcBox<T>`, value initialised, and the caller holds a count across the call.
pub(crate) unsafe fn finalize_shim<T: Finalize + 'static>(h: NonNull<Header>) {
    // SAFETY: caller holds a count, so a borrowed (non-owning) handle is valid for the call.
    let this = ManuallyDrop::new(unsafe { Gc::<T>::from_obj(ObjRef::new(h)) });
    T::finalize(&this);
}

/// The PEP 442 finalizer of an object allocated with `Heap::alloc` whose type's
/// `Trace::FINALIZER` is set.
///
/// # Safety
/// As `finalize_shim`: `h` is a live `GcBox<T>`, value initialised, a count held.
pub(crate) unsafe fn derived_finalize_shim<T: Trace + 'static>(h: NonNull<Header>) {
    if let Some(finalizer) = T::FINALIZER {
        // A `Finalizer` made for another type (a hand-written `Trace` impl naming the wrong
        // probe) is never called on a `T`.
        if (finalizer.type_id)() == std::any::TypeId::of::<T>() {
            // SAFETY: the shim was made for `T` (same `TypeId`), and the caller's contract is
            // `finalize_shim::<T>`'s.
            unsafe { (finalizer.shim)(h) }
        }
    }
}
/// # Safety
/// As [`finalize_shim`].
pub(crate) unsafe fn legacy_finalize_shim<T: LegacyFinalize + 'static>(h: NonNull<Header>) {
    // SAFETY: caller holds a count.
    let this = ManuallyDrop::new(unsafe { Gc::<T>::from_obj(ObjRef::new(h)) });
    T::legacy_finalize(&this);
}

// ---- box initialisation and refcount death -------------------------------------------

/// Write a fresh box of `value` into `memory`: count 1, untracked.
///
/// # Safety
/// `memory` is valid for writes of `vtable.layout`, which is `GcBox<T>`'s layout, and lies in
/// an owner block of size `1 << owner_shift` whose first word is an owner tag.
pub(crate) unsafe fn init_box<T>(
    memory: NonNull<u8>,
    owner_shift: u32,
    vtable: &'static VTable,
    value: T,
) -> ObjRef {
    debug_assert_eq!(vtable.layout, std::alloc::Layout::new::<GcBox<T>>());
    let ptr = memory.cast::<GcBox<T>>();
    // SAFETY: caller guarantees the memory is valid and laid out for a `GcBox<T>`.
    unsafe {
        ptr.as_ptr().write(GcBox {
            header: Header::new(vtable, owner_shift),
            value,
        });
        ObjRef::new(ptr.cast())
    }
}

/// Drop the value of `obj` in place (once), marking it DEAD first.
///
/// # Safety
/// `obj` is live and its value initialised and not dropped; no `&T` into the value is used
/// after this call.
pub(crate) unsafe fn drop_value(obj: ObjRef) {
    obj.header().set(flag::DEAD);
    // SAFETY: forwarded from the caller.
    unsafe { (obj.vtable().drop_value)(obj.as_non_null()) }
}

/// Run a (PEP 442 or legacy) finalizer of `obj`.
///
/// # Safety
/// The caller owns a count on `obj` for the whole call (so user code cannot free it), and
/// `obj`'s value is initialised (not DEAD).
pub(crate) unsafe fn call_finalizer(obj: ObjRef, finalize: unsafe fn(NonNull<Header>)) {
    debug_assert!(obj.header().rc() > 0 && !obj.header().has(flag::DEAD));
    // SAFETY: forwarded from the caller.
    unsafe { finalize(obj.as_non_null()) }
}

impl ObjRef {
    /// The value of a weak-reference object, unless the collector already dropped it.
    pub(crate) fn weakref(&self) -> Option<&super::weak::WeakRefObj> {
        debug_assert!(self.vtable().is_weakref);
        if !self.vtable().is_weakref || self.header().has(flag::DEAD) {
            return None;
        }
        // SAFETY: the object is live (ObjRef invariant), its vtable says the value is a
        // `WeakRefObj`, and it is not DEAD, so the value is initialised for this borrow.
        Some(unsafe {
            &(*self
                .as_non_null()
                .cast::<GcBox<super::weak::WeakRefObj>>()
                .as_ptr())
            .value
        })
    }
}
