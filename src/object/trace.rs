//! The `Trace` contract: how a value tells the collector which handles it owns.
//!
//! CPython's `tp_traverse` calls `visit` on every strong reference an object owns. pygc's
//! [`Trace::trace`] does the same through a [`Visitor`]: the collector decides what a visit
//! means (subtract a reference, mark reachable, collect referents), and the value never
//! recurses into its children, so no walk of the graph ever uses the call stack.

#![allow(unsafe_code)] // `unsafe impl Trace` only
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, LinkedList, VecDeque};
use std::marker::PhantomData;
use std::ptr::NonNull;

use crate::object::header::{Header, ObjRef};
use crate::{Gc, Weak};

/// Enumerates the handles a value owns, for the cycle collector.
///
/// Implement it with `#[derive(Trace)]`: the derive is the safe road and visits every field.
/// A hand-written implementation must keep this contract:
///
/// # Safety
///
/// 1. **Report what you own.** `trace` calls [`Visitor::visit`] (or `visit_weak`) for every
///    [`Gc`] and [`Weak`] handle stored in `self` that is reachable without going through
///    another `Gc`, and for **no other** handle. Reporting a handle you do not own (for
///    example one owned by an `Rc` shared with others) makes the collector believe an object
///    is referenced only from garbage, and it will free a live object.
/// 2. **Exactly once.** Each owned handle is reported once per call; reporting it twice
///    undercounts external references the same way. Missing a handle is *safe*: the target
///    then looks referenced from outside and is kept alive (a leak, never a free).
/// 3. **Stable.** While no user code runs, two calls report the same handles. (The collector
///    calls `trace` several times per collection without running user code in between.)
/// 4. **Quiet.** `trace` must not create, clone, drop or dereference handles, allocate in a
///    [`Heap`](crate::Heap), or mutate anything the collector can see. It should not panic;
///    if it does anyway, the collection is abandoned, every object is put back on a
///    well-formed generation list, and the panic reaches the caller of `collect` (or of the
///    `alloc` that triggered the collection). Nothing is freed and nothing is corrupted.
/// 5. **Honest atoms.** `MAY_CONTAIN_HANDLES = false` is allowed only for types whose values
///    can never hold a `Gc` or `Weak` of any heap. Such values are never tracked by the
///    collector (CPython's untracked atoms), so a handle hidden in one is never traced.
///
/// # Stack depth
///
/// The collector never recurses over the object graph: each object's `trace` reports only its
/// own handles, and the collector keeps the work list. *Inside* one value, though, `trace`
/// walks the value's own structure the way the derive writes it, with one stack frame per
/// level of nesting (`Box<Option<Box<...>>>`, a hand-made linked list in a single object).
/// Such a chain of about 100,000 levels overflows an 8 MiB stack, as its `Drop` would. Keep
/// long chains as separate objects (`Gc` links), where depth costs nothing, or write `trace`
/// for that type as a loop.
///
/// # Example
///
/// ```
/// use std::cell::RefCell;
/// use pygc::{Gc, Heap, Trace};
///
/// #[derive(Trace)]
/// struct Node {
///     #[trace(skip)] // plain data: no handles inside
///     name: String,
///     edges: RefCell<Vec<Gc<Node>>>,
/// }
///
/// let heap = Heap::new();
/// let a = heap.alloc(Node { name: "a".into(), edges: RefCell::new(vec![]) });
/// assert_eq!(a.name, "a");
/// a.edges.borrow_mut().push(a.clone()); // a self-loop
/// assert_eq!(a.name, "a");
/// drop(a);
/// assert_eq!(heap.collect(), 1);
/// ```
pub unsafe trait Trace {
    /// Whether a value of this type can ever hold a handle. `false` makes objects of the
    /// type untracked: refcounting alone manages them and they never enter a generation.
    const MAY_CONTAIN_HANDLES: bool = true;

