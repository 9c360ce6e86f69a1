#!/usr/bin/env python
"""Row decoding benchmark: python-mysql-replication's decoder vs Tower's generated one.

    .venv/bin/python bench/bench_decode.py [--rows 210000] [--repeat 3] [--url mysql://...]

Loads a mixed 9-column table (bigint, int, varchar, decimal, datetime, json,
text, double, tinyint) with --rows row changes (a third each inserts, updates,
deletes) into the MariaDB from TOWER_SOURCE_URL (or .run/services.env), reads
that binlog range once per repeat, and decodes the same events both ways.
Prints `name: value` lines; rates are row changes per second of decode time
(reading and framing the events is excluded from both, and reported apart).
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import load_mixed, read_row_events, require_url, timed  # noqa: E402
from workers.decoder import fast_rows, stats  # noqa: E402
from workers.decoder.testing import diff_rows  # noqa: E402


def decode_tower(events):
    n = 0
    for ev in events:
        n += len(fast_rows(ev))
    return n


WANTED_2 = frozenset({"id", "price"})


def decode_tower_2cols(events):
    n = 0
    for ev in events:
        n += len(fast_rows(ev, WANTED_2))
    return n


def decode_library(events):
    n = 0
    for ev in events:
        n += len(ev.rows)
    return n


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=210_000, help="row changes to load (default 210000)")
    ap.add_argument("--repeat", type=int, default=3, help="measurements, median reported (default 3)")
    ap.add_argument("--url", default=None, help="source MariaDB URL (default TOWER_SOURCE_URL)")
    ap.add_argument("--check", action="store_true", help="also compare every row of both decoders")
    args = ap.parse_args(argv)
    url = require_url(args.url)

    t0 = time.perf_counter()
    start, end = load_mixed(url, args.rows)
    print(f"load_seconds: {time.perf_counter() - t0:.1f}", flush=True)

    lib_rates, tower_rates, read_rates, two_rates = [], [], [], []
    images = 0
    for _ in range(max(1, args.repeat)):
        gc.collect()
        t_read, events = timed(read_row_events, url, start, end)
        gc.collect()
        t_tower, n_tower = timed(decode_tower, events)
        t_two, n_two = timed(decode_tower_2cols, events)
        if args.check:
            fast = [fast_rows(ev) for ev in events]
        gc.collect()
        t_lib, n_lib = timed(decode_library, events)
        if n_tower != n_lib:
            raise SystemExit(f"row count mismatch: tower {n_tower} != library {n_lib}")
        if args.check:
            for ev, rows in zip(events, fast):
                problem = diff_rows(rows, ev.rows)
                if problem:
                    raise SystemExit(f"decoders differ: {problem}")
        images = sum(len(ev.rows) * (2 if "after_values" in (ev.rows[0] if ev.rows else {}) else 1) for ev in events)
        read_rates.append(n_lib / t_read)
        tower_rates.append(n_tower / t_tower)
        lib_rates.append(n_lib / t_lib)
        two_rates.append(n_two / t_two)
        del events

    lib = statistics.median(lib_rates)
    tower = statistics.median(tower_rates)
    print(f"row_changes: {n_lib}")
    print(f"row_images: {images}")
    print(f"read_events_rows_per_s: {statistics.median(read_rates):.0f}")
    print(f"decode_rows_per_s_library: {lib:.0f}")
    print(f"decode_rows_per_s_tower: {tower:.0f}")
    print(f"decode_speedup: {tower / lib:.2f}")
    print(f"decode_rows_per_s_tower_2_of_9_columns: {statistics.median(two_rates):.0f}")
    if stats.fallback_rows:
        print(f"decode_fallback_rows: {stats.fallback_rows}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
