// `allow_threads` releases the lock: its closure cannot use a `Bound`.
use pygc::gil::{SharedHeap, SwitchPolicy};

fn main() {
    let heap = SharedHeap::new(Default::default(), SwitchPolicy::New);
    heap.with_gil(|py| {
        let x = py.alloc(1u32);
        py.allow_threads(|| *x + 1)
    });
}
