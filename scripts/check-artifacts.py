"""Reads a target folder's dbt artifacts with dbt-artifacts-parser, strictly.

    python scripts/check-artifacts.py TARGET_DIR

Prints one line per artifact (`manifest ok` or every validation error,
grouped) and exits 1 when any artifact does not parse. catalog.json is
checked when present.
"""
import collections
import json
import os
import re
import sys

from dbt_artifacts_parser.parser import parse_catalog, parse_manifest, parse_run_results
from pydantic import ValidationError


def check(name, parse, path):
    try:
        with open(path, encoding="utf-8") as f:
            parse(json.load(f))
    except ValidationError as error:
        grouped = collections.Counter()
        for entry in error.errors():
            # A node id is left out, so one mistake repeated per node is one line.
            where = re.sub(r"`[^`]*`", "<id>", ".".join(str(p) for p in entry["loc"]))
            # A node fits one of the schema's node kinds: the others' complaints
            # that the resource type is not theirs say nothing.
            if entry["type"] != "literal_error":
                grouped[(where, entry["msg"])] += 1
        print(f"{name} FAILED")
        for (where, message), count in sorted(grouped.items()):
            print(f"  {where}: {message} (x{count})")
        return False
    print(f"{name} ok")
    return True


target = sys.argv[1]
ok = check("manifest", parse_manifest, os.path.join(target, "manifest.json"))
ok &= check("run_results", parse_run_results, os.path.join(target, "run_results.json"))
catalog = os.path.join(target, "catalog.json")
if os.path.exists(catalog):
    ok &= check("catalog", parse_catalog, catalog)
sys.exit(0 if ok else 1)
