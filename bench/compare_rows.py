#!/usr/bin/env python3
"""Compare the rows of every model built by dbt and by sb (needs the `duckdb` package;
bench/run.sh runs it with the dbt venv's python, which has it).

    compare_rows.py --dbt-db DBT.duckdb --sb-db SB.duckdb --project DIR
                    [--schema main] [--json OUT.json] [--tolerance-digits 6]

Both files are ATTACHed read-only into one in-memory DuckDB. For each model (a
models/**/*.sql file of --project) and each seed (seeds/*.csv) the relation of the
same name in --schema is compared as a multiset of rows: `EXCEPT ALL` both ways.
Columns are matched by name; where the two types differ both sides are cast to a
common type (integers -> BIGINT/HUGEINT, mixed numbers -> DOUBLE, else VARCHAR),
and the type difference is listed. Rows that differ exactly are compared again
with floating-point columns rounded to --tolerance-digits decimals, to tell float
noise (summation order) from real differences.

Exit status: 0 when every model matches (exactly or within the rounding), 1 when
some model differs or is missing, 2 on usage / attach errors.
"""
import argparse
import glob
import json
import os
import sys

INT_TYPES = ["TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
             "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"]
FLOAT_TYPES = ["FLOAT", "DOUBLE", "REAL"]


def q(ident):
    return '"%s"' % ident.replace('"', '""')


def base_type(t):
    return t.upper().split("(")[0].strip()


def is_numeric(t):
    b = base_type(t)
    return b in INT_TYPES or b in FLOAT_TYPES or b == "DECIMAL"


def common_type(t1, t2):
    if t1 == t2:
        return t1
    b1, b2 = base_type(t1), base_type(t2)
    if b1 in INT_TYPES and b2 in INT_TYPES:
        return "HUGEINT" if "HUGEINT" in (b1, b2) or "UBIGINT" in (b1, b2) else "BIGINT"
    if is_numeric(t1) and is_numeric(t2):
        return "DOUBLE"
    return "VARCHAR"


def list_nodes(project):
    models = sorted(os.path.splitext(os.path.basename(p))[0]
                    for p in glob.glob(os.path.join(project, "models", "**", "*.sql"),
                                       recursive=True))
    seeds = sorted(os.path.splitext(os.path.basename(p))[0]
                   for p in glob.glob(os.path.join(project, "seeds", "**", "*.csv"),
                                      recursive=True))
    return models, seeds


def relations(con, cat, schema):
    rows = con.execute(
        "select table_name, table_type from information_schema.tables "
        "where table_catalog = ? and table_schema = ?", [cat, schema]).fetchall()
    return {r[0]: r[1] for r in rows}


def columns(con, cat, schema, table):
    return con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_catalog = ? and table_schema = ? and table_name = ? "
        "order by ordinal_position", [cat, schema, table]).fetchall()


