// `allow_threads` releases the lock: its closure cannot use the token.
use pygc::gil::{SharedHeap, SwitchPolicy};

fn main() {
    let heap = SharedHeap::new(Default::default(), SwitchPolicy::New);
    heap.with_gil(|py| py.allow_threads(|| py.live_objects()));
}
