//! Property tests: random op programs run by `pygc::testutil`'s interpreter, which checks the
//! heap against its petgraph oracle after every op (see that module's docs for the checks).
//!
//! Cases: 64 by default, `PROPTEST_CASES=N` for long runs, 2 under Miri.

use proptest::prelude::*;
use pygc::testutil::{self, CbAction, Kind, Op};

fn cases() -> u32 {
    if cfg!(miri) {
        return 2;
    }
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64)
}

/// Ops per program: Miri interprets every op and the oracle's O(n) checks after each one, so
/// its programs are short (2 cases of up to 24 ops take about a minute there).
fn max_ops() -> usize {
    if cfg!(miri) { 24 } else { 120 }
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        4 => Just(Kind::Plain),
        1 => Just(Kind::Finalizer),
        1 => Just(Kind::Resurrecting),
        1 => Just(Kind::Legacy),
    ]
}

fn action() -> impl Strategy<Value = CbAction> {
    prop_oneof![
        Just(CbAction::Nothing),
        Just(CbAction::Allocate),
        Just(CbAction::DropHandle),
        any::<u8>().prop_map(CbAction::Resurrect),
        Just(CbAction::Collect),
    ]
}

/// Ops weighted toward building and cutting graphs; knobs are rarer.
pub(crate) fn op() -> impl Strategy<Value = Op> {
    let ix = || 0u8..16;
    prop_oneof![
        6 => kind().prop_map(Op::New),
        1 => ix().prop_map(|target| Op::NewHoldingWeak { target }),
        1 => Just(Op::NewAtom),
        1 => ix().prop_map(Op::DropAtom),
        8 => (ix(), ix()).prop_map(|(from, to)| Op::AddEdge { from, to }),
        1 => (ix(), ix()).prop_map(|(from, to)| Op::AddWeakEdge { from, to }),
        2 => (ix(), ix()).prop_map(|(from, index)| Op::RemoveEdge { from, index }),
        1 => ix().prop_map(Op::CloneHandle),
        6 => ix().prop_map(Op::DropHandle),
        2 => ix().prop_map(Op::Downgrade),
        2 => ix().prop_map(Op::Upgrade),
        1 => ix().prop_map(Op::DropWeak),
        2 => (ix(), action()).prop_map(|(target, action)| Op::WeakCallback { target, action }),
        3 => (0u8..3).prop_map(Op::Collect),
        1 => (0u8..12, 0u8..4, 0u8..4).prop_map(|(a, b, c)| Op::SetThreshold(a, b, c)),
        1 => any::<bool>().prop_map(Op::Enable),
        1 => Just(Op::Freeze),
        1 => Just(Op::Unfreeze),
        1 => prop::bool::weighted(0.3).prop_map(Op::SaveAll),
        1 => Just(Op::TakeGarbage),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        // Miri isolates the file system (no `getcwd`), so no regression-file persistence there;
        // outside Miri, failures are saved to tests/proptest-regressions/ and replayed.
        failure_persistence: if cfg!(miri) {
            None
        } else {
            ProptestConfig::default().failure_persistence
        },
        ..ProptestConfig::default()
    })]

    /// Any program: the oracle's checks hold after every op and at teardown.
    #[test]
    fn programs_agree_with_the_oracle(ops in prop::collection::vec(op(), 0..max_ops())) {
        testutil::run(&ops);
    }

    /// The fuzzer's byte encoding, so the decoder is exercised here too.
    #[test]
    fn byte_programs_agree_with_the_oracle(bytes in prop::collection::vec(any::<u8>(), 0..4 * max_ops())) {
        testutil::run(&testutil::ops_from_bytes(&bytes));
    }

    /// Hostile programs (the `hostile_ops` fuzz target's decoder): panicking finalizers,
    /// hook and subscriber, `Drop`s that downgrade and upgrade, a second heap dropped from a
    /// `Drop`. Injected panics come back as unraisable reports and the oracle agrees.
    #[test]
    fn hostile_programs_agree_with_the_oracle(bytes in prop::collection::vec(any::<u8>(), 0..4 * max_ops())) {
        testutil::run(&testutil::hostile_ops_from_bytes(&bytes));
    }
}
