//! The typed object graph: handles, headers, per-type tables, `Trace`, weak references.
//!
//! | file | CPython | what |
//! |------|---------|------|
//! | `header.rs` | `PyObject` + `PyGC_Head` | refcount, list links, flags (unsafe core) |
//! | `handle.rs` | `Py_INCREF` / `Py_DECREF`, `subtype_dealloc` shims | `Gc<T>`, `AnyGc` (unsafe core) |
//! | `boxes.rs` | `PyObject_Malloc` for large objects | large-box memory (unsafe core) |
//! | `vtable.rs` | `tp_traverse`, `tp_finalize`, `tp_del`, `tp_name` | per-type tables |
//! | `trace.rs` | `tp_traverse` | the `Trace` contract and impls |
//! | `owner.rs` | `Py_TYPE(op)->tp_dealloc` dispatch | the owner tag's target: hooks into the heap, the weak table |
//! | `external.rs` | — | `ExternalMemory`: buffers an object owns outside its box |
//! | `slot.rs` | — | `Slot<T>`: one optional edge without a borrow flag |
//! | `var.rs` | `PyVarObject` (`ob_size`, `tp_itemsize`) | `Gc<[T]>` and `Gc<str>` of run-time length (unsafe core) |
//! | `weak.rs` | `weakrefobject.c`, `WeakValueDictionary` | weak references |

pub(crate) mod boxes;
pub(crate) mod external;
pub(crate) mod handle;
pub(crate) mod header;
pub(crate) mod owner;
pub(crate) mod slot;
pub(crate) mod trace;
pub(crate) mod var;
pub(crate) mod vtable;
pub(crate) mod weak;

/// pygc found its own bookkeeping broken (a count revived from zero, `gc_refs` below zero):
/// unwinding through half-updated lists would turn that into undefined behaviour, so the
/// process stops here, as `Rc` does on a count overflow.
#[cold]
#[inline(never)]
pub(crate) fn corrupted(what: &str) -> ! {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "pygc: heap corruption detected: {what}; aborting"
    );
    std::process::abort()
}
