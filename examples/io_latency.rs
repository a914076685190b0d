//! The seed's claim (000_435ab4e7cf011ae7, "Интересные свойства"): a CPU-bound thread may
//! keep an I/O-bound one off the GIL for a whole switch interval, which hurts a server's
//! response times (the convoy effect, bpo-7946). Measured: the round trip of a socket-pair
//! echo between two threads that share the lock, with 0 and 1 CPU-bound threads running,
//! for switch intervals 5 ms, 1 ms and 0.1 ms, under each policy, and under CPython 3.11
//! (`examples/python/io_latency.py`: `socket.socketpair`, `threading`,
//! `sys.setswitchinterval`).
//!
//! Both I/O threads release the lock around every blocking read and write
//! (`allow_threads`, CPython's `Py_BEGIN_ALLOW_THREADS`) and hold it to handle a message
//! (allocating an object). The client pauses 1 ms between requests (a server waiting for
//! its next request), so the CPU-bound thread has the lock when a request arrives.
//!
//! `cargo run --release --example io_latency [-- --quick]`

mod common;

use std::hint::black_box;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use pygc::HeapConfig;
use pygc::Trace;
use pygc::gil::{SharedHeap, SwitchPolicy};

use common::{Table, fmt_duration, machine, parse_lines, percentile, python, quick};

/// The pause between two requests.
const GAP: Duration = Duration::from_millis(1);

/// A message, as the handler allocates it.
#[derive(Trace)]
struct Message {
    bytes: [u8; 4],
}

/// The round trips' median, 99th percentile and mean.
struct Latency {
    median: Duration,
    p99: Duration,
    mean: Duration,
}

fn measure(policy: SwitchPolicy, interval: Duration, rounds: usize, hogs: usize) -> Latency {
    let heap = SharedHeap::new(HeapConfig::default(), policy);
    heap.gil().set_switch_interval(interval);
    let (mut client_end, mut server_end) = UnixStream::pair().expect("socketpair");
    let stop = Arc::new(AtomicBool::new(false));

    // The CPU-bound threads: arithmetic, the eval breaker at every step.
    let cpu: Vec<_> = (0..hogs)
        .map(|_| {
            let (heap, stop) = (heap.clone(), stop.clone());
            thread::spawn(move || {
                heap.with_gil(|py| {
                    let mut x = black_box(1u64);
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..16 {
                            x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                        }
                        py.safe_point();
                    }
                })
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(10));

    let server = {
        let heap = heap.clone();
        thread::spawn(move || {
            heap.with_gil(|py| {
                for _ in 0..rounds {
                    let mut buf = [0u8; 4];
                    py.allow_threads(|| server_end.read_exact(&mut buf))
                        .expect("recv");
                    // Handle the message: allocate it, holding the lock.
                    let message = py.alloc(Message { bytes: buf });
                    let reply = message.bytes;
                    py.allow_threads(|| server_end.write_all(&reply))
                        .expect("send");
                }
            })
        })
    };
    let client = {
        let heap = heap.clone();
        thread::spawn(move || {
            heap.with_gil(|py| {
                let mut samples = Vec::with_capacity(rounds);
                for _ in 0..rounds {
                    py.allow_threads(|| thread::sleep(GAP));
                    let start = Instant::now();
                    py.allow_threads(|| client_end.write_all(b"ping"))
                        .expect("send");
                    let mut buf = [0u8; 4];
                    py.allow_threads(|| client_end.read_exact(&mut buf))
                        .expect("recv");
                    let reply = py.alloc(Message { bytes: buf });
                    samples.push(start.elapsed());
                    assert_eq!(&reply.bytes, b"ping");
                }
                samples
            })
        })
    };
    let mut samples = client.join().expect("client");
    server.join().expect("server");
    stop.store(true, Ordering::Relaxed);
    for t in cpu {
        t.join().expect("cpu-bound thread");
    }
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    Latency {
        median: percentile(&mut samples, 0.5),
        p99: percentile(&mut samples, 0.99),
        mean,
    }
}

fn main() {
    let quick = quick();
    let rounds = if quick { 30 } else { 200 };
    let intervals = [
        ("5 ms", Duration::from_millis(5), "5"),
        ("1 ms", Duration::from_millis(1), "1"),
        ("0.1 ms", Duration::from_micros(100), "0.1"),
    ];
    println!(
        "socket-pair echo, {rounds} round trips per case, 1 ms between requests; {}",
        machine()
    );
    let mut table = Table::new(&["lock", "interval", "CPU threads", "median", "p99", "mean"]);
    let mut row = |lock: &str, interval: &str, hogs: usize, l: &Latency| {
        table.row(vec![
            lock.to_string(),
            interval.to_string(),
            hogs.to_string(),
            fmt_duration(l.median),
            fmt_duration(l.p99),
            fmt_duration(l.mean),
        ]);
    };
    // The old GIL has no interval: its holder lets go every 100 ticks.
    for hogs in [0, 1] {
        let l = measure(
            SwitchPolicy::Old { ticks: 100 },
            Duration::ZERO,
            rounds,
            hogs,
        );
        row("old GIL (100 ticks)", "-", hogs, &l);
    }
    for (name, policy) in [
        ("new GIL", SwitchPolicy::New),
        ("priority hand-off", SwitchPolicy::PriorityHandoff),
    ] {
        for (label, interval, _) in intervals {
            for hogs in [0, 1] {
                row(name, label, hogs, &measure(policy, interval, rounds, hogs));
            }
        }
    }
    let args: Vec<String> = std::iter::once(rounds.to_string())
        .chain(intervals.iter().map(|(_, _, ms)| ms.to_string()))
        .collect();
    if let Some(out) = python(include_str!("python/io_latency.py"), &args) {
        // `rtt interval_ms cpu median_us p99_us mean_us`, in the order asked.
        let mut lines = out.lines().filter(|l| l.starts_with("rtt "));
        for (label, _, _) in intervals {
            for hogs in [0, 1] {
                let Some(values) = lines.next().and_then(|l| parse_lines(l).remove("rtt")) else {
                    continue;
                };
                let us = |v: f64| Duration::from_secs_f64(v / 1e6);
                assert_eq!(values[1] as usize, hogs);
                let l = Latency {
                    median: us(values[2]),
                    p99: us(values[3]),
                    mean: us(values[4]),
                };
                row("CPython 3.11", label, hogs, &l);
            }
        }
    }
    println!();
    table.print();
    println!(
        "\n  A round trip: the client sends, the server wakes, takes the lock, allocates, \
         sends back,\n  the client wakes and takes the lock. With a CPU-bound thread holding \
         the lock, each of\n  those acquisitions can wait up to an interval (new GIL); the \
         priority hand-off asks the\n  holder to drop at once for a thread back from a \
         blocking call."
    );
}
