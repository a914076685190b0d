use pygc::Trace;

#[derive(Trace)]
struct S {
    #[trace]
    a: u32,
}

fn main() {}
