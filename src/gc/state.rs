//! The collector's own state (CPython's `struct _gc_runtime_state`): the generation lists and
//! their counts and thresholds, the collector's work lists, the long-lived counts of the 25%
//! rule, `gc.garbage`, `gc.callbacks`, the debug flags and the statistics.
//!
//! The heap owns one `GcState` (boxed with the rest of the heap state, so the sentinels never
//! move) and lends it to the [`Collector`](super::collector::Collector) for each collection.
#![allow(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::fmt;
use std::ptr::NonNull;
use std::rc::Rc;

use super::list::GcList;
use super::{CallbackId, CallbackPhase, CollectionInfo, DebugFlags, GenerationStats};
use crate::object::handle::AnyGc;
use crate::object::header::{Header, ObjRef};
use crate::object::vtable::SENTINEL_VTABLE;

/// Indices of the list sentinels.
pub(crate) mod lists {
    pub const GEN0: usize = 0;
    pub const PERMANENT: usize = 3;
    pub const UNREACHABLE: usize = 4;
    pub const FINALIZERS: usize = 5;
    pub const SEEN: usize = 6;
    pub const STILL_UNREACHABLE: usize = 7;
    pub const COUNT: usize = 8;
}

/// A registered gc callback (`gc.callbacks` entry).
pub(crate) type GcCallback = Rc<RefCell<dyn FnMut(CallbackPhase, &CollectionInfo)>>;

/// See the module docs.
///
/// # Invariants
/// - The sentinels are initialised ([`GcState::init_lists`]) once the state is at its final
///   address, and never move afterwards.
/// - Between collections the work lists (`UNREACHABLE..COUNT`) are empty and no node of the
///   generations has COLLECTING or a collection flag set.
/// - `running` is true exactly while a collection of this heap is under way.
pub(crate) struct GcState {
    lists: [Header; lists::COUNT],
    pub(crate) counts: Cell<[usize; 3]>,
    pub(crate) thresholds: Cell<[usize; 3]>,
    pub(crate) enabled: Cell<bool>,
    pub(crate) debug: Cell<DebugFlags>,
    pub(crate) garbage: RefCell<Vec<AnyGc>>,
    callbacks: RefCell<Vec<(CallbackId, GcCallback)>>,
    next_callback_id: Cell<u64>,
    pub(crate) stats: Cell<[GenerationStats; 3]>,
    pub(crate) long_lived_total: Cell<usize>,
    pub(crate) long_lived_pending: Cell<usize>,
    pub(crate) running: Cell<bool>,
    /// Pause records (`gc/pause.rs`), beside CPython's statistics.
    pub(crate) pauses: super::pause::PauseLog,
}

impl fmt::Debug for GcState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcState")
            .field("counts", &self.counts.get())
            .field("thresholds", &self.thresholds.get())
            .finish_non_exhaustive()
    }
}

impl GcState {
    /// A state with the given thresholds; call [`GcState::init_lists`] once it is in place.
    pub(crate) fn new(thresholds: [usize; 3], enabled: bool) -> GcState {
        GcState {
            lists: std::array::from_fn(|_| Header::new_sentinel(SENTINEL_VTABLE)),
            counts: Cell::new([0; 3]),
            thresholds: Cell::new(thresholds),
            enabled: Cell::new(enabled),
            debug: Cell::new(DebugFlags::empty()),
            garbage: RefCell::new(Vec::new()),
            callbacks: RefCell::new(Vec::new()),
            next_callback_id: Cell::new(1),
            stats: Cell::new([GenerationStats::default(); 3]),
            long_lived_total: Cell::new(0),
            long_lived_pending: Cell::new(0),
            running: Cell::new(false),
            pauses: super::pause::PauseLog::default(),
        }
    }

    /// Make every sentinel an empty list. The state must not move afterwards.
    pub(crate) fn init_lists(&self) {
        for i in 0..lists::COUNT {
            self.list(i).init();
        }
    }

