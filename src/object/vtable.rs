//! Per-type tables: what the collector needs to know about a value it only sees as a header
//! (CPython's `tp_traverse`, `tp_finalize`, `tp_del`, `tp_dealloc` and `tp_name`).

use std::alloc::Layout;
use std::any::TypeId;
use std::marker::PhantomData;
use std::ptr::NonNull;

use super::header::Header;
use crate::Visitor;

/// Type information for objects of one Rust type (and finalizer kind).
pub(crate) struct VTable {
    /// `std::any::type_name` of the value type.
    pub(crate) type_name: fn() -> &'static str,
    pub(crate) type_id: fn() -> TypeId,
    /// Report the value's handles. Safety: the header is live and its value initialised.
    pub(crate) trace: unsafe fn(NonNull<Header>, &mut Visitor<'_>),
    /// Drop the value in place. Safety: value initialised, dropped at most once.
    pub(crate) drop_value: unsafe fn(NonNull<Header>),
    /// PEP 442 finalizer. Safety: header live, value initialised, caller holds a count.
    pub(crate) finalize: Option<unsafe fn(NonNull<Header>)>,
    /// Legacy (`tp_del`) finalizer: makes cyclic garbage uncollectable. Same safety as above.
    pub(crate) legacy_finalize: Option<unsafe fn(NonNull<Header>)>,
    /// Layout of the whole `GcBox<T>`. Size 0 (which no box has: the header alone is 32
    /// bytes) marks a variable-size object, whose box has its own layout
    /// (`ObjRef::box_layout`): one test on the free path, on a value it loads anyway.
    pub(crate) layout: Layout,
    /// Variable-size objects (`[T]`, `str`; CPython's `tp_itemsize`): the layout of one
    /// item. Each box then carries its count (`object/var.rs`). Set iff `layout` has size 0.
    pub(crate) item_layout: Option<Layout>,
    /// GC-capable: the type may hold handles, so its objects are tracked.
    pub(crate) gc_capable: bool,
    /// The object is a weak-reference object.
    pub(crate) is_weakref: bool,
}

impl std::fmt::Debug for VTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VTable")
            .field("type", &(self.type_name)())
            .finish_non_exhaustive()
    }
}

/// Which finalizer an object was allocated with.
pub(crate) struct Plain;
pub(crate) struct Unfinalized;
pub(crate) struct WithFinalizer;
pub(crate) struct WithLegacyFinalizer;

/// Compile-time construction of the `VTable` of `T` with finalizer kind `K`.
pub(crate) struct VTableOf<T, K>(PhantomData<(T, K)>);

use super::handle::{
    GcBox, derived_finalize_shim, drop_value_shim, finalize_shim, legacy_finalize_shim, trace_shim,
};
use crate::object::weak::WeakRefObj;
use crate::{Finalize, LegacyFinalize, Trace};

macro_rules! vtable {
    ($t:ty, $finalize:expr, $legacy:expr) => {
        &VTable {
            type_name: std::any::type_name::<$t>,
            type_id: TypeId::of::<$t>,
            trace: trace_shim::<$t>,
            drop_value: drop_value_shim::<$t>,
            finalize: $finalize,
            legacy_finalize: $legacy,
            layout: Layout::new::<GcBox<$t>>(),
            item_layout: None,
            gc_capable: <$t as Trace>::MAY_CONTAIN_HANDLES,
            is_weakref: false,
        }
    };
}

impl<T: Trace + 'static> VTableOf<T, Plain> {
    /// `Heap::alloc`: the PEP 442 finalizer the derive found (`Trace::FINALIZER`), if any.
    pub(crate) const VTABLE: &'static VTable = vtable!(
        T,
        if T::FINALIZER.is_some() {
            Some(derived_finalize_shim::<T> as unsafe fn(NonNull<Header>))
        } else {
            None
        },
        None
    );
}

impl<T: Trace + 'static> VTableOf<T, Unfinalized> {
    /// `Heap::alloc_unfinalized`: no finalizer, whatever the type implements.
    pub(crate) const VTABLE: &'static VTable = vtable!(T, None, None);
}

/// The finalizer `#[derive(Trace)]` found for a type: a shim with the type it was made for.
/// Only [`FinalizerProbe`] makes one (the field is private), always for the type it probes.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct Finalizer {
    pub(crate) type_id: fn() -> TypeId,
    pub(crate) shim: unsafe fn(NonNull<Header>),
}

impl std::fmt::Debug for Finalizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Finalizer")
    }
}

/// How `#[derive(Trace)]` learns whether the type implements [`Finalize`] without a bound
/// (stable Rust has no specialization): the inherent constant below exists only when
/// `T: Finalize`, and path resolution prefers it over [`NoFinalizer`]'s fallback; when the
/// bound does not hold (or cannot be proven for a generic type), the fallback's `None` is
/// found. So `Heap::alloc` of a derived type that implements `Finalize` runs its finalizer.
#[doc(hidden)]
#[derive(Debug)]
pub struct FinalizerProbe<T: ?Sized>(PhantomData<fn() -> T>);

impl<T: Finalize> FinalizerProbe<T> {
    /// The finalizer of `T`.
    pub const FINALIZER: Option<Finalizer> = Some(Finalizer {
        type_id: TypeId::of::<T>,
        shim: finalize_shim::<T>,
    });
}

/// The fallback of [`FinalizerProbe`]: no finalizer.
#[doc(hidden)]
pub trait NoFinalizer {
    /// No finalizer.
    const FINALIZER: Option<Finalizer> = None;
}
impl<T: ?Sized> NoFinalizer for FinalizerProbe<T> {}

impl<T: Trace + Finalize + 'static> VTableOf<T, WithFinalizer> {
    pub(crate) const VTABLE: &'static VTable = vtable!(T, Some(finalize_shim::<T>), None);
}

impl<T: Trace + LegacyFinalize + 'static> VTableOf<T, WithLegacyFinalizer> {
    pub(crate) const VTABLE: &'static VTable = vtable!(T, None, Some(legacy_finalize_shim::<T>));
}

/// The vtable of weak-reference objects.
pub(crate) const WEAKREF_VTABLE: &VTable = &VTable {
    is_weakref: true,
    ..*vtable!(WeakRefObj, None, None)
};

/// The vtable of list sentinels (never traced, never dropped).
pub(crate) const SENTINEL_VTABLE: &VTable = &VTable {
    type_name: || "<list head>",
    type_id: TypeId::of::<()>,
    trace: |_, _| {},
    drop_value: |_| {},
    finalize: None,
    legacy_finalize: None,
    layout: Layout::new::<Header>(),
    item_layout: None,
    gc_capable: false,
    is_weakref: false,
};
