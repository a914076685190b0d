//! The cycle collector (CPython 3.11's `Modules/gcmodule.c`, rebuilt).
//!
//! Refcounting frees everything except cycles. The collector finds cycles the way CPython
//! does, without ever knowing the roots: for the objects of the generations being collected
//! it copies each refcount into a scratch `gc_refs`, subtracts every reference that comes
//! from *inside* the set, and whatever keeps `gc_refs > 0` must be referenced from outside.
//! Everything reachable from those survives; the rest is garbage.
//!
//! **Start reading at `gc/collector.rs`**: `Collector::collect_main` is the pipeline, one call
//! per named step, in CPython's order. The per-object state it relies on is the header's field
//! table in `object::header`; the lists are in `gc/list.rs`.
//!
//! # `gc_refs` and flags during a collection
//!
//! | state of an object in the set      | `prev` word              | flags          |
//! |------------------------------------|--------------------------|----------------|
//! | after `update_refs`                | `rc << 1 \| COLLECTING`  |                |
//! | after `subtract_refs`              | `gc_refs << 1 \| COLLECTING` (external refs only) | |
//! | scanned reachable (`move_unreachable`) | previous node (COLLECTING clear) |        |
//! | tentatively unreachable            | previous node `\| COLLECTING` | UNREACHABLE |
//! | in `finalizers` (legacy closure)   | previous node            |                |
//! | final garbage, being cleared       | null (untracked)         | DEAD, CLEARING |

pub(crate) mod collector;
pub(crate) mod list;
pub mod pause;
pub(crate) mod state;
pub(crate) mod unraisable;
pub(crate) mod visit;

#[cfg(test)]
mod tests;

pub use pause::{CollectionTrigger, Pause, PauseStats, RECENT_PAUSES};
pub use unraisable::Unraisable;

use std::cell::Cell;
use std::fmt;

thread_local! {
    static COLLECTING: Cell<bool> = const { Cell::new(false) };
}

/// Whether a collection (of any heap) is running on this thread: CPython's `collecting` flag,
/// which makes a nested `collect()` return 0 and suppresses automatic collections.
pub(crate) fn collecting() -> bool {
    COLLECTING.with(Cell::get)
}

/// Sets the collecting flag for a scope (reset on unwind too).
pub(crate) struct CollectingGuard(());

impl CollectingGuard {
    pub(crate) fn enter() -> CollectingGuard {
        COLLECTING.with(|c| c.set(true));
        CollectingGuard(())
    }
}

impl Drop for CollectingGuard {
    fn drop(&mut self) {
        COLLECTING.with(|c| c.set(false));
    }
}

/// The `gc` module's debug flags (`gc.set_debug`). Their output is emitted as `tracing`
/// events (target `pygc::gc`) carrying CPython's message texts.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DebugFlags(u32);

impl DebugFlags {
    /// `DEBUG_STATS`: statistics at the start and end of each collection.
    pub const STATS: DebugFlags = DebugFlags(1);
    /// `DEBUG_COLLECTABLE`: each collectable object found.
    pub const COLLECTABLE: DebugFlags = DebugFlags(2);
    /// `DEBUG_UNCOLLECTABLE`: each uncollectable object found.
    pub const UNCOLLECTABLE: DebugFlags = DebugFlags(4);
    /// `DEBUG_SAVEALL`: append garbage to `garbage` instead of freeing it (finalizers still run).
    pub const SAVEALL: DebugFlags = DebugFlags(32);
    /// `DEBUG_LEAK` = COLLECTABLE | UNCOLLECTABLE | SAVEALL.
    pub const LEAK: DebugFlags = DebugFlags(38);

    /// No flags.
    pub const fn empty() -> DebugFlags {
        DebugFlags(0)
    }
    /// From CPython's integer value (unknown bits are kept, as CPython keeps them).
    pub const fn from_bits(bits: u32) -> DebugFlags {
        DebugFlags(bits)
    }
    /// CPython's integer value.
    pub const fn bits(self) -> u32 {
        self.0
    }
    /// Whether all of `other`'s flags are set.
    pub const fn contains(self, other: DebugFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for DebugFlags {
    type Output = DebugFlags;
    fn bitor(self, rhs: DebugFlags) -> DebugFlags {
        DebugFlags(self.0 | rhs.0)
    }
}

impl fmt::Debug for DebugFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (1, "STATS"),
            (2, "COLLECTABLE"),
            (4, "UNCOLLECTABLE"),
            (32, "SAVEALL"),
        ];
        let set: Vec<&str> = names
            .iter()
            .filter(|(b, _)| self.0 & b != 0)
            .map(|(_, n)| *n)
            .collect();
        write!(
            f,
            "DebugFlags({})",
            if set.is_empty() {
                "empty".to_string()
            } else {
                set.join(" | ")
            }
        )
    }
}

/// Errors of the `gc` API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GcError {
    /// `collect(g)` with `g > 2`: CPython's `ValueError("invalid generation")`.
    InvalidGeneration,
    /// `objects(Some(g))` with `g > 2`.
    GenerationTooLarge,
}

impl fmt::Display for GcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GcError::InvalidGeneration => f.write_str("invalid generation"),
            GcError::GenerationTooLarge => f.write_str(
                "generation parameter must be less than the number of available generations (3)",
            ),
        }
    }
}

impl std::error::Error for GcError {}

/// One generation's entry of `gc.get_stats()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GenerationStats {
    /// Collections of this generation.
    pub collections: usize,
    /// Objects collected by them.
    pub collected: usize,
    /// Uncollectable objects they found.
    pub uncollectable: usize,
}

/// Phase passed to gc callbacks (`"start"` / `"stop"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackPhase {
    /// Before the collection.
    Start,
    /// After the collection.
    Stop,
}

/// The info passed to gc callbacks; all zero at `Start`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CollectionInfo {
    /// The generation collected.
    pub generation: usize,
    /// Objects collected.
    pub collected: usize,
    /// Uncollectable objects found.
    pub uncollectable: usize,
}

/// Names a registered gc callback, for [`Heap::remove_callback`](crate::Heap::remove_callback).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CallbackId(pub(crate) u64);
