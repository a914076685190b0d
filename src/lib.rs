#![doc = include_str!("../README.md")]
#![deny(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]
#![doc(test(attr(deny(warnings))))]

pub mod alloc;
pub mod gc;
pub mod gil;
mod heap;
#[cfg(feature = "introspect")]
pub mod introspect;
mod object;
#[cfg(feature = "testutil")]
#[doc(hidden)]
pub mod testutil;

pub use gc::{
    CallbackId, CallbackPhase, CollectionInfo, CollectionTrigger, DebugFlags, GcError,
    GenerationStats, Pause, PauseStats, Unraisable,
};
pub use heap::{AllocError, AllocatorGeometry, DEFAULT_THRESHOLDS, Heap, HeapConfig, HeapRef};
pub use object::external::ExternalMemory;
pub use object::handle::{AnyGc, ByAddress, Gc, Handle};
pub use object::slot::Slot;
pub use object::trace::{Trace, Visitor};
pub use object::weak::{Weak, WeakKeyMap, WeakValueMap};
/// `#[derive(Trace)]`: the reference (attributes, what `skip` allows, enums, bounds,
/// finalizers, refused shapes) follows.
///
#[doc = include_str!("../derive/REFERENCE.md")]
pub use pygc_derive::Trace;

/// What `#[derive(Trace)]` and [`finalizer_of!`] expand to (not public API).
#[doc(hidden)]
pub mod __private {
    pub use crate::object::vtable::{Finalizer, FinalizerProbe, NoFinalizer};
}

/// Turn a `Gc<T>` into a `Gc<U>` where `T` unsizes to `U`: `Gc<dyn Trait>` from a
/// `Gc<Concrete>`, `Gc<[T]>` from a `Gc<[T; N]>` (stable Rust has no `CoerceUnsized` for
/// user types, so the coercion is spelled out; rust-cc and dumpster offer the same kind of
/// macro).
///
/// The only conversion the macro performs is the compiler's own unsizing coercion of the
/// box pointer (`NonNull` coerces, and only along `Unsize`), so the result names the same
/// object with the metadata of the same value: the object keeps its type's vtable (trace,
/// drop, finalizer), and the handle's count moves over. Write the target type where the
/// result is used (`let g: Gc<dyn Trait> = coerce_gc!(x);`).
///
/// ```
/// use pygc::{coerce_gc, Gc, Heap};
/// trait Shape { fn area(&self) -> f64; }
/// struct Square(f64);
/// impl Shape for Square { fn area(&self) -> f64 { self.0 * self.0 } }
/// # // SAFETY: no handles.
/// # #[allow(unsafe_code)]
/// # unsafe impl pygc::Trace for Square {
/// #     const MAY_CONTAIN_HANDLES: bool = false;
/// #     fn trace(&self, _: &mut pygc::Visitor<'_>) {}
/// # }
///
/// let heap = Heap::new();
/// let shapes: Vec<Gc<dyn Shape>> = vec![coerce_gc!(heap.alloc(Square(2.0)))];
/// assert_eq!(shapes[0].area(), 4.0);
/// let slice: Gc<[u32]> = coerce_gc!(heap.alloc([1u32, 2, 3]));
/// assert_eq!(slice.len(), 3);
/// ```
#[macro_export]
macro_rules! coerce_gc {
    ($gc:expr) => {{
        let raw = $crate::Gc::__into_raw($gc);
        // SAFETY: `raw` comes from `__into_raw`, and the argument position below is a
        // coercion site where the compiler only applies an unsizing coercion (same address,
        // metadata of the same value), which is `__from_raw`'s contract.
        #[allow(unsafe_code)]
        unsafe {
            $crate::Gc::__from_raw(raw)
        }
    }};
}

/// The value of the hidden `Trace::FINALIZER` constant for a hand-written `Trace` impl: the
/// type's [`Finalize`] impl if it has one, so that [`Heap::alloc`] runs it. The derive
/// writes this itself.
///
/// ```
/// use pygc::{Finalize, Gc, Heap, Trace, Visitor};
/// use std::cell::Cell;
/// thread_local!(static RAN: Cell<bool> = Cell::new(false));
///
/// struct Manual;
/// // SAFETY: holds no handle.
/// unsafe impl Trace for Manual {
///     const FINALIZER: Option<pygc::__private::Finalizer> = pygc::finalizer_of!(Manual);
///     fn trace(&self, _: &mut Visitor<'_>) {}
/// }
/// impl Finalize for Manual {
///     fn finalize(_: &Gc<Self>) { RAN.with(|r| r.set(true)); }
/// }
/// let heap = Heap::new();
/// drop(heap.alloc(Manual));
/// assert!(RAN.with(Cell::get));
/// ```
#[macro_export]
macro_rules! finalizer_of {
    ($t:ty) => {{
        #[allow(unused_imports)]
        use $crate::__private::NoFinalizer as _;
        $crate::__private::FinalizerProbe::<$t>::FINALIZER
    }};
}

/// A PEP 442 finalizer (Python's `__del__`): runs at most once per object, before it dies,
/// whether it dies by refcount or in a garbage cycle. It may *resurrect* the object by
/// storing a clone of `this` somewhere reachable; the object then lives on and its finalizer
/// never runs again.
///
/// [`Heap::alloc`] gives a derived type that implements `Finalize` its finalizer (the
/// derive finds the impl); [`Heap::alloc_with_finalizer`] does it explicitly, also where the
/// derive cannot see the impl.
///
/// Under the collector, finalizers run on a still-intact graph (before any value is dropped)
/// and after weak references to the garbage were cleared, as in CPython 3.11.
///
/// ```
/// use std::cell::Cell;
/// use pygc::{Finalize, Gc, Heap, Trace};
/// thread_local!(static RAN: Cell<u32> = Cell::new(0));
///
/// #[derive(Trace)]
/// struct Noisy;
/// impl Finalize for Noisy {
///     fn finalize(_this: &Gc<Self>) { RAN.with(|r| r.set(r.get() + 1)); }
/// }
///
/// let heap = Heap::new();
/// drop(heap.alloc_with_finalizer(Noisy));
/// assert_eq!(RAN.with(Cell::get), 1);
/// ```
pub trait Finalize: Sized + 'static {
    /// Called once, with a handle to the object.
    fn finalize(this: &Gc<Self>);
}

/// A legacy finalizer (CPython's `tp_del`): an object that has one makes any garbage cycle it
/// is part of (or reachable from) *uncollectable*. Such cycles are left alive and listed in
/// [`Heap::garbage`]; on refcount death the legacy finalizer runs.
pub trait LegacyFinalize: Sized + 'static {
    /// Called on refcount death (never by the collector).
    fn legacy_finalize(this: &Gc<Self>);
}
