//! Safe-point mode (issue 11): automatic collections become due instead of running inside
//! `alloc`; the program runs them with `collect_if_due` where it knows no borrow is held.

use std::cell::RefCell;

use pygc::{CollectionTrigger, Gc, HeapConfig, Trace};

use crate::support::TestHeap;

#[derive(Trace)]
struct Node(RefCell<Option<Gc<Node>>>);

fn garbage_cycle(heap: &TestHeap) {
    let n = heap.alloc(Node(RefCell::new(None)));
    *n.0.borrow_mut() = Some(n.clone());
}

fn safe_heap(thresholds: [usize; 3]) -> TestHeap {
    TestHeap::with_config(HeapConfig {
        thresholds,
        safe_points: true,
        ..HeapConfig::default()
    })
}

#[test]
fn alloc_never_collects_in_safe_point_mode() {
    let heap = safe_heap([10, 10, 10]);
    for _ in 0..100 {
        garbage_cycle(&heap);
    }
    assert!(heap.is_collection_due());
    assert_eq!(heap.stats()[0].collections, 0);
    assert_eq!(heap.live_objects(), 100);
    // The count rule picks generation 0 (count 100 > 10); it finds all 100.
    assert_eq!(heap.collect_if_due(), Some(100));
    assert!(!heap.is_collection_due());
    assert_eq!(heap.collect_if_due(), None);
    let pause = heap.recent_pauses()[0];
    assert_eq!(
        (pause.trigger, pause.generation),
        (CollectionTrigger::SafePoint, 0)
    );
}

#[test]
fn same_collections_as_cpython_when_polled_after_each_alloc() {
    // Polling after every allocation gives exactly the collections the count rule runs
    // inside `alloc` (same generations, same counts), one allocation later.
    let inline = TestHeap::with_config(HeapConfig {
        thresholds: [7, 3, 2],
        ..HeapConfig::default()
    });
    let polled = safe_heap([7, 3, 2]);
    // Miri: 150 rounds still reach several full collections (7 * 3 * 2 = 42 per one).
    for _ in 0..if cfg!(miri) { 150 } else { 500 } {
        garbage_cycle(&inline);
        garbage_cycle(&polled);
        polled.collect_if_due();
    }
    let gens = |h: &TestHeap| h.stats().map(|s| s.collections);
    assert_eq!(gens(&inline), gens(&polled));
}

#[test]
fn explicit_collect_clears_a_covered_due_collection() {
    let heap = safe_heap([5, 100, 100]);
    for _ in 0..10 {
        garbage_cycle(&heap);
    }
    assert!(heap.is_collection_due());
    heap.collect_generation(0).unwrap();
    assert!(!heap.is_collection_due());
    assert_eq!(heap.collect_if_due(), None);
}

#[test]
fn younger_explicit_collect_leaves_an_older_due_collection() {
    let heap = safe_heap([2, 1, 100]);
    // Generation 1 becomes due: its count (collections of generation 0) exceeds 1.
    for _ in 0..3 {
        garbage_cycle(&heap);
        heap.collect_generation(0).unwrap();
    }
    for _ in 0..3 {
        garbage_cycle(&heap);
    }
    assert!(heap.is_collection_due());
    heap.collect_generation(0).unwrap();
    assert!(
        heap.is_collection_due(),
        "generation 1 was due, not covered by a gen-0 collect"
    );
    heap.collect_generation(1).unwrap();
    assert!(!heap.is_collection_due());
}

#[test]
fn byte_trigger_in_safe_point_mode() {
    let heap = TestHeap::with_config(HeapConfig {
        byte_trigger: Some(4096),
        safe_points: true,
        ..HeapConfig::default()
    });
    let keep: Vec<_> = (0..10).map(|_| heap.alloc([0u8; 1000])).collect();
    assert!(heap.is_collection_due());
    assert_eq!(heap.collect_if_due(), Some(0));
    assert_eq!(heap.stats()[0].collections, 1);
    drop(keep);
}

#[test]
fn disabled_heap_is_never_due() {
    let heap = TestHeap::with_config(HeapConfig {
        thresholds: [5, 10, 10],
        enabled: false,
        safe_points: true,
        ..HeapConfig::default()
    });
    for _ in 0..20 {
        garbage_cycle(&heap);
    }
    assert!(!heap.is_collection_due());
    assert_eq!(heap.collect_if_due(), None);
    heap.collect();
}
