use pygc::{Gc, Trace};

#[derive(Trace)]
#[repr(packed)]
struct Packed {
    a: u8,
    g: Gc<u32>,
}

#[derive(Trace)]
#[repr(C, packed(2))]
struct PackedN {
    a: u8,
    b: u64,
}

fn main() {}
