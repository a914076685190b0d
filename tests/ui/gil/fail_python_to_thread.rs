// The token cannot be moved (or lent) to another thread.
use pygc::gil::{SharedHeap, SwitchPolicy};

fn main() {
    let heap = SharedHeap::new(Default::default(), SwitchPolicy::New);
    heap.with_gil(|py| {
        std::thread::scope(|s| {
            s.spawn(move || py.live_objects());
        });
    });
}
