use pygc::Trace;

#[derive(Trace)]
struct S {
    #[trace(foo)]
    a: u32,
}

fn main() {}
