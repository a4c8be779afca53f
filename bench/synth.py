#!/usr/bin/env python3
"""Benchmark of the synthesizer (`sb seed`) against DuckDB's own write speed.

    bench/synth.py SB_BIN [--runs 5] [--events 10000000] [--users 1000000]

1. `sb seed` of the design's defaults (10,000 users, 200 titles, 100,000 events)
   into a fresh DuckDB file: median wall time of RUNS runs.
2. `sb seed --events E --users U` end to end (fresh file): wall time, max RSS,
   and the events table's own load time from `--log-format json`.
3. The ceiling: DuckDB 2.0.1 (the `duckdb` Python package, the same version sb
   bundles) writing a table of the same shape (8 columns, two STRUCTs, the same
   types) from a SQL `range()` generator into a fresh file, in the same run.
   Needs a Python with `duckdb` (bench/out/dbt-venv has one: bench/run.sh makes it).

Prints a Markdown table; writes it to bench/out/synth.md.
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

PROJECT = """name: synth_bench
default_target: dev
targets:
  dev: {type: duckdb, path: target/dev.duckdb, schema: main, threads: 2}
synthetic:
  streaming:
    users: 10000
    content: 200
    events: 100000
    seed: 42
    days: 90
"""

CEILING_SQL = """
create table synthetic_events as
select
    i::bigint as event_id,
    timestamp '2026-01-01' + to_microseconds((i * 77773)::bigint % 7776000000000) as "timestamp",
    (i * 7919 % {users} + 1)::bigint as user_id,
    (i * 104729 % 200 + 1)::bigint as content_id,
    (['Smart TV', 'Desktop', 'Mobile', 'Tablet', 'Gaming Console', 'Streaming Stick'])[(i % 6) + 1] as device_type,
    round((i % 1000) / 10.0, 1)::double as watch_minutes,
    struct_pack(
        buffering_events := (i % 7)::integer,
        bandwidth_mbps := round(5 + (i * 31 % 5000) / 100.0, 2)::double,
        frames_dropped := round((i * 17 % 3000) / 1000.0, 3)::double
    ) as quality_metrics,
    struct_pack(
        completion_rate := round((i * 13 % 10000) / 10000.0, 4)::double,
        rating := case when i % 3 = 0 then (i % 5 + 1)::integer end
    ) as engagement_signals
from range({events}) t(i)
"""


def sb_seed(sb, project, extra):
    db = os.path.join(project, "target", "dev.duckdb")
    for path in (db, db + ".wal"):
        if os.path.exists(path):
            os.remove(path)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run([sb, "seed", "--log-format", "json", *extra], cwd=project,
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode != 0:
        sys.exit("sb seed failed:\n" + done.stdout + done.stderr)
    events_seconds = None
    for line in done.stdout.splitlines():
        event = json.loads(line)
        if str(event.get("name", "")).endswith("viewing_events") and "execution_time" in event:
            events_seconds = event["execution_time"]
    return wall, max(rss, before) / 1024, events_seconds


def ceiling(python, events, users, workdir):
    script = (
        "import duckdb, sys, time\n"
        "con = duckdb.connect(sys.argv[1])\n"
        "con.execute('set enable_progress_bar = false')\n"
        "t = time.perf_counter()\n"
        "con.execute(sys.argv[2])\n"
        "con.close()\n"
        "print(time.perf_counter() - t)\n"
    )
    db = os.path.join(workdir, "ceiling.duckdb")
    if os.path.exists(db):
        os.remove(db)
    out = subprocess.run([python, "-c", script, db, CEILING_SQL.format(events=events, users=users)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("sb")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--python", default=os.path.join(HERE, "out", "dbt-venv", "bin", "python"))
    args = parser.parse_args()
    sb = os.path.abspath(args.sb)

    workdir = tempfile.mkdtemp(prefix="sb-synth-bench-")
    project = os.path.join(workdir, "project")
    os.makedirs(project)
    with open(os.path.join(project, "project.yml"), "w") as f:
        f.write(PROJECT)
    load = lambda: " ".join(open("/proc/loadavg").read().split()[:3])  # noqa: E731

    rows = []
    print(f"load at start: {load()}")
    sb_seed(sb, project, [])  # warm-up
    small = [sb_seed(sb, project, [])[0] for _ in range(args.runs)]
    rows.append(("`sb seed`, defaults (10,000 users, 200 titles, 100,000 events)",
                 f"{statistics.median(small):.3f} s", "target < 0.3 s",
                 ", ".join(f"{s:.3f}" for s in small)))

    big_args = ["--events", str(args.events), "--users", str(args.users)]
    wall, rss, events_seconds = sb_seed(sb, project, big_args)
    duck = ceiling(args.python, args.events, args.users, workdir)
    sb_rate = args.events / wall
    duck_rate = args.events / duck
    rows.append((f"`sb seed --events {args.events:,} --users {args.users:,}` end to end",
                 f"{wall:.2f} s ({sb_rate / 1e6:.2f} M events/s; events table alone "
                 f"{events_seconds:.2f} s)", f"max RSS {rss:.0f} MB (target < 500 MB)", ""))
    rows.append((f"DuckDB writing {args.events:,} rows of the same shape from `range()`",
                 f"{duck:.2f} s ({duck_rate / 1e6:.2f} M rows/s)",
                 f"sb / DuckDB speed: {sb_rate / duck_rate:.2f} (target ≥ 0.8)", ""))
    print(f"load at end: {load()}")

    table = ["| what | time | against the target | samples (s) |", "|---|---|---|---|"]
    table += ["| " + " | ".join(r) + " |" for r in rows]
    text = "\n".join(table)
    print(text)
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
    with open(os.path.join(HERE, "out", "synth.md"), "w") as f:
        f.write(text + "\n")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
