#!/usr/bin/env bash
# Runs the instruction-count benchmarks (gungraun under valgrind's callgrind) and compares every
# figure with the committed baseline, benches/instructions/baseline.txt. Fails when any figure is
# more than LIMIT_PCT (default 10) percent over its baseline, or when a benchmark has no baseline
# or a baseline has no benchmark; figures below the baseline pass. Prints both for every bench.
#
#   .ci/check-instructions.sh             run the benches, compare
#   .ci/check-instructions.sh --update    run the benches, rewrite the baseline
#   .ci/check-instructions.sh --from FILE use the output of an earlier `cargo bench` run
set -euo pipefail
cd "$(dirname "$0")/.."
baseline=benches/instructions/baseline.txt
limit=${LIMIT_PCT:-10}
target_dir=${CARGO_TARGET_DIR:-target}
mode=check
input=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --update) mode=update; shift ;;
    --from) input=$2; shift 2 ;;
    *) echo "usage: $0 [--update] [--from FILE]" >&2; exit 2 ;;
  esac
done

if [[ -z "$input" ]]; then
  input="$target_dir/instructions.txt"
  mkdir -p "$target_dir"
  cargo bench --locked --bench instructions -- --nosummary 2>&1 | tee "$input"
fi

# "instructions::hot_path::new_payload_v3 kb128:(...)" then "  Instructions:  676676|..."
current=$(awk '
  /^instructions::/ { split($1, p, "::"); name = p[3] " " $2; sub(/:.*/, "", name); sub(/ /, ".", name); next }
  /^ *Instructions:/ && name != "" { split($2, v, "|"); print name, v[1]; name = "" }
' "$input")
if [[ -z "$current" ]]; then
  echo "check-instructions: no figures in $input" >&2
  exit 1
fi

if [[ $mode == update ]]; then
  {
    echo "# Instructions per call (callgrind Ir) of benches/instructions, one line per bench."
    echo "# CI fails when a figure grows more than 10 % over this; rewrite with"
    echo "# .ci/check-instructions.sh --update after a change that is meant to cost more or less."
    echo "$current"
  } > "$baseline"
  echo "check-instructions: wrote $baseline"
  exit 0
fi

awk -v limit="$limit" '
  FNR == NR { if ($0 !~ /^#/ && NF == 2) base[$1] = $2; next }
  { now[$1] = $2 }
  END {
    bad = 0
    printf "%-36s %12s %12s %9s\n", "bench", "baseline", "now", "change"
    for (name in now) {
      if (!(name in base)) { printf "%-36s %12s %12d   no baseline\n", name, "-", now[name]; bad = 1; continue }
      change = (now[name] - base[name]) * 100 / base[name]
      verdict = change > limit ? "  OVER " limit " %" : ""
      if (change > limit) bad = 1
      printf "%-36s %12d %12d %+8.1f%%%s\n", name, base[name], now[name], change, verdict
    }
    for (name in base) if (!(name in now)) { printf "%-36s %12d %12s   not run\n", name, base[name], "-"; bad = 1 }
    exit bad
  }
' "$baseline" <(echo "$current") && status=0 || status=$?
if [[ $status -ne 0 ]]; then
  echo "check-instructions: a figure is more than $limit % over the baseline (or missing)" >&2
  exit 1
fi
echo "check-instructions: every figure within $limit % of the baseline"
