"""Benchmark helpers shared by the bench scripts (importable: ``from bench.common import ...``).

    start, end = load_mixed(url, changes=210_000)      # writes the binlog
    events = read_row_events(url, start, end)            # library events, rows untouched
"""
from __future__ import annotations

import datetime
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tower.services_env import load_into_environ  # noqa: E402

# The local servers' URLs for every bench script (the decoder's helpers read only the environment).
load_into_environ()

from workers.decoder.testing import (  # noqa: E402
    connect,
    master_status,
    read_events,
    source_url,
    start_mark,
)

BENCH_DB = "tower_bench"
BENCH_TABLE = "mixed"
MIXED_DDL = f"""
CREATE TABLE `{BENCH_TABLE}` (
  id BIGINT NOT NULL PRIMARY KEY,
  qty INT NOT NULL,
  name VARCHAR(64) NOT NULL,
  price DECIMAL(12,2) NOT NULL,
  created_at DATETIME NOT NULL,
  attrs JSON,
  note TEXT,
  ratio DOUBLE,
  status TINYINT UNSIGNED NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
"""


def require_url(url=None):
    url = url or source_url()
    if not url:
        raise SystemExit(
            "TOWER_SOURCE_URL is not set and .run/services.env has none: run `make services`"
        )
    return url


def _row(i, rnd):
    base = datetime.datetime(2024, 1, 1)
    return (
        i,
        rnd.randint(-1_000_000, 1_000_000),
        f"customer-{i}-{rnd.randint(0, 99999)}",
        f"{rnd.randint(-9_999_999, 9_999_999)}.{rnd.randint(0, 99):02d}",
        base + datetime.timedelta(seconds=rnd.randint(0, 86_400 * 365)),
        json.dumps({"k": i % 97, "tags": ["a", "b"], "v": rnd.random()}),
        "note " * rnd.randint(1, 12),
        rnd.random() * 1000,
        rnd.randint(0, 255),
    )


def load_mixed(url, changes=210_000, db=BENCH_DB, batch=1000, seed=7):
    """(Re)create db.mixed and write `changes` row changes: a third each inserts,
    updates, deletes (multi-row statements of `batch` rows).  Returns the binlog
    range (start, end) as ((file, pos), (file, pos)) holding exactly those changes."""
    rnd = random.Random(seed)
    n = max(1, changes // 3)
    conn = connect(url)
    try:
        cur = conn.cursor()
        cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
        cur.execute(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4")
        cur.execute(f"USE `{db}`")
        cur.execute("SET SESSION binlog_format=ROW, binlog_row_image=FULL")
        cur.execute(MIXED_DDL)
        start = start_mark(cur)
        sql = f"INSERT INTO `{BENCH_TABLE}` VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)"
        for lo in range(0, n, batch):
            cur.executemany(sql, [_row(i, rnd) for i in range(lo, min(n, lo + batch))])
        for lo in range(0, n, batch):
            cur.execute(
                f"UPDATE `{BENCH_TABLE}` SET qty = qty + 1, price = price - 1.25,"
                " name = CONCAT(name, '+'), created_at = created_at + INTERVAL 1 SECOND"
                " WHERE id >= %s AND id < %s",
                (lo, lo + batch),
            )
        for lo in range(0, n, batch):
            cur.execute(f"DELETE FROM `{BENCH_TABLE}` WHERE id >= %s AND id < %s", (lo, lo + batch))
        end = master_status(cur)
    finally:
        conn.close()
    return start, end


def read_row_events(url, start, end, db=BENCH_DB, **kw):
    """All Write/Update/DeleteRowsEvents of db in [start, end), rows not decoded yet."""
    return list(read_events(url, start, end, only_schemas=[db], **kw))


def timed(fn, *args):
    t0 = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - t0, result


def group_processes(pgid):
    """(pid, fields of /proc/<pid>/stat after the command name) of every process in process group `pgid` (a
    worker and its pool children)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid:  # pgrp
            yield int(entry), fields


def rss_bytes(pid) -> int:
    """Resident memory of process `pid` (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0
