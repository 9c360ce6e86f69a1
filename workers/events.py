"""What the dump loop hands to sinks: row changes and DDL, each with its binlog position.

A change's `position` is the binlog coordinate of the *transaction end*
(file, end position of its XID/COMMIT event): the only places a reader can
resume from. `seq` orders changes inside that transaction, so
(file number, pos, seq) is unique and monotonic over the binlog; sinks that
need a version or a dedupe key derive it from `commit_seq` and `seq`.
"""
import datetime
from dataclasses import dataclass, field
from typing import Any, Optional

from pymysqlreplication.constants import FIELD_TYPE, NONE_SOURCE
from pymysqlreplication.row_event import RowsEvent

_STRING_TYPES = (FIELD_TYPE.VARCHAR, FIELD_TYPE.STRING, FIELD_TYPE.BLOB)


def string_encoding(column):
    """The Python codec of a table-map column's charset, or None for bytes kept as they are (binary)."""
    name = column.character_set_name
    if name is None:
        return "utf-8"
    encoding = RowsEvent.charset_to_encoding(name)
    try:
        b"a".decode(encoding, "ignore")
    except LookupError:
        return None
    return encoding


class LibraryLosses:
    """Which columns of a table map the library decodes differently from what the server holds, so that
    row_images can restore them: binary strings (it gives '' for an empty value), YEAR (it gives 1900 for
    the zero year; 1900 itself is not a YEAR value), TIMESTAMP (it gives 1970-01-01 00:00:00 for the zero
    timestamp, outside TIMESTAMP's range) and negative TIME with fractional seconds (it gives -01:00:00.999
    for -01:00:00.001). An empty SET is told by the library's none sources. docs/types.md lists them."""

    __slots__ = ("raw", "years", "stamps", "times")

    def __init__(self, columns=()):
        self.raw = frozenset(c.name for c in columns if c.type in _STRING_TYPES and string_encoding(c) is None)
        self.years = frozenset(c.name for c in columns if c.type == FIELD_TYPE.YEAR)
        self.stamps = frozenset(c.name for c in columns if c.type in (FIELD_TYPE.TIMESTAMP, FIELD_TYPE.TIMESTAMP2))
        self.times = frozenset(c.name for c in columns if c.type == FIELD_TYPE.TIME2 and getattr(c, "fsp", 0))

    @classmethod
    def of(cls, columns):
        """The losses of a table map, worked out once: kept on its first Column (the library makes new Column
        objects for every TableMap event, so this is per table map, like the generated decoders)."""
        if not columns:
            return cls()
        losses = columns[0].__dict__.get("_tower_library_losses")
        if losses is None:
            losses = columns[0].__dict__["_tower_library_losses"] = cls(columns)
        return losses


def row_images(rows, losses=LibraryLosses()):
    """python-mysql-replication's rows (`event.rows`) as the stream's row images: a values dict per written
    or deleted row, a (before, after) pair per updated row (the shape workers.decoder.fast_images returns).

    Values are the server's: the library's empty SET (None, with none source "empty set") becomes an empty
    set, its empty binary value ('') b'' and its zero YEAR (1900) 0 (see LibraryLosses)."""
    if rows and "after_values" in rows[0]:
        return [(_exact(r["before_values"], r.get("before_none_sources"), losses),
                 _exact(r["after_values"], r.get("after_none_sources"), losses)) for r in rows]
    return [_exact(r["values"], r.get("none_sources"), losses) for r in rows]


def _exact(values, none_sources, losses):
    empty_sets = [n for n, why in none_sources.items() if why == NONE_SOURCE.EMPTY_SET] if none_sources else ()
    empty_raw = [n for n in losses.raw if values.get(n) == ""]
    zero_years = [n for n in losses.years if values.get(n) == 1900]
    zero_stamps = [n for n in losses.stamps if values.get(n) == _EPOCH]
    negative_times = [n for n in losses.times if _negative_fraction(values.get(n))]
    if not empty_sets and not empty_raw and not zero_years and not zero_stamps and not negative_times:
        return values
    values = dict(values)
    for name in empty_sets:
        values[name] = set()
    for name in empty_raw:
        values[name] = b""
    for name in zero_years:
        values[name] = 0
    for name in zero_stamps:
        values[name] = None  # the zero timestamp: null, as every zero date (docs/types.md)
    for name in negative_times:
        # the library's -(I + g) for the server's -(I + f): its fraction g is 1 - f
        magnitude = -values[name]
        whole = datetime.timedelta(days=magnitude.days, seconds=magnitude.seconds)
        values[name] = -(whole + datetime.timedelta(microseconds=1_000_000 - magnitude.microseconds))
    return values


_EPOCH = datetime.datetime(1970, 1, 1)
_NO_TIME = datetime.timedelta(0)


def _negative_fraction(value) -> bool:
    return value.__class__ is datetime.timedelta and value < _NO_TIME and (-value).microseconds != 0


@dataclass(frozen=True, order=True)
class Position:
    binlog_file: str = ""
    binlog_pos: int = 0
    gtid: str = ""  # GTID of the transaction (MariaDB 'd-s-n' or MySQL 'uuid:n'), "" when unknown

    @property
    def file_number(self) -> int:
        suffix = self.binlog_file.rsplit(".", 1)[-1]
        return int(suffix) if suffix.isdigit() else 0

    @property
    def commit_seq(self) -> int:
        """Monotonic in binlog order: (file number << 32) | end position (docs/compatibility.md, "Commit sequence")."""
        return (self.file_number << 32) | self.binlog_pos


@dataclass
class RowChange:
    schema: str
    table: str
    type: str  # "INSERT" | "UPDATE" | "DELETE"
    row: dict  # the after image (INSERT, UPDATE) or the deleted row (DELETE)
    old: Optional[dict]  # the before image of an UPDATE, else None
    primary_key: tuple  # primary key column names, in key order ((): the table has none)
    position: Position
    seq: int = 0  # index of this change inside its transaction
    timestamp: int = 0  # event timestamp, seconds since the epoch
    xid: int = 0

    @property
    def key_values(self) -> tuple:
        return tuple(self.row.get(c) for c in self.primary_key)

    @property
    def old_key_values(self) -> tuple:
        return tuple((self.old or self.row).get(c) for c in self.primary_key)


@dataclass
class SchemaChange:
    schema: str
    table: str  # may be "" for database-level statements
    type: str  # "CREATE" | "ALTER" | "ERASE" | "TRUNCATE" | "RENAME" | "CINDEX" | "DINDEX" | "QUERY"
    query: str
    position: Position
    seq: int = 0
    timestamp: int = 0


class UnreadableRows(SchemaChange):
    """Rows of a table that the schema history cannot name at their position (a statement it refused, a
    column count or type that does not match): never delivered, they park each subscription that wants the
    table, with `query` as its error, until the table's schema is re-snapshot (workers/schema_history.py)."""


@dataclass
class Batch:
    """Whole transactions, in binlog order. `end` is the position to commit once the batch is delivered."""

    changes: list = field(default_factory=list)
    end: Optional[Position] = None
    transactions: list = field(default_factory=list)  # [(begin_index, end_index, Position)] for with_trx/TRANSACTION_ORDER


Change = Any  # RowChange | SchemaChange
