//! The global interpreter lock (CPython's `Python/ceval_gil.c`), and one heap shared by many
//! threads under it.
//!
//! pygc's counts are not atomic, exactly like CPython's `ob_refcnt`: a [`Heap`](crate::Heap)
//! and its [`Gc`](crate::Gc) handles stay on one thread. CPython's answer to threads is a
//! lock around the whole interpreter; this module rebuilds it ([`Gil`], with the
//! [`SwitchPolicy`] of CPython 3.2+, the pre-3.2 tick GIL, and a priority hand-off that fixes
//! the convoy effect), and puts a heap behind it ([`SharedHeap`]) that threads open with a
//! lifetime-branded token ([`Python`]), the design PyO3 uses.
//!
//! # States of the lock
//!
//! | state | `locked` | drop request | who may take it |
//! |---|---|---|---|
//! | unlocked | no | clear | any thread (with priority hand-off: the queued priority waiter, if any) |
//! | locked | yes | clear | nobody; waiters sleep at most the switch interval |
//! | drop requested | yes | set | nobody; the holder releases at its next safe point |
//! | forced switch | no | clear | any waiter; the dropping thread sleeps until `last_holder` is someone else |
//!
//! A guard taken while the thread holds the lock already is *nested*: it counts a depth and
//! never gives the lock away; see [`Gil`].
//!
//! # Example
//! ```
//! use pygc::gil::{SharedHeap, SwitchPolicy};
//!
//! let heap = SharedHeap::new(Default::default(), SwitchPolicy::New);
//! let shared = heap.with_gil(|py| py.alloc(String::from("spam")).unbind());
//! let t = {
//!     let heap = heap.clone();
//!     std::thread::spawn(move || heap.with_gil(|py| shared.bind(py).len()))
//! };
//! assert_eq!(t.join().unwrap(), 4);
//! ```

mod lock;
mod shared;
mod stats;
mod sync;

pub use lock::{DEFAULT_SWITCH_INTERVAL, Gil, GilGuard, SwitchPolicy};
pub use shared::{Bound, Py, Python, SharedFinalize, SharedHeap};
pub use stats::{GilStats, ThreadGilStats, WaitHistogram};
