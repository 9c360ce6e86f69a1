"""clickhouse://[user:pass@]host:port/db?table=<template>

Row changes become rows of a ReplacingMergeTree table ordered by the source's
primary key, with two extra columns:

    _tower_version UInt64  the change's Position.commit_seq
                           ((binlog file number << 32) | end position of its transaction)
    _tower_deleted UInt8   1 for a DELETE (the deleted row's values, flagged)

so the current state of a table is ``SELECT … FROM t FINAL WHERE _tower_deleted = 0``
and a replay after a crash writes rows with the same (key, version): idempotent.
Inside one transaction the same key can change several times; the sink keeps
only the last change of each key per batch (the order MySQL applied them), so
each (key, version) appears once and no in-transaction sequence is needed in
the version. An UPDATE that changes the primary key writes a deleted row for
the old key. Full-sync rows (workers/snapshot.py) carry the commit_seq of the
binlog position they were read at, so any later streamed change wins.

Engine: ``ReplacingMergeTree(_tower_version, _tower_deleted)`` on servers that
have it (23.2+; FINAL then drops deleted rows by itself),
``ReplacingMergeTree(_tower_version)`` before (18.16 here). Types follow
clickhouse_types.py (DateTime64 and Decimal256 when the server has them).

URI query parameters:
    table           table name template (default `{$TableName}`); the path is the database
                    (default `{$SchemaName}`)
    create          1 (default): create the database and table from the source's columns
    ddl             1: apply ALTER TABLE … ADD/DROP/MODIFY COLUMN and TRUNCATE (default 0)
    batch_size      rows per INSERT statement (default 10000)
    flush_interval  seconds: the longest a change should wait in the engine before a write
                    (a hint the engine reads as `max_batch_seconds`; default 1)

Options read: `source` (a mysql:// URL) or the subscription's instance, to read
the source table's columns (information_schema) when creating a table.
Any other setting is refused (options.py): the client is built from the URI's host, port and credentials.
"""
import re
from urllib.parse import parse_qs, unquote, urlsplit

from workers.events import RowChange, SchemaChange
from workers.source import describe_table

from . import clickhouse_types as types
from .base import Sink, SinkError
from .kafka import _flag
from .templates import compiled, render

VERSION_COLUMN = "_tower_version"
DELETED_COLUMN = "_tower_deleted"


