"""Message bodies and keys for the message-queue targets (Kafka, RabbitMQ).

One message per row change (as TiCDC's canal-json does), values JSON-safe and
exact through `encoding.json_safe` (DECIMAL as a string of its digits,
BIGINT UNSIGNED as a JSON integer, JSON columns as JSON, bytes as base64, see
docs/types.md). Every message carries its binlog coordinates so a consumer can
deduplicate after an at-least-once redelivery: (file, pos, seq, type) is unique
(type only matters for BUSINESS_KEY_ORDER, where an UPDATE that changes the key
goes out as a DELETE of the old key and an INSERT of the new one, see Keyer.split).

canal-json (Alibaba Canal's flat message, one row per message)::

    {"id": 0, "database": "shop", "table": "orders", "pkNames": ["id"],
     "isDdl": false, "type": "UPDATE", "es": 1700000000000, "ts": 1700000000123,
     "sql": "", "data": [{...after...}], "old": [{...changed columns, before...}],
     "logfileName": "mysql-bin.000003", "logfileOffset": 1234, "gtid": "0-1-42", "seq": 0}

  Unlike Canal, values keep their JSON type (numbers stay numbers) instead of
  all being strings; DDL messages have isDdl true, `sql` set and `data` null.

maxwell::

    {"database": "shop", "table": "orders", "type": "update", "ts": 1700000000,
     "xid": 42, "commit": true, "position": "mysql-bin.000003:1234", "gtid": "0-1-42",
     "seq": 0, "primary_key_columns": ["id"], "primary_key": [7],
     "data": {...after...}, "old": {...changed columns, before...}}

  `commit` is true on the last row of its transaction; DDL is
  {"type": "table-alter" | "table-create" | "table-drop" | "database-…" | "ddl", "sql": …}.

With `with_trx` each transaction is framed by BEGIN and COMMIT messages
(canal-json `"type": "BEGIN"/"COMMIT"`, maxwell `"type": "begin"/"commit"`)
carrying the transaction's position. A transaction delivered in pieces (past
TOWER_TRANSACTION_PIECE_ROWS/_BYTES) is framed once: BEGIN before its first
row, COMMIT after its last, with the position all its rows carry.
"""
import time
from dataclasses import replace as dc_replace

from workers.events import RowChange, SchemaChange
from workers.filters import compile_user_regex

from .encoding import dumps_bytes, json_safe, key_text

PROTOCOLS = ("canal-json", "maxwell")
ORDER_TYPES = ("NO_ORDER", "BUSINESS_KEY_ORDER", "TABLE_ORDER", "DB_ORDER", "INSTANCE_ORDER", "TRANSACTION_ORDER")

_MAXWELL_DDL = {"CREATE": "table-create", "ALTER": "table-alter", "ERASE": "table-drop", "RENAME": "table-alter"}


# Rows go in as decoded: dumps_bytes writes them as json_row would have made them (one pass, no copy).
_dumps = dumps_bytes


def changed_columns(change: RowChange) -> dict:
    """The before values of the columns an UPDATE changed (what canal and maxwell put in `old`)."""
    old = change.old or {}
    after = change.row.get
    return {k: v for k, v in old.items() if after(k) != v}


def canal_json(change, is_last=False) -> bytes:
    pos = change.position
    msg = {
        "id": 0,
        "database": change.schema,
        "table": change.table,
        "pkNames": list(getattr(change, "primary_key", ()) or ()) or None,
        "isDdl": isinstance(change, SchemaChange),
        "type": change.type,
        "es": change.timestamp * 1000,
        "ts": int(time.time() * 1000),
        "sql": change.query if isinstance(change, SchemaChange) else "",
        "data": None,
        "old": None,
        "logfileName": pos.binlog_file,
        "logfileOffset": pos.binlog_pos,
        "gtid": pos.gtid,
        "seq": change.seq,
    }
    if isinstance(change, RowChange):
        msg["data"] = [change.row]
        if change.type == "UPDATE":
            msg["old"] = [changed_columns(change)]
    return _dumps(msg)


_TYPE_TEXT = {kind: dumps_bytes(kind) for kind in ("INSERT", "UPDATE", "DELETE")}


