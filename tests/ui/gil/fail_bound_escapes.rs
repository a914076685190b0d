// A `Bound` cannot leave the `with_gil` that made it.
use pygc::gil::{SharedHeap, SwitchPolicy};

fn main() {
    let heap = SharedHeap::new(Default::default(), SwitchPolicy::New);
    let escaped = heap.with_gil(|py| py.alloc(1u32));
    drop(escaped);
}
