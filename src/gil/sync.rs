//! The synchronisation primitives the lock is built from, in one place so that the model
//! checker can replace them: under `--cfg shuttle` they are shuttle's (a scheduler that
//! explores thread interleavings, with timed waits that may time out at any point), otherwise
//! the standard library's.

#[cfg(not(shuttle))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(shuttle))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

#[cfg(shuttle)]
pub(crate) use shuttle::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
#[cfg(shuttle)]
pub(crate) use shuttle::sync::{Condvar, Mutex, MutexGuard};

use std::sync::atomic::AtomicUsize as StdAtomicUsize;

/// Thread tokens are handed out from 1 up, never reused (0 means "nobody").
static NEXT_TOKEN: StdAtomicUsize = StdAtomicUsize::new(1);

#[cfg(not(shuttle))]
std::thread_local! {
    static TOKEN: usize = NEXT_TOKEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

#[cfg(shuttle)]
shuttle::thread_local! {
    static TOKEN: usize = NEXT_TOKEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// This thread's token: a non-zero number no other thread of the process ever gets.
#[inline]
pub(crate) fn thread_token() -> usize {
    TOKEN.with(|t| *t)
}
