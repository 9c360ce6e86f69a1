"""Full sync: copy a subscription's existing rows while its stream keeps running (DBLog's watermark algorithm).

A table is read in primary-key chunks. Each chunk is read between two binlog
watermarks taken with SHOW MASTER STATUS (the source is usually a read-only
replica, so DBLog's watermark *writes* are not possible):

    low  = master position
    rows = SELECT … WHERE pk > last ORDER BY pk LIMIT n LOCK IN SHARE MODE
    high = master position

The chunk is held back until the subscription's stream has delivered up to a
position B >= high. Every key the stream changed after `low` (up to B) is
dropped from the chunk: the stream already delivered that row's newer state.
The remaining rows did not change between `low` and B, so the copy is their
state at B, and they are written to the sink as INSERTs positioned at B
(ClickHouse: version B; every later streamed change has a higher version).
The locking read matters: a transaction already in the binlog before `low` may
not be visible to a plain consistent read yet (binlog written, engine commit
pending); a locking read waits for it, so the copy never holds a value older
than `low`.

How a chunk is read (the copy's own cost; bench/bench_targets.py fullsync_blackhole_rows_per_s):
- over mysqlclient (MySQLdb, C) connections opened after the pymysql one that takes the watermarks
  (reader_connection: same address and user, same refusal of cleartext passwords), with converters by
  field type run in C as rows arrive and, per table, a converter only for the columns whose SELECT value
  differs from the binlog reader's (row_converter): no per-value type dispatch in Python;
- a table whose primary key is one integer column in READERS key ranges at once, one thread and
  connection each (mysqlclient releases the GIL while the server works): READERS-1 ranges sized from the
  key density seen so far, then an open range of chunk_rows rows. The ranges are read between one low and
  one high watermark, so they are one chunk to the algorithm; they are written and saved one range at a
  time (`parts`), so progress and resume stay per chunk_rows. Other keys: one range per chunk;
- the next chunk is read while the current one is written (step: _read_ahead). It is a chunk of its own,
  between its own watermarks; only the read is early, the state changes after the write as before.

After each chunk is written the state (table, last primary key copied, rows
done) is saved on the Subscription (fullsync_state / fullsync_done /
fullsync_total / fullsync_started), so a stopped or crashed load resumes at the
next chunk. Re-copying a chunk after a crash is harmless: sinks upsert by key.

Rows read by SELECT are converted to what the binlog reader produces for the
same values (TIMESTAMP in UTC, BIT as a '0101' string, SET as a set of members,
JSON parsed, FLOAT with float32 precision, zero dates as None, BINARY without
its trailing zero padding), so a copied row and a streamed row of the same
state are equal. Full-sync changes carry a negative `seq` (-1, -2, …) so
message consumers can tell them from streamed changes and (file, pos, seq,
type) stays unique.

How the dump loop drives it (one FullSync per subscription in full sync):

    fullsync.observe(transactions)                    # every batch the stream read
    fullsync.step(runtime.succeeded, idle=not transactions)   # after delivering; writes/reads chunks

`step` returns True once every table is copied. Tables without a primary key
cannot be chunked by key and are listed in state["skipped"].
"""
import atexit
import datetime
import json
import logging
import os
import struct
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable, Optional

import MySQLdb
import MySQLdb.cursors
from MySQLdb.constants import FIELD_TYPE
from pymysql.converters import convert_date, convert_datetime, convert_timedelta

from workers.events import Batch, Position, RowChange
from workers.source import describe_table, master_status

log = logging.getLogger(__name__)

CHUNK_ROWS = 2000
IDLE_GRACE_SECONDS = 1.0
# Chunks of one table read at once, each by a thread with its own connection (mysqlclient releases the GIL
# while the server works and the rows arrive, so one chunk's rows are converted while the next are read).
READERS = 4
# Tables whose primary key is one integer column are cut into key ranges computed from the key density seen
# so far, with no query to find the boundaries. A range may hold this many times chunk_rows before it is cut
# short (a denser stretch than estimated): the ranges after it in that read are dropped and read again.
INTEGER_KEY_TYPES = frozenset({"tinyint", "smallint", "mediumint", "int", "integer", "bigint"})
RANGE_CAP = 2


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


