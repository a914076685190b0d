use pygc::Trace;
use std::rc::Rc;

// `Rc` deliberately has no `Trace` impl: the error must point at the field.
#[derive(Trace)]
struct HoldsRc {
    ok: u32,
    shared: Rc<u8>,
}

#[derive(Trace)]
enum HoldsRcInVariant {
    A(Rc<u8>),
}

fn main() {}
