"""Helpers for tests and benchmarks: reach the MariaDB source, mark binlog
ranges, read them back with python-mysql-replication, compare decoders."""
from __future__ import annotations

import datetime
import decimal
import os
import random
from urllib.parse import unquote, urlparse

import pymysql
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

ROW_EVENTS = (WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent)


def source_url():
    """TOWER_SOURCE_URL from the environment, else None. The environment holds the local servers' URLs once
    tower.settings or bench.common loaded .run/services.env (tower.services_env): this library may not
    import tower, by the import contracts."""
    return os.environ.get("TOWER_SOURCE_URL") or None


def settings(url):
    u = urlparse(url)
    return {
        "host": u.hostname or "127.0.0.1",
        "port": u.port or 3306,
        "user": unquote(u.username or "root"),
        "passwd": unquote(u.password or ""),
    }


def connect(url, db=None, **kw):
    s = settings(url)
    return pymysql.connect(
        host=s["host"], port=s["port"], user=s["user"], password=s["passwd"],
        database=db, autocommit=True, charset="utf8mb4", **kw,
    )


def master_status(cur):
    cur.execute("SHOW MASTER STATUS")
    row = cur.fetchone()
    return row[0], int(row[1])


def start_mark(cur):
    """Rotate to a fresh binlog file and return (file, 4): read from there."""
    cur.execute("FLUSH BINARY LOGS")
    f, _ = master_status(cur)
    return f, 4


def read_events(url, start, end, only_schemas=None, only_tables=None, only_events=ROW_EVENTS, **kw):
    """Yield events from binlog position start=(file, pos) up to end=(file, pos)."""
    stream = BinLogStreamReader(
        connection_settings=settings(url),
        server_id=random.randint(10_000, 2**31 - 1),
        resume_stream=True,
        blocking=False,
        is_mariadb=False,
        log_file=start[0],
        log_pos=start[1],
        only_events=list(only_events),
        only_schemas=only_schemas,
        only_tables=only_tables,
        enable_logging=False,
        **kw,
    )
    try:
        end = (end[0], end[1])
        for ev in stream:
            here = (stream.log_file, stream.log_pos or 0)
            if here > end:
                break  # this event starts at or after `end`: not ours
            yield ev
            if here == end:
                break
    finally:
        stream.close()


# ------------------------------------------------------------- comparison


def canon(value):
    """A form that differs whenever value or type differs (Decimal exponent, float bits...)."""
    t = type(value)
    if t is decimal.Decimal:
        return ("Decimal", value.as_tuple())
    if t is float:
        return ("float", value.hex() if value == value else "nan")
    if t in (set, frozenset):
        return (t.__name__, tuple(sorted(canon(v) for v in value)))
    if t is dict:
        return ("dict", tuple((canon(k), canon(v)) for k, v in value.items()))
    if t in (list, tuple):
        return (t.__name__, tuple(canon(v) for v in value))
    if t is datetime.datetime:
        return ("datetime", value.isoformat(), value.tzinfo is None)
    return (t.__name__, value)


def diff_rows(fast, lib):
    """None if equal in value, type and order; else a description of the first difference."""
    if len(fast) != len(lib):
        return f"row count {len(fast)} != {len(lib)}"
    for i, (a, b) in enumerate(zip(fast, lib)):
        if list(a) != list(b):
            return f"row {i}: keys {list(a)} != {list(b)}"
        for part in a:
            pa, pb = a[part], b[part]
            if list(pa) != list(pb):
                return f"row {i} {part}: keys {list(pa)} != {list(pb)}"
            for k in pa:
                if canon(pa[k]) != canon(pb[k]):
                    return f"row {i} {part}[{k!r}]: {pa[k]!r} != {pb[k]!r}"
    return None
