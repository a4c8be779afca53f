#!/usr/bin/env bash
# Benchmark sb against dbt-core + dbt-duckdb, side by side, and check that both build
# the same rows. See bench/README.md.
#
#   bench/run.sh [N_SMALL [N_LARGE]]          (defaults: 1000 10000)
#
# Environment:
#   SB_RUNS=3  SB_WARMUP=1     timed runs / untimed warm-ups of each sb command
#   DBT_RUNS=3 DBT_WARMUP=0    the same for dbt (dbt run takes ~100 s a time)
#   BENCH_TOOLS="sb dbt"       measure only these tools (e.g. "dbt" while sb can't build)
#   BENCH_DBT_LARGE=0          1: also time `dbt compile` on N_LARGE (minutes per run)
#   BENCH_DBT_PP=1             0: skip the extra `dbt compile` row with partial parsing warm
#   BENCH_SEED=7               --seed of gen_project.py
#   SB_SHARED=../shared        where shared/ is (relative to the repo root)
#   SB_BIN=...                 use this sb binary instead of building one
#
# Everything is written under bench/out/ (git-ignored): the generated projects
# p<N>-sb, p<N>-dbt, the dbt venv, logs/, results.jsonl, compare.json, results.md.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
N_SMALL=${1:-1000}
N_LARGE=${2:-10000}
SB_RUNS=${SB_RUNS:-3}
SB_WARMUP=${SB_WARMUP:-1}
DBT_RUNS=${DBT_RUNS:-3}
DBT_WARMUP=${DBT_WARMUP:-0}
BENCH_TOOLS=${BENCH_TOOLS:-sb dbt}
BENCH_DBT_LARGE=${BENCH_DBT_LARGE:-0}
BENCH_DBT_PP=${BENCH_DBT_PP:-1}
SEED=${BENCH_SEED:-7}
SHARED=${SB_SHARED:-../shared}
OUT=$ROOT/bench/out
VENV=$OUT/dbt-venv
LOGS=$OUT/logs
RESULTS=$OUT/results.jsonl
TIMING="python3 $ROOT/bench/timing.py"

mkdir -p "$OUT" "$LOGS"
exec > >(tee "$OUT/run.log") 2>&1

has() { [[ " $BENCH_TOOLS " == *" $1 "* ]]; }
step() { printf '\n== %s  [load %s]\n' "$*" "$(cut -d' ' -f1-3 /proc/loadavg)"; }

# dbt: no usage statistics, no colours in logs.
export DO_NOT_TRACK=1 DBT_SEND_ANONYMOUS_USAGE_STATS=false DBT_USE_COLORS=false

# ---------------------------------------------------------------- 1. projects
step "generate projects (N=$N_SMALL twice, N=$N_LARGE once; --seed $SEED)"
gen() { python3 "$SHARED/bench/gen_project.py" "$OUT/$1" -n "$2" --seed "$SEED" --force || exit 2; }
has sb && gen "p$N_SMALL-sb" "$N_SMALL"
has dbt && gen "p$N_SMALL-dbt" "$N_SMALL"
if has sb || [[ $BENCH_DBT_LARGE == 1 ]]; then gen "p$N_LARGE" "$N_LARGE"; fi
P_SB=$OUT/p$N_SMALL-sb
P_DBT=$OUT/p$N_SMALL-dbt
P_LARGE=$OUT/p$N_LARGE

# ---------------------------------------------------------------- 2. dbt
if has dbt; then
  if [[ ! -x $VENV/bin/dbt ]]; then
    step "install dbt-core + dbt-duckdb into $VENV"
    bash "$SHARED/bench/install_dbt.sh" "$VENV" || { echo "dbt install failed"; exit 2; }
  fi
  DBT=$VENV/bin/dbt
  DBT_VERSION=$("$DBT" --version 2>/dev/null | sed -n 's/.*installed: *//p' | head -1)
  DBT_DUCKDB_VERSION=$("$DBT" --version 2>/dev/null | sed -n 's/.*- duckdb: *\([0-9.]*\).*/\1/p' | head -1)
fi

