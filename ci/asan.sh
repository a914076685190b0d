#!/usr/bin/env bash
# AddressSanitizer + LeakSanitizer run of every test binary (nightly): the library's unit
# tests and every integration test (`all`, `alloc_props`, `global_alloc`, `alloc_failure`).
# Catches use-after-free, double free and out-of-bounds in the unsafe core that the oracle's
# drop counters cannot see, and (LeakSanitizer, on by default) leaks at process exit.
#
# --target is required with -Zsanitizer so the flags apply to the test crates but not to
# build scripts and proc macros (the derive), which run on the host.
#
# Notes:
# - `global_alloc` makes pygc's `GlobalPool` the process allocator; ASan still sees the
#   pool's arenas (they come from the system allocator) but not the blocks inside them.
# - `alloc_failure` (harness = false) aborts child processes on purpose (handle_alloc_error);
#   that is its check, not a sanitizer finding.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/asan}"
# Intended leaks, if any, are suppressed in ci/lsan.supp (each entry says why).
# PYGC_NIGHTLY_RUSTC: the trybuild tests (gil_ui, the covariance programs) compare against
# stable rustc's messages and skip themselves here; the test stage runs them on stable.
PYGC_NIGHTLY_RUSTC=1 LSAN_OPTIONS="suppressions=$PWD/ci/lsan.supp" \
    RUSTFLAGS="-Zsanitizer=address" RUSTDOCFLAGS="-Zsanitizer=address" \
    cargo +nightly test --target x86_64-unknown-linux-gnu --lib --tests "$@"
