#!/usr/bin/env bash
# Times `sb docs` on a generated N-model project (default 1,000): once before
# the project is built (no warehouse: pages and graph only) and once after
# `sb build` (column types from the catalog, run results, two charts queried).
# Prints the median wall time of RUNS runs of each (after one warm-up).
#
#   bench/docs.sh [N]        SB_BIN=path/to/sb RUNS=5 SB_SHARED=../shared
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000}"
RUNS="${RUNS:-5}"
SHARED="${SB_SHARED:-../shared}"
SB="${SB_BIN:-${CARGO_TARGET_DIR:-../.sb-target2}/release/sb}"
OUT="bench/out/docs-p$N"
python3 "$SHARED/bench/gen_project.py" "$OUT" -n "$N" --seed 7 --force >/dev/null
mkdir -p "$OUT/dashboards"
cat >"$OUT/dashboards/bench.yml" <<'YAML'
title: Bench
charts:
  - {title: Amount by event type, type: bar, model: stg_events, x: event_type, y: amount_cents, agg: sum}
  - {title: Events, type: scatter, model: stg_events, x: event_id, y: amount_cents, color: event_type}
YAML
median() {
    local times=()
    "$SB" --version >/dev/null
    (cd "$OUT" && "$SB" docs -q) >/dev/null 2>&1 || true
    for _ in $(seq "$RUNS"); do
        local start end
        start=$(date +%s.%N)
        (cd "$OUT" && "$SB" docs -q) >/dev/null 2>&1 || true
        end=$(date +%s.%N)
        times+=("$(echo "$end - $start" | bc)")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
rm -rf "$OUT/target"
echo "sb docs, $N models, not built:  $(median) s (median of $RUNS)"
(cd "$OUT" && "$SB" build -q) >/dev/null
echo "sb docs, $N models, built:      $(median) s (median of $RUNS)"
echo "site: $(du -sh "$OUT/target/docs" | cut -f1), index.html $(du -h "$OUT/target/docs/index.html" | cut -f1)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
