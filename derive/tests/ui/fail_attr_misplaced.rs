use pygc::Trace;

// `skip` on the type, `crate` on a field, anything on a variant, `#[trace = ..]`
// and a duplicated key: all reported in one go.
#[derive(Trace)]
#[trace(skip)]
enum E {
    #[trace(skip)]
    A(#[trace(crate = "pygc")] u32),
    B {
        #[trace = "skip"]
        b: u32,
        #[trace(skip, skip)]
        c: u32,
    },
}

#[derive(Trace)]
#[trace(crate = "pygc", crate = "pygc")]
struct Twice;

fn main() {}