@dataclass
class TableInfo:
    schema: str
    table: str
    columns: list  # names, table order
    types: dict  # name -> (DATA_TYPE, COLUMN_TYPE)
    primary_key: tuple

    @property
    def name(self):
        return f"{self.schema}.{self.table}"


def describe(conn, schema, table) -> TableInfo:
    desc = describe_table(conn, schema, table)
    types = {c.name: (c.data_type, "json" if c.data_type == "json" else c.column_type.lower()) for c in desc.columns}
    return TableInfo(schema, table, [c.name for c in desc.columns], types, desc.primary_key)


def _datetime(text):
    # What pymysql's converter gives, then None for what it leaves as text (zero and invalid dates), as the
    # binlog reader does; fromisoformat (C) takes every valid value the server sends, the rest go the long way.
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        value = convert_datetime(text)
        return None if isinstance(value, str) else value


def _date(text):
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        value = convert_date(text)
        return None if isinstance(value, str) else value


# mysqlclient's converters by field type, applied in C as the rows arrive. Types not listed come as str (or
# bytes for a binary character set), as pymysql gives them; TIME is pymysql's own converter.
READ_CONVERSIONS = {
    FIELD_TYPE.TINY: int, FIELD_TYPE.SHORT: int, FIELD_TYPE.LONG: int, FIELD_TYPE.LONGLONG: int,
    FIELD_TYPE.INT24: int, FIELD_TYPE.YEAR: int, FIELD_TYPE.FLOAT: float, FIELD_TYPE.DOUBLE: float,
    FIELD_TYPE.DECIMAL: Decimal, FIELD_TYPE.NEWDECIMAL: Decimal, FIELD_TYPE.DATETIME: _datetime,
    FIELD_TYPE.TIMESTAMP: _datetime, FIELD_TYPE.DATE: _date, FIELD_TYPE.TIME: convert_timedelta,
}


def row_converter(info: TableInfo) -> Callable[[tuple], list]:
    """Rows of a SELECT (dicts built by mysqlclient with READ_CONVERSIONS) -> the row dicts the binlog reader
    would give, converted in place.

    Built once per table: only the columns whose SELECT value differs from the binlog reader's get a
    converter; a table without such columns costs nothing per row."""
    fixes = []
    for name in info.columns:
        data_type, column_type = info.types[name]
        f = _value_converter(data_type, column_type)
        if f is not None:
            fixes.append((name, f))
    if not fixes:
        return list

    def to_rows(raw):
        for r in raw:
            for name, f in fixes:
                v = r[name]
                if v is not None:
                    r[name] = f(v)
        return list(raw)

    return to_rows


def _value_converter(data_type, column_type):
    if data_type == "bit":
        width = int(column_type[column_type.index("(") + 1:column_type.index(")")]) if "(" in column_type else 1
        return lambda v: format(int.from_bytes(v, "big"), f"0{width}b") if isinstance(v, bytes) else v
    if data_type == "set":
        return lambda v: (set(v.split(",")) if v else set()) if isinstance(v, str) else v
    if data_type == "json":
        return lambda v: json.loads(v) if isinstance(v, (str, bytes)) else v
    if data_type == "float":
        return lambda v: struct.unpack("<f", struct.pack("<f", v))[0]
    if data_type == "binary":
        return lambda v: v.rstrip(b"\x00") if isinstance(v, bytes) else v
    return None  # zero dates are None already (READ_CONVERSIONS)


# Authentication plugins a reader may use without TLS: none of them sends the password itself
# (mysql_clear_password and dialog do; libmariadb would agree to them).
NO_CLEARTEXT_AUTH = "mysql_native_password,caching_sha2_password,sha256_password,client_ed25519,parsec,auth_gssapi_client"
_restricted_auth_file = None
_restricted_auth_lock = threading.Lock()


