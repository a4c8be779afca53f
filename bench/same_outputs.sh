#!/usr/bin/env bash
# Checks that two sb binaries give byte-identical outputs: compiled SQL,
# target/run SQL, manifest.json and run_results.json (timings, ids and
# timestamps blanked), stdout and stderr (times blanked), and exit codes, on
# the example project (compile, seed, run, test, build) and on a generated
# project of N models (compile, build). Used to prove a restructure changed
# no behaviour.
#
#   bench/same_outputs.sh OLD_SB NEW_SB [N]       (N defaults to 1000)
#
# Work goes to bench/out/same/ (git-ignored). Exit 0 when all is identical.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
OLD=$(realpath "$1")
NEW=$(realpath "$2")
N=${3:-1000}
SHARED=${SB_SHARED:-../shared}
OUT=$ROOT/bench/out/same
rm -rf "$OUT"
mkdir -p "$OUT"

# Blank what differs from run to run: times, ids, timestamps, thread names.
normalize() {
    python3 - "$@" <<'PY'
import json, re, sys
for path in sys.argv[1:]:
  text = open(path, encoding="utf-8").read()
  VOLATILE = {"invocation_id", "generated_at", "elapsed_time", "execution_time",
              "started_at", "completed_at", "thread_id", "created_at", "timing",
              "adapter_response", "invocation_started_at"}
  def scrub(value):
      if isinstance(value, dict):
          return {k: ("<volatile>" if k in VOLATILE else scrub(v)) for k, v in value.items()}
      if isinstance(value, list):
          return [scrub(v) for v in value]
      return value
  if path.endswith(".json"):
      data = scrub(json.loads(text))
      if isinstance(data, dict) and isinstance(data.get("results"), list):
          data["results"].sort(key=lambda r: r.get("unique_id", ""))
      text = json.dumps(data, indent=1, sort_keys=False)
  elif path.endswith(".sql"):
      # Temporary tables are named after the process id.
      text = re.sub(r"sb_incr_\d+_", "sb_incr_PID_", text)
  elif path.endswith(".sb-written"):
      # hash, size, modification time, path: the time differs run to run.
      text = "\n".join(sorted(re.sub(r"^(\S+ \S+) \S+ ", r"\1 T ", line) for line in text.splitlines()))
  else:
      lines = []
      for line in text.splitlines():
          if line.startswith("{"):
              try:
                  record = json.loads(line)
                  for key in ("index", "execution_time", "elapsed_time"):
                      if key in record:
                          record[key] = "<volatile>"
                  line = json.dumps(record)
              except ValueError:
                  pass
          # Progress lines are numbered in the order workers finish.
          line = re.sub(r"^\s*\d+ of (\d+) ", r"N of \1 ", line)
          lines.append(line)
      text = "\n".join(lines)
      text = re.sub(r"\[\d+\.\d+s\]", "[T]", text)
      text = re.sub(r"in \d+\.\d+s", "in T", text)
      text = re.sub(r"\d+\.\d+ ?(ms|s)\b", "T", text)
      text = re.sub(r'time="[^"]*"', 'time="T"', text)
      text = re.sub(r'timestamp="[^"]*"', 'timestamp="T"', text)
      text = re.sub(r"sb_incr_\d+_", "sb_incr_PID_", text)
      # Lines of parallel workers finish in any order: compare them sorted.
      text = "\n".join(sorted(text.splitlines()))
  open(path, "w", encoding="utf-8").write(text)
PY
}

# run TOOL_LABEL BIN PROJECT_COPY STEP ARGS...: one sb command, its outputs kept.
run() {
    local label=$1 bin=$2 dir=$3 name=$4
    shift 4
    local keep=$OUT/$label/$name
    mkdir -p "$keep"
    (cd "$dir" && NO_COLOR=1 "$bin" "$@" >"$keep/stdout" 2>"$keep/stderr"; echo $? >"$keep/exit")
    for file in manifest.json run_results.json junit.xml; do
        [ -f "$dir/target/$file" ] && cp "$dir/target/$file" "$keep/$file"
    done
    for sub in compiled run; do
        [ -d "$dir/target/$sub" ] && cp -r "$dir/target/$sub" "$keep/$sub"
    done
    local files=()
    for file in "$keep"/stdout "$keep"/stderr "$keep"/*.json "$keep"/junit.xml; do
        [ -f "$file" ] && files+=("$file")
    done
    while IFS= read -r file; do files+=("$file"); done < <(find "$keep" -name '.sb-written' -o -path "$keep/run/*" -name '*.sql')
    normalize "${files[@]}"
}

# The same folder for both binaries, so absolute paths in artifacts match.
example_copy() {
    local dir=$OUT/work-example
    rm -rf "$dir"
    mkdir -p "$dir"
    cp -r project.yml models macros seeds tests dashboards "$dir"/
    rm -f "$dir"/tests/*.rs
    rm -rf "$dir"/tests/it "$dir"/tests/fixtures
    echo "$dir"
}

for label in old new; do
    bin=$OLD
    [ "$label" = new ] && bin=$NEW
    dir=$(example_copy "$label")
    run "$label" "$bin" "$dir" 1-compile compile
    run "$label" "$bin" "$dir" 2-seed seed
    run "$label" "$bin" "$dir" 3-run run
    run "$label" "$bin" "$dir" 4-test test
    run "$label" "$bin" "$dir" 5-build build
    run "$label" "$bin" "$dir" 6-ls ls --output json
    run "$label" "$bin" "$dir" 7-json run --log-format json -s stg_users+
    run "$label" "$bin" "$dir" 8-bad-select run -s nonexistent_model
    gen=$OUT/work-p$N
    rm -rf "$gen"
    python3 "$SHARED/bench/gen_project.py" "$gen" -n "$N" --seed 7 --force >/dev/null
    run "$label" "$bin" "$gen" g1-compile compile
    run "$label" "$bin" "$gen" g2-build build
done

if diff -r "$OUT/old" "$OUT/new" >"$OUT/diff.txt"; then
    echo "identical: every output of $(basename "$OLD") and $(basename "$NEW") matches (example project and p$N)"
else
    echo "DIFFERENT: see $OUT/diff.txt"
    head -80 "$OUT/diff.txt"
    exit 1
fi
