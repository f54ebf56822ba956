#!/usr/bin/env bash
# Runs every fuzz target for N iterations (default 10000) and stops with a
# non-zero status at the first crash, leak or timeout.
#
#   fuzz/run.sh 1000000            # all targets
#   fuzz/run.sh 5000 code_parse    # some targets
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`) and a nightly
# toolchain; without one, RUSTC_BOOTSTRAP=1 lets stable build it.
set -euo pipefail
cd "$(dirname "$0")"

runs="${1:-10000}"
shift || true
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=(code_parse jwt_verify opaque_parse otpauth_uri sealed_open template_render client_info passkey_response push_answer)
fi

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    cargo=(cargo +nightly)
else
    export RUSTC_BOOTSTRAP=1
    cargo=(cargo)
fi

"${cargo[@]}" fuzz build

for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    start=$(date +%s.%N)
    log=$(mktemp)
    if ! "${cargo[@]}" fuzz run "$target" -- -runs="$runs" -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "FAILED: $target (artifacts in fuzz/artifacts/$target)" >&2
        rm -f "$log"
        exit 1
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    # libFuzzer's rate excludes start-up but reads 0 for runs under a second;
    # then the wall-clock rate stands in.
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    awk -v t="$target" -v n="${execs:-0}" -v r="${rate:-0}" -v s="$start" -v e="$(date +%s.%N)" \
        'BEGIN { d = e - s; if (r == 0) r = n / d; printf "%s: %d runs in %.1f s (%d exec/s)\n", t, n, d, r }'
    rm -f "$log"
done
