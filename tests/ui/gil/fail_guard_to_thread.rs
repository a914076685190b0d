// A lock is released by the thread that took it: a guard cannot move.
use pygc::gil::{Gil, SwitchPolicy};

fn main() {
    let gil = Gil::new(SwitchPolicy::New);
    let guard = gil.acquire();
    std::thread::scope(|s| {
        s.spawn(move || drop(guard));
    });
}
