// A `Gc` (non-atomic counts) cannot be sent to another thread.
use pygc::Heap;

fn main() {
    let heap = Heap::new();
    let x = heap.alloc(1u32);
    std::thread::spawn(move || drop(x));
}
