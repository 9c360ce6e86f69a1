"""mongodb://host:port/db?collection=<template>

One document per source row, keyed by the primary key: `_id` is the key value
(single-column key) or a sub-document {col: value, …} in key order (composite
key); a table without a primary key uses the md5 of the row as `_id`.
INSERT and UPDATE replace the document (upsert), DELETE deletes it, and an
UPDATE that changes the key deletes the old document first. Changes go out as
ordered bulk_write calls of at most `batch_size` operations, per collection,
so replays after a crash converge on the same documents. A unique index on the
key columns is created the first time a collection is written.

Both the database (URI path) and the collection are templates
(`{$SchemaName}`, `{$TableName}`); defaults `{$SchemaName}` / `{$TableName}`.

URI query parameters of Tower: collection, batch_size (default 1000), ddl
(1: TRUNCATE empties and DROP TABLE drops the collection; default 0). Every
other parameter goes to pymongo: only those of the allow-list in options.py (w, journal,
authSource, …; never a tls*File, nor an authMechanism that reaches the machine's credentials), which
Sink.__init__ enforces.

Values (docs/types.md): integers as int64, or Decimal128 beyond int64 (BIGINT
UNSIGNED); DECIMAL as Decimal128 when its digits fit (34), else its exact text;
DATETIME/TIMESTAMP/DATE/TIME as text (BSON dates keep only milliseconds);
BLOB/BINARY as binary; JSON as a document; SET as a sorted array.
"""
import datetime
import decimal
import hashlib
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import pymongo
from bson.decimal128 import Decimal128
from pymongo.errors import BulkWriteError, ConfigurationError, DocumentTooLarge, OperationFailure, PyMongoError

from workers.events import RowChange, SchemaChange

from .base import Sink, SinkError
from .encoding import dumps, json_safe
from .kafka import _flag
from .templates import render

_OWN_PARAMS = {"collection", "batch_size", "ddl"}
_INT64 = (-(1 << 63), (1 << 63) - 1)
_DECIMAL128_DIGITS = 34


def bson_value(value):
    """A decoded binlog value as the BSON value stored for it (exact; see the module docstring)."""
    if value is None or isinstance(value, (bool, str, float, bytes)):
        return value
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else Decimal128(str(value))
    if isinstance(value, decimal.Decimal):
        digits = value.as_tuple().digits
        if len(digits) <= _DECIMAL128_DIGITS and value.is_finite():
            return Decimal128(value)
        return format(value, "f")
    if isinstance(value, dict):
        return {str(k): bson_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [bson_value(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (datetime.date, datetime.time, datetime.timedelta)):
        return json_safe(value)
    return json_safe(value)


def document(row: dict) -> dict:
    return {name: bson_value(value) for name, value in row.items()}


def document_id(row: dict, primary_key: tuple):
    if not primary_key:
        return hashlib.md5(dumps(row).encode()).hexdigest()
    if len(primary_key) == 1:
        return bson_value(row.get(primary_key[0]))
    return {c: bson_value(row.get(c)) for c in primary_key}


class MongoSink(Sink):
    def __init__(self, uri, options=None, subscription=None):
        super().__init__(uri, options, subscription)
        parts = urlsplit(uri)
        pairs = parse_qsl(parts.query)
        own = {**{k: v for k, v in pairs if k in _OWN_PARAMS}, **self.options}
        self.database = unquote(parts.path.lstrip("/")) or "{$SchemaName}"
        self.collection = own.get("collection") or "{$TableName}"
        self.batch_size = int(own.get("batch_size", 1000))
        self.ddl = _flag(own.get("ddl", "0"))
        self.host = parts.hostname or "localhost"
        self.client_uri = urlunsplit((parts.scheme, parts.netloc, "/", urlencode(
            [(k, v) for k, v in pairs if k not in _OWN_PARAMS]), ""))
        self._client = None
        self._indexed = set()

    @property
    def client(self):
        if self._client is None:
            try:
                # a URI's own serverSelectionTimeoutMS wins over this default
                timeout = {} if "serverselectiontimeoutms" in self.client_uri.lower() else {
                    "serverSelectionTimeoutMS": 10000}
                self._client = pymongo.MongoClient(self.client_uri, **timeout)
            except (ConfigurationError, ValueError) as exc:
                raise SinkError(f"mongodb URI: {exc}", retryable=False) from None
        return self._client

    def namespace(self, change):
        return render(self.database, change), render(self.collection, change)

    def operations(self, change: RowChange) -> list:
        """The bulk_write operations for one row change."""
        pk = change.primary_key
        if change.type == "DELETE":
            return [pymongo.DeleteOne({"_id": document_id(change.row, pk)})]
        ops = []
        if change.type == "UPDATE" and change.old is not None:
            old_id = document_id(change.old, pk)
            new_id = document_id(change.row, pk)
            if old_id != new_id:
                ops.append(pymongo.DeleteOne({"_id": old_id}))
        doc = document(change.row)
        doc["_id"] = document_id(change.row, pk)
        ops.append(pymongo.ReplaceOne({"_id": doc["_id"]}, doc, upsert=True))
        return ops

    def write(self, batch) -> None:
        pending = {}  # (db, collection) -> [ops] in batch order; collections are independent of each other
        try:
            for change in batch.changes:
                if isinstance(change, SchemaChange):
                    self._flush(pending)
                    self._schema_change(change)
                    continue
                ns = self.namespace(change)
                if ns not in self._indexed:
                    self._ensure_index(ns, change)
                pending.setdefault(ns, []).extend(self.operations(change))
            self._flush(pending)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors") or [{}]
            raise SinkError(f"MongoDB bulk write: {errors[0].get('errmsg', 'write error')} "
                            f"(code {errors[0].get('code')})", retryable=errors[0].get("code") != 11000) from None
        except PyMongoError as exc:
            raise SinkError(f"MongoDB at {self.host}: {type(exc).__name__}: {str(exc)[:300]}") from None
        except DocumentTooLarge as exc:  # a row past the server's document limit (maxBsonObjectSize, 16 MB)
            raise SinkError(f"MongoDB at {self.host} refuses the document: {str(exc)[:300]} (the server's "
                            f"maxBsonObjectSize is {self._max_document()} bytes)", retryable=False) from None

    def _max_document(self):
        try:
            return self.client.admin.command("hello").get("maxBsonObjectSize", 16 * 1024 * 1024)
        except PyMongoError:
            return 16 * 1024 * 1024

    def _flush(self, pending):
        for (db, coll), ops in pending.items():
            collection = self.client[db][coll]
            for start in range(0, len(ops), self.batch_size):
                collection.bulk_write(ops[start:start + self.batch_size], ordered=True)
        pending.clear()

    def _ensure_index(self, ns, change):
        pk = change.primary_key
        if pk and all(c in change.row for c in pk):
            try:
                self.client[ns[0]][ns[1]].create_index([(c, pymongo.ASCENDING) for c in pk], unique=True,
                                                       name="tower_pk")
            except OperationFailure as exc:
                raise SinkError(f"MongoDB: cannot create the unique key index on {ns[0]}.{ns[1]}: "
                                f"{str(exc)[:300]}", retryable=False) from None
        self._indexed.add(ns)

    def _schema_change(self, change):
        if not self.ddl or not change.table:
            return
        db, coll = self.namespace(change)
        if change.type == "TRUNCATE":
            self.client[db][coll].delete_many({})
        elif change.type == "ERASE":
            self.client[db][coll].drop()
            self._indexed.discard((db, coll))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


SINK_CLASS = MongoSink