def _remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _restricted_auth_option_file() -> str:
    """An option file that makes libmariadb refuse the other plugins (MARIADB_OPT_RESTRICTED_AUTH, which
    mysqlclient has no argument for). Written once per process; it holds no secret."""
    global _restricted_auth_file
    with _restricted_auth_lock:
        if _restricted_auth_file is None or not os.path.exists(_restricted_auth_file):
            fd, path = tempfile.mkstemp(prefix="tower-fullsync-", suffix=".cnf")
            with os.fdopen(fd, "w") as f:
                f.write(f"[client]\nrestricted-auth={NO_CLEARTEXT_AUTH}\n")
            atexit.register(_remove, path)
            _restricted_auth_file = path
        return _restricted_auth_file


def reader_connection(conn, read_timeout=None):
    """A mysqlclient connection to where the pymysql connection `conn` is connected, as the same user.

    `conn` is a workers.source.SourceConnection in production; this one keeps its rules: it goes to the
    address `conn` checked against TOWER_SOURCE_NETWORKS and connected to, TLS is required when `conn` has
    TLS, a plugin that sends the password itself is refused without TLS, and a failed connect says only
    "cannot connect". pymysql keeps the password as latin-1 bytes."""
    password = conn.password.decode("latin-1") if isinstance(conn.password, bytes) else (conn.password or "")
    user = conn.user.decode("latin-1") if isinstance(conn.user, bytes) else (conn.user or "")
    kwargs = dict(host=conn.host, port=int(conn.port), user=user, password=password,
                  charset="utf8mb4", autocommit=True, conv=READ_CONVERSIONS, connect_timeout=10)
    if read_timeout:
        kwargs["read_timeout"] = int(read_timeout)
    if getattr(conn, "_secure", False):
        kwargs["ssl_mode"] = "REQUIRED"
    else:
        kwargs.update(read_default_file=_restricted_auth_option_file(), read_default_group="client")
    try:
        reader = MySQLdb.connect(**kwargs)
    except MySQLdb.OperationalError as exc:
        if exc.args and exc.args[0] in (2002, 2003):  # CR_CONNECTION_ERROR, CR_CONN_HOST_ERROR
            raise MySQLdb.OperationalError(2003, f"cannot connect to {conn.host}:{conn.port}") from None
        raise
    cur = reader.cursor()
    cur.execute("SET SESSION time_zone = '+00:00'")  # TIMESTAMP in UTC, as the binlog has it
    cur.close()
    return reader


def _fetch(conn, sql, params):
    """The rows as dicts by column name, built in C (a tuple per row and a dict(zip()) in Python cost more
    time, and more young objects for the garbage collector)."""
    cur = conn.cursor(MySQLdb.cursors.DictCursor)
    try:
        cur.execute(sql, params)
        return cur.fetchall()
    finally:
        cur.close()


def key_condition(primary_key, last) -> tuple:
    """SQL and params for `(k1, k2, …) > last`, spelled out so every server uses the index range."""
    if last is None:
        return "1=1", []
    ors, params = [], []
    for i, column in enumerate(primary_key):
        ands = [f"{_quote(c)} = %s" for c in primary_key[:i]] + [f"{_quote(column)} > %s"]
        ors.append("(" + " AND ".join(ands) + ")")
        params.extend(list(last[:i]) + [last[i]])
    return "(" + " OR ".join(ors) + ")", params


@dataclass
class Chunk:
    """Rows read between two watermarks: one or more key ranges (`parts`) read at once, written and saved
    one part at a time, in key order."""
    table: TableInfo
    rows: list  # row dicts
    low: Position
    high: Position
    last_key: Optional[tuple]
    changed: set = field(default_factory=set)
    read_at: float = 0.0
    parts: list = None  # [(end index in rows, last key)]; None: one part
    written: int = 0  # parts written and saved (a write failing half-way is retried from the next part)
    more: bool = False  # the last range was cut by LIMIT: the table likely goes on