    /// The PEP 442 finalizer [`Heap::alloc`](crate::Heap::alloc) runs for this type: set by
    /// `#[derive(Trace)]` when the type implements [`Finalize`](crate::Finalize), `None`
    /// otherwise. A hand-written impl of a type that implements `Finalize` sets it to
    /// `pygc::finalizer_of!(Self)`.
    #[doc(hidden)]
    const FINALIZER: Option<crate::object::vtable::Finalizer> = None;

    /// Report every owned handle to `visitor` (see the contract above).
    fn trace(&self, visitor: &mut Visitor<'_>);
}

/// Receives the handles a value reports from [`Trace::trace`].
///
/// A `Visitor` is created only by pygc; what a visit does depends on the collector phase.
pub struct Visitor<'a> {
    sink: &'a mut dyn VisitSink,
}

/// What a [`Visitor`] does with each reported object: the collector's phases (and the
/// introspection calls) implement it in `gc/visit.rs`.
pub(crate) trait VisitSink {
    /// One reported handle. `target` is live for the call (the traced value owns it).
    fn visit(&mut self, target: ObjRef);
    /// Whether visited targets are handed to the caller as new strong handles
    /// (`get_referents`), rather than only read by the collector.
    fn hands_out_handles(&self) -> bool {
        false
    }
}

impl std::fmt::Debug for Visitor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Visitor").finish_non_exhaustive()
    }
}

impl<'a> Visitor<'a> {
    pub(crate) fn new(sink: &'a mut dyn VisitSink) -> Self {
        Visitor { sink }
    }

    /// Whether this visit hands targets out as handles (introspection): `Py` of a shared
    /// heap does not report to such visitors.
    #[inline]
    pub(crate) fn hands_out_handles(&self) -> bool {
        self.sink.hands_out_handles()
    }

    /// Report one strong handle owned by the value being traced.
    #[inline]
    pub fn visit<T: ?Sized>(&mut self, handle: &Gc<T>) {
        self.visit_header(handle.header_ptr());
    }

    /// Report one weak handle owned by the value being traced.
    ///
    /// As in CPython, a weak reference is itself an object: the value owns a strong
    /// reference to the weak-reference object, not to its referent.
    #[inline]
    pub fn visit_weak<T>(&mut self, handle: &Weak<T>) {
        if let Some(weakref) = handle.weakref_header_ptr() {
            self.visit_header(weakref);
        }
    }

    #[inline]
    pub(crate) fn visit_header(&mut self, target: NonNull<Header>) {
        // SAFETY: the traced value owns a handle to `target`, so it is live for the visit.
        let target = unsafe { ObjRef::new(target) };
        self.sink.visit(target);
    }
}

macro_rules! atoms {
    ($($t:ty),* $(,)?) => {$(
        // SAFETY: values of this type never hold a handle (contract items 1 and 5).
        unsafe impl Trace for $t {
            const MAY_CONTAIN_HANDLES: bool = false;
            #[inline]
            fn trace(&self, _: &mut Visitor<'_>) {}
        }
    )*};
}

atoms!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    String,
    str,
    std::rc::Rc<str>,
    std::sync::Arc<str>,
    std::num::NonZeroU32,
    std::num::NonZeroU64,
    std::num::NonZeroUsize,
    std::time::Duration,
    std::path::PathBuf,
    std::ffi::OsString,
    std::any::TypeId
);

