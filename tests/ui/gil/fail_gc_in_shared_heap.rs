// Objects of a shared heap are `Send`: they cannot hold a `Gc` (only `Py`).
use pygc::gil::{SharedHeap, SwitchPolicy};
use pygc::{Gc, Heap};

fn main() {
    let local = Heap::new();
    let g: Gc<u32> = local.alloc(1);
    let heap = SharedHeap::new(Default::default(), SwitchPolicy::New);
    heap.with_gil(|py| drop(py.alloc(Some(g))));
}
