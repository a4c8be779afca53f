#!/usr/bin/env python3
"""Timing helper for bench/run.sh (Python standard library only).

    timing.py meta    --out META.json [--extra KEY=VALUE ...]
    timing.py measure --results RESULTS.jsonl --tool sb --step compile --n 1000
                      --cwd DIR [--warmup 1] [--runs 3] [--prep SHELL_CMD]
                      [--log LOGFILE] [--note TEXT] -- ARGV...
    timing.py report  --results RESULTS.jsonl --meta META.json
                      [--compare COMPARE.json] --n-small N --n-large N --out RESULTS.md

`measure` runs ARGV in --cwd under `/usr/bin/time -v` (for the maximum resident
set size), `--warmup` times untimed and then `--runs` times timed; before every
run, warm-ups included, it runs --prep (a shell command, untimed, same cwd), e.g.
to delete the database and reseed it. Wall time is measured here around the
whole child with a monotonic clock. The command's stdout and stderr go to
--log (last run only). One JSON line per measurement is appended to RESULTS; a
failing run (non-zero exit of ARGV or of --prep) stops that measurement and is
recorded with the tail of its output, and `measure` itself exits 0 so that the
other measurements still run.

`report` turns RESULTS (+ META, + the row comparison of compare_rows.py) into a
markdown table of medians, ratios and max RSS.
"""
import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

TIME_BIN = "/usr/bin/time"


# --------------------------------------------------------------------------
# meta
# --------------------------------------------------------------------------
def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def cpu_model():
    m = re.search(r"^model name\s*:\s*(.+)$", _read("/proc/cpuinfo"), re.M)
    return m.group(1).strip() if m else platform.processor() or "unknown"


def mem_total_gib():
    m = re.search(r"^MemTotal:\s*(\d+) kB", _read("/proc/meminfo"), re.M)
    return round(int(m.group(1)) / 1024 / 1024, 1) if m else None


def loadavg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def cmd_meta(a):
    meta = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host_cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "mem_gib": mem_total_gib(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_start": loadavg(),
    }
    for kv in a.extra or []:
        k, _, v = kv.partition("=")
        meta[k] = v
    with open(a.out, "w") as f:
        json.dump(meta, f, indent=2)
    return 0


# --------------------------------------------------------------------------
# measure
# --------------------------------------------------------------------------
def _tail(path, lines=40):
    txt = _read(path)
    return "\n".join(txt.rstrip("\n").split("\n")[-lines:])


def _parse_time_v(path):
    """Max RSS (kB) and CPU seconds (user + system) from `/usr/bin/time -v -o path`."""
    txt = _read(path)
    rss = re.search(r"Maximum resident set size \(kbytes\):\s*(\d+)", txt)
    user = re.search(r"User time \(seconds\):\s*([\d.]+)", txt)
    syst = re.search(r"System time \(seconds\):\s*([\d.]+)", txt)
    cpu = float(user.group(1)) + float(syst.group(1)) if user and syst else None
    return (int(rss.group(1)) if rss else None), cpu


