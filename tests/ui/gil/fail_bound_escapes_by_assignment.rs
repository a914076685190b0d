// A `Bound` cannot be smuggled out of `with_gil` through a captured variable either.
use pygc::gil::{SharedHeap, SwitchPolicy};

fn main() {
    let heap = SharedHeap::new(Default::default(), SwitchPolicy::New);
    let mut out = None;
    heap.with_gil(|py| out = Some(py.alloc(1u32)));
    drop(out);
}
