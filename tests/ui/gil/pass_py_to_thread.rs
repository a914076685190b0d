// A `Py` goes anywhere; it is opened with the token of the thread that holds the lock.
use pygc::gil::{SharedHeap, SwitchPolicy};

fn main() {
    let heap = SharedHeap::new(Default::default(), SwitchPolicy::New);
    let x = heap.with_gil(|py| py.alloc(String::from("spam")).unbind());
    let h = heap.clone();
    let n = std::thread::spawn(move || h.with_gil(|py| x.bind(py).len())).join().unwrap();
    assert_eq!(n, 4);
    let y = heap.with_gil(|py| py.alloc(2u32).unbind());
    let z = heap.with_gil(|py| py.allow_threads(move || y));
    drop(z);
}
