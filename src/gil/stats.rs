//! The lock's instrumentation: counts, and wait times as log2 histograms (totals and per
//! thread). Updated under the lock's mutex, copied out by [`Gil::stats`](super::Gil::stats).

use std::fmt;
use std::time::Duration;

/// Wait times in power-of-two buckets: bucket `i` counts waits of `[2^(i-1), 2^i)`
/// nanoseconds (bucket 0: waits under 1 ns, that is, no wait).
///
/// ```
/// use std::time::Duration;
/// use pygc::gil::WaitHistogram;
/// let mut h = WaitHistogram::default();
/// for us in [1, 2, 3, 1000] {
///     h.record(Duration::from_micros(us));
/// }
/// assert_eq!(h.count(), 4);
/// // The median is reported as the upper edge of its bucket: at most twice the true value.
/// let p50 = h.percentile(0.5);
/// assert!(p50 >= Duration::from_micros(2) && p50 <= Duration::from_micros(8));
/// assert!(h.percentile(1.0) >= Duration::from_millis(1));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct WaitHistogram {
    buckets: [u64; 65],
    total: Duration,
}

impl Default for WaitHistogram {
    fn default() -> Self {
        WaitHistogram {
            buckets: [0; 65],
            total: Duration::ZERO,
        }
    }
}

impl WaitHistogram {
    /// Count one wait.
    pub fn record(&mut self, wait: Duration) {
        let ns = u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX);
        let bucket = (u64::BITS - ns.leading_zeros()) as usize;
        self.buckets[bucket] += 1;
        self.total += wait;
    }

    /// Number of waits recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Sum of the waits.
    pub fn total(&self) -> Duration {
        self.total
    }

    /// The `q`-quantile (`0.0..=1.0`) as the upper edge of the bucket it falls in (an
    /// overestimate by at most a factor 2); zero when nothing was recorded.
    pub fn percentile(&self, q: f64) -> Duration {
        let n = self.count();
        if n == 0 {
            return Duration::ZERO;
        }
        // The rank of the q-quantile, 1-based (nearest-rank method).
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.buckets.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_edge(i);
            }
        }
        Duration::from_nanos(u64::MAX)
    }

    /// The non-empty buckets as `(upper edge, count)`.
    pub fn buckets(&self) -> Vec<(Duration, u64)> {
        self.buckets
            .iter()
            .enumerate()
            .filter(|&(_, &c)| c > 0)
            .map(|(i, &c)| (bucket_edge(i), c))
            .collect()
    }

    /// Add another histogram's counts to this one.
    pub fn merge(&mut self, other: &WaitHistogram) {
        for (a, b) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *a += b;
        }
        self.total += other.total;
    }
}

/// The (exclusive) upper edge of bucket `i`: `2^i` ns.
fn bucket_edge(i: usize) -> Duration {
    if i >= 64 {
        Duration::from_nanos(u64::MAX)
    } else {
        Duration::from_nanos(1u64 << i)
    }
}

impl fmt::Debug for WaitHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitHistogram")
            .field("count", &self.count())
            .field("total", &self.total)
            .field("p50", &self.percentile(0.5))
            .field("p99", &self.percentile(0.99))
            .finish()
    }
}

/// One thread's share of [`GilStats`].
#[derive(Clone, Debug, Default)]
pub struct ThreadGilStats {
    /// The thread's name, or its `ThreadId` in `Debug` form when it has none.
    pub name: String,
    /// Times this thread took the lock (re-entrant acquisitions are not counted).
    pub acquisitions: u64,
    /// How long each of those acquisitions waited.
    pub waits: WaitHistogram,
    /// The sum of the waits.
    pub total_wait: Duration,
}

/// A snapshot of the lock's instrumentation ([`Gil::stats`](super::Gil::stats)).
#[derive(Clone, Debug, Default)]
pub struct GilStats {
    /// Times a thread took the lock (re-entrant acquisitions are not counted).
    pub acquisitions: u64,
    /// Acquisitions by a thread other than the previous holder (CPython's `switch_number`).
    pub switches: u64,
    /// Drop requests honoured: a holder that released at a safe point because a waiter asked
    /// (new GIL, priority hand-off), or a tick-count release (old GIL).
    pub forced_drops: u64,
    /// Drop requests set by waiters whose timed wait expired with no switch (new GIL), or by
    /// threads returning from blocking calls (priority hand-off).
    pub drop_requests: u64,
    /// A waiter woke up and found the lock taken again: the GIL fight.
    pub failed_attempts: u64,
    /// Wait time of every acquisition.
    pub wait_histogram: WaitHistogram,
    /// The same, per thread, in the order threads first took the lock.
    pub per_thread: Vec<ThreadGilStats>,
}

impl GilStats {
    /// Failed attempts per switch (0 when no switch happened): the old GIL's fight measure.
    pub fn failed_per_switch(&self) -> f64 {
        if self.switches == 0 {
            0.0
        } else {
            self.failed_attempts as f64 / self.switches as f64
        }
    }
}
