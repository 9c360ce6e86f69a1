"""Test helper: what a statement did, as the Batches the dump loop would hand a sink.

Reads the real MariaDB binlog between two master positions with
BinLogStreamReader (file/pos, is_mariadb=False, resume_stream=True: the
combination binlog-facts.md found reliable for MariaDB), decodes rows with the
engine's decoder (workers.decoder.fast_images) and builds RowChange /
SchemaChange objects the way workers/events.py defines them: position = the
transaction's end (XID), seq = index inside the transaction.
"""
import uuid
from urllib.parse import urlsplit

import pymysql
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import QueryEvent, XidEvent
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from workers.decoder import fast_images
from workers.events import Batch, Position, RowChange, SchemaChange
from workers.sinks.encoding import parse_json_columns
from workers.source import master_status
from waiting import wait_for  # noqa: F401  (re-exported to this package's tests)


def settings(source_url):
    u = urlsplit(source_url)
    return {"host": u.hostname, "port": u.port or 3306, "user": u.username or "root", "passwd": u.password or ""}


def connect(source_url, db=None):
    s = settings(source_url)
    return pymysql.connect(host=s["host"], port=s["port"], user=s["user"], password=s["passwd"], database=db,
                           charset="utf8mb4", autocommit=True)


class TableInfo:
    """Primary key and JSON columns of source tables (what the engine learns from metadata)."""

    def __init__(self, conn):
        self.conn = conn
        self.cache = {}

    def get(self, schema, table):
        key = (schema, table)
        if key not in self.cache:
            with self.conn.cursor() as cur:
                cur.execute("SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA=%s "
                            "AND TABLE_NAME=%s AND CONSTRAINT_NAME='PRIMARY' ORDER BY ORDINAL_POSITION", key)
                pk = tuple(r[0] for r in cur.fetchall())
                cur.execute("SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE "
                            "CONSTRAINT_SCHEMA=%s AND TABLE_NAME=%s", key)
                json_cols = [c.split("`")[1] for (c,) in cur.fetchall() if c.lower().startswith("json_valid(`")]
            self.cache[key] = (pk, json_cols)
        return self.cache[key]


class Recorder:
    """`with Recorder(url) as r: ...SQL...` then `r.batches()`: every transaction in between, in binlog order."""

    def __init__(self, source_url, schemas=None):
        self.source_url = source_url
        self.schemas = schemas
        self.conn = connect(source_url)
        self.info = TableInfo(self.conn)

    def __enter__(self):
        self.start = master_status(self.conn)
        return self

    def __exit__(self, *exc):
        self.end = master_status(self.conn)

    def changes(self):
        return read_changes(self.source_url, self.start, self.end, self.info, self.schemas)

    def batches(self, per_batch=None):
        """Whole transactions grouped into Batches (all in one when per_batch is None)."""
        txs = group_transactions(self.changes())
        per_batch = per_batch or max(1, len(txs))
        return [make_batch(txs[i:i + per_batch]) for i in range(0, len(txs), per_batch)]


def group_transactions(changes):
    txs, current = [], []
    for c in changes:
        if current and current[-1].position != c.position:
            txs.append(current)
            current = []
        current.append(c)
    if current:
        txs.append(current)
    return txs


def make_batch(transactions):
    batch = Batch()
    for tx in transactions:
        begin = len(batch.changes)
        batch.changes.extend(tx)
        batch.transactions.append((begin, len(batch.changes), tx[0].position))
    batch.end = batch.transactions[-1][2] if batch.transactions else None
    return batch


DDL_TYPES = {"CREATE": "CREATE", "ALTER": "ALTER", "DROP": "ERASE", "TRUNCATE": "TRUNCATE", "RENAME": "RENAME"}


def read_changes(source_url, start, end, info, schemas=None):
    stream = BinLogStreamReader(
        connection_settings=settings(source_url), server_id=100000 + uuid.uuid4().int % 100000,
        log_file=start["file"], log_pos=start["pos"], resume_stream=True, blocking=False, is_mariadb=False,
        only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent, XidEvent, QueryEvent],
    )
    out, pending = [], []
    try:
        for event in stream:
            file, pos = stream.log_file, event.packet.log_pos
            if isinstance(event, (WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent)):
                if schemas and event.schema not in schemas:
                    continue
                pk, json_cols = info.get(event.schema, event.table)
                kind = {WriteRowsEvent: "INSERT", UpdateRowsEvent: "UPDATE", DeleteRowsEvent: "DELETE"}[type(event)]
                for image in fast_images(event):  # the engine's decoding, values as the engine delivers them
                    if kind == "UPDATE":
                        row, old = dict(image[1]), dict(image[0])
                        parse_json_columns(old, json_cols)
                    else:
                        row, old = dict(image), None
                    parse_json_columns(row, json_cols)
                    pending.append(RowChange(event.schema, event.table, kind, row, old, pk, None,
                                             timestamp=event.timestamp))
            elif isinstance(event, XidEvent):
                position = Position(file, pos)
                for i, c in enumerate(pending):
                    c.position, c.seq, c.xid = position, i, event.xid
                out.extend(pending)
                pending = []
            elif isinstance(event, QueryEvent):
                q = event.query.strip()
                word = q.split(None, 1)[0].upper() if q else ""
                if word in DDL_TYPES and (not schemas or event.schema.decode() in schemas if isinstance(
                        event.schema, bytes) else event.schema in (schemas or [event.schema])):
                    schema = event.schema.decode() if isinstance(event.schema, bytes) else event.schema
                    table = ""
                    parts = q.replace("`", "").split()
                    if len(parts) >= 3 and parts[1].upper() == "TABLE":
                        table = parts[2].split(".")[-1]
                    elif len(parts) >= 2 and word == "TRUNCATE":
                        table = parts[1].split(".")[-1]
                    out.append(SchemaChange(schema, table, DDL_TYPES[word], q, Position(file, pos),
                                            timestamp=event.timestamp))
            if (file, pos) >= (end["file"], end["pos"]):
                break
    finally:
        stream.close()
    return out
