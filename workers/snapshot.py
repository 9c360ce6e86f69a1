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
import datetime
import json
import logging
import struct
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from workers.events import Batch, Position, RowChange
from workers.source import describe_table, master_status

log = logging.getLogger(__name__)

CHUNK_ROWS = 2000
IDLE_GRACE_SECONDS = 1.0


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


def row_converter(info: TableInfo) -> Callable[[tuple], dict]:
    """SELECT tuple -> the row dict the binlog reader would give for the same values."""
    convert = []
    for name in info.columns:
        data_type, column_type = info.types[name]
        convert.append((name, _value_converter(data_type, column_type)))

    def to_row(values):
        return {name: (f(v) if f is not None and v is not None else v) for (name, f), v in zip(convert, values)}

    return to_row


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
    if data_type in ("date", "datetime", "timestamp"):
        # pymysql gives the text back for zero dates ('0000-00-00'); the binlog reader gives None
        return lambda v: None if isinstance(v, str) else v
    if data_type == "binary":
        return lambda v: v.rstrip(b"\x00") if isinstance(v, bytes) else v
    return None


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
    table: TableInfo
    rows: list  # row dicts
    low: Position
    high: Position
    last_key: Optional[tuple]
    changed: set = field(default_factory=set)
    read_at: float = 0.0


class FullSync:
    """The full sync of one subscription. `state` is Subscription.fullsync_state (a dict, updated in place)."""

    def __init__(self, connect: Callable, sink, tables: list, state: dict = None, chunk_rows: int = CHUNK_ROWS,
                 save: Callable = None):
        self.connect = connect  # () -> a pymysql connection to the source
        self.sink = sink
        self.chunk_rows = chunk_rows
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

    def close(self):
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001
                pass
            self._conn = None

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
            total = 0
            with self.conn.cursor() as cur:
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
            self.total = self.state["total"] = total
        return self.total

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
            self._write(self.chunk, delivered)
            self.chunk = None
        if self.total is None:
            self.estimate_total()
        self.chunk = self._read_next()
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
            if chunk.rows:
                return chunk
            self.state["done_tables"].append(name)  # nothing after last_pk: the table is copied
            self.state["table"], self.state["last_pk"] = None, None
            if self.save:
                self.save(self)

    def _read_chunk(self, info: TableInfo, last) -> Chunk:
        where, params = key_condition(info.primary_key, last)
        order = ", ".join(_quote(c) for c in info.primary_key)
        columns = ", ".join(_quote(c) for c in info.columns)
        sql = (f"SELECT {columns} FROM {_quote(info.schema)}.{_quote(info.table)} WHERE {where} "
               f"ORDER BY {order} LIMIT {int(self.chunk_rows)} LOCK IN SHARE MODE")
        low = master_status(self.conn)
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            raw = cur.fetchall()
        high = master_status(self.conn)
        convert = self._convert[info.name]
        rows = [convert(r) for r in raw]
        pk_index = [info.columns.index(c) for c in info.primary_key]
        last_key = tuple(raw[-1][i] for i in pk_index) if raw else None
        return Chunk(info, rows, Position(low["file"], low["pos"]), Position(high["file"], high["pos"]), last_key,
                     read_at=time.monotonic())

    def _write(self, chunk: Chunk, at: Position):
        info = chunk.table
        pk = info.primary_key
        keep = [r for r in chunk.rows if tuple(r[k] for k in pk) not in chunk.changed]
        at = at if at is not None and at.commit_seq >= chunk.high.commit_seq else chunk.high
        if keep:
            changes = [RowChange(info.schema, info.table, "INSERT", row, None, pk, at, seq=-1 - i)
                       for i, row in enumerate(keep)]
            self.sink.write(Batch(changes=changes, end=at, transactions=[(0, len(changes), at)]))
        self.state["last_pk"] = [_jsonable(v) for v in chunk.last_key]
        self.state["rows_done"] += len(chunk.rows)
        self.state["dropped"] = self.state.get("dropped", 0) + len(chunk.rows) - len(keep)
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
    delivered = None
    done = False
    while True:
        transactions = stream.get(timeout=timeout)
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