def compare_one(con, schema, name, digits):
    res = {"name": name, "status": None, "notes": []}
    dcols, scols = columns(con, "d", schema, name), columns(con, "s", schema, name)
    dmap, smap = dict(dcols), dict(scols)
    if [c for c, _ in dcols] != [c for c, _ in scols]:
        if set(dmap) != set(smap):
            res["status"] = "columns differ"
            res["notes"].append("dbt columns %s; sb columns %s" % (
                [c for c, _ in dcols], [c for c, _ in scols]))
            return res
        res["notes"].append("column order differs")
    exprs_exact, exprs_round, type_diffs = [], [], []
    for c, dt in dcols:
        st = smap[c]
        ct = common_type(dt, st)
        if dt != st:
            type_diffs.append("%s: dbt %s / sb %s" % (c, dt, st))
        e = "cast(%s as %s)" % (q(c), ct) if dt != st else q(c)
        exprs_exact.append("%s as %s" % (e, q(c)))
        if base_type(ct) in FLOAT_TYPES or base_type(ct) == "DECIMAL":
            exprs_round.append("round(cast(%s as double), %d) as %s" % (q(c), digits, q(c)))
        else:
            exprs_round.append("%s as %s" % (e, q(c)))
    if type_diffs:
        res["type_diffs"] = type_diffs
    rel_d = "d.%s.%s" % (q(schema), q(name))
    rel_s = "s.%s.%s" % (q(schema), q(name))
    res["rows_dbt"] = con.execute("select count(*) from %s" % rel_d).fetchone()[0]
    res["rows_sb"] = con.execute("select count(*) from %s" % rel_s).fetchone()[0]

    def diff(exprs):
        sel = ", ".join(exprs)
        only_d = con.execute("select count(*) from (select %s from %s except all select %s from %s)"
                             % (sel, rel_d, sel, rel_s)).fetchone()[0]
        only_s = con.execute("select count(*) from (select %s from %s except all select %s from %s)"
                             % (sel, rel_s, sel, rel_d)).fetchone()[0]
        return only_d, only_s

    only_d, only_s = diff(exprs_exact)
    res["only_dbt"], res["only_sb"] = only_d, only_s
    if only_d == 0 and only_s == 0:
        res["status"] = "same"
        return res
    rd, rs = diff(exprs_round)
    res["only_dbt_rounded"], res["only_sb_rounded"] = rd, rs
    if rd == 0 and rs == 0:
        res["status"] = "same within 1e-%d" % digits
        return res
    res["status"] = "ROWS DIFFER"
    sel = ", ".join(exprs_round)
    res["sample_only_dbt"] = [list(map(str, r)) for r in con.execute(
        "select %s from %s except all select %s from %s limit 3" % (sel, rel_d, sel, rel_s)).fetchall()]
    res["sample_only_sb"] = [list(map(str, r)) for r in con.execute(
        "select %s from %s except all select %s from %s limit 3" % (sel, rel_s, sel, rel_d)).fetchall()]
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dbt-db", required=True)
    ap.add_argument("--sb-db", required=True)
    ap.add_argument("--project", required=True, help="project dir (lists models/ and seeds/)")
    ap.add_argument("--schema", default="main")
    ap.add_argument("--json")
    ap.add_argument("--tolerance-digits", type=int, default=6)
    a = ap.parse_args(argv)

    import duckdb  # noqa: PLC0415 (only in the dbt venv)

    for p in (a.dbt_db, a.sb_db):
        if not os.path.exists(p):
            print("missing database file: %s" % p, file=sys.stderr)
            return 2
    con = duckdb.connect(":memory:")
    try:
        con.execute("ATTACH ? AS d (READ_ONLY)", [a.dbt_db])
        con.execute("ATTACH ? AS s (READ_ONLY)", [a.sb_db])
    except Exception as e:  # noqa: BLE001
        print("ATTACH failed: %s" % e, file=sys.stderr)
        return 2

    models, seeds = list_nodes(a.project)
    rel_d, rel_s = relations(con, "d", a.schema), relations(con, "s", a.schema)
    results = {"models": [], "seeds": []}
    for kind, names in (("models", models), ("seeds", seeds)):
        for name in names:
            if name not in rel_d or name not in rel_s:
                results[kind].append({"name": name, "status": "MISSING in %s" % " and ".join(
                    t for t, rel in (("dbt", rel_d), ("sb", rel_s)) if name not in rel)})
                continue
            r = compare_one(con, a.schema, name, a.tolerance_digits)
            r["kind_dbt"], r["kind_sb"] = rel_d[name], rel_s[name]
            results[kind].append(r)
    extra_sb = sorted(set(rel_s) - set(rel_d))
    extra_dbt = sorted(set(rel_d) - set(rel_s))

    def counts(lst):
        c = {}
        for r in lst:
            c[r["status"]] = c.get(r["status"], 0) + 1
        return c

    mc, sc = counts(results["models"]), counts(results["seeds"])
    def type_diff_counts(lst):
        cols = {}
        for r in lst:
            for t in r.get("type_diffs", []):
                cols[t] = cols.get(t, 0) + 1
        return sum(1 for r in lst if r.get("type_diffs")), cols

    kind_diffs = [r for r in results["models"]
                  if "kind_dbt" in r and r["kind_dbt"] != r["kind_sb"]]
    bad = [r for r in results["models"] if not r["status"].startswith("same")]
    total_rows = sum(r.get("rows_dbt", 0) for r in results["models"])

    md = []
    md.append("- models compared: %d (%s rows in dbt's file); status counts: %s" % (
        len(results["models"]), format(total_rows, ","), mc))
    md.append("- seeds compared: %d; status counts: %s" % (len(results["seeds"]), sc))
    md.append("- models whose relation kind differs (view vs table): %d" % len(kind_diffs))
    for kind in ("models", "seeds"):
        n, cols = type_diff_counts(results[kind])
        md.append("- %s with a column-type difference (compared after a cast): %d" % (kind, n))
        for t, k in sorted(cols.items(), key=lambda kv: -kv[1])[:10]:
            md.append("  - `%s` in %d relations" % (t, k))
    if extra_sb or extra_dbt:
        md.append("- relations only in sb's file: %s; only in dbt's: %s" % (
            extra_sb[:10] or "none", extra_dbt[:10] or "none"))
    if bad:
        md.append("- **%d models differ**:" % len(bad))
        for r in bad[:20]:
            md.append("  - `%s`: %s %s" % (r["name"], r["status"], json.dumps(
                {k: r[k] for k in ("rows_dbt", "rows_sb", "only_dbt", "only_sb",
                                   "only_dbt_rounded", "only_sb_rounded", "notes",
                                   "sample_only_dbt", "sample_only_sb") if k in r})))
    else:
        md.append("- **every model holds the same rows in both files**")
    summary = "\n".join(md) + "\n"
    sys.stdout.write(summary)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"summary_md": summary, "models": results["models"],
                       "seeds": results["seeds"], "extra_sb": extra_sb,
                       "extra_dbt": extra_dbt}, f, indent=1)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
