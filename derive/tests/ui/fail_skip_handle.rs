use pygc::{Gc, Trace, Weak};

#[derive(Trace)]
struct Direct {
    #[trace(skip)]
    g: Gc<u32>,
}

#[derive(Trace)]
struct Nested {
    #[trace(skip)]
    gs: Vec<Option<pygc::Weak<u32>>>,
}

#[derive(Trace)]
enum InVariant {
    A(#[trace(skip)] (u8, Weak<u32>)),
    B { ok: u8 },
}

fn main() {}
