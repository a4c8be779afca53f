#!/usr/bin/env bash
# Times state comparison on a generated N-model project (default 10,000):
# `sb ls -s state:modified+ --state DIR` against the manifest of an earlier
# `sb compile`, after one model was edited, and the same `sb ls` selecting
# that model by name without --state (the same load and compile, no
# comparison). The difference of the medians is what comparing the two
# manifests costs. Also times `sb diff --stat` on the same change.
#
#   bench/state.sh [N]        SB_BIN=path/to/sb RUNS=5 SB_SHARED=../shared
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-10000}"
RUNS="${RUNS:-5}"
SHARED="${SB_SHARED:-../shared}"
SB="${SB_BIN:-${CARGO_TARGET_DIR:-../.sb-target2}/release/sb}"
OUT="bench/out/state-p$N"
python3 "$SHARED/bench/gen_project.py" "$OUT" -n "$N" --seed 7 --force >/dev/null
(cd "$OUT" && "$SB" compile -q) >/dev/null
rm -rf "$OUT/state" && cp -r "$OUT/target" "$OUT/state"
# Edit the first model that has a `select`, so exactly one body changes.
model=$(grep -rl "select" "$OUT/models" | sort | awk 'NR == 1')
name=$(basename "$model" .sql)
printf '\n-- edited for the benchmark\n' >>"$model"
median() {
    local times=()
    (cd "$OUT" && "$@") >/dev/null 2>&1 || true
    for _ in $(seq "$RUNS"); do
        local start end
        start=$(date +%s.%N)
        (cd "$OUT" && "$@") >/dev/null 2>&1 || true
        end=$(date +%s.%N)
        times+=("$(echo "$end - $start" | bc)")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]}'
}
selected=$(cd "$OUT" && "$SB" ls -q -s state:modified+ --state state | wc -l)
with_state=$(median "$SB" ls -q -s state:modified+ --state state)
without=$(median "$SB" ls -q -s "$name+")
diff_stat=$(median "$SB" diff -q --stat --state state)
echo "N=$N models; edited $name; state:modified+ selects $selected nodes"
echo "sb ls -s state:modified+ --state state: ${with_state} s (median of $RUNS)"
echo "sb ls -s $name+ (no state):             ${without} s (median of $RUNS)"
echo "comparison cost (difference):           $(echo "$with_state - $without" | bc) s"
echo "sb diff --stat --state state:           ${diff_stat} s (median of $RUNS)"