class FullSync:
    """The full sync of one subscription. `state` is Subscription.fullsync_state (a dict, updated in place)."""

    def __init__(self, connect: Callable, sink, tables: list, state: dict = None, chunk_rows: int = CHUNK_ROWS,
                 save: Callable = None, readers: int = None):
        self.connect = connect  # () -> a pymysql connection to the source (metadata, watermarks)
        self.sink = sink
        self.chunk_rows = chunk_rows
        self.readers = max(1, int(READERS if readers is None else readers))
        self.save = save  # (FullSync) -> None, called after every chunk (and at the end)
        self.state = state if state else {}
        self.state.setdefault("tables", list(tables))
        self.state.setdefault("done_tables", [])
        self.state.setdefault("skipped", [])
        self.state.setdefault("table", None)
        self.state.setdefault("last_pk", None)
        self.state.setdefault("rows_done", 0)
        self.chunk = None
        self._conn = None
        self._readers = []  # mysqlclient connections reading the chunks, one per reader thread
        self._readers_lock = threading.Lock()
        self._pool = None
        self._ahead = None
        self._widths = {}  # table -> key width of chunk_rows rows (ranged reads)
        self._counting = None  # the Future of the first estimate_total
        self._infos = {}
        self._convert = {}
        self.idle_since = None
        self.total = self.state.get("total")

    # -- the connection --------------------------------------------------------------------------

    @property
    def conn(self):
        if self._conn is None:
            self._conn = self.connect()
            with self._conn.cursor() as cur:
                cur.execute("SET SESSION time_zone = '+00:00'")  # TIMESTAMP in UTC, as the binlog has it
        return self._conn

    def reader(self, i):
        """The i-th chunk reader connection (opened on first use)."""
        with self._readers_lock:
            while len(self._readers) <= i:
                self._readers.append(None)
            if self._readers[i] is None:
                self._readers[i] = reader_connection(self.conn, getattr(self.conn, "_read_timeout", None))
            return self._readers[i]

    def close(self):
        for pool in (self._ahead, self._pool):
            if pool is not None:
                pool.shutdown(wait=True)
        self._ahead = self._pool = None
        for conn in [self._conn] + self._readers:
            if conn is not None:
                try:
                    conn.close()
                except Exception:  # noqa: BLE001
                    pass
        self._conn = None
        self._readers = []

    # -- progress --------------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.chunk is None and not self._remaining_tables()

    @property
    def rows_done(self) -> int:
        return self.state["rows_done"]

    def estimate_total(self) -> int:
        """Rows to copy: COUNT(*) for tables the statistics call small, else the statistics' estimate."""
        if self.total is None:
            self.total = self.state["total"] = self._count_rows(self.conn)
        return self.total

    def _count_rows(self, conn) -> int:
        total = 0
        cur = conn.cursor()
        try:
            for name in self.state["tables"]:
                schema, table = name.split(".", 1)
                cur.execute("SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                            "AND TABLE_NAME = %s", (schema, table))
                row = cur.fetchone()
                estimate = int(row[0] or 0) if row else 0
                if estimate < 5_000_000:
                    cur.execute(f"SELECT COUNT(*) FROM {_quote(schema)}.{_quote(table)}")
                    estimate = int(cur.fetchone()[0])
                total += estimate
        finally:
            cur.close()
        return total

    def _start_count(self):
        """estimate_total on a connection of its own, while the first chunk is read (a COUNT(*) of a
        large table takes as long as reading a few chunks); _await_total sets it before anything is saved."""
        if self.total is None and self._counting is None:
            conn = self.reader(self.readers)
            self._counting = self._background().submit(self._count_rows, conn)

    def _await_total(self):
        if self._counting is not None:
            counting, self._counting = self._counting, None
            self.total = self.state["total"] = counting.result()

    def _remaining_tables(self):
        done = set(self.state["done_tables"]) | {s["table"] for s in self.state["skipped"]}
        return [t for t in self.state["tables"] if t not in done]

    # -- the two calls the dump loop makes ------------------------------------------------------------

    def observe(self, transactions) -> None:
        """Note the keys the stream changed in the pending chunk's table after its low watermark."""
        chunk = self.chunk
        if chunk is None:
            return
        schema, table, pk, low = chunk.table.schema, chunk.table.table, chunk.table.primary_key, chunk.low.commit_seq
        changed = chunk.changed
        for t in transactions:
            changes = getattr(t, "changes", None)
            if changes is None:  # a bare change
                changes = [t]
            for c in changes:
                if not isinstance(c, RowChange) or c.table != table or c.schema != schema:
                    continue
                if c.position is not None and c.position.commit_seq <= low:
                    continue
                changed.add(tuple(c.row.get(k) for k in pk))
                if c.old is not None:
                    changed.add(tuple(c.old.get(k) for k in pk))

    def step(self, delivered: Position, idle: bool = False) -> bool:
        """Write the pending chunk once the stream delivered past its high watermark, then read the next one.

        `delivered`: the position up to which the stream has written this subscription's changes.
        `idle`: the stream had nothing new this turn (lets a chunk complete on a quiet source whose last
        binlog event is not a transaction end, e.g. right after a binlog rotation). Returns True when done.
        """
        if self.chunk is not None:
            if not self._ready(delivered, idle):
                return False
            chunk = self.chunk
            ahead = self._read_ahead(chunk)
            try:
                self._write(chunk, delivered)
            except BaseException:
                if ahead is not None:
                    wait([ahead])  # its connections are free again before anything else uses them
                raise
            self.chunk = None
            if ahead is not None:
                following = ahead.result()
                if following.last_key is not None:
                    self.chunk = following
                    return False
                # nothing after the written chunk: _read_next finds that again and closes the table
        self._start_count()
        try:
            self.chunk = self._read_next()
        finally:
            self._await_total()
        if self.chunk is None:
            if self.save:
                self.save(self)
            return True
        return False

    def _ready(self, delivered: Position, idle: bool) -> bool:
        if delivered is not None and delivered.commit_seq >= self.chunk.high.commit_seq:
            self.idle_since = None
            return True
        if not idle:
            self.idle_since = None
            return False
        now = time.monotonic()
        if self.idle_since is None:
            self.idle_since = now
            return False
        if now - self.idle_since < IDLE_GRACE_SECONDS:
            return False
        # Quiet for a while and nothing written to the binlog since `high`: nothing left to wait for.
        current = master_status(self.conn)
        if (current["file"], current["pos"]) == (self.chunk.high.binlog_file, self.chunk.high.binlog_pos):
            return True
        self.idle_since = now
        return False

    # -- reading and writing chunks --------------------------------------------------------------------

    def info(self, name) -> TableInfo:
        if name not in self._infos:
            schema, table = name.split(".", 1)
            self._infos[name] = describe(self.conn, schema, table)
            self._convert[name] = row_converter(self._infos[name])
        return self._infos[name]

    def _read_next(self) -> Optional[Chunk]:
        while True:
            remaining = self._remaining_tables()
            if not remaining:
                return None
            name = self.state["table"] if self.state["table"] in remaining else remaining[0]
            if self.state["table"] != name:
                self.state["table"], self.state["last_pk"] = name, None
            info = self.info(name)
            if not info.primary_key:
                self.state["skipped"].append({"table": name, "reason": "no primary key"})
                continue
            chunk = self._read_chunk(info, self.state["last_pk"])
            if chunk.last_key is not None:
                return chunk
            self.state["done_tables"].append(name)  # nothing after last_pk: the table is copied
            self.state["table"], self.state["last_pk"] = None, None
            self._await_total()
            if self.save:
                self.save(self)

    def _read_chunk(self, info: TableInfo, last) -> Chunk:
        """The rows after key `last`, between one low and one high watermark: one chunk to the algorithm.

        A one-integer-column key is read as `readers` ranges at once, each by its own connection: readers-1
        ranges of about chunk_rows keys' worth (the key density seen so far) and an open last range of
        chunk_rows rows, so every read makes progress however sparse the keys. Any other key: one range."""
        table = f"{_quote(info.schema)}.{_quote(info.table)}"
        order = ", ".join(_quote(c) for c in info.primary_key)
        columns = ", ".join(_quote(c) for c in info.columns)
        select = f"SELECT {columns} FROM {table} WHERE "
        n = int(self.chunk_rows)
        cap = n * RANGE_CAP
        base, bounds = self._bounds(info, last, table)
        queries = []
        if bounds:
            key = _quote(info.primary_key[0])
            lower = None if last is None else last[0]
            for upper in bounds:
                where = f"{key} <= %s" if lower is None else f"{key} > %s AND {key} <= %s"
                params = [upper] if lower is None else [lower, upper]
                queries.append((f"{select}{where} ORDER BY {order} LIMIT {cap} LOCK IN SHARE MODE", params))
                lower = upper
            last = [lower]
        where, params = key_condition(info.primary_key, last)
        queries.append((f"{select}{where} ORDER BY {order} LIMIT {n} LOCK IN SHARE MODE", params))
        readers = [self.reader(j) for j in range(len(queries))]
        low = master_status(self.conn)
        if len(queries) == 1:
            raws = [_fetch(readers[0], *queries[0])]
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.readers, thread_name_prefix="fullsync-read")
            futures = [self._pool.submit(_fetch, conn, sql, params) for conn, (sql, params) in zip(readers, queries)]
            raws = [f.result() for f in futures]
        high = master_status(self.conn)
        convert = self._convert[info.name]
        pk = info.primary_key
        rows, parts = [], []
        more = False
        if any(raws):  # no row after `last` at all: the table is copied
            for j, raw in enumerate(raws):
                bounded = j < len(bounds)
                cut = len(raw) >= (cap if bounded else n)
                if bounded and not cut:
                    end = (bounds[j],)  # the range's end even when its last keys are gone
                else:
                    # as read, before the conversion (a BINARY key keeps its padding, as the server compares it)
                    end = tuple(raw[-1][c] for c in pk) if raw else None
                rows.extend(convert(raw))
                if end is not None:
                    if parts and parts[-1][0] == (parts[-2][0] if len(parts) > 1 else 0):
                        parts[-1] = (len(rows), end)  # an empty range goes with the next one: no save of its own
                    else:
                        parts.append((len(rows), end))
                if cut:
                    more = True
                    break  # a range cut short leaves a gap before the next: those rows are read again
        if bounds:
            self._learn_density(info, base, parts)
        last_key = parts[-1][1] if parts else None
        return Chunk(info, rows, Position(low["file"], low["pos"]), Position(high["file"], high["pos"]), last_key,
                     read_at=time.monotonic(), parts=parts, more=more)

    def _read_ahead(self, chunk: Chunk):
        """Start reading the chunk after `chunk` (a Future) while `chunk` is being written, so the server
        produces rows while the sink takes them. Only the read happens early: the state (last_pk, tables
        done) changes after the write, as without it. The early chunk is a chunk of its own between its
        own watermarks, taken after `chunk` was ready; no change it must drop can have been observed
        before it exists: observe() gets only transactions read after this step, which are past its low
        watermark or before it and skipped. None when `chunk` ended its table (the next read decides
        which table comes next)."""
        if not chunk.more:
            return None
        return self._background().submit(self._read_chunk, chunk.table, [_jsonable(v) for v in chunk.last_key])

    def _background(self) -> ThreadPoolExecutor:
        """The one thread reading ahead (or counting) beside the caller's."""
        if self._ahead is None:
            self._ahead = ThreadPoolExecutor(1, thread_name_prefix="fullsync-ahead")
        return self._ahead

    def _width(self, info: TableInfo) -> int:
        """Key values per chunk_rows rows, as last seen in this table (dense keys at first)."""
        return self._widths.get(info.name, int(self.chunk_rows))

    def _bounds(self, info: TableInfo, last, table) -> list:
        """(base, upper ends of the readers-1 bounded ranges after base = `last`); (None, []) when the table
        is read one range at a time (readers=1, or a key that is not one integer column)."""
        if self.readers < 2 or len(info.primary_key) != 1 or info.types[info.primary_key[0]][0] not in INTEGER_KEY_TYPES:
            return None, []
        if last is None:
            key = _quote(info.primary_key[0])
            first = _fetch(self.reader(0), f"SELECT MIN({key}) AS first FROM {table}", [])[0]["first"]
            if first is None:
                return None, []
            base = int(first) - 1
        else:
            base = int(last[0])
        width = self._width(info)
        return base, [base + width * j for j in range(1, self.readers)]

    def _learn_density(self, info: TableInfo, base, parts):
        """The key width of chunk_rows rows from what a read found: rows over the keys they spanned."""
        if not parts:
            return
        rows, end = parts[-1][0], parts[-1][1][0]
        span = int(end) - int(base)
        if rows > 0 and span > 0:
            self._widths[info.name] = max(1, span * int(self.chunk_rows) // rows)

    def _write(self, chunk: Chunk, at: Position):
        info = chunk.table
        pk = info.primary_key
        at = at if at is not None and at.commit_seq >= chunk.high.commit_seq else chunk.high
        changed = chunk.changed

        def keep_row(r):
            return tuple(r[k] for k in pk) not in changed

        parts = chunk.parts if chunk.parts is not None else [(len(chunk.rows), chunk.last_key)]
        schema, table = info.schema, info.table
        for n in range(chunk.written, len(parts)):
            start = parts[n - 1][0] if n else 0
            end, last_key = parts[n]
            rows = chunk.rows[start:end]
            keep = [r for r in rows if keep_row(r)] if changed else rows
            if keep:
                # seq numbered across the whole chunk: its parts share the position `at`
                changes = [RowChange(schema, table, "INSERT", row, None, pk, at, seq=-1 - start - i)
                           for i, row in enumerate(keep)]
                self.sink.write(Batch(changes=changes, end=at, transactions=[(0, len(changes), at)]))
            self.state["last_pk"] = [_jsonable(v) for v in last_key]
            self.state["rows_done"] += len(rows)
            self.state["dropped"] = self.state.get("dropped", 0) + len(rows) - len(keep)
            chunk.written = n + 1
            if self.save:
                self.save(self)


def _jsonable(value):
    """A primary key value as stored in fullsync_state (JSON), read back by pymysql as a query parameter."""
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat(sep=" ") if isinstance(value, datetime.datetime) else value.isoformat()
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, datetime.timedelta):
        return str(value)
    if hasattr(value, "as_tuple"):  # Decimal
        return str(value)
    return value


