//! Pause data: how long each collection kept the program waiting, and why it ran.
//!
//! CPython 3.11 records no time (only `gc.callbacks` could measure it); a runtime embedding
//! pygc needs it to budget latency. These records live beside CPython's statistics, not in
//! them: [`GenerationStats`](super::GenerationStats) and
//! [`CollectionInfo`](super::CollectionInfo) stay exactly CPython's, so the conformance tests
//! keep comparing them field by field.
//!
//! A pause is one collection as the program sees it: from the start callbacks to the stop
//! callbacks, finalizers, weak-reference callbacks and the `Drop`s of the garbage included.
//! The heap's final collection is not recorded.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::time::Duration;

/// Why a collection ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CollectionTrigger {
    /// [`Heap::collect`](crate::Heap::collect) or
    /// [`Heap::collect_generation`](crate::Heap::collect_generation).
    Explicit,
    /// CPython's count rule, inside an allocation.
    Automatic,
    /// A due collection run by [`Heap::collect_if_due`](crate::Heap::collect_if_due).
    SafePoint,
    /// pygc's byte trigger ([`HeapConfig::byte_trigger`](crate::HeapConfig::byte_trigger)),
    /// inside an allocation.
    Bytes,
}

/// One collection's pause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pause {
    /// Wall-clock time of the whole collection, callbacks included.
    pub duration: Duration,
    /// The generation collected.
    pub generation: usize,
    /// Why it ran.
    pub trigger: CollectionTrigger,
    /// Objects collected plus uncollectable (what `collect` returns).
    pub found: usize,
}

/// Cumulative pause time of one generation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PauseStats {
    /// Collections of this generation recorded.
    pub count: u64,
    /// Their total duration.
    pub total: Duration,
    /// The longest of them.
    pub max: Duration,
}

/// How many recent pauses a heap keeps (older ones only count in [`PauseStats`]).
pub const RECENT_PAUSES: usize = 1024;

/// The pause records of one heap.
#[derive(Debug, Default)]
pub(crate) struct PauseLog {
    stats: Cell<[PauseStats; 3]>,
    recent: RefCell<VecDeque<Pause>>,
}

impl PauseLog {
    pub(crate) fn record(&self, pause: Pause) {
        let mut stats = self.stats.get();
        let s = &mut stats[pause.generation];
        s.count += 1;
        s.total += pause.duration;
        s.max = s.max.max(pause.duration);
        self.stats.set(stats);
        let mut recent = self.recent.borrow_mut();
        if recent.len() == RECENT_PAUSES {
            recent.pop_front();
        }
        recent.push_back(pause);
    }

    pub(crate) fn stats(&self) -> [PauseStats; 3] {
        self.stats.get()
    }

    pub(crate) fn recent(&self) -> Vec<Pause> {
        self.recent.borrow().iter().copied().collect()
    }

    pub(crate) fn take_recent(&self) -> Vec<Pause> {
        self.recent.borrow_mut().drain(..).collect()
    }
}
