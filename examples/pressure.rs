//! Memory pressure: CPython's count rule alone versus pygc's byte trigger.
//!
//! 3,000 garbage vectors of 100,000 slots (800 KB each), each holding itself, so only the
//! cycle collector can free them. Every vector reports its buffer with an
//! [`ExternalMemory`] token. With the count rule alone, about 700 of them wait for each
//! collection (CPython's threshold counts objects, and a vector is one object); with
//! `HeapConfig::byte_trigger` a young collection starts whenever the accounted bytes grew by
//! the trigger since the last one.
//!
//! ```text
//! cargo run --release --example pressure            # both modes, each in its own process
//! cargo run --release --example pressure -- trigger # one mode: trigger | count
//! ```
use std::cell::RefCell;
use std::process::Command;

use pygc::{ExternalMemory, Gc, Heap, HeapConfig, Trace};

#[derive(Trace)]
struct Vector {
    slots: RefCell<Vec<Option<Gc<Vector>>>>,
    external: ExternalMemory,
}

const VECTORS: usize = 3_000;
const SLOTS: usize = 100_000;
const TRIGGER: usize = 8 << 20;

/// Peak resident set size of this process (Linux `VmHWM`), in KiB.
fn peak_rss_kib() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn run(trigger: bool) {
    let heap = Heap::with_config(HeapConfig {
        byte_trigger: trigger.then_some(TRIGGER),
        ..HeapConfig::default()
    });
    let mut peak = 0;
    let started = std::time::Instant::now();
    for _ in 0..VECTORS {
        let v = heap.alloc(Vector {
            slots: RefCell::new(vec![None; SLOTS]),
            external: heap.external_memory(),
        });
        v.external
            .set(v.slots.borrow().capacity() * size_of::<Option<Gc<Vector>>>());
        v.slots.borrow_mut()[0] = Some(v.clone());
        peak = peak.max(heap.accounted_bytes());
    }
    heap.collect();
    let mode = if trigger {
        "byte trigger 8 MiB"
    } else {
        "count rule only"
    };
    println!(
        "{mode:>20}: peak accounted {:>7.1} MiB, peak RSS {:>7.1} MiB, gen0 collections {:>4}, {:.2}s",
        peak as f64 / (1 << 20) as f64,
        peak_rss_kib().unwrap_or(0) as f64 / 1024.0,
        heap.stats()[0].collections,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(heap.live_objects(), 0);
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("trigger") => run(true),
        Some("count") => run(false),
        _ => {
            let exe = std::env::current_exe().expect("own path");
            for mode in ["trigger", "count"] {
                let status = Command::new(&exe).arg(mode).status().expect("spawn");
                assert!(status.success());
            }
        }
    }
}
