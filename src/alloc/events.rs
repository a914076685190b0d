//! `tracing` events about arenas, emitted outside every borrow and lock.
//!
//! A `tracing` subscriber may allocate, and may allocate from the very
//! allocator that produced the event (a [`LocalPool`](super::LocalPool)
//! whose `RefCell` is still mutably borrowed, or a
//! [`GlobalPool`](super::GlobalPool) whose mutex is still held). So the
//! arena layer never emits: it returns an [`ArenaEvent`], and the
//! [`Allocator`](super::Allocator) either emits it at once (a bare
//! allocator behind `&mut self`, which a subscriber cannot reach), records
//! it in [`Pending`] for its adapter to emit after the borrow ends, or drops
//! it (`GlobalPool`, see `global.rs`).

/// What happened to an arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArenaEventKind {
    /// Taken from the system.
    Acquired,
    /// Given back to the system.
    Released,
}

/// One arena acquire or release, with the numbers the event reports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ArenaEvent {
    pub(crate) kind: ArenaEventKind,
    /// The arena's slot index.
    pub(crate) arena: usize,
    /// The arena's base address.
    pub(crate) base: usize,
    /// `ARENA_SIZE`.
    pub(crate) size: usize,
    /// Arenas live after the change.
    pub(crate) current: usize,
}

impl ArenaEvent {
    /// Emits the `tracing` event (target `pygc::alloc`, level DEBUG).
    /// Must not run while the allocator that produced it is borrowed or locked.
    pub(crate) fn emit(self) {
        match self.kind {
            ArenaEventKind::Acquired => tracing::debug!(
                target: "pygc::alloc",
                arena = self.arena,
                base = self.base,
                size = self.size,
                current = self.current,
                "arena acquired"
            ),
            ArenaEventKind::Released => tracing::debug!(
                target: "pygc::alloc",
                arena = self.arena,
                base = self.base,
                current = self.current,
                "arena released"
            ),
        }
    }
}

/// What an [`Allocator`](super::Allocator) does with its arena events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventMode {
    /// Drop them.
    Silent,
    /// Emit them where they happen (nothing else can reach the allocator).
    Immediate,
    /// Record them in [`Pending`]; the owner drains them after its borrow ends.
    Deferred,
}

/// Events recorded by one allocator call. One call acquires at most one
/// arena and releases at most one (a `realloc` does both), so four slots
/// are plenty; should they overflow, the excess is counted and reported.
#[derive(Debug)]
pub(crate) struct Pending {
    buf: [Option<ArenaEvent>; 4],
    len: usize,
    dropped: usize,
}

impl Pending {
    /// No events.
    pub(crate) const fn new() -> Self {
        Pending {
            buf: [None; 4],
            len: 0,
            dropped: 0,
        }
    }

    /// Whether nothing is recorded.
    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        // `dropped` only grows once every slot is taken, so `len == 0` says it all.
        debug_assert!(self.len > 0 || self.dropped == 0);
        self.len == 0
    }

    /// Records `ev`.
    pub(crate) fn push(&mut self, ev: ArenaEvent) {
        match self.buf.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(ev);
                self.len += 1;
            }
            None => self.dropped += 1,
        }
    }

    /// Takes every recorded event, leaving none.
    pub(crate) fn take(&mut self) -> Pending {
        core::mem::replace(self, Pending::new())
    }

    /// Emits the events in order. Must not run while the allocator that
    /// recorded them is borrowed or locked.
    pub(crate) fn emit(self) {
        for ev in self.buf.into_iter().take(self.len).flatten() {
            ev.emit();
        }
        if self.dropped > 0 {
            tracing::debug!(
                target: "pygc::alloc",
                dropped = self.dropped,
                "arena events dropped"
            );
        }
    }
}