    /// List sentinel `i` (see [`lists`]).
    #[inline]
    pub(crate) fn list(&self, i: usize) -> GcList {
        // SAFETY: a sentinel of this state, which does not move once its lists are
        // initialised (type invariant) and outlives every use of the list.
        unsafe { GcList::from_head(ObjRef::new(NonNull::from(&self.lists[i]))) }
    }

    #[inline]
    pub(crate) fn generation(&self, g: usize) -> GcList {
        debug_assert!(g < 3);
        self.list(lists::GEN0 + g)
    }

    /// Track a new object: it joins generation 0.
    #[inline]
    pub(crate) fn track(&self, obj: ObjRef) {
        self.generation(0).append(obj);
    }

    /// A GC-capable allocation: `count[0] += 1`. Returns whether an automatic collection is
    /// due (the caller decides whether it may run one now).
    #[inline]
    pub(crate) fn count_allocation(&self) -> bool {
        let mut counts = self.counts.get();
        counts[0] += 1;
        self.counts.set(counts);
        let t0 = self.thresholds.get()[0];
        counts[0] > t0 && t0 != 0 && self.enabled.get()
    }

    /// The generation an automatic collection takes now (`gc_collect_generations`): the
    /// oldest whose count exceeds its threshold, except that a full collection also needs
    /// the objects waiting for one (`long_lived_pending`) to be at least 25% of those that
    /// survived the last. With `at_least_young` (pygc's byte trigger: memory grew, not the
    /// count) the choice is the same, and generation 0 when no count is over its threshold.
    pub(crate) fn automatic_generation(&self, at_least_young: bool) -> Option<usize> {
        let counts = self.counts.get();
        let thresholds = self.thresholds.get();
        for g in (0..3).rev() {
            if counts[g] > thresholds[g] {
                if g == 2 && self.long_lived_pending.get() < self.long_lived_total.get() / 4 {
                    continue;
                }
                return Some(g);
            }
        }
        at_least_young.then_some(0)
    }

    /// A GC-capable object was freed (or its allocation failed): `count[0] -= 1`, floored.
    #[inline]
    pub(crate) fn count_free(&self) {
        let mut counts = self.counts.get();
        counts[0] = counts[0].saturating_sub(1);
        self.counts.set(counts);
    }

    pub(crate) fn add_callback(&self, callback: GcCallback) -> CallbackId {
        let id = CallbackId(self.next_callback_id.get());
        self.next_callback_id.set(id.0 + 1);
        self.callbacks.borrow_mut().push((id, callback));
        id
    }

    /// Unregister a callback, handing it back so the caller drops it where user code may run.
    pub(crate) fn remove_callback(&self, id: CallbackId) -> Option<GcCallback> {
        let mut callbacks = self.callbacks.borrow_mut();
        let i = callbacks.iter().position(|(i, _)| *i == id)?;
        Some(callbacks.remove(i).1)
    }

    /// The registered callbacks, in order (a snapshot: callbacks may add or remove others).
    pub(crate) fn callbacks_snapshot(&self) -> Vec<GcCallback> {
        self.callbacks
            .borrow()
            .iter()
            .map(|(_, cb)| cb.clone())
            .collect()
    }

    /// Take every callback out (heap teardown).
    pub(crate) fn take_callbacks(&self) -> Vec<(CallbackId, GcCallback)> {
        std::mem::take(&mut *self.callbacks.borrow_mut())
    }

    /// `gc.freeze()`.
    pub(crate) fn freeze(&self) {
        let permanent = self.list(lists::PERMANENT);
        for g in 0..3 {
            permanent.merge_from(self.generation(g));
        }
        self.counts.set([0; 3]);
    }

    /// `gc.unfreeze()`.
    pub(crate) fn unfreeze(&self) {
        self.generation(2).merge_from(self.list(lists::PERMANENT));
    }
}
