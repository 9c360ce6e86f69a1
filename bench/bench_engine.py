"""Engine benchmark: rows/s of the library's decode vs Tower's stream -> sink path, and lag at a steady rate.

    .venv/bin/python bench/bench_engine.py [--changes 210000] [--lag-seconds 10]

Prints `name: value` lines:
  library_decode_rows_per_s   python-mysql-replication reading `.rows` of the same binlog
  tower_blackhole_rows_per_s  Tower's BinlogStream (whole transactions, fast decoder if on) -> blackhole sink
  tower_redis_rows_per_s      the same into Redis (pipelined MULTI/EXEC per batch)
  tower_vs_library_ratio      (b)/(a)
  lag_p50_ms, lag_p99_ms      commit -> delivered to the sink, at a steady 5k rows/s
The Celery/lease/checkpoint layer adds one metadata transaction per batch on top of this path.
"""
import argparse
import os
import random
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tower.settings")

import django  # noqa: E402

django.setup()



from bench.common import BENCH_DB, load_mixed, read_row_events, require_url  # noqa: E402
from workers.decoder.testing import connect, settings as conn_settings  # noqa: E402
from workers.dump import fast_decoder  # noqa: E402
from workers.events import Batch, Position  # noqa: E402
from workers.sinks import open_sink  # noqa: E402
from workers.stream import BinlogStream  # noqa: E402


def library_decode(url, start, end):
    events = read_row_events(url, start, end)
    t0 = time.perf_counter()
    rows = sum(len(e.rows) for e in events)
    return rows, time.perf_counter() - t0


def stream_to_sink(url, start, end, sink, schema=BENCH_DB, on_batch=None, stop=None):
    s = conn_settings(url)
    stream = BinlogStream(
        s["host"], s["port"], s["user"], s["passwd"], random.randint(10_000, 2**31 - 1),
        Position(start[0], start[1]), wants=lambda sc, t: sc == schema, only_schemas=[schema],
        decoder=fast_decoder(),
    ).start()
    rows = 0
    t0 = time.perf_counter()
    try:
        while True:
            transactions = stream.get(timeout=0.5, max_changes=5000)
            if transactions:
                batch = Batch(changes=[c for t in transactions for c in t.changes], end=transactions[-1].position)
                sink.write(batch)
                rows += len(batch.changes)
                if on_batch:
                    on_batch(batch)
                last = transactions[-1].position
                if end and (last.file_number, last.binlog_pos) >= (int(end[0].rsplit(".", 1)[1]), end[1]):
                    break
            if stop is not None and stop.is_set():
                break
    finally:
        stream.stop()
    return rows, time.perf_counter() - t0


def lag(url, seconds, rate=5000):
    conn = connect(url)
    cur = conn.cursor()
    cur.execute("CREATE DATABASE IF NOT EXISTS tower_bench_lag")
    cur.execute("DROP TABLE IF EXISTS tower_bench_lag.t")
    cur.execute("CREATE TABLE tower_bench_lag.t (id INT PRIMARY KEY, v VARCHAR(32))")
    cur.execute("SHOW MASTER STATUS")
    file, pos = cur.fetchone()[:2]
    committed = {}
    lags = []
    stop = threading.Event()

    def seen(batch):
        now = time.perf_counter()
        for c in batch.changes:
            at = committed.get(c.row.get("id")) if hasattr(c, "row") else None
            if at is not None:
                lags.append(now - at)

    reader = threading.Thread(target=stream_to_sink, args=(url, (file, int(pos)), None, open_sink("blackhole://")),
                              kwargs={"schema": "tower_bench_lag", "on_batch": seen, "stop": stop}, daemon=True)
    reader.start()
    time.sleep(1)
    per_tick, tick = rate // 50, 0.02
    i = 0
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t_next = time.perf_counter() + tick
        cur.executemany("INSERT INTO tower_bench_lag.t VALUES (%s, %s)", [(i + k, "x") for k in range(per_tick)])
        at = time.perf_counter()
        for k in range(per_tick):
            committed[i + k] = at
        i += per_tick
        time.sleep(max(0, t_next - time.perf_counter()))
    time.sleep(2)
    stop.set()
    reader.join(timeout=10)
    cur.execute("DROP DATABASE tower_bench_lag")
    conn.close()
    lags.sort()
    if not lags:
        return None, None, 0
    return lags[len(lags) // 2] * 1000, lags[int(len(lags) * 0.99)] * 1000, len(lags)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=210_000)
    parser.add_argument("--lag-seconds", type=float, default=10)
    args = parser.parse_args()
    url = require_url()
    start, end = load_mixed(url, changes=args.changes)
    lib_rows, lib_s = library_decode(url, start, end)
    bh_rows, bh_s = stream_to_sink(url, start, end, open_sink("blackhole://"))
    redis_uri = os.environ.get("TOWER_REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0] + "/9"
    sink = open_sink(redis_uri)
    sink.client.flushdb()
    rd_rows, rd_s = stream_to_sink(url, start, end, sink)
    sink.client.flushdb()
    a, b, c = lib_rows / lib_s, bh_rows / bh_s, rd_rows / rd_s
    print(f"changes: {lib_rows}")
    print(f"fast_decoder: {'on' if fast_decoder() else 'off'}")
    print(f"library_decode_rows_per_s: {a:.0f}")
    print(f"tower_blackhole_rows_per_s: {b:.0f}")
    print(f"tower_redis_rows_per_s: {c:.0f}")
    print(f"tower_vs_library_ratio: {b / a:.2f}")
    p50, p99, n = lag(url, args.lag_seconds)
    print(f"lag_rows_measured: {n}")
    print(f"lag_p50_ms: {p50:.1f}" if p50 is not None else "lag_p50_ms: n/a")
    print(f"lag_p99_ms: {p99:.1f}" if p99 is not None else "lag_p99_ms: n/a")


if __name__ == "__main__":
    main()
