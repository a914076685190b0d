//! One check shared by the test crates that allocate variable-size objects
//! (`tests/all/var_objects.rs`, `tests/redteam_var.rs`), included with `#[path]`.

use pygc::Heap;

/// Everything allocated was freed: no live object, no accounted byte, no large block, no
/// pool block in use; the heap's invariants hold; and user code run by the collector made
/// exactly `unraisable` reports (an `assert!` failing in a `Drop` or finalizer is only
/// reported, so this is where it fails the test).
pub fn assert_heap_empty(heap: &Heap, unraisable: u64) {
    assert_eq!(heap.unraisable_count(), unraisable, "unraisable reports");
    assert_eq!(heap.live_objects(), 0);
    assert_eq!(heap.accounted_bytes(), 0);
    let stats = heap.alloc_stats();
    assert_eq!(stats.large_blocks, 0, "a large box leaked");
    assert_eq!(stats.large_bytes, 0);
    assert!(
        stats.classes.iter().all(|c| c.blocks_in_use == 0),
        "a pool box leaked: {stats}"
    );
    heap.check_invariants();
}
