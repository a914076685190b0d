//! The dining philosophers of the seed notebook (001_3f8830b7e484a3ac, "Задание 1"): five
//! philosophers around a table, a fork between each pair of neighbours, a philosopher eats
//! only holding both. Shared by `examples/dining_philosophers.rs` and
//! `tests/dining_philosophers.rs`.
//!
//! Two tables are laid here:
//!
//! - [`seed_table`] is the notebook's `Philosopher.dine` line for line: take the left fork,
//!   look at the right one (`locked()`), take it if it looks free, otherwise put the left one
//!   back and try again; eat; put the left fork back. The notebook never puts the *right*
//!   fork back, so a philosopher who has eaten keeps it forever: his right-hand neighbour
//!   then blocks forever in `left_fork.acquire()` and he himself spins, finding his own fork
//!   taken. Nobody eats twice. With `release_right` the missing release is added (the
//!   notebook's intent); what remains is a check-then-act race (`locked()` then `acquire()`)
//!   and no fairness at all.
//! - [`fair_table`] can neither deadlock nor starve anyone. A waiter seats hungry
//!   philosophers in arrival order: a philosopher may pick up his forks only when both are
//!   free *and* no neighbour who became hungry before him is still waiting (a ticket per
//!   philosopher, served first-come first-served among those who compete for a fork). The
//!   forks themselves are then taken in a global order (lower index first), so even without
//!   the waiter no cycle of philosophers each holding one fork could form. Starvation is
//!   bounded: at most the four others are ahead of a hungry philosopher, and each eats for a
//!   bounded time.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The notebook's philosophers, seat by seat (philosopher `i` has fork `i` on his left and
/// fork `i + 1` on his right).
pub const NAMES: [&str; 5] = ["Sokrat", "Niche", "Aristotel", "Kant", "Mark"];

/// `threading.Lock`: acquire and release are separate calls (possibly far apart, as a fork
/// is picked up and put down), and `locked()` peeks at the state.
#[derive(Debug, Default)]
pub struct Lock {
    locked: Mutex<bool>,
    released: Condvar,
}

impl Lock {
    /// Blocks until the lock is free, then takes it.
    pub fn acquire(&self) {
        let mut locked = self.locked.lock().expect("fork state");
        while *locked {
            locked = self.released.wait(locked).expect("fork state");
        }
        *locked = true;
    }

    /// Releases the lock (releasing an unlocked lock is an error, as in Python).
    pub fn release(&self) {
        let mut locked = self.locked.lock().expect("fork state");
        assert!(*locked, "release unlocked lock");
        *locked = false;
        self.released.notify_one();
    }

    /// Whether the lock is held right now (stale the moment it returns).
    pub fn locked(&self) -> bool {
        *self.locked.lock().expect("fork state")
    }
}

/// How long philosophers think and eat: uniform in `[lo, hi]` each time (the notebook:
/// think 5-10 s, eat 10-20 s).
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Thinking time range.
    pub think: (Duration, Duration),
    /// Eating time range.
    pub eat: (Duration, Duration),
}

impl Timing {
    /// The notebook's times multiplied by `scale` (0.01: think 50-100 ms, eat 100-200 ms).
    pub fn seed(scale: f64) -> Timing {
        let s = |secs: f64| Duration::from_secs_f64(secs * scale);
        Timing {
            think: (s(5.0), s(10.0)),
            eat: (s(10.0), s(20.0)),
        }
    }
}

/// A small per-thread random source (SplitMix64): `random.uniform` without a dependency.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn new(seat: usize) -> Rng {
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Rng(clock ^ (seat as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self, (lo, hi): (Duration, Duration)) -> Duration {
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        lo + (hi - lo).mul_f64(unit)
    }
}

/// What a dinner came to.
#[derive(Debug)]
pub struct Outcome {
    /// Meals per philosopher, by seat.
    pub eats: Vec<u64>,
    /// Philosophers whose thread had not ended a while after the dinner was called off:
    /// blocked forever (in the seed's version, in `left_fork.acquire()`).
    pub blocked: Vec<bool>,
    /// The dinner's lines, as the notebook prints them.
    pub log: Vec<String>,
    /// From the first philosopher sitting down to the dinner being called off.
    pub elapsed: Duration,
}

/// When to call the dinner off.
#[derive(Debug, Clone, Copy)]
pub struct Stop {
    /// After this long in any case (the notebook: `time.sleep(50)`).
    pub after: Duration,
    /// Earlier, as soon as every philosopher has eaten this many times (if given).
    pub each_ate: Option<u64>,
}

/// State every philosopher of one dinner shares.
#[derive(Debug)]
struct Dinner {
    forks: [Lock; 5],
    running: AtomicBool,
    eats: [AtomicU64; 5],
    log: Mutex<Vec<String>>,
    echo: bool,
}

impl Dinner {
    fn new(echo: bool) -> Arc<Dinner> {
        Arc::new(Dinner {
            forks: Default::default(),
            running: AtomicBool::new(true),
            eats: Default::default(),
            log: Mutex::new(Vec::new()),
            echo,
        })
    }

    fn say(&self, line: String) {
        if self.echo {
            println!("    {line}");
        }
        self.log.lock().expect("log").push(line);
    }

