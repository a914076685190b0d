//! Unraisable reporting and the one guard around user code (CPython's
//! `PyErr_WriteUnraisable` and `sys.unraisablehook`).
//!
//! While a collection or a teardown runs, the heap's lists are in temporary states. Every
//! call into user code from there (finalizers, weak callbacks and their captures, gc
//! callbacks, `Drop`s the collector runs, `tracing` subscribers) goes through
//! [`Unraisables::guard`]: a panic is caught and reported, never unwound through the
//! bookkeeping. The report itself calls user code (the hook, or a `tracing` subscriber), so it
//! is guarded too; a panic there is written to standard error and dropped, as CPython does
//! with an exception raised by `sys.unraisablehook` itself.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};

/// A panic from user code that pygc caught and reported instead of unwinding
/// (CPython's "Exception ignored in: ...").
#[derive(Clone, Debug)]
pub struct Unraisable {
    /// Where it happened, e.g. `finalizer of <app::Node 0x...>`.
    pub context: String,
    /// The panic message.
    pub message: String,
}

type Hook = Box<dyn FnMut(&Unraisable)>;

/// The heap's unraisable hook and report count.
#[derive(Default)]
pub(crate) struct Unraisables {
    hook: RefCell<Option<Hook>>,
    count: Cell<u64>,
}

impl fmt::Debug for Unraisables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unraisables")
            .field("count", &self.count.get())
            .finish_non_exhaustive()
    }
}

impl Unraisables {
    /// Run user code `f`; a panic is reported (with `context()`), never propagated.
    #[inline]
    pub(crate) fn guard<R>(
        &self,
        context: impl FnOnce() -> String,
        f: impl FnOnce() -> R,
    ) -> Option<R> {
        match panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok(r) => Some(r),
            Err(payload) => {
                self.report(context(), payload);
                None
            }
        }
    }

    /// Drop each item under its own guard: the items' `Drop`s are user code, and a second
    /// panic while a `Vec` unwinds through its remaining items would abort the process.
    pub(crate) fn drop_each<T>(&self, what: &'static str, items: impl IntoIterator<Item = T>) {
        for item in items {
            self.guard(|| what.to_string(), move || drop(item));
        }
    }

    /// Emit `tracing` events (a subscriber is user code) under the guard.
    #[inline]
    pub(crate) fn emit(&self, f: impl FnOnce()) {
        self.guard(|| "tracing subscriber".to_string(), f);
    }

    /// Report a caught panic: to the hook if one is set, else as a `tracing` error event.
    pub(crate) fn report(&self, context: String, payload: Box<dyn Any + Send>) {
        let message = payload_message(&*payload);
        drop_payload(payload);
        self.count.set(self.count.get() + 1);
        let report = Unraisable { context, message };
        // The hook is taken out while it runs, so a report from inside it (a hook that
        // panics, or drops something that does) takes the default path instead of recursing.
        let hook = self.hook.borrow_mut().take();
        match hook {
            Some(mut hook) => {
                let outcome = panic::catch_unwind(AssertUnwindSafe(|| hook(&report)));
                {
                    let mut slot = self.hook.borrow_mut();
                    if slot.is_none() {
                        *slot = Some(hook);
                        hook_panicked(outcome, &report, "the unraisable hook");
                        return;
                    }
                }
                // Replaced while it ran: the old hook goes, as user code (its captures).
                let dropped = panic::catch_unwind(AssertUnwindSafe(move || drop(hook)));
                hook_panicked(outcome, &report, "the unraisable hook");
                hook_panicked(dropped, &report, "dropping the replaced unraisable hook");
            }
            None => {
                let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                    tracing::error!(
                        target: "pygc::unraisable",
                        context = %report.context,
                        "Exception ignored in: {}: {}",
                        report.context,
                        report.message
                    );
                }));
                hook_panicked(outcome, &report, "the tracing subscriber");
            }
        }
    }

    /// Number of reports so far.
    pub(crate) fn count(&self) -> u64 {
        self.count.get()
    }

    /// Install a hook; the previous one is returned, for the caller to drop when it is safe.
    pub(crate) fn set_hook(&self, hook: Hook) -> Option<Hook> {
        self.hook.borrow_mut().replace(hook)
    }

    /// Take the hook out (heap teardown: a hook may hold handles into the heap).
    pub(crate) fn take_hook(&self) -> Option<Hook> {
        self.hook.borrow_mut().take()
    }
}

fn payload_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "<non-string panic payload>".to_string())
}

/// A panic payload is user data: its `Drop` may panic too. That second payload is leaked.
fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) = panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

/// The last resort: standard error (CPython's "Exception ignored in sys.unraisablehook").
fn hook_panicked(outcome: std::thread::Result<()>, report: &Unraisable, who: &str) {
    if let Err(payload) = outcome {
        let line = format!(
            "pygc: {who} panicked ({}) while reporting: Exception ignored in: {}: {}",
            payload_message(&*payload),
            report.context,
            report.message
        );
        drop_payload(payload);
        // `eprintln!` (captured by the test harness) panics if stderr is gone: then drop it.
        let _ = panic::catch_unwind(|| eprintln!("{line}"));
    }
}
