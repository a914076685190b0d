//! pygc's `GlobalPool` as the process's `#[global_allocator]`: real
//! multi-threaded churn of `Vec`, `String` and `HashMap`, including blocks
//! allocated on one thread and freed on another. Passing means no crash,
//! no corrupted contents and, at the end, consistent stats.
//!
//! (Under Miri the thread and iteration counts shrink.)

use std::collections::HashMap;
use std::sync::mpsc;
use std::thread;

use pygc::alloc::GlobalPool;

#[global_allocator]
static GLOBAL: GlobalPool = GlobalPool::new();

const THREADS: usize = if cfg!(miri) { 2 } else { 4 };
const ROUNDS: usize = if cfg!(miri) { 20 } else { 20_000 };

#[test]
fn multithreaded_churn() {
    let (tx, rx) = mpsc::channel::<Vec<String>>();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let tx = tx.clone();
            thread::spawn(move || {
                let mut map: HashMap<u64, String> = HashMap::new();
                let mut v: Vec<Vec<u8>> = Vec::new();
                for i in 0..ROUNDS {
                    let key = (i * 7919 + t) as u64 % 500;
                    map.insert(key, format!("t{t}-i{i}-{}", "x".repeat(i % 40)));
                    v.push(vec![t as u8; i % 700]);
                    if v.len() > 64 {
                        let old = v.swap_remove(i % v.len());
                        assert!(old.iter().all(|&b| b == t as u8));
                    }
                    if i % 100 == 0 {
                        // Hand strings to the main thread: freed over there.
                        let batch: Vec<String> = map.values().take(10).cloned().collect();
                        tx.send(batch).unwrap();
                    }
                }
                for (k, s) in &map {
                    assert!(s.starts_with(&format!("t{t}-")), "key {k}: {s}");
                }
                map.len()
            })
        })
        .collect();
    drop(tx);
    let mut received = 0usize;
    for batch in rx {
        for s in &batch {
            assert!(s.starts_with('t'));
        }
        received += batch.len();
    }
    for h in handles {
        assert!(h.join().unwrap() > 0);
    }
    assert!(received > 0);
    let s = GLOBAL.stats();
    for (i, c) in s.class_rows().iter().enumerate() {
        let bpp = (s.pool_size - s.pool_overhead) / c.block_size;
        assert_eq!(
            c.blocks_in_use + c.blocks_available,
            c.pools * bpp,
            "class {i}"
        );
    }
    assert!(s.arenas_allocated_total >= 1, "the pools were used");
    // A Box from this thread lives in a pool.
    let b = Box::new(42u64);
    assert!(GLOBAL.owns(&*b as *const u64 as *const u8));
}
