//! The lock itself: one mutex-protected state, two condition variables, and the eval-breaker
//! flag the holder polls at its safe points. See the module docs of `gil` for the states and
//! each policy's protocol; the comments here follow the code.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use super::stats::{GilStats, ThreadGilStats};
use super::sync::{
    AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering,
    thread_token,
};

/// CPython's default switch interval (`sys.getswitchinterval()`: 0.005 s).
pub const DEFAULT_SWITCH_INTERVAL: Duration = Duration::from_millis(5);

/// How a [`Gil`] decides when its holder must let another thread in.
///
/// ```
/// use pygc::gil::{Gil, SwitchPolicy};
/// assert_eq!(Gil::new(SwitchPolicy::Old { ticks: 100 }).policy(), SwitchPolicy::Old { ticks: 100 });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SwitchPolicy {
    /// CPython 3.2–3.12 (`Python/ceval_gil.c`): a mutex and condition variable around
    /// `locked`, `switch_number` and `last_holder`. A waiter waits at most the switch
    /// interval; if no switch happened meanwhile it sets the drop request, which the holder
    /// honours at its next safe point, and (forced switching) the holder then waits until
    /// another thread has actually taken the lock.
    New,
    /// Before 3.2: every `ticks` safe points the holder releases the lock and immediately
    /// takes it again, signalling one waiter (CPython's check interval was 100). On a
    /// multicore machine the woken waiter usually finds the lock taken again: the GIL fight.
    Old {
        /// Safe points between two release/re-acquire cycles (at least 1).
        ticks: u32,
    },
    /// Beyond CPython: the new GIL plus priority hand-off against the convoy effect
    /// (bpo-7946). A thread coming back from [`GilGuard::allow_threads`] (a blocking call)
    /// queues as a priority waiter and sets the drop request at once; the holder drops at its
    /// next safe point and the lock goes to the first priority waiter, to no one else.
    PriorityHandoff,
}

/// The global interpreter lock: at most one thread holds it; the holder lets others in at
/// its safe points according to the [`SwitchPolicy`].
///
/// The lock is re-entrant on the holding thread: a nested [`Gil::acquire`] only counts a
/// depth, and only the outermost guard releases. A nested guard never gives the lock away:
/// its [`safe_point`](GilGuard::safe_point) does nothing and its
/// [`allow_threads`](GilGuard::allow_threads) runs the closure with the lock held.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use pygc::gil::{Gil, SwitchPolicy};
///
/// let gil = Arc::new(Gil::new(SwitchPolicy::New));
/// gil.set_switch_interval(Duration::from_micros(100));
/// let workers: Vec<_> = (0..2)
///     .map(|_| {
///         let gil = Arc::clone(&gil);
///         std::thread::spawn(move || {
///             let guard = gil.acquire();
///             for _ in 0..1000 {
///                 guard.safe_point(); // the eval breaker: may hand over and come back
///             }
///         })
///     })
///     .collect();
/// for w in workers {
///     w.join().unwrap();
/// }
/// assert!(gil.stats().acquisitions >= 2);
/// ```
pub struct Gil {
    policy: SwitchPolicy,
    state: Mutex<State>,
    /// Signalled when the lock is released (CPython's `gil->cond`).
    cond: Condvar,
    /// Signalled when a thread takes the lock (CPython's `gil->switch_cond`, forced switching).
    switch_cond: Condvar,
    /// The eval breaker's drop request (CPython's `gil_drop_request`): read by the holder at
    /// every safe point without taking the mutex.
    drop_request: AtomicBool,
    /// The holder's thread token, 0 when unlocked. Written only by the holder (on taking and
    /// before releasing), so a thread that reads its own token here holds the lock.
    owner: AtomicUsize,
    /// The holder's nesting depth; written only by the holder.
    depth: AtomicUsize,
    /// The switch interval in nanoseconds (`sys.setswitchinterval`).
    interval_ns: AtomicU64,
    /// Old GIL: safe points left before the next release/re-acquire (the holder's ticker).
    ticks_left: AtomicU32,
}

