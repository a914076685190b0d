//! Pause data (issue 11): per-generation totals and the ring of recent pauses, with the
//! trigger of each collection. CPython's own statistics are untouched.

use std::cell::RefCell;
use std::time::Duration;

use pygc::{CollectionTrigger, Gc, HeapConfig, Trace};

use crate::support::TestHeap;

#[derive(Trace)]
struct Node(RefCell<Option<Gc<Node>>>);

#[test]
fn explicit_and_automatic_pauses_are_recorded() {
    let heap = TestHeap::with_config(HeapConfig {
        thresholds: [10, 10, 10],
        ..HeapConfig::default()
    });
    for _ in 0..25 {
        let n = heap.alloc(Node(RefCell::new(None)));
        *n.0.borrow_mut() = Some(n.clone());
    }
    heap.collect();
    let pauses = heap.recent_pauses();
    let automatic = pauses
        .iter()
        .filter(|p| p.trigger == CollectionTrigger::Automatic)
        .count();
    assert_eq!(automatic, 2, "{pauses:?}");
    let last = pauses.last().unwrap();
    assert_eq!(
        (last.trigger, last.generation),
        (CollectionTrigger::Explicit, 2)
    );
    // Every automatic pause collected generation 0 here; totals agree with the log.
    let stats = heap.pause_stats();
    assert_eq!(stats[0].count, 2);
    assert_eq!(stats[2].count, 1);
    let total: Duration = pauses.iter().map(|p| p.duration).sum();
    assert_eq!(total, stats.iter().map(|s| s.total).sum::<Duration>());
    assert!(stats[0].max <= stats[0].total);
    // CPython's statistics count the same collections.
    assert_eq!(heap.stats()[0].collections, 2);
    let found: usize = pauses.iter().map(|p| p.found).sum();
    assert_eq!(found, 25);
}

#[test]
fn byte_trigger_pauses_say_bytes() {
    let heap = TestHeap::with_config(HeapConfig {
        byte_trigger: Some(4096),
        ..HeapConfig::default()
    });
    let mut keep = Vec::new();
    for _ in 0..10 {
        keep.push(heap.alloc([0u8; 1000]));
    }
    assert!(
        heap.recent_pauses()
            .iter()
            .all(|p| p.trigger == CollectionTrigger::Bytes && p.generation == 0)
    );
    assert!(heap.pause_stats()[0].count >= 2);
}

#[test]
// A thousand collections of an empty heap: bookkeeping in safe code that Miri would take a
// minute over, with no unsafe path the other pause tests do not already take.
#[cfg_attr(miri, ignore)]
fn the_ring_keeps_the_newest() {
    let heap = TestHeap::new();
    for _ in 0..pygc::gc::RECENT_PAUSES + 5 {
        heap.collect_generation(0).unwrap();
    }
    assert_eq!(heap.recent_pauses().len(), pygc::gc::RECENT_PAUSES);
    assert_eq!(
        heap.pause_stats()[0].count as usize,
        pygc::gc::RECENT_PAUSES + 5
    );
    assert_eq!(heap.take_recent_pauses().len(), pygc::gc::RECENT_PAUSES);
    assert!(heap.recent_pauses().is_empty());
}
