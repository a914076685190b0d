#!/usr/bin/env bash
# Miri over the core suite. Under cfg(miri) the allocator geometry shrinks (so arenas are freed
# and pools recycled within a few hundred blocks) and the randomized suites run a handful of
# cases (see the cfg(miri) constants in the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
# -Zmiri-strict-provenance: no integer-to-pointer casts anywhere (pointers are derived with
#   map_addr/with_addr from the arena or box allocation).
# -Zmiri-symbolic-alignment-check: alignment must follow from the types and layouts, not from
#   where the host allocator happened to place an allocation.
export MIRIFLAGS="-Zmiri-strict-provenance -Zmiri-symbolic-alignment-check"
export PROPTEST_CASES=4
# Library unit tests (allocator, lists, headers).
cargo +nightly miri test --lib
# Integration suite. Skipped inside it under cfg(miri), each with a reason at the test:
# the python3 differential test (Miri cannot spawn processes) and the trybuild UI tests.
cargo +nightly miri test --test all
cargo +nightly miri test --test alloc_props