/// The state under the mutex (CPython's `struct _gil_runtime_state`, plus the hand-off
/// queue and the instrumentation).
struct State {
    locked: bool,
    /// Incremented on each acquisition by a thread other than `last_holder`.
    switch_number: u64,
    last_holder: usize,
    /// Threads blocked in `take`.
    waiters: usize,
    /// Priority hand-off: threads back from a blocking call, first come first served.
    priority: VecDeque<usize>,
    /// Priority hand-off: while non-zero, only this thread may take the unlocked lock.
    handoff: usize,
    stats: GilStats,
    /// Thread tokens, parallel to `stats.per_thread`.
    tokens: Vec<usize>,
}

// Events to emit once the mutex is released (a `tracing` subscriber is user code).
#[derive(Default)]
struct Events {
    requested: bool,
    switched: bool,
    waited: Duration,
}

impl std::fmt::Debug for Gil {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gil")
            .field("policy", &self.policy)
            .field("switch_interval", &self.switch_interval())
            .field("drop_request", &self.drop_request.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Gil {
    /// An unlocked lock with the given policy and CPython's 5 ms switch interval.
    pub fn new(policy: SwitchPolicy) -> Gil {
        let ticks = match policy {
            SwitchPolicy::Old { ticks } => ticks.max(1),
            _ => 1,
        };
        let policy = match policy {
            SwitchPolicy::Old { .. } => SwitchPolicy::Old { ticks },
            p => p,
        };
        Gil {
            policy,
            state: Mutex::new(State {
                locked: false,
                switch_number: 0,
                last_holder: 0,
                waiters: 0,
                priority: VecDeque::new(),
                handoff: 0,
                stats: GilStats::default(),
                tokens: Vec::new(),
            }),
            cond: Condvar::new(),
            switch_cond: Condvar::new(),
            drop_request: AtomicBool::new(false),
            owner: AtomicUsize::new(0),
            depth: AtomicUsize::new(0),
            interval_ns: AtomicU64::new(DEFAULT_SWITCH_INTERVAL.as_nanos() as u64),
            ticks_left: AtomicU32::new(ticks),
        }
    }

    /// The policy this lock was made with.
    pub fn policy(&self) -> SwitchPolicy {
        self.policy
    }

    /// `sys.setswitchinterval`: how long a waiter waits before it sets the drop request (new
    /// GIL and priority hand-off; the old GIL counts ticks instead). Clamped to at least 1 µs,
    /// as CPython does.
    pub fn set_switch_interval(&self, interval: Duration) {
        let ns = interval.as_nanos().clamp(1_000, u64::MAX as u128) as u64;
        self.interval_ns.store(ns, Ordering::Relaxed);
    }

    /// `sys.getswitchinterval`.
    pub fn switch_interval(&self) -> Duration {
        Duration::from_nanos(self.interval_ns.load(Ordering::Relaxed))
    }

    /// Take the lock, blocking until it is this thread's (or, if this thread holds it
    /// already, count one more level of nesting).
    pub fn acquire(&self) -> GilGuard<'_> {
        let events = self.acquire_as(false);
        // The guard exists before any user code (a `tracing` subscriber) runs, so that a
        // panic there still releases the lock.
        let guard = GilGuard {
            gil: self,
            _not_send: PhantomData,
        };
        self.emit(events);
        guard
    }

    /// A nested guard if this thread holds the lock already, without blocking otherwise.
    pub(crate) fn try_reenter(&self) -> Option<GilGuard<'_>> {
        if self.is_held_by_current_thread() {
            self.depth.fetch_add(1, Ordering::Relaxed);
            Some(GilGuard {
                gil: self,
                _not_send: PhantomData,
            })
        } else {
            None
        }
    }

    /// Whether the calling thread holds the lock.
    #[inline]
    pub fn is_held_by_current_thread(&self) -> bool {
        self.owner.load(Ordering::Relaxed) == thread_token()
    }

