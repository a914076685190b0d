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
    /// Layout of the whole `GcBox<T>`.
    pub(crate) layout: Layout,
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
pub(crate) struct WithFinalizer;
pub(crate) struct WithLegacyFinalizer;

/// Compile-time construction of the `VTable` of `T` with finalizer kind `K`.
pub(crate) struct VTableOf<T, K>(PhantomData<(T, K)>);

use super::handle::{GcBox, drop_value_shim, finalize_shim, legacy_finalize_shim, trace_shim};
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
            gc_capable: <$t as Trace>::MAY_CONTAIN_HANDLES,
            is_weakref: false,
        }
    };
}

impl<T: Trace + 'static> VTableOf<T, Plain> {
    pub(crate) const VTABLE: &'static VTable = vtable!(T, None, None);
}

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
    gc_capable: false,
    is_weakref: false,
};