# -- the Subscription side ----------------------------------------------------------------------------

def tables_of(conn, spec: str) -> list:
    """'schema.table' of every source base table a subscription's `tables` spec selects."""
    from workers.filters import source_tables
    from workers.subscriptions import TableMatcher

    matcher = TableMatcher(spec)
    return [name for name in source_tables(conn) if matcher(*name.split(".", 1))]


def saver(subscription_id) -> Callable:
    """A `save` callback writing the progress to the Subscription row (one UPDATE per chunk)."""
    def save(fullsync: FullSync):
        from console.choices import SyncPhase
        from console.models import Subscription

        fields = {"fullsync_state": fullsync.state, "fullsync_done": fullsync.rows_done,
                  "fullsync_total": max(fullsync.total or 0, fullsync.rows_done)}
        if fullsync.finished:
            from django.utils import timezone

            # The finish time keeps the finished sync's rows/s (Subscription.fullsync_progress) where it ended.
            fields.update(phase=SyncPhase.INCREMENTAL, fullsync_finished=timezone.now())
        Subscription.objects.filter(pk=subscription_id).update(**fields)
    return save


def for_subscription(subscription, sink) -> FullSync:
    """The FullSync of a subscription, resuming from its saved state; marks it started and in FullSync phase."""
    from django.utils import timezone

    from console.choices import SyncPhase
    from console.models import Subscription
    from workers.source import connect_instance

    def connect():
        return connect_instance(subscription.instance)

    state = dict(subscription.fullsync_state or {})
    if not state.get("tables"):
        conn = connect()
        try:
            state = {"tables": tables_of(conn, subscription.tables)}
        finally:
            conn.close()
    fields = {"phase": SyncPhase.FULL_SYNC, "fullsync_state": state}
    if subscription.fullsync_started is None:
        fields["fullsync_started"] = timezone.now()
    Subscription.objects.filter(pk=subscription.pk).update(**fields)
    return FullSync(connect, sink, state["tables"], state=state, save=saver(subscription.pk))