    /// Whether the calling thread holds the lock at nesting depth 1: only then may it be
    /// given away (see the type docs).
    #[inline]
    pub(crate) fn held_outermost(&self) -> bool {
        self.is_held_by_current_thread() && self.depth.load(Ordering::Relaxed) == 1
    }

    /// A snapshot of the instrumentation.
    pub fn stats(&self) -> GilStats {
        self.lock_state().stats.clone()
    }

    /// Zero the instrumentation (the per-thread entries start afresh).
    pub fn reset_stats(&self) {
        let mut st = self.lock_state();
        st.stats = GilStats::default();
        st.tokens.clear();
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        // No user code runs under the mutex and every update leaves `State` consistent, so a
        // poisoned mutex (a panic elsewhere while it was held) holds nothing half-done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, cond: &Condvar, st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        cond.wait(st).unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(not(shuttle))]
    fn wait_timeout<'a>(
        &'a self,
        st: MutexGuard<'a, State>,
        timeout: Duration,
    ) -> (MutexGuard<'a, State>, bool) {
        let (st, result) = self
            .cond
            .wait_timeout(st, timeout)
            .unwrap_or_else(PoisonError::into_inner);
        (st, result.timed_out())
    }

    /// The model checker's timed wait: the timeout is a nondeterministic choice the
    /// scheduler explores (time out now, after letting others run, or wait for a signal),
    /// since shuttle's own `wait_timeout` never times out.
    #[cfg(shuttle)]
    fn wait_timeout<'a>(
        &'a self,
        st: MutexGuard<'a, State>,
        _timeout: Duration,
    ) -> (MutexGuard<'a, State>, bool) {
        use shuttle::rand::Rng;
        if shuttle::rand::thread_rng().gen_bool(0.5) {
            drop(st);
            shuttle::thread::yield_now();
            (self.lock_state(), true)
        } else {
            (self.wait(&self.cond, st), false)
        }
    }

    /// CPython's `take_gil`, or a nested acquisition. `priority`: the caller comes back from
    /// a blocking call (used by [`SwitchPolicy::PriorityHandoff`]).
    fn acquire_as(&self, priority: bool) -> Events {
        if self.is_held_by_current_thread() {
            self.depth.fetch_add(1, Ordering::Relaxed);
            return Events::default();
        }
        let me = thread_token();
        let priority = priority && self.policy == SwitchPolicy::PriorityHandoff;
        let start = Instant::now();
        let mut events = Events::default();
        let mut st = self.lock_state();
        if priority && !can_take(&st, me) {
            // Queue, and ask the holder to drop at its next safe point: no interval to wait.
            st.priority.push_back(me);
            if st.locked {
                events.requested |= self.request_drop(&mut st);
            }
        }
        if !can_take(&st, me) {
            st.waiters += 1;
            loop {
                let saved_switch = st.switch_number;
                let timed_out = match self.policy {
                    SwitchPolicy::Old { .. } => {
                        st = self.wait(&self.cond, st);
                        false
                    }
                    SwitchPolicy::New | SwitchPolicy::PriorityHandoff => {
                        let interval = self.switch_interval();
                        let (g, timed_out) = self.wait_timeout(st, interval);
                        st = g;
                        timed_out
                    }
                };
                if can_take(&st, me) {
                    break;
                }
                if timed_out {
                    // A whole interval without a switch: the holder has had its turn.
                    if st.locked && st.switch_number == saved_switch {
                        events.requested |= self.request_drop(&mut st);
                    }
                } else {
                    // Woken (by a release, or spuriously) to find the lock taken again, or
                    // handed to a priority waiter: a lost race.
                    st.stats.failed_attempts += 1;
                }
                if priority && st.locked {
                    events.requested |= self.request_drop(&mut st);
                }
            }
            st.waiters -= 1;
        }
        // Take it.
        st.locked = true;
        if st.handoff == me {
            st.handoff = 0;
        }
        if priority {
            st.priority.retain(|&t| t != me);
        }
        if st.last_holder != me {
            st.last_holder = me;
            st.switch_number += 1;
            st.stats.switches += 1;
            events.switched = true;
        }
        // The drop request was meant for the previous holder; with priority waiters still
        // queued it stays set, so that the new holder passes the lock on in turn.
        if !matches!(self.policy, SwitchPolicy::Old { .. }) {
            self.drop_request
                .store(!st.priority.is_empty(), Ordering::Relaxed);
        }
        // Forced switching: the thread that dropped may be waiting for exactly this.
        self.switch_cond.notify_all();
        let waited = start.elapsed();
        events.waited = waited;
        record_acquisition(&mut st, me, waited);
        drop(st);
        self.owner.store(me, Ordering::Relaxed);
        self.depth.store(1, Ordering::Relaxed);
        events
    }

    /// Emit an acquisition's events (user code: called once a guard owns the lock).
    fn emit(&self, events: Events) {
        if events.requested {
            tracing::debug!(target: "pygc::gil", policy = ?self.policy, "gil: drop requested");
        }
        if events.switched {
            tracing::debug!(
                target: "pygc::gil",
                waited_us = events.waited.as_micros() as u64,
                "gil: switch"
            );
        }
    }

    /// Set the eval breaker's drop request; true if this call set it.
    fn request_drop(&self, st: &mut State) -> bool {
        if self.drop_request.swap(true, Ordering::Relaxed) {
            false
        } else {
            st.stats.drop_requests += 1;
            true
        }
    }

    /// CPython's `drop_gil`. The caller holds the lock at depth 1. `forced`: a drop at a
    /// safe point on request (or tick count), which counts as a forced drop and, with the
    /// new GIL's forced switching, waits until another thread has taken the lock.
    fn release(&self, forced: bool) {
        let me = thread_token();
        debug_assert_eq!(self.owner.load(Ordering::Relaxed), me);
        self.depth.store(0, Ordering::Relaxed);
        self.owner.store(0, Ordering::Relaxed);
        let mut st = self.lock_state();
        st.locked = false;
        if let Some(&first) = st.priority.front() {
            // Priority hand-off: the lock is the first priority waiter's; wake them all so
            // that it is among the woken.
            st.handoff = first;
            self.cond.notify_all();
        } else {
            self.cond.notify_one();
        }
        if forced {
            st.stats.forced_drops += 1;
        }
        let force_switch = forced && !matches!(self.policy, SwitchPolicy::Old { .. });
        if force_switch && st.last_holder == me && st.waiters > 0 {
            // FORCE_SWITCHING: do not come back before someone else had its turn (a waiter
            // leaves `take` only by taking the lock, so this ends).
            self.drop_request.store(false, Ordering::Relaxed);
            while st.last_holder == me && st.waiters > 0 {
                st = self.wait(&self.switch_cond, st);
            }
        }
    }

    /// The eval breaker (see [`GilGuard::safe_point`]). Cheap when nothing is requested: one
    /// relaxed load (new GIL, priority hand-off) or a counter decrement (old GIL).
    #[inline]
    pub(crate) fn safe_point_held(&self) -> bool {
        match self.policy {
            SwitchPolicy::Old { ticks } => {
                let left = self.ticks_left.load(Ordering::Relaxed);
                if left > 1 {
                    self.ticks_left.store(left - 1, Ordering::Relaxed);
                    return false;
                }
                self.ticks_left.store(ticks, Ordering::Relaxed);
                if self.depth.load(Ordering::Relaxed) != 1 {
                    return false;
                }
                self.switch_now()
            }
            SwitchPolicy::New | SwitchPolicy::PriorityHandoff => {
                if !self.drop_request.load(Ordering::Relaxed)
                    || self.depth.load(Ordering::Relaxed) != 1
                {
                    return false;
                }
                self.switch_now()
            }
        }
    }

    #[cold]
    fn switch_now(&self) -> bool {
        tracing::debug!(target: "pygc::gil", policy = ?self.policy, "gil: dropping at a safe point");
        self.release(true);
        let events = self.acquire_as(false);
        self.emit(events);
        true
    }

    /// Release around `f` and take the lock back afterwards, even if `f` panics. Nested
    /// holders keep the lock (see the type docs).
    pub(crate) fn allow_threads_held<R>(&self, f: impl FnOnce() -> R) -> R {
        if self.depth.load(Ordering::Relaxed) != 1 {
            return f();
        }
        self.release(false);
        let _back = Reacquire(self);
        f()
    }
}