# ---------------------------------------------------------------- 3. sb
if has sb; then
  if [[ -n ${SB_BIN:-} ]]; then
    SB=$SB_BIN
  else
    step "cargo build --release"
    cargo build --release || { echo "cargo build --release failed; sb can't be measured"; exit 2; }
    TARGET_DIR=$(cargo metadata --no-deps --format-version 1 \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    SB=$TARGET_DIR/release/sb
  fi
  [[ -x $SB ]] || { echo "no sb binary at $SB"; exit 2; }
  SB_VERSION=$("$SB" --version 2>/dev/null | head -1)
fi

DUCKDB_PY_VERSION=
[[ -x $VENV/bin/python ]] && DUCKDB_PY_VERSION=$("$VENV/bin/python" -c 'import duckdb; print(duckdb.__version__)' 2>/dev/null)

$TIMING meta --out "$OUT/meta.json" --extra "seed=$SEED" \
  --extra "sb_version=${SB_VERSION:-not measured}" \
  --extra "dbt_version=${DBT_VERSION:-not measured}" \
  --extra "dbt_duckdb_version=${DBT_DUCKDB_VERSION:-not measured}" \
  --extra "duckdb_py_version=${DUCKDB_PY_VERSION:-?}"
rm -f "$RESULTS"

# ---------------------------------------------------------------- 4. timings
# measure TOOL STEP N CWD PREP -- ARGV...
measure() {
  local tool=$1 stp=$2 n=$3 cwd=$4 prep=$5; shift 5
  local runs=$SB_RUNS warm=$SB_WARMUP
  if [[ $tool == dbt ]]; then runs=$DBT_RUNS; warm=$DBT_WARMUP; fi
  local prep_args=()
  [[ -n $prep ]] && prep_args=(--prep "$prep")
  $TIMING measure --results "$RESULTS" --tool "$tool" --step "$stp" --n "$n" --cwd "$cwd" \
    --warmup "$warm" --runs "$runs" --log "$LOGS/$tool-$stp-$n.log" "${prep_args[@]}" "$@"
}
FRESH_DB='rm -f target/bench.duckdb target/bench.duckdb.wal'

# compile first, while no database exists, so is_incremental() is false for both tools.
if has sb; then
  step "sb compile, N=$N_LARGE"
  measure sb compile "$N_LARGE" "$P_LARGE" "" -- "$SB" compile
fi
if [[ $BENCH_DBT_LARGE == 1 ]] && has dbt; then
  step "dbt compile, N=$N_LARGE (no partial parse)"
  measure dbt compile "$N_LARGE" "$P_LARGE" "" -- "$DBT" compile --profiles-dir . --no-partial-parse
fi
if has sb; then
  step "sb compile, N=$N_SMALL"
  measure sb compile "$N_SMALL" "$P_SB" "" -- "$SB" compile
fi
if has dbt; then
  step "dbt compile, N=$N_SMALL (no partial parse: a full parse, like sb's)"
  measure dbt compile "$N_SMALL" "$P_DBT" "" -- "$DBT" compile --profiles-dir . --no-partial-parse
  if [[ $BENCH_DBT_PP == 1 ]]; then
    step "dbt compile, N=$N_SMALL (partial parse warm)"
    measure dbt compile-pp "$N_SMALL" "$P_DBT" \
      "test -f target/partial_parse.msgpack || '$DBT' parse --profiles-dir ." \
      -- "$DBT" compile --profiles-dir .
  fi
fi

if has sb; then
  step "sb seed, N=$N_SMALL (fresh database each time)"
  measure sb seed "$N_SMALL" "$P_SB" "$FRESH_DB" -- "$SB" seed
fi
if has dbt; then
  step "dbt seed, N=$N_SMALL (fresh database each time)"
  measure dbt seed "$N_SMALL" "$P_DBT" "$FRESH_DB" -- "$DBT" seed --profiles-dir .
fi
if has sb; then
  step "sb run, N=$N_SMALL (fresh database + sb seed before each)"
  measure sb run "$N_SMALL" "$P_SB" "$FRESH_DB && '$SB' seed" -- "$SB" run
fi
if has dbt; then
  step "dbt run, N=$N_SMALL (fresh database + dbt seed before each)"
  measure dbt run "$N_SMALL" "$P_DBT" "$FRESH_DB && '$DBT' seed --profiles-dir ." \
    -- "$DBT" run --profiles-dir .
fi

if has dbt; then
  # Uses dbt's compiled SQL from the run just measured; timed with SB_RUNS/SB_WARMUP.
  step "DuckDB floor of run, N=$N_SMALL (release DuckDB from the dbt venv, one model at a time)"
  measure duckdb run-floor "$N_SMALL" "$P_DBT" "" -- \
    "$VENV/bin/python" "$ROOT/bench/duckdb_floor.py" "$P_DBT" "$OUT/floor"
fi

# ---------------------------------------------------------------- 5. rows
COMPARE_ARGS=()
CMP_RC=0
if has sb && has dbt; then
  step "compare rows: $P_DBT/target/bench.duckdb vs $P_SB/target/bench.duckdb"
  rm -f "$OUT/compare.json"
  "$VENV/bin/python" "$ROOT/bench/compare_rows.py" \
    --dbt-db "$P_DBT/target/bench.duckdb" --sb-db "$P_SB/target/bench.duckdb" \
    --project "$P_SB" --json "$OUT/compare.json"
  CMP_RC=$?
  [[ -f $OUT/compare.json ]] || echo 'null' > "$OUT/compare.json"
  COMPARE_ARGS=(--compare "$OUT/compare.json")
fi

# ---------------------------------------------------------------- 6. report
step "results ($OUT/results.md)"
$TIMING report --results "$RESULTS" --meta "$OUT/meta.json" "${COMPARE_ARGS[@]}" \
  --n-small "$N_SMALL" --n-large "$N_LARGE" --out "$OUT/results.md"

FAILED=$(python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if l.strip() and not json.loads(l)["ok"]))' "$RESULTS")
if [[ $FAILED != 0 || $CMP_RC != 0 ]]; then
  echo "bench: $FAILED measurement(s) failed, row comparison exit $CMP_RC"
  exit 1
fi
