//! Random op programs for `pygc::testutil`'s interpreter (the same one `tests/all/props.rs`
//! drives): four bytes per op, decoded by `Op::from_code`. Any oracle disagreement panics.
//! Findings go to `tests/regressions/graph_ops/` and are replayed by `tests/all/regressions.rs`.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use pygc::testutil::{self, Op};

/// Longer programs mostly repeat shapes shorter ones already reach.
const MAX_OPS: usize = 256;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let mut ops = Vec::new();
    while !u.is_empty() && ops.len() < MAX_OPS {
        let Ok(code) = u.arbitrary::<[u8; 4]>() else { break };
        ops.push(Op::from_code(code));
    }
    testutil::run(&ops);
});
