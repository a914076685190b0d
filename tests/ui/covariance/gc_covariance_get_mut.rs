// Must not compile: a `Gc<&'static str>` viewed as `Gc<&'a str>` lets `get_mut` store a
// short-lived reference that `to_any` + `downcast` hand back as `&'static str`.
use pygc::{Gc, Heap};

fn main() {
    let heap = Heap::new();
    let g: Gc<&'static str> = heap.alloc("static");
    let any = {
        let local = String::from("short-lived");
        let mut short: Gc<&str> = g;
        *Gc::get_mut(&mut short).unwrap() = local.as_str();
        Gc::to_any(&short)
    };
    let back: Gc<&'static str> = any.downcast::<&'static str>().unwrap();
    println!("{}", *back);
}
