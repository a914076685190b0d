use pygc::{Gc, Trace};

#[derive(Trace)]
union Slot {
    handle: std::mem::ManuallyDrop<Gc<u32>>,
    raw: usize,
}

fn main() {}