// SAFETY: a shared `'static` reference owns nothing: whatever it points at is owned
// elsewhere (leaked or static), so it reports no handle (item 1) and, owning none, is an atom.
unsafe impl<T: ?Sized + 'static> Trace for &'static T {
    const MAY_CONTAIN_HANDLES: bool = false;
    #[inline]
    fn trace(&self, _: &mut Visitor<'_>) {}
}

macro_rules! fn_pointers {
    ($(($($a:ident),*)),* $(,)?) => {$(
        // SAFETY: a function pointer is code, never a handle.
        unsafe impl<R $(, $a)*> Trace for fn($($a),*) -> R {
            const MAY_CONTAIN_HANDLES: bool = false;
            #[inline]
            fn trace(&self, _: &mut Visitor<'_>) {}
        }
    )*};
}
fn_pointers!((), (A), (A, B), (A, B, C), (A, B, C, D));

// SAFETY: the object named by an `AnyGc` is owned by it, like a `Gc`'s; reported once.
unsafe impl Trace for crate::AnyGc {
    #[inline]
    fn trace(&self, visitor: &mut Visitor<'_>) {
        visitor.visit_header(self.obj.as_non_null());
    }
}

// SAFETY: forwards to the wrapped handle.
unsafe impl<H: Trace> Trace for crate::ByAddress<H> {
    const MAY_CONTAIN_HANDLES: bool = H::MAY_CONTAIN_HANDLES;
    #[inline]
    fn trace(&self, visitor: &mut Visitor<'_>) {
        self.0.trace(visitor);
    }
}

// SAFETY: an initialised `OnceCell` owns its value; an empty one owns nothing. It is only
// initialised by user code, which never runs between the collector's passes (item 3).
unsafe impl<T: Trace> Trace for std::cell::OnceCell<T> {
    const MAY_CONTAIN_HANDLES: bool = T::MAY_CONTAIN_HANDLES;
    #[inline]
    fn trace(&self, visitor: &mut Visitor<'_>) {
        if let Some(value) = self.get() {
            value.trace(visitor);
        }
    }
}

// SAFETY: `PhantomData` holds nothing.
unsafe impl<T: ?Sized> Trace for PhantomData<T> {
    const MAY_CONTAIN_HANDLES: bool = false;
    #[inline]
    fn trace(&self, _: &mut Visitor<'_>) {}
}

// SAFETY: a `Cell<T>` with `T: Copy` can hold no handle, because `Gc` and `Weak` are not
// `Copy` and no `Copy` type can contain them.
unsafe impl<T: Copy> Trace for Cell<T> {
    const MAY_CONTAIN_HANDLES: bool = false;
    #[inline]
    fn trace(&self, _: &mut Visitor<'_>) {}
}

// SAFETY: the handle is owned by the value holding it; reported once.
unsafe impl<T: ?Sized> Trace for Gc<T> {
    #[inline]
    fn trace(&self, visitor: &mut Visitor<'_>) {
        visitor.visit(self);
    }
}

// SAFETY: a `Weak` owns one strong reference to its weak-reference object; reported once.
unsafe impl<T> Trace for Weak<T> {
    #[inline]
    fn trace(&self, visitor: &mut Visitor<'_>) {
        visitor.visit_weak(self);
    }
}

// SAFETY: forwards to the inner value, which it owns exclusively.
unsafe impl<T: Trace + ?Sized> Trace for Box<T> {
    const MAY_CONTAIN_HANDLES: bool = T::MAY_CONTAIN_HANDLES;
    #[inline]
    fn trace(&self, visitor: &mut Visitor<'_>) {
        (**self).trace(visitor);
    }
}

// SAFETY: a `RefCell` that is mutably borrowed while the collector runs is skipped. Skipping
// is conservative (contract item 2: its targets look externally referenced), and because no
// user code runs between the collector's passes, every pass of one collection skips it alike.
unsafe impl<T: Trace + ?Sized> Trace for RefCell<T> {
    const MAY_CONTAIN_HANDLES: bool = T::MAY_CONTAIN_HANDLES;
    #[inline]
    fn trace(&self, visitor: &mut Visitor<'_>) {
        if T::MAY_CONTAIN_HANDLES {
            if let Ok(inner) = self.try_borrow() {
                inner.trace(visitor);
            }
        }
    }
}

// SAFETY: forwards to the contained value, if any.
unsafe impl<T: Trace> Trace for Option<T> {
    const MAY_CONTAIN_HANDLES: bool = T::MAY_CONTAIN_HANDLES;
    #[inline]
    fn trace(&self, visitor: &mut Visitor<'_>) {
        if let Some(value) = self {
            value.trace(visitor);
        }
    }
}

// SAFETY: forwards to whichever variant is present.
unsafe impl<T: Trace, E: Trace> Trace for Result<T, E> {
    const MAY_CONTAIN_HANDLES: bool = T::MAY_CONTAIN_HANDLES || E::MAY_CONTAIN_HANDLES;
    #[inline]
    fn trace(&self, visitor: &mut Visitor<'_>) {
        match self {
            Ok(value) => value.trace(visitor),
            Err(error) => error.trace(visitor),
        }
    }
}

macro_rules! sequences {
    ($($name:ident<$($p:ident),*> $(where $($b:tt)*)?;)*) => {$(
        // SAFETY: forwards to every element, each owned exclusively by the collection.
        unsafe impl<T: Trace $(, $p)*> Trace for $name<T $(, $p)*> $(where $($b)*)? {
            const MAY_CONTAIN_HANDLES: bool = T::MAY_CONTAIN_HANDLES;
            #[inline]
            fn trace(&self, visitor: &mut Visitor<'_>) {
                if T::MAY_CONTAIN_HANDLES {
                    for item in self.iter() {
                        item.trace(visitor);
                    }
                }
            }
        }
    )*};
}

sequences! {
    Vec<>;
    VecDeque<>;
    LinkedList<>;
    BTreeSet<>;
    HashSet<S>;
    BinaryHeap<>;
}

// SAFETY: forwards to every element.
unsafe impl<T: Trace> Trace for [T] {
    const MAY_CONTAIN_HANDLES: bool = T::MAY_CONTAIN_HANDLES;
    #[inline]
    fn trace(&self, visitor: &mut Visitor<'_>) {
        if T::MAY_CONTAIN_HANDLES {
            for item in self {
                item.trace(visitor);
            }
        }
    }
}

// SAFETY: forwards to every element.
unsafe impl<T: Trace, const N: usize> Trace for [T; N] {
    const MAY_CONTAIN_HANDLES: bool = T::MAY_CONTAIN_HANDLES;
    #[inline]
    fn trace(&self, visitor: &mut Visitor<'_>) {
        self.as_slice().trace(visitor);
    }
}

macro_rules! maps {
    ($($name:ident<K, V $(, $s:ident)?>;)*) => {$(
        // SAFETY: forwards to every key and value, each owned exclusively by the map.
        unsafe impl<K: Trace, V: Trace $(, $s)?> Trace for $name<K, V $(, $s)?> {
            const MAY_CONTAIN_HANDLES: bool = K::MAY_CONTAIN_HANDLES || V::MAY_CONTAIN_HANDLES;
            #[inline]
            fn trace(&self, visitor: &mut Visitor<'_>) {
                if Self::MAY_CONTAIN_HANDLES {
                    for (key, value) in self {
                        key.trace(visitor);
                        value.trace(visitor);
                    }
                }
            }
        }
    )*};
}

maps! {
    HashMap<K, V, S>;
    BTreeMap<K, V>;
}

macro_rules! tuples {
    ($(($($n:tt $t:ident),+))*) => {$(
        // SAFETY: forwards to every element.
        unsafe impl<$($t: Trace),+> Trace for ($($t,)+) {
            const MAY_CONTAIN_HANDLES: bool = false $(|| $t::MAY_CONTAIN_HANDLES)+;
            #[inline]
            fn trace(&self, visitor: &mut Visitor<'_>) {
                $(self.$n.trace(visitor);)+
            }
        }
    )*};
}

tuples! {
    (0 A)
    (0 A, 1 B)
    (0 A, 1 B, 2 C)
    (0 A, 1 B, 2 C, 3 D)
    (0 A, 1 B, 2 C, 3 D, 4 E)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H)
}
