//! Test heaps that fail the test on an unexpected unraisable report.
//!
//! pygc catches a panic in a finalizer, a weak-reference callback, a gc callback or a `Drop`
//! run by the collector and reports it as "unraisable" (CPython's `sys.unraisablehook`)
//! instead of unwinding, so an `assert!` inside such a hook can never fail a test on its own.
//! Every integration test therefore builds its heap with [`TestHeap`]: it records every report
//! and, when dropped (after the heap's shutdown collection), asserts that exactly the number
//! of reports the test declared with [`TestHeap::expect_unraisable`] (0 by default) was made,
//! naming each report in the failure message.

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::ops::Deref;
use std::rc::Rc;

use pygc::{Heap, HeapConfig, Unraisable};

/// A user hook chained after the recording one.
type UserHook = Rc<RefCell<Option<Box<dyn FnMut(&Unraisable)>>>>;

/// A [`Heap`] (through `Deref`) whose drop asserts the number of unraisable reports.
pub struct TestHeap {
    heap: Option<Heap>,
    reports: Rc<RefCell<Vec<Unraisable>>>,
    user_hook: UserHook,
    expected: Cell<usize>,
}

impl TestHeap {
    /// `Heap::new()`, recording unraisable reports.
    pub fn new() -> TestHeap {
        TestHeap::wrap(Heap::new())
    }

    /// `Heap::with_config(config)`, recording unraisable reports.
    pub fn with_config(config: HeapConfig) -> TestHeap {
        TestHeap::wrap(Heap::with_config(config))
    }

    fn wrap(heap: Heap) -> TestHeap {
        let reports = Rc::new(RefCell::new(Vec::new()));
        let user_hook: UserHook = Rc::new(RefCell::new(None));
        let (r, u) = (reports.clone(), user_hook.clone());
        heap.set_unraisable_hook(move |report| {
            r.borrow_mut().push(report.clone());
            // A report made while the user hook runs (it panicked) is only recorded.
            if let Ok(mut hook) = u.try_borrow_mut() {
                if let Some(hook) = hook.as_mut() {
                    hook(report);
                }
            }
        });
        TestHeap {
            heap: Some(heap),
            reports,
            user_hook,
            expected: Cell::new(0),
        }
    }

    /// Shadows [`Heap::set_unraisable_hook`]: `hook` runs after the recording hook instead of
    /// replacing it, so the count check at drop still sees every report.
    pub fn set_unraisable_hook(&self, hook: impl FnMut(&Unraisable) + 'static) {
        *self.user_hook.borrow_mut() = Some(Box::new(hook));
    }

    /// Declare that the test provokes exactly `n` unraisable reports in total (including any
    /// made by the shutdown collection when the heap is dropped).
    pub fn expect_unraisable(&self, n: usize) {
        self.expected.set(n);
    }

    /// The reports recorded so far.
    pub fn reports(&self) -> Vec<Unraisable> {
        self.reports.borrow().clone()
    }
}

impl Deref for TestHeap {
    type Target = Heap;

    fn deref(&self) -> &Heap {
        self.heap.as_ref().expect("heap present until drop")
    }
}

impl std::fmt::Debug for TestHeap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestHeap")
            .field("heap", &self.heap)
            .field("reports", &self.reports.borrow().len())
            .field("expected", &self.expected.get())
            .finish()
    }
}

impl Drop for TestHeap {
    fn drop(&mut self) {
        let heap = self.heap.take().expect("heap present until drop");
        let counted = heap.unraisable_count();
        drop(heap); // the shutdown collection may report too
        if std::thread::panicking() {
            return;
        }
        let reports = self.reports.borrow();
        let expected = self.expected.get();
        let mut listed = String::new();
        for (i, r) in reports.iter().enumerate() {
            let _ = write!(listed, "\n  {i}: {}: {}", r.context, r.message);
        }
        assert!(
            reports.len() == expected && counted as usize <= reports.len(),
            "unraisable reports: expected {expected}, got {} (Heap::unraisable_count() before \
             drop: {counted}); a panic (failed assertion?) in a finalizer, callback or Drop run \
             by the collector:{listed}",
            reports.len()
        );
    }
}

/// See [`pygc::testutil::reliable_scoped_subscribers`]: call it before `with_default`.
pub fn reliable_scoped_subscribers() {
    pygc::testutil::reliable_scoped_subscribers();
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use pygc::Gc;

    use super::TestHeap;

    /// A failed assertion in a weak-reference callback, which pygc only reports as unraisable,
    /// fails the test that owns the heap, and the message names the report.
    #[test]
    #[should_panic(expected = "assertion in callback")]
    fn unexpected_unraisable_fails_the_test() {
        let heap = TestHeap::new();
        let o = heap.alloc(0u32);
        let _w = Gc::downgrade_with_callback(&o, |_| panic!("assertion in callback"));
        drop(o);
        assert_eq!(heap.unraisable_count(), 1, "the callback ran and panicked");
    }

    /// Fewer reports than declared fail too.
    #[test]
    #[should_panic(expected = "unraisable reports: expected 1, got 0")]
    fn missing_expected_unraisable_fails_the_test() {
        let heap = TestHeap::new();
        heap.expect_unraisable(1);
    }

    /// A test's own hook is chained after the recording one: both see every report, and a
    /// declared report passes.
    #[test]
    fn user_hook_is_chained() {
        let heap = TestHeap::new();
        heap.expect_unraisable(1);
        let seen = Rc::new(RefCell::new(Vec::new()));
        let s = seen.clone();
        heap.set_unraisable_hook(move |u| s.borrow_mut().push(u.message.clone()));
        let o = heap.alloc(0u32);
        let _w = Gc::downgrade_with_callback(&o, |_| panic!("expected"));
        drop(o);
        assert_eq!(*seen.borrow(), ["expected"]);
        assert_eq!(heap.reports().len(), 1);
        assert_eq!(heap.reports()[0].message, "expected");
    }
}
