#!/usr/bin/env bash
# Smoke run of the examples: the GIL experiments (issue 10: the seeds' experiments, each
# beside CPython 3.11), the tour, the embedded interpreter and the memory-pressure demo, each
# with `--quick` (a few seconds each), under a timeout, failing if an example fails or its
# CPython counterpart cannot run (PYGC_CI=1 makes a python3 failure fatal).
# The tables are printed; their figures are not checked (timings on a shared CI machine),
# only the examples' own assertions (the same factors from every variant, the fair
# philosophers each fed k times, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYGC_CI=1
command -v python3 >/dev/null || { echo "examples: python3 (3.11) is required"; exit 1; }
cargo build --release --examples
for example in factorize io_latency gil_fight dining_philosophers threads_tour tour interp; do
    start=$SECONDS
    echo "::: example $example --quick"
    timeout 300 "target/release/examples/$example" --quick
    echo "::: example $example finished in $((SECONDS - start)) s"
done
echo "::: example pressure trigger"
timeout 300 target/release/examples/pressure trigger
