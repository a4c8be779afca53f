"""Starts bqemulator for sb's tests, offline.

The emulator loads DuckDB's spatial and avro extensions at start, downloading
them when missing; with no network that fails (spatial) or waits (avro). sb's
tests need neither (only GEOGRAPHY and Avro loads are lost), so both steps are
skipped. The emulator exits when its standard input closes, so a test run
that ends (or dies) never leaves it behind.
"""
import os
import sys
import threading

from bqemulator.storage import engine


def _skip(self):
    return None


engine.DuckDBEngine._load_spatial = _skip
engine.DuckDBEngine._load_format_extensions = _skip


def _exit_when_parent_goes():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


if os.environ.get("SB_EMULATOR_WATCH_STDIN") == "1":
    threading.Thread(target=_exit_when_parent_goes, daemon=True).start()

from bqemulator.cli import main  # noqa: E402

sys.argv = ["bqemulator", *sys.argv[1:]]
main()
