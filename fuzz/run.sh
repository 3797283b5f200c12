#!/usr/bin/env bash
# fuzz/run.sh BUILD [SECONDS] — what `make fuzz` runs, after building the
# targets in BUILD (fuzz/CMakeLists.txt):
#   1. replay every file of fuzz/regression/<target>/ (past crashers; they
#      must pass now), then
#   2. fuzz each target for SECONDS (default 60), one after the other,
#      starting from fuzz/corpus/<target>/ (the seeds, never written) and
#      BUILD/corpus/<target>/ (what earlier runs found, kept between runs).
# Fails on the first crash, leak, timeout or broken invariant, leaving the
# input in BUILD/<target>-crash-* (-leak-*, -timeout-*): add it to
# fuzz/regression/<target>/ with the fix, and tests/http/test_fuzz_replay.c
# replays it in every test run.
set -euo pipefail

build=${1:?usage: fuzz/run.sh BUILD [SECONDS]}
secs=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)

for t in request response chunked fields query mux url gunzip cachecontrol gwconfig; do
    bin=$build/fuzz_$t
    shopt -s nullglob
    regs=("$here/regression/$t"/*)
    shopt -u nullglob
    if [ ${#regs[@]} -gt 0 ]; then
        echo "fuzz: $t: replaying ${#regs[@]} regression file(s)"
        "$bin" "${regs[@]}" >"$build/replay-$t.log" 2>&1 ||
            { cat "$build/replay-$t.log"; echo "fuzz: $t: a regression file fails" >&2; exit 1; }
    fi
    # gwconfig: the gateway's YAML, its own dictionary, and room for the
    # example file (4.4 KB) as a seed.
    dict=$here/http.dict maxlen=4096
    [ "$t" = gwconfig ] && dict=$here/gwconfig.dict maxlen=8192
    mkdir -p "$build/corpus/$t"
    echo "fuzz: $t: ${secs}s"
    if ! "$bin" -max_total_time="$secs" -max_len="$maxlen" -timeout=10 -print_final_stats=1 \
        -dict="$dict" -artifact_prefix="$build/$t-" \
        "$build/corpus/$t" "$here/corpus/$t" >"$build/fuzz-$t.log" 2>&1; then
        tail -n 40 "$build/fuzz-$t.log"
        echo "fuzz: $t: FAILED; the input is in $build/$t-{crash,leak,timeout}-*" >&2
        exit 1
    fi
    grep -E '^stat::number_of_executed_units|^Done' "$build/fuzz-$t.log" | tr '\n' ' '
    echo
done
echo "fuzz: all targets passed"