def run_standalone(fullsync: FullSync, stream, sink, wants=None, stop: Callable = None, timeout: float = 0.2):
    """Drive a full sync with a stream of its own (workers.stream.BinlogStream), delivering the stream's
    changes of the wanted tables to `sink` as the dump loop does. Returns the last delivered position once
    `stop(delivered position, finished)` says so (default: when the copy is finished). For tools and tests;
    the dump loop calls observe/step itself."""
    stop = stop or (lambda delivered, finished: finished)
    # Everything before where the stream started is delivered as far as this stream is concerned: on a
    # quiet source a chunk whose high watermark is still there need not wait for the idle grace.
    delivered = getattr(stream, "start_position", None)
    done = False
    while True:
        chunk = fullsync.chunk
        waiting = done or (chunk is not None and (delivered is None or delivered.commit_seq < chunk.high.commit_seq))
        transactions = stream.get(timeout=timeout if waiting else 0)
        if transactions:
            batch = Batch(end=transactions[-1].position)
            for t in transactions:
                picked = [c for c in t.changes if wants is None or wants(c.schema, c.table)]
                if picked:
                    batch.transactions.append((len(batch.changes), len(batch.changes) + len(picked), t.position))
                    batch.changes.extend(picked)
            if batch.changes:
                sink.write(batch)
            delivered = transactions[-1].position
            fullsync.observe(transactions)
        if not done:
            done = fullsync.step(delivered, idle=not transactions)
        if stop(delivered, done):
            return delivered


