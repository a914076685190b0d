use pygc::Trace;

#[derive(Trace)]
struct S {
    #[trace(skip = 1)]
    a: u32,
}

fn main() {}
