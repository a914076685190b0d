//! Hostile op programs for `pygc::testutil`'s interpreter: the ops of `graph_ops` plus user
//! code that panics (finalizers, the unraisable hook, a `tracing` subscriber), `Drop`s that
//! downgrade dead handles or upgrade weak references, and a second heap dropped from a `Drop`
//! (possibly inside a collection). Four bytes per op, decoded by `Op::from_code_hostile`.
//! Injected panics must come back as unraisable reports, and the oracle must agree.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use pygc::testutil::{self, Op};

const MAX_OPS: usize = 256;

fuzz_target!(|data: &[u8]| {
    // Injected panics are expected; keep the default hook from printing each of them.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let injected = info
                .payload()
                .downcast_ref::<String>()
                .is_some_and(|m| m.contains(testutil::INJECTED));
            if !injected {
                default(info);
            }
        }));
    });
    let mut u = Unstructured::new(data);
    let mut ops = Vec::new();
    while !u.is_empty() && ops.len() < MAX_OPS {
        let Ok(code) = u.arbitrary::<[u8; 4]>() else { break };
        ops.push(Op::from_code_hostile(code));
    }
    testutil::run(&ops);
});