class CanalJson:
    """canal_json for a sink's messages, writing once what every row of a table or of a transaction shares.

    The same bytes as canal_json: its message is one dict written in order and compact, so the text of each
    member, written on its own and put between the same punctuation, is the text it has inside the whole.
    Anything but a plain RowChange (DDL, a value of an unexpected type) is left to canal_json."""

    def __init__(self):
        self._heads = {}  # (schema, table, primary key) -> b'{"id":0, ..., "type":'
        self._last = (None, b"")  # the last position and its b',"logfileName": ..., "seq":', set as one

    def __call__(self, change, is_last=False) -> bytes:
        if change.__class__ is not RowChange:
            return canal_json(change, is_last)
        pk, kind = change.primary_key, _TYPE_TEXT.get(change.type)
        if kind is None or pk.__class__ is not tuple or change.timestamp.__class__ is not int \
                or change.seq.__class__ is not int:
            return canal_json(change, is_last)
        head = self._heads.get((change.schema, change.table, pk))
        if head is None:
            head = self._heads[(change.schema, change.table, pk)] = b"".join((
                b'{"id":0,"database":', dumps_bytes(change.schema), b',"table":', dumps_bytes(change.table),
                b',"pkNames":', dumps_bytes(list(pk) or None), b',"isDdl":false,"type":'))
        pos = change.position
        last, tail = self._last
        if pos is not last:  # a transaction's changes share one Position
            tail = b"".join((
                b',"logfileName":', dumps_bytes(pos.binlog_file), b',"logfileOffset":', dumps_bytes(pos.binlog_pos),
                b',"gtid":', dumps_bytes(pos.gtid), b',"seq":'))
            self._last = (pos, tail)
        old = b"[%s]" % dumps_bytes(changed_columns(change)) if change.type == "UPDATE" else b"null"
        return b'%s%s,"es":%d,"ts":%d,"sql":"","data":[%s],"old":%s%s%d}' % (
            head, kind, change.timestamp * 1000, int(time.time() * 1000), dumps_bytes(change.row), old, tail,
            change.seq)


def maxwell(change, is_last=False) -> bytes:
    pos = change.position
    if isinstance(change, SchemaChange):
        kind = _MAXWELL_DDL.get(change.type, "ddl")
        if not change.table and change.type in ("CREATE", "ERASE"):
            kind = "database-create" if change.type == "CREATE" else "database-drop"
        msg = {"type": kind, "database": change.schema, "table": change.table or None, "sql": change.query,
               "ts": change.timestamp, "position": f"{pos.binlog_file}:{pos.binlog_pos}", "gtid": pos.gtid or None,
               "seq": change.seq}
        return _dumps(msg)
    msg = {
        "database": change.schema,
        "table": change.table,
        "type": change.type.lower(),
        "ts": change.timestamp,
        "xid": change.xid,
        "position": f"{pos.binlog_file}:{pos.binlog_pos}",
        "gtid": pos.gtid or None,
        "seq": change.seq,
        "primary_key_columns": list(change.primary_key),
        "primary_key": [json_safe(v) for v in change.key_values],
        "data": change.row,
    }
    if is_last:
        msg["commit"] = True
    if change.type == "UPDATE":
        msg["old"] = changed_columns(change)
    return _dumps(msg)


def transaction_marker(kind: str, position, protocol: str, timestamp: int = 0) -> bytes:
    """BEGIN/COMMIT framing message for with_trx."""
    if protocol == "maxwell":
        return _dumps({"type": kind.lower(), "ts": timestamp, "position": f"{position.binlog_file}:{position.binlog_pos}",
                       "gtid": position.gtid or None})
    return _dumps({"id": 0, "database": "", "table": "", "pkNames": None, "isDdl": False, "type": kind,
                   "es": timestamp * 1000, "ts": int(time.time() * 1000), "sql": "", "data": None, "old": None,
                   "logfileName": position.binlog_file, "logfileOffset": position.binlog_pos, "gtid": position.gtid})


ENCODERS = {"canal-json": canal_json, "maxwell": maxwell}


def encoder(protocol: str):
    """The message body function of a protocol, for one sink (canal-json's is an object that keeps each
    table's constant text)."""
    if protocol == "canal-json":
        return CanalJson()
    try:
        return ENCODERS[protocol]
    except KeyError:
        raise ValueError(f"unknown protocol '{protocol}', expected one of {', '.join(PROTOCOLS)}") from None


