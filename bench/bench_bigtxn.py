#!/usr/bin/env python
"""A big transaction through a real worker into Redis: its memory and speed, against the same rows in small ones.

    .venv/bin/python bench/bench_bigtxn.py [--bigtxn-rows 2000000]

Writes --bigtxn-rows rows of a 3-column table (id INT PRIMARY KEY, n INT, v VARCHAR(32)) on the source twice:
once as one transaction (one INSERT … SELECT), once into a second such table as transactions of 1,000 rows.
Each range is then dumped by a real `celery -A tower worker` (bench/bench_engine.py's Worker, e2e) into one
Redis subscription, while the resident memory of the worker's processes together (its main process and its
pool, i.e. its process group) is sampled every 50 ms; each range gets a freshly started worker:

  bigtxn_rows                 rows of the single transaction
  bigtxn_rows_per_s           its end-to-end rate (dump start until the subscription's checkpoint is at its end)
  bigtxn_rss_peak_mb          the worker's peak RSS (MB) while it was dumped
  bigtxn_rss_peak_mb_small    the same rows in 1,000-row transactions
  bigtxn_rows_per_s_small     their end-to-end rate
  bigtxn_rss_idle_mb          the worker's RSS before the first dump

A transaction past TOWER_TRANSACTION_PIECE_ROWS/_BYTES is delivered in pieces (docs/architecture.md, "Big
transactions"): the two peaks should be within 20% of each other.
"""
import argparse
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_engine import TARGET_DB, TMP, Worker, e2e, make_instance, redis_db  # noqa: E402  (sets up Django)
from bench.common import group_processes, require_url, rss_bytes  # noqa: E402
from workers.decoder.testing import connect  # noqa: E402

SCHEMA = "tower_bench_bigtxn"


def group_rss_bytes(pgid, each=None) -> int:
    """Resident memory of every process in process group `pgid` (the worker and its pool); `each`: a dict that
    gets every process's own peak."""
    total = 0
    for pid, _ in group_processes(pgid):
        rss = rss_bytes(pid)
        total += rss
        if each is not None:
            each[pid] = max(each.get(pid, 0), rss)
    return total


class RssPeak(threading.Thread):
    def __init__(self, pgid, every=0.05):
        super().__init__(daemon=True)
        self.pgid, self.every, self.peak, self.each = pgid, every, 0, {}
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, group_rss_bytes(self.pgid, self.each))
            self.stop.wait(self.every)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.join(timeout=5)


def master(cur):
    cur.execute("SHOW MASTER STATUS")
    file, pos = cur.fetchone()[:2]
    return file, int(pos)


def load(url, rows):
    """((start, end) of the single transaction, (start, end) of the 1,000-row transactions)."""
    conn = connect(url)
    try:
        cur = conn.cursor()
        cur.execute(f"DROP DATABASE IF EXISTS {SCHEMA}")
        cur.execute(f"CREATE DATABASE {SCHEMA}")
        for table in ("big", "small"):
            cur.execute(f"CREATE TABLE {SCHEMA}.{table} (id INT PRIMARY KEY, n INT, v VARCHAR(32))")
        cur.execute("SET SESSION binlog_format=ROW, binlog_row_image=FULL")
        start = master(cur)
        cur.execute("BEGIN")
        cur.execute(f"INSERT INTO {SCHEMA}.big SELECT seq, seq, CONCAT('row-', seq) FROM {SCHEMA}.seq_1_to_{rows}")
        cur.execute("COMMIT")
        big = (start, master(cur))
        start = master(cur)
        for lo in range(1, rows + 1, 1000):
            cur.execute(f"INSERT INTO {SCHEMA}.small SELECT seq, seq, CONCAT('row-', seq) FROM "
                        f"{SCHEMA}.seq_{lo}_to_{min(rows, lo + 999)}")
        small = (start, master(cur))
    finally:
        conn.close()
    return big, small


def run(instance, worker, rng, table, name, rows):
    import redis

    target = redis.Redis.from_url(redis_db(TARGET_DB))
    target.flushdb()
    with RssPeak(worker.proc.pid) as rss:
        rate, _ = e2e(instance, rng[0], rng[1], redis_db(TARGET_DB), name, rows, timeout=1800)
    # (the dump may have read on past the range: count this table's keys only)
    stored = sum(1 for _ in target.scan_iter(match=f"{SCHEMA}-{table}-*", count=20000))
    target.flushdb()
    if stored != rows:
        raise SystemExit(f"{name}: Redis holds {stored} keys of {SCHEMA}.{table}, not {rows}")
    each = ", ".join(f"{'main' if pid == worker.proc.pid else 'pool'} {peak / 1e6:.0f}"
                     for pid, peak in sorted(rss.each.items()))
    return rate, rss.peak / 1e6, each


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bigtxn-rows", type=int, default=2_000_000)
    parser.add_argument("--keep", action="store_true", help=f"keep {TMP} (worker log, metadata DB)")
    args, _ = parser.parse_known_args()  # scripts/bench.sh gives every bench the same arguments
    url = require_url()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    rows = args.bigtxn_rows
    t0 = time.perf_counter()
    big, small = load(url, rows)
    print(f"bigtxn_load_seconds: {time.perf_counter() - t0:.1f}", flush=True)
    instance = make_instance(url)
    worker = None
    try:
        # A fresh worker per run: what a pool process keeps of an earlier dump's heap must not count for the next.
        worker = Worker()
        print(f"bigtxn_rss_idle_mb: {group_rss_bytes(worker.proc.pid) / 1e6:.0f}")
        rate, peak, each = run(instance, worker, big, "big", "bench-bigtxn", rows)
        print(f"bigtxn_rows: {rows}")
        print(f"bigtxn_rows_per_s: {rate:.0f}")
        print(f"bigtxn_rss_peak_mb: {peak:.0f}  (each process's own peak: {each})", flush=True)
        worker.stop()
        worker = Worker()
        rate_small, peak_small, each = run(instance, worker, small, "small", "bench-bigtxn-small", rows)
        print(f"bigtxn_rows_per_s_small: {rate_small:.0f}")
        print(f"bigtxn_rss_peak_mb_small: {peak_small:.0f}  (each process's own peak: {each})", flush=True)
    finally:
        if worker is not None:
            worker.stop()
        conn = connect(url)
        try:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS {SCHEMA}")
        finally:
            conn.close()
        if args.keep:
            print(f"bench_dir: {TMP}")
        else:
            shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
