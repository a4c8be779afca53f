#!/usr/bin/env python3
"""The DuckDB floor of `run`: how long DuckDB alone takes to build every model.

    duckdb_floor.py PROJECT_DIR OUT_DIR

Reads dbt's target/manifest.json in PROJECT_DIR (after `dbt run`, so each model has
its compiled SQL), loads the seeds/*.csv files into a fresh OUT_DIR/bench.duckdb
(named so that dbt's "bench"."main"."x" relation names resolve), then runs one
`create table|view <relation> as <compiled SQL>` per model, in dependency order, on
one connection (DuckDB's own threads: all cores), with the release build of DuckDB
that the `duckdb` Python package ships. No tool overhead: a lower bound for any
tool's `run` on the same project with one model at a time. Prints the total and
the time spent in tables and in views.
"""
import json
import os
import sys
import time


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    proj, outdir = sys.argv[1], sys.argv[2]
    import duckdb  # noqa: PLC0415 (the dbt venv has it)

    with open(os.path.join(proj, "target", "manifest.json")) as f:
        manifest = json.load(f)
    nodes = {k: v for k, v in manifest["nodes"].items() if v["resource_type"] == "model"}
    missing = [v["name"] for v in nodes.values() if not v.get("compiled_code")]
    if missing:
        sys.exit("no compiled SQL for %d models (run `dbt run` first), e.g. %s" % (
            len(missing), missing[:3]))

    # topological order (Kahn), ties by name for determinism
    deps = {k: [d for d in v["depends_on"]["nodes"] if d in nodes] for k, v in nodes.items()}
    users = {k: [] for k in nodes}
    for k, ds in deps.items():
        for d in ds:
            users[d].append(k)
    left = {k: len(ds) for k, ds in deps.items()}
    ready = sorted(k for k, n in left.items() if n == 0)
    order = []
    while ready:
        k = ready.pop(0)
        order.append(k)
        for u in users[k]:
            left[u] -= 1
            if left[u] == 0:
                ready.append(u)
    if len(order) != len(nodes):
        sys.exit("dependency cycle in the manifest")

    os.makedirs(outdir, exist_ok=True)
    db = os.path.join(outdir, "bench.duckdb")
    for p in (db, db + ".wal"):
        if os.path.exists(p):
            os.remove(p)
    con = duckdb.connect(db)
    seeds = os.path.join(proj, "seeds")
    for csv in sorted(os.listdir(seeds)):
        if csv.endswith(".csv"):
            con.execute('create table "main"."%s" as select * from read_csv_auto(?, header = true)'
                        % csv[:-4], [os.path.join(seeds, csv)])

    spent = {"table": 0.0, "view": 0.0}
    t0 = time.perf_counter()
    for k in order:
        n = nodes[k]
        kind = "view" if n["config"]["materialized"] == "view" else "table"
        t = time.perf_counter()
        con.execute("create %s %s as %s" % (kind, n["relation_name"], n["compiled_code"]))
        spent[kind] += time.perf_counter() - t
    total = time.perf_counter() - t0
    con.close()
    print("duckdb %s: %d models in %.2f s (tables %.2f s, views %.2f s)" % (
        duckdb.__version__, len(order), total, spent["table"], spent["view"]))


if __name__ == "__main__":
    main()