def run_once(argv, cwd, log):
    with tempfile.NamedTemporaryFile(prefix="bench-time-", suffix=".txt", delete=False) as tf:
        tpath = tf.name
    try:
        with open(log, "w") as lf:
            t0 = time.perf_counter()
            p = subprocess.run([TIME_BIN, "-v", "-o", tpath] + argv, cwd=cwd,
                               stdout=lf, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
            wall = time.perf_counter() - t0
        rss, cpu = _parse_time_v(tpath)
        return wall, rss, cpu, p.returncode
    finally:
        os.unlink(tpath)


def run_prep(prep, cwd, log):
    with open(log, "w") as lf:
        p = subprocess.run(prep, shell=True, cwd=cwd, stdout=lf,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           executable="/bin/bash")
    return p.returncode


def cmd_measure(a):
    argv = a.argv
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        sys.exit("measure: no command given after --")
    log = a.log or os.path.join(tempfile.gettempdir(), "bench-%s-%s-%s.log" % (a.tool, a.step, a.n))
    os.makedirs(os.path.dirname(os.path.abspath(log)), exist_ok=True)
    prep_log = log + ".prep"
    rec = {
        "tool": a.tool, "step": a.step, "n": a.n, "note": a.note,
        "argv": argv, "cwd": a.cwd, "prep": a.prep,
        "warmup": a.warmup, "runs": a.runs,
        "loadavg_before": loadavg(),
        "walls": [], "rss_kb": [], "cpu_s": [], "ok": True, "error": None, "log": log,
    }
    label = "%s %s (N=%s)" % (a.tool, a.step, a.n)
    total = a.warmup + a.runs
    for i in range(total):
        warm = i < a.warmup
        if a.prep:
            rc = run_prep(a.prep, a.cwd, prep_log)
            if rc != 0:
                rec["ok"] = False
                rec["error"] = "prep `%s` exited %d:\n%s" % (a.prep, rc, _tail(prep_log))
                break
        wall, rss, cpu, rc = run_once(argv, a.cwd, log)
        tag = "warm-up" if warm else "run %d/%d" % (i - a.warmup + 1, a.runs)
        print("  %-28s %-10s %8.3f s  %7s MB  cpu %7s s  rc=%d" % (
            label, tag, wall, "%.1f" % (rss / 1024) if rss else "?",
            "%.2f" % cpu if cpu is not None else "?", rc), flush=True)
        if rc != 0:
            rec["ok"] = False
            rec["error"] = "`%s` exited %d:\n%s" % (" ".join(argv), rc, _tail(log))
            break
        if not warm:
            rec["walls"].append(round(wall, 4))
            rec["rss_kb"].append(rss)
            rec["cpu_s"].append(round(cpu, 2) if cpu is not None else None)
    if rec["walls"]:
        rec["median_wall"] = round(statistics.median(rec["walls"]), 4)
        rss = [r for r in rec["rss_kb"] if r]
        rec["max_rss_kb"] = max(rss) if rss else None
    rec["loadavg_after"] = loadavg()
    if not rec["ok"]:
        print("  FAILED: %s" % rec["error"], flush=True)
    with open(a.results, "a") as f:
        f.write(json.dumps(rec) + "\n")
    return 0


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------
def load_results(path):
    recs = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                r = json.loads(line)
                recs[(r["tool"], r["step"], int(r["n"]))] = r  # last one wins
    return recs


def fmt_s(r):
    if r is None:
        return "–"
    if not r["ok"]:
        return "FAILED"
    w = r["median_wall"]
    return "%.3f s" % w if w < 10 else "%.1f s" % w


def fmt_mb(r):
    if r is None or not r.get("max_rss_kb"):
        return "–"
    return "%.0f MB" % (r["max_rss_kb"] / 1024)


def fmt_runs(r):
    if r is None:
        return "–"
    return "%d+%d" % (r["warmup"], len(r["walls"]))


STEPS = [  # (step, which N, label, target)
    ("compile", "large", "`compile` (parse + render all)", "sb < 1 s, < 200 MB"),
    ("compile", "small", "`compile` (parse + render all)", "dbt/sb ≥ 100×"),
    ("compile-pp", "small", "`compile`, dbt with partial parse warm", ""),
    ("seed", "small", "`seed` (3 CSVs, fresh DB)", ""),
    ("run", "small", "`run` (after own `seed`, fresh DB)", "dbt/sb ≥ 10×"),
]


def verdict(step, which, sb, dbt):
    if sb is None or not sb["ok"]:
        return "✗ (sb failed)" if sb is not None else "–"
    if step == "compile" and which == "large":
        ok = sb["median_wall"] < 1.0 and (sb.get("max_rss_kb") or 0) < 200 * 1024
        return "✓ met" if ok else "✗ missed"
    want = {"compile": 100, "run": 10}.get(step)
    if want is None or dbt is None or not dbt["ok"]:
        return "–"
    return "✓ met" if dbt["median_wall"] / sb["median_wall"] >= want else "✗ missed"


def cmd_report(a):
    recs = load_results(a.results)
    meta = json.loads(_read(a.meta) or "{}")
    ns = {"small": a.n_small, "large": a.n_large}
    out = []
    out.append("# sb vs dbt-core benchmark results\n")
    out.append("- date: %s" % meta.get("date", "?"))
    out.append("- machine: %s CPUs (%s), %s GiB RAM, Linux %s" % (
        meta.get("host_cpus"), meta.get("cpu_model"), meta.get("mem_gib"), meta.get("kernel")))
    out.append("- load average (1/5/15 min) at start: %s, at end: %s" % (
        meta.get("loadavg_start"), loadavg()))
    for k in ("sb_version", "dbt_version", "dbt_duckdb_version", "duckdb_py_version", "seed"):
        if k in meta:
            out.append("- %s: %s" % (k, meta[k]))
    out.append("- medians of the timed runs after the warm-ups (runs column: warm-ups+timed); "
               "wall clock of the whole process; max RSS is the largest over the timed runs "
               "(`/usr/bin/time -v`)")
    out.append("")
    out.append("| step | N models | sb | dbt | dbt / sb | target | sb max RSS | dbt max RSS | runs sb / dbt |")
    out.append("|---|---:|---:|---:|---:|---|---:|---:|---|")
    for step, which, label, target in STEPS:
        n = ns[which]
        sb = recs.get(("sb", step, n))
        dbt = recs.get(("dbt", step, n))
        if sb is None and dbt is None:
            continue
        ratio = "–"
        if sb and dbt and sb["ok"] and dbt["ok"] and sb["median_wall"] > 0:
            ratio = "%.0f×" % (dbt["median_wall"] / sb["median_wall"]) \
                if dbt["median_wall"] / sb["median_wall"] >= 10 \
                else "%.1f×" % (dbt["median_wall"] / sb["median_wall"])
        v = verdict(step, which, sb, dbt)
        out.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s / %s |" % (
            label, n, fmt_s(sb), fmt_s(dbt), ratio, target if v == "–" else "%s: %s" % (target, v),
            fmt_mb(sb), fmt_mb(dbt), fmt_runs(sb), fmt_runs(dbt)))
    floor = recs.get(("duckdb", "run-floor", a.n_small))
    if floor is not None:
        out.append("")
        out.append("DuckDB floor of `run` (N=%d): %s, max RSS %s — DuckDB %s alone (the release build "
                   "in the `duckdb` Python package) creating every model from dbt's compiled SQL, one "
                   "model at a time on one connection (`bench/duckdb_floor.py`); no tool overhead." % (
                       a.n_small, fmt_s(floor), fmt_mb(floor), meta.get("duckdb_py_version", "?")))
    out.append("")
    out.append("All timed samples (seconds):\n")
    for (tool, step, n), r in sorted(recs.items(), key=lambda kv: (kv[0][2], kv[0][1], kv[0][0])):
        out.append("- %s %s N=%d: wall %s, cpu (user+sys) %s; load before/after %s/%s%s" % (
            tool, step, n, r["walls"] or "none", r.get("cpu_s", "?"), r.get("loadavg_before"),
            r.get("loadavg_after"), "" if r["ok"] else " — FAILED"))
    failures = [r for r in recs.values() if not r["ok"]]
    if failures:
        out.append("\n## Failures\n")
        for r in failures:
            out.append("### %s %s (N=%s)\n" % (r["tool"], r["step"], r["n"]))
            out.append("cwd: `%s`\n" % r["cwd"])
            out.append("```\n%s\n```\n" % r["error"])
    if a.compare:
        cmp_ = json.loads(_read(a.compare) or "null")
        out.append("\n## Correctness: rows of every model, dbt vs sb (N=%d)\n" % a.n_small)
        if not cmp_:
            out.append("No comparison was made (see the run log).")
        else:
            out.append(cmp_.get("summary_md", ""))
    text = "\n".join(out) + "\n"
    with open(a.out, "w") as f:
        f.write(text)
    sys.stdout.write(text)
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("meta")
    m.add_argument("--out", required=True)
    m.add_argument("--extra", action="append")
    m.set_defaults(fn=cmd_meta)
    m = sub.add_parser("measure")
    m.add_argument("--results", required=True)
    m.add_argument("--tool", required=True)
    m.add_argument("--step", required=True)
    m.add_argument("--n", type=int, required=True)
    m.add_argument("--cwd", required=True)
    m.add_argument("--warmup", type=int, default=1)
    m.add_argument("--runs", type=int, default=3)
    m.add_argument("--prep")
    m.add_argument("--log")
    m.add_argument("--note")
    m.add_argument("argv", nargs=argparse.REMAINDER)
    m.set_defaults(fn=cmd_measure)
    m = sub.add_parser("report")
    m.add_argument("--results", required=True)
    m.add_argument("--meta", required=True)
    m.add_argument("--compare")
    m.add_argument("--n-small", type=int, required=True)
    m.add_argument("--n-large", type=int, required=True)
    m.add_argument("--out", required=True)
    m.set_defaults(fn=cmd_report)
    a = ap.parse_args(argv)
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
