// Must not compile: `Weak` covariance gives a supertype view through `upgrade` (then
// `get_mut` once the weak is dropped), the same hole as `Gc` covariance.
use pygc::{Gc, Weak};

fn shorten_weak<'a>(w: Weak<&'static str>) -> Weak<&'a str> {
    w
}

fn shorten_gc<'a>(g: Gc<&'static str>) -> Gc<&'a str> {
    g
}

fn main() {
    let _ = shorten_weak;
    let _ = shorten_gc;
}
