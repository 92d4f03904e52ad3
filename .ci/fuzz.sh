#!/usr/bin/env bash
# Bounded fuzz run: builds the AFL++ targets in fuzz/ with cargo-afl (stable Rust) and runs each
# for FUZZ_SECONDS (default 40), starting from the checked-in seed corpora. Fails on any crash
# and prints the crashing inputs (hex) so they can become regression tests.
#
# Installs what it needs: cargo-afl from crates.io (pinned), which builds AFL++ for the current
# rustc on first use (needs make and a C compiler; no LLVM plugins).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
seconds=${FUZZ_SECONDS:-40}
targets=(rpc_parse jwt_verify nodes_parse el_answer request_head)
AFL_VERSION=0.18.2

if ! cargo afl --version 2>/dev/null | grep -q "$AFL_VERSION"; then
    echo "   installing cargo-afl $AFL_VERSION"
    cargo install cargo-afl --locked --version "$AFL_VERSION"
fi
# AFL++ and the runtime for this rustc; built once, kept afterwards.
if ! out=$(cargo afl config --build 2>&1); then
    grep -q "already built" <<<"$out" || { echo "$out"; exit 1; }
fi

(cd fuzz && cargo afl build --release --locked)

export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_FAST_CAL=1
# Where the kernel pipes core dumps elsewhere AFL would refuse to start; crashes are still seen.
export AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
failed=0
for t in "${targets[@]}"; do
    out="$ROOT/fuzz/target/afl/$t"
    rm -rf "$out"
    mkdir -p "$(dirname "$out")"
    if ! cargo afl fuzz -V "$seconds" -i "fuzz/corpus/$t" -o "$out" "fuzz/target/release/$t" \
        >"$out.log" 2>&1; then
        tail -n 40 "$out.log"
        echo "!! $t: afl-fuzz failed to run"
        exit 1
    fi
    stats="$out/default/fuzzer_stats"
    execs=$(awk -F: '/^execs_done/ {gsub(/ /, "", $2); print $2}' "$stats")
    paths=$(awk -F: '/^corpus_count/ {gsub(/ /, "", $2); print $2}' "$stats")
    hangs=$(find "$out/default/hangs" -name 'id:*' 2>/dev/null | wc -l)
    mapfile -t crashes < <(find "$out/default/crashes" -name 'id:*' 2>/dev/null)
    echo "   $t: ${execs:-?} runs in ${seconds} s, ${paths:-?} inputs in the corpus, ${#crashes[@]} crashes, $hangs slow inputs"
    for c in "${crashes[@]}"; do
        echo "!! $t crash: $c"
        od -An -tx1 -v "$c" | head -n 8
        failed=1
    done
done
[[ $failed == 0 ]] || { echo "!! fuzzing found crashes"; exit 1; }