def quote_name(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def create_table_sql(db: str, table: str, columns: list, features: types.Features) -> str:
    """CREATE TABLE text for the source columns (list of clickhouse_types.Column) on a server with `features`."""
    keys = [c.name for c in columns if c.is_key]
    if not keys:
        raise SinkError(f"ClickHouse target needs a primary key: {db}.{table} has none", retryable=False)
    cols = [f"{quote_name(c.name)} {types.ch_type(c, features)}" for c in columns]
    cols += [f"{VERSION_COLUMN} UInt64", f"{DELETED_COLUMN} UInt8"]
    engine = (f"ReplacingMergeTree({VERSION_COLUMN}, {DELETED_COLUMN})" if features.is_deleted
              else f"ReplacingMergeTree({VERSION_COLUMN})")
    return (f"CREATE TABLE IF NOT EXISTS {quote_name(db)}.{quote_name(table)} ({', '.join(cols)}) "
            f"ENGINE = {engine} ORDER BY ({', '.join(quote_name(k) for k in keys)})")


def current_state_sql(db: str, table: str, columns) -> str:
    names = ", ".join(quote_name(c) for c in columns)
    return f"SELECT {names} FROM {quote_name(db)}.{quote_name(table)} FINAL WHERE {DELETED_COLUMN} = 0"


def insert_sql(db: str, table: str, columns) -> str:
    return f"INSERT INTO {quote_name(db)}.{quote_name(table)} ({', '.join(quote_name(c) for c in columns)}) VALUES"


# -- ALTER TABLE clauses a MySQL DDL carries (ADD/DROP/MODIFY COLUMN) ------------------------------

_STOP_WORDS = {"NOT", "NULL", "DEFAULT", "COMMENT", "AFTER", "FIRST", "AUTO_INCREMENT", "PRIMARY", "UNIQUE",
               "CHARACTER", "CHARSET", "COLLATE", "ON", "GENERATED", "AS", "CHECK", "INVISIBLE", "KEY", "REFERENCES"}
_CLAUSE = re.compile(r"^(ADD|DROP|MODIFY)\s+(?:COLUMN\s+)?(?:IF\s+(?:NOT\s+)?EXISTS\s+)?(`[^`]+`|\w+)\s*(.*)$",
                     re.I | re.S)


def _split_top_level(text: str) -> list:
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def alter_columns(query: str) -> list:
    """[('ADD'|'DROP'|'MODIFY', column name, Column or None)] from `ALTER TABLE t …`; other clauses ignored."""
    m = re.match(r"^\s*ALTER\s+(?:ONLINE\s+|IGNORE\s+)*TABLE\s+(?:`[^`]+`|\S+)\s+(.*)$", query, re.I | re.S)
    if not m:
        return []
    result = []
    for clause in _split_top_level(m.group(1)):
        c = _CLAUSE.match(clause)
        if not c:
            continue
        action, name, rest = c.group(1).upper(), c.group(2).strip("`"), c.group(3)
        if name.upper() in ("INDEX", "KEY", "PRIMARY", "UNIQUE", "CONSTRAINT", "FOREIGN", "PARTITION", "FULLTEXT",
                            "SPATIAL", "CHECK"):
            continue
        if action == "DROP":
            result.append((action, name, None))
            continue
        words, type_words = rest.split(), []
        for w in words:
            if w.upper().rstrip(",") in _STOP_WORDS:
                break
            type_words.append(w)
        column_type = " ".join(type_words)
        is_json = column_type.lower().startswith("json")
        nullable = not re.search(r"\bNOT\s+NULL\b", rest, re.I)
        result.append((action, name, types.Column(name, column_type, nullable, False, is_json)))
    return result


def describe_source(conn, schema: str, table: str) -> list:
    """The source table's columns (clickhouse_types.Column) from information_schema, in table order."""
    return [types.Column(c.name, c.column_type, c.nullable, c.primary_key, c.data_type == "json")
            for c in describe_table(conn, schema, table).columns]


class ClickHouseSink(Sink):
    def __init__(self, uri, options=None, subscription=None):
        super().__init__(uri, options, subscription)
        parts = urlsplit(uri)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        opts = {**query, **self.options}
        self.host, self.port = parts.hostname or "localhost", parts.port or 9000
        self.user, self.password = unquote(parts.username or "default"), unquote(parts.password or "")
        self.database = unquote(parts.path.lstrip("/")) or "{$SchemaName}"
        self.table = opts.get("table") or "{$TableName}"
        self.create = _flag(opts.get("create", "1"))
        self.ddl = _flag(opts.get("ddl", "0"))
        self.batch_size = int(opts.get("batch_size", 10000))
        self.max_batch_seconds = float(opts.get("flush_interval", 1))
        self.max_batch_rows = self.batch_size
        self.source = opts.get("source")
        self._client = None
        self.features = None
        self._tables = {}  # (db, table) -> {ch column name: converter}
        self._names_by_table = all(part[0] in ("SchemaName", "TableName") for name in (self.database, self.table)
                                   for part in compiled(name).parts if isinstance(part, tuple))

    # -- connections ----------------------------------------------------------------------------
    def connect(self):
        """The ClickHouse client (clickhouse-driver's, or any object with the same `execute`)."""
        from clickhouse_driver import Client

        return Client(host=self.host, port=self.port, user=self.user, password=self.password,
                      connect_timeout=5, send_receive_timeout=60, settings={"strings_as_bytes": False})

    @property
    def client(self):
        if self._client is None:
            self._client = self.connect()
            self.features = types.Features.for_version(self._client.execute("SELECT version()")[0][0])
        return self._client

    def source_connection(self):
        from workers import source

        if self.source:
            u = urlsplit(self.source)
            return source.connect(u.hostname, u.port or 3306, unquote(u.username or "root"), unquote(u.password or ""))
        instance = getattr(self.subscription, "instance", None)
        if instance is None:
            raise SinkError("ClickHouse target cannot create a table: no source to read its columns from",
                            retryable=False)
        return source.connect_instance(instance)

    # -- tables ---------------------------------------------------------------------------------
    def ch_columns(self, db, table) -> dict:
        rows = self.client.execute(
            "SELECT name, type FROM system.columns WHERE database = %(db)s AND table = %(table)s",
            {"db": db, "table": table})
        return dict(rows)

    def table_for(self, change) -> tuple:
        """(db, table, {column: converter}) for a change's target table, creating it when asked."""
        db, table = render(self.database, change), render(self.table, change)
        known = self._tables.get((db, table))
        if known is None:
            existing = self.ch_columns(db, table)
            # The source's column types decide value conversion (BIT, SET, DATETIME(6)…), also for a table
            # that exists already; without a source, the ClickHouse types are all there is.
            source_columns = self._describe(change.schema, change.table) if self._has_source() else None
            if not existing:
                if not self.create:
                    raise SinkError(f"ClickHouse table {db}.{table} does not exist (create=0)", retryable=False)
                if source_columns is None:
                    raise SinkError("ClickHouse target cannot create a table: no source to read its columns from",
                                    retryable=False)
                self.client.execute(f"CREATE DATABASE IF NOT EXISTS {quote_name(db)}")
                self.client.execute(create_table_sql(db, table, source_columns, self.features))
                existing = self.ch_columns(db, table)
            known = self._tables[(db, table)] = self._converters(existing, source_columns)
        return db, table, known

    def _has_source(self) -> bool:
        return bool(self.source) or getattr(self.subscription, "instance", None) is not None

    def _describe(self, schema, table):
        conn = self.source_connection()
        try:
            columns = describe_source(conn, schema, table)
        finally:
            conn.close()
        if not columns:
            raise SinkError(f"source table {schema}.{table} not found (to create its ClickHouse table)",
                            retryable=False)
        return columns

    def _converters(self, ch_columns: dict, source_columns=None) -> dict:
        by_name = {c.name: c for c in source_columns or ()}
        result = {}
        for name, ch_type in ch_columns.items():
            if name in (VERSION_COLUMN, DELETED_COLUMN):
                continue
            column = by_name.get(name) or _column_from_ch_type(name, ch_type)
            result[name] = types.converter(column, self.features)
        return result

    # -- writing --------------------------------------------------------------------------------
    def write(self, batch) -> None:
        try:
            self._write(batch)
        except SinkError:
            raise
        except Exception as exc:  # driver and network errors: message without credentials
            self._client = None
            raise SinkError(f"ClickHouse at {self.host}:{self.port}: {type(exc).__name__}: "
                            f"{str(exc).splitlines()[0][:300] if str(exc) else ''}") from None

    def _write(self, batch):
        pending = {}  # (db, table) -> {key: (version, deleted, row)}, last change per key wins
        position = version = source_table = None
        for change in batch.changes:
            if change.__class__ is not RowChange:
                if isinstance(change, SchemaChange):
                    self._flush(pending)
                    self._schema_change(change)
                    source_table = None
                    continue
                if not isinstance(change, RowChange):
                    continue
            pk = change.primary_key
            if not pk:
                raise SinkError(f"ClickHouse target needs a primary key: {change.schema}.{change.table} has none",
                                retryable=False)
            # the target table of the change before, when the names depend only on the source table
            if not self._names_by_table or (change.schema, change.table) != source_table:
                db, table, _ = self.table_for(change)
                rows = pending.setdefault((db, table), {})
                source_table = (change.schema, change.table)
            if change.position is not position:  # a transaction's changes share one Position
                position = change.position
                version = position.commit_seq
            row, kind = change.row, change.type
            # key_values and old_key_values, without their generator for the usual one-column key
            key = (row.get(pk[0]),) if len(pk) == 1 else change.key_values
            if kind == "DELETE":
                rows[key] = (version, 1, row)
                continue
            if kind == "UPDATE" and change.old is not None:
                before = change.old or row
                old_key = (before.get(pk[0]),) if len(pk) == 1 else change.old_key_values
                if old_key != key:
                    rows[old_key] = (version, 1, change.old)
            rows[key] = (version, 0, row)
        self._flush(pending)

    def _flush(self, pending):
        for (db, table), by_key in pending.items():
            converters = self._tables[(db, table)]
            entries = list(by_key.values())
            rows = [row for _, _, row in entries]
            # Columnar, as the driver sends them: it would otherwise transpose the rows itself, in Python.
            data = []
            for name, convert in converters.items():
                if convert is types.same:
                    data.append([row.get(name) for row in rows])
                    continue
                keeps = getattr(convert, "keeps", ())
                data.append([value if (value := row.get(name)).__class__ in keeps else convert(value)
                             for row in rows])
            data.append([version for version, _, _ in entries])
            data.append([deleted for _, deleted, _ in entries])
            columns = list(converters) + [VERSION_COLUMN, DELETED_COLUMN]
            if len(rows) <= self.batch_size:
                self.insert(db, table, columns, data)
                continue
            for start in range(0, len(rows), self.batch_size):
                self.insert(db, table, columns, [values[start:start + self.batch_size] for values in data])
        pending.clear()

    def insert(self, db, table, columns, data):
        """One INSERT of `data`: a list of values per column, in `columns` order."""
        self.client.execute(insert_sql(db, table, columns), data, columnar=True)

    # -- DDL ------------------------------------------------------------------------------------
    def _schema_change(self, change):
        if not self.ddl or not change.table:
            return
        db, table = render(self.database, change), render(self.table, change)
        existing = self.ch_columns(db, table)
        if not existing:
            return  # created from the source's columns at its first row
        target = f"{quote_name(db)}.{quote_name(table)}"
        if change.type == "TRUNCATE":
            self.client.execute(f"TRUNCATE TABLE {target}")
        elif change.type == "ALTER":
            for action, name, column in alter_columns(change.query):
                if action == "ADD" and name not in existing:
                    self.client.execute(f"ALTER TABLE {target} ADD COLUMN {quote_name(name)} "
                                        f"{types.ch_type(column, self.features)}")
                elif action == "DROP" and name in existing:
                    self.client.execute(f"ALTER TABLE {target} DROP COLUMN {quote_name(name)}")
                elif action == "MODIFY" and name in existing and not _is_key(existing[name]):
                    self.client.execute(f"ALTER TABLE {target} MODIFY COLUMN {quote_name(name)} "
                                        f"{types.ch_type(column, self.features)}")
            self._tables.pop((db, table), None)  # columns and converters re-read at the next row

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.disconnect()
            except Exception:
                pass
            self._client = None


def _is_key(ch_type: str) -> bool:
    return not ch_type.startswith("Nullable(")


def _column_from_ch_type(name: str, ch_type: str) -> types.Column:
    """A Column good enough to convert values into an existing ClickHouse column (when the source is not described)."""
    base = ch_type[9:-1] if ch_type.startswith("Nullable(") else ch_type
    mysql = {
        "Int8": "tinyint", "Int16": "smallint", "Int32": "int", "Int64": "bigint",
        "UInt8": "tinyint unsigned", "UInt16": "smallint unsigned", "UInt32": "int unsigned",
        "UInt64": "bigint unsigned", "Float32": "float", "Float64": "double", "Date": "date", "Date32": "date",
        "DateTime('UTC')": "datetime", "DateTime": "datetime",
    }.get(base)
    if mysql is None and base.startswith("Decimal"):
        mysql = "decimal" + base[7:].replace(" ", "")
    if mysql is None and base.startswith("DateTime64"):
        mysql = f"datetime({re.findall(r'[0-9]+', base)[0]})"
    return types.Column(name, mysql or "text", ch_type.startswith("Nullable("), not ch_type.startswith("Nullable("))


SINK_CLASS = ClickHouseSink