class Keyer:
    """The message key of a change under an MQ rule's order type (None: let the producer spread messages).

    business_keys: a list (or comma string) of columns for every table, a dict
    {'schema.table': [columns]}, or a list of [table regex, [columns]] pairs (what
    filters.mq_rule_options gives; the first regex fully matching `schema.table` wins).
    A table without business keys is keyed by its primary key.
    """

    def __init__(self, order_type="INSTANCE_ORDER", business_keys=None, instance=""):
        order_type = (order_type or "INSTANCE_ORDER").upper()
        if order_type not in ORDER_TYPES:
            raise ValueError(f"unknown order type '{order_type}', expected one of {', '.join(ORDER_TYPES)}")
        self.order_type = order_type
        self.instance = instance or ""
        if isinstance(business_keys, str):
            business_keys = [c.strip() for c in business_keys.split(",") if c.strip()]
        if business_keys and all(isinstance(k, (list, tuple)) and len(k) == 2 for k in business_keys):
            business_keys = [(compile_user_regex(pattern), tuple(cols)) for pattern, cols in business_keys]
            self._by_regex = True
        else:
            self._by_regex = False
        self.business_keys = business_keys or ()
        self._cache = {}

    def _table(self, change) -> tuple:
        """(key columns, key prefix 'schema.table:') of the change's table."""
        table = (change.schema, change.table)
        known = self._cache.get(table)
        if known is None:
            keys = self.business_keys
            name = f"{change.schema}.{change.table}"
            if isinstance(keys, dict):
                keys = keys.get(name) or ()
            elif self._by_regex:
                keys = next((c for regex, c in keys if regex.fullmatch(name)), ())
            cols = tuple(keys) or tuple(getattr(change, "primary_key", ()))
            known = self._cache[table] = (cols, f"{name}:")
        return known

    def split(self, change) -> list:
        """[change], or for BUSINESS_KEY_ORDER an UPDATE that changes the key as [DELETE old, INSERT new].

        Each half is keyed (and so partitioned) by its own key value, so every key's messages stay in one
        partition in binlog order; both halves keep the change's position and seq, and differ in type.
        """
        if (self.order_type != "BUSINESS_KEY_ORDER" or not isinstance(change, RowChange) or change.type != "UPDATE"
                or change.old is None):
            return [change]
        before, after = change.old, change.row
        for c in self._table(change)[0]:
            if not before.get(c) == after.get(c):
                return [dc_replace(change, type="DELETE", row=before, old=None),
                        dc_replace(change, type="INSERT", old=None)]
        return [change]

    def key(self, change):
        order = self.order_type
        if order == "BUSINESS_KEY_ORDER":
            return self._business_key(change)
        if order == "NO_ORDER":
            return None
        if order == "TABLE_ORDER":
            return f"{change.schema}.{change.table}"
        if order == "DB_ORDER":
            return change.schema
        if order == "INSTANCE_ORDER":
            return self.instance
        return f"{change.position.binlog_file}:{change.position.binlog_pos}"  # TRANSACTION_ORDER

    def _business_key(self, change):
        """schema.table plus the key column values, so equal ids of two tables differ."""
        if not isinstance(change, RowChange):
            return f"{change.schema}.{change.table}"
        cols, prefix = self._table(change)
        row = change.row
        if len(cols) == 1:
            return prefix + key_text(row.get(cols[0]))
        return prefix + "-".join([key_text(row.get(c)) for c in cols])


def framed(batch, with_trx: bool):
    """(kind, change, is_last, position) over a batch; kind is 'ROW', or 'BEGIN'/'COMMIT' (with_trx) around each transaction.

    A span is (begin, end, position) for a whole transaction, or (begin, end, position, opens, closes, anchor)
    for a piece of a transaction delivered in pieces (workers/subscriptions.py): BEGIN goes before the piece
    that opens it, COMMIT after the one that closes it (at `anchor`, the transaction's last change written
    before, when the closing piece has none), and `is_last` (maxwell's `commit`) only there."""
    changes = batch.changes
    spans = batch.transactions or _guess_transactions(changes)
    for span in spans:
        begin, end, position = span[0], span[1], span[2]
        if len(span) == 3:
            opens = closes = True
            anchor = None
        else:
            opens, closes, anchor = span[3], span[4], span[5]
        if with_trx and opens:
            yield "BEGIN", changes[begin] if begin < end else None, False, position
        for i in range(begin, end):
            yield "ROW", changes[i], closes and i == end - 1, position
        if with_trx and closes:
            yield "COMMIT", changes[end - 1] if begin < end else anchor, True, position


def _guess_transactions(changes):
    """Transactions from positions when the engine did not list them: consecutive changes sharing a position."""
    spans, start = [], 0
    for i in range(1, len(changes) + 1):
        if i == len(changes) or changes[i].position != changes[start].position:
            spans.append((start, i, changes[start].position))
            start = i
    return spans
