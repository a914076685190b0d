//! The typed object graph: handles, headers, per-type tables, `Trace`, weak references.
//!
//! | file | CPython | what |
//! |------|---------|------|
//! | `header.rs` | `PyObject` + `PyGC_Head` | refcount, list links, flags (unsafe core) |
//! | `handle.rs` | `Py_INCREF` / `Py_DECREF`, `subtype_dealloc` shims | `Gc<T>`, `AnyGc` (unsafe core) |
//! | `boxes.rs` | `PyObject_Malloc` for large objects | large-box memory (unsafe core) |
//! | `vtable.rs` | `tp_traverse`, `tp_finalize`, `tp_del`, `tp_name` | per-type tables |
//! | `trace.rs` | `tp_traverse` | the `Trace` contract and impls |
//! | `visit.rs` | `visit_decref`, `visit_reachable`, `visit_move` | what a visit means per phase |
//! | `weak.rs` | `weakrefobject.c`, `WeakValueDictionary` | weak references |

pub(crate) mod boxes;
pub(crate) mod handle;
pub(crate) mod header;
pub(crate) mod trace;
pub(crate) mod visit;
pub(crate) mod vtable;
pub(crate) mod weak;