# -- the dump loop's hook ---------------------------------------------------------------------------------

def attach(runtime, subscription) -> None:
    """Give a subscription runtime its FullSync when the subscription is in the FullSync phase (idempotent).

    Call where the dump loop builds or refreshes a runtime (workers/dump.py _setup and _reload)."""
    from console.choices import SyncPhase

    if subscription.phase == SyncPhase.FULL_SYNC and getattr(runtime, "fullsync", None) is None:
        runtime.fullsync = for_subscription(subscription, runtime.sink)


def advance(runtime, transactions) -> None:
    """Call once per dump-loop turn for every runtime, after delivering `transactions` (possibly empty).

    Observes the turn's transactions, then lets the full sync write its pending chunk (once the runtime's
    succeeded position passed the chunk's high watermark) and read the next one. A failing chunk write
    parks the runtime like a failing delivery (MustBeSuccess retry with backoff); the chunk is retried.
    """
    from workers.sinks import SinkError

    fullsync = getattr(runtime, "fullsync", None)
    if fullsync is None:
        return
    if transactions:
        fullsync.observe(transactions)
    if not runtime.active:
        return
    fullsync.sink = runtime.sink  # the runtime re-opens its sink when the target changes
    try:
        if fullsync.step(runtime.succeeded, idle=not transactions):
            fullsync.close()
            runtime.fullsync = None
    except SinkError as exc:
        runtime.failure = {"error": f"full sync: {exc}", "event": {"fullsync": fullsync.state.get("table")},
                           "commit_seq": 0, "seq": 0}
        runtime._park()
