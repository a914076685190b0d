// A `Bound` cannot be moved to another thread.
use pygc::gil::{SharedHeap, SwitchPolicy};

fn main() {
    let heap = SharedHeap::new(Default::default(), SwitchPolicy::New);
    heap.with_gil(|py| {
        let x = py.alloc(1u32);
        std::thread::scope(|s| {
            s.spawn(move || drop(x));
        });
    });
}
