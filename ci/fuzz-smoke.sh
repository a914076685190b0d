#!/usr/bin/env bash
# A short run of each cargo-fuzz target from its seed corpus.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
for target in $(cargo +nightly fuzz list); do
    echo "fuzzing $target for ${FUZZ_SECONDS:-20} s"
    cargo +nightly fuzz run "$target" -- -max_total_time="${FUZZ_SECONDS:-20}" -rss_limit_mb=4096
done