    fn running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    /// Seats five philosophers running `body(dinner, seat)`, lets them dine until `stop`,
    /// calls the dinner off, and gives each thread `grace` to end.
    fn serve(
        self: &Arc<Dinner>,
        stop: Stop,
        grace: Duration,
        body: impl Fn(&Dinner, usize) + Send + Sync + Clone + 'static,
    ) -> Outcome {
        let start = Instant::now();
        let threads: Vec<JoinHandle<()>> = (0..5)
            .map(|seat| {
                let dinner = self.clone();
                let body = body.clone();
                thread::Builder::new()
                    .name(NAMES[seat].to_string())
                    .spawn(move || body(&dinner, seat))
                    .expect("spawn a philosopher")
            })
            .collect();
        loop {
            let fed = stop
                .each_ate
                .is_some_and(|k| self.eats.iter().all(|e| e.load(Ordering::SeqCst) >= k));
            if fed || start.elapsed() >= stop.after {
                break;
            }
            thread::sleep(Duration::from_millis(1));
        }
        self.running.store(false, Ordering::SeqCst);
        let elapsed = start.elapsed();
        self.say("finish".to_string());
        let deadline = Instant::now() + grace;
        while threads.iter().any(|t| !t.is_finished()) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        // A philosopher still at the table is blocked for good; his thread is left behind
        // (like a daemon thread, it ends with the process).
        let blocked = threads.iter().map(|t| !t.is_finished()).collect();
        Outcome {
            eats: self.eats.iter().map(|e| e.load(Ordering::SeqCst)).collect(),
            blocked,
            log: self.log.lock().expect("log").clone(),
            elapsed,
        }
    }
}

/// The notebook's dinner: `Philosopher.run` and `Philosopher.dine` as written (with
/// `release_right`, the right fork is put back too). `echo` prints the lines as they happen.
pub fn seed_table(timing: Timing, stop: Stop, release_right: bool, echo: bool) -> Outcome {
    let dinner = Dinner::new(echo);
    let grace = timing.eat.1 * 2 + Duration::from_millis(500);
    dinner.serve(stop, grace, move |d, seat| {
        let name = NAMES[seat];
        let (left, right) = (&d.forks[seat], &d.forks[(seat + 1) % 5]);
        let mut rng = Rng::new(seat);
        while d.running() {
            thread::sleep(rng.uniform(timing.think));
            d.say(format!("{name} is hungry"));
            // dine(): `while self.running: ... else: return`
            let mut holding = false;
            while d.running() {
                left.acquire();
                if !right.locked() {
                    right.acquire();
                    holding = true;
                    break;
                } else {
                    left.release();
                }
            }
            if !holding {
                return;
            }
            d.say(format!("{name} start eating"));
            d.eats[seat].fetch_add(1, Ordering::SeqCst);
            thread::sleep(rng.uniform(timing.eat));
            left.release();
            if release_right {
                right.release();
            }
            d.say(format!("{name} stop eating, start thinking"));
        }
    })
}

/// The waiter of [`fair_table`]: which forks are in use and who is hungry, in arrival order.
#[derive(Debug, Default)]
struct Waiter {
    state: Mutex<WaiterState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct WaiterState {
    in_use: [bool; 5],
    hungry: VecDeque<usize>,
}

/// Whether philosophers `a` and `b` compete for a fork (they are neighbours).
fn neighbours(a: usize, b: usize) -> bool {
    (a + 1) % 5 == b || (b + 1) % 5 == a
}

impl Waiter {
    /// Blocks until `seat` may eat, then reserves his two forks.
    fn seat(&self, seat: usize) {
        let (left, right) = (seat, (seat + 1) % 5);
        let mut state = self.state.lock().expect("waiter");
        state.hungry.push_back(seat);
        loop {
            let ahead = state.hungry.iter().take_while(|&&p| p != seat);
            let overtaken = ahead.clone().any(|&p| neighbours(p, seat));
            if !overtaken && !state.in_use[left] && !state.in_use[right] {
                break;
            }
            state = self.changed.wait(state).expect("waiter");
        }
        state.hungry.retain(|&p| p != seat);
        state.in_use[left] = true;
        state.in_use[right] = true;
        // Someone behind this philosopher may have been held back by him alone.
        self.changed.notify_all();
    }

    /// `seat` has put his forks down.
    fn leave(&self, seat: usize) {
        let mut state = self.state.lock().expect("waiter");
        state.in_use[seat] = false;
        state.in_use[(seat + 1) % 5] = false;
        self.changed.notify_all();
    }
}

/// The dinner that can neither deadlock nor starve anyone: the waiter's first-come
/// first-served seating, then the forks taken lower index first.
pub fn fair_table(timing: Timing, stop: Stop, echo: bool) -> Outcome {
    let dinner = Dinner::new(echo);
    let waiter = Arc::new(Waiter::default());
    let grace = timing.eat.1 * 2 + Duration::from_millis(500);
    dinner.serve(stop, grace, move |d, seat| {
        let name = NAMES[seat];
        let (a, b) = (seat, (seat + 1) % 5);
        let (first, second) = (&d.forks[a.min(b)], &d.forks[a.max(b)]);
        let mut rng = Rng::new(seat);
        while d.running() {
            thread::sleep(rng.uniform(timing.think));
            d.say(format!("{name} is hungry"));
            waiter.seat(seat);
            first.acquire();
            second.acquire();
            d.say(format!("{name} start eating"));
            d.eats[seat].fetch_add(1, Ordering::SeqCst);
            thread::sleep(rng.uniform(timing.eat));
            second.release();
            first.release();
            waiter.leave(seat);
            d.say(format!("{name} stop eating, start thinking"));
        }
    })
}