/// Takes the lock back when dropped: at the end of `allow_threads`, or while a panic of its
/// closure unwinds (the caller's guard still believes it holds the lock).
struct Reacquire<'a>(&'a Gil);

impl Drop for Reacquire<'_> {
    fn drop(&mut self) {
        let events = self.0.acquire_as(true);
        self.0.emit(events);
    }
}

fn can_take(st: &State, me: usize) -> bool {
    !st.locked && (st.handoff == 0 || st.handoff == me)
}

fn record_acquisition(st: &mut State, me: usize, waited: Duration) {
    st.stats.acquisitions += 1;
    st.stats.wait_histogram.record(waited);
    let i = match st.tokens.iter().position(|&t| t == me) {
        Some(i) => i,
        None => {
            let current = std::thread::current();
            let name = match current.name() {
                Some(n) => n.to_string(),
                None => format!("{:?}", current.id()),
            };
            st.tokens.push(me);
            st.stats.per_thread.push(ThreadGilStats {
                name,
                ..ThreadGilStats::default()
            });
            st.tokens.len() - 1
        }
    };
    let t = &mut st.stats.per_thread[i];
    t.acquisitions += 1;
    t.waits.record(waited);
    t.total_wait += waited;
}

/// Proof that this thread holds a [`Gil`]; releases it when the outermost guard drops.
/// Not `Send`: a lock is released by the thread that took it.
pub struct GilGuard<'a> {
    gil: &'a Gil,
    _not_send: PhantomData<*mut ()>,
}

impl std::fmt::Debug for GilGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GilGuard")
            .field("depth", &self.gil.depth.load(Ordering::Relaxed))
            .finish()
    }
}

impl GilGuard<'_> {
    /// The eval breaker: call it regularly (CPython checks it between bytecodes). Cheap when
    /// no other thread wants the lock; otherwise the policy may hand the lock over here and
    /// take it back before returning. Does nothing in a nested guard.
    #[inline]
    pub fn safe_point(&self) {
        self.gil.safe_point_held();
    }

    /// As [`safe_point`](GilGuard::safe_point), and tells whether the lock was handed over
    /// (released and taken back) in the call.
    pub fn safe_point_switched(&self) -> bool {
        self.gil.safe_point_held()
    }

    /// `Py_BEGIN_ALLOW_THREADS` / `Py_END_ALLOW_THREADS`: release the lock, run `f` (a
    /// blocking call, or work that needs no lock), take the lock back, even if `f` panics.
    /// In a nested guard, `f` runs with the lock held.
    ///
    /// `f` must be `Send`: it cannot capture this guard, a `Python` token or a `Bound`
    /// handle, which all assume the lock is held.
    pub fn allow_threads<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.gil.allow_threads_held(f)
    }

    /// The lock this guard holds.
    pub fn gil(&self) -> &Gil {
        self.gil
    }
}

impl Drop for GilGuard<'_> {
    fn drop(&mut self) {
        let depth = self.gil.depth.load(Ordering::Relaxed);
        debug_assert!(depth >= 1 && self.gil.is_held_by_current_thread());
        if depth > 1 {
            self.gil.depth.store(depth - 1, Ordering::Relaxed);
        } else {
            self.gil.release(false);
        }
    }
}
