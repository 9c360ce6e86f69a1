"""MySQL column types -> ClickHouse column types and values, for current servers and for 18.16.

The one mapping table (docs/types.md shows the same):

| MySQL                        | ClickHouse, current              | ClickHouse 18.16 (no DateTime64, no Decimal256, no Date32) |
|------------------------------|----------------------------------|-----------------------------------------------------------|
| TINYINT/SMALLINT/MEDIUMINT/INT/BIGINT | Int8/Int16/Int32/Int32/Int64 | same                                           |
| … UNSIGNED                   | UInt8/UInt16/UInt32/UInt32/UInt64| same                                                      |
| DECIMAL(p,s), p <= 38        | Decimal(p,s)                     | Decimal(p,s)                                              |
| DECIMAL(p,s), p > 38         | Decimal(p,s) (Decimal256)        | String (exact digits)                                     |
| FLOAT / DOUBLE               | Float32 / Float64                | same                                                      |
| BIT(n)                       | UInt64 (the bits as a number)    | same                                                      |
| ENUM, SET                    | String (SET: members in definition order, comma separated, as MySQL shows them) | same |
| DATE                         | Date32                           | Date (1970-01-01 .. 2105)                                 |
| DATETIME(fsp)                | DateTime64(fsp, 'UTC'), the wall-clock time as written | fsp 0: DateTime('UTC'); fsp > 0: String 'YYYY-MM-DD HH:MM:SS.ffffff' |
| TIMESTAMP(fsp)               | DateTime64(fsp, 'UTC'), UTC      | fsp 0: DateTime('UTC'); fsp > 0: String, UTC              |
| TIME                         | String '[-]HH:MM:SS[.ffffff]'    | same                                                      |
| YEAR                         | UInt16                           | same                                                      |
| CHAR/VARCHAR/TEXT            | String (UTF-8)                   | same                                                      |
| BINARY/VARBINARY/BLOB        | String (the raw bytes)           | same                                                      |
| JSON                         | String (compact JSON text)       | same                                                      |
| anything else                | String                           | same                                                      |

Key columns are the type itself; every other column is Nullable(type) (NULL
and zero dates, which the binlog gives as NULL, are NULL).
"""
import datetime
import decimal
import re
from dataclasses import dataclass

from .encoding import dumps, json_safe

_INTS = {"tinyint": "Int8", "smallint": "Int16", "mediumint": "Int32", "int": "Int32", "integer": "Int32",
         "bigint": "Int64"}
_TEXT = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "binary", "varbinary", "tinyblob", "blob",
         "mediumblob", "longblob", "enum", "set", "time", "json"}
_TYPE_RE = re.compile(r"^\s*(\w+)(?:\s*\(([^)]*)\))?((?:\s+(?:unsigned|signed|zerofill))*)", re.I)
UTC = datetime.timezone.utc


@dataclass(frozen=True)
class Features:
    """What the connected ClickHouse server can do, from its version."""

    version: tuple = (0,)
    datetime64: bool = False
    decimal256: bool = False
    date32: bool = False
    is_deleted: bool = False  # ReplacingMergeTree(ver, is_deleted)
    lightweight_delete: bool = False  # DELETE FROM

    @classmethod
    def for_version(cls, text: str) -> "Features":
        version = tuple(int(p) for p in re.findall(r"\d+", text)[:3]) or (0,)
        return cls(version, datetime64=version >= (20, 1), decimal256=version >= (21, 4), date32=version >= (21, 9),
                   is_deleted=version >= (23, 2), lightweight_delete=version >= (23, 3))


CURRENT = Features.for_version("26.9")
CH_18_16 = Features.for_version("18.16.1")


@dataclass(frozen=True)
class Column:
    name: str
    mysql_type: str  # COLUMN_TYPE text, e.g. "decimal(65,30)", "int(10) unsigned", "enum('a','b')"
    nullable: bool = True
    is_key: bool = False
    is_json: bool = False


def parse_mysql_type(text: str):
    """'int(10) unsigned' -> ('int', '10', True); "enum('a','b')" -> ('enum', "'a','b'", False)."""
    m = _TYPE_RE.match(text or "")
    if not m:
        return (text or "").strip().lower(), "", False
    return m.group(1).lower(), (m.group(2) or "").strip(), "unsigned" in (m.group(3) or "").lower()


def _members(args: str) -> list:
    return [s.replace("''", "'") for s in re.findall(r"'((?:[^']|'')*)'", args)]


def ch_base_type(column: Column, features: Features) -> str:
    name, args, unsigned = parse_mysql_type(column.mysql_type)
    if column.is_json or name == "json":
        return "String"
    if name in _INTS:
        t = _INTS[name]
        return "U" + t if unsigned else t
    if name in ("decimal", "numeric", "dec", "fixed"):
        parts = [p.strip() for p in args.split(",")] if args else []
        precision = int(parts[0]) if parts and parts[0] else 10
        scale = int(parts[1]) if len(parts) > 1 and parts[1] else 0
        if precision <= 38 or features.decimal256:
            return f"Decimal({precision}, {scale})"
        return "String"
    if name == "float":
        return "Float32"
    if name in ("double", "real"):
        return "Float64"
    if name == "bit":
        return "UInt64"
    if name == "year":
        return "UInt16"
    if name == "bool" or name == "boolean":
        return "Int8"
    if name == "date":
        return "Date32" if features.date32 else "Date"
    if name in ("datetime", "timestamp"):
        fsp = int(args) if args.isdigit() else 0
        if features.datetime64:
            return f"DateTime64({fsp}, 'UTC')"
        return "DateTime('UTC')" if fsp == 0 else "String"
    return "String"


def ch_type(column: Column, features: Features) -> str:
    base = ch_base_type(column, features)
    return base if column.is_key else f"Nullable({base})"


def converter(column: Column, features: Features):
    """value from the binlog (python-mysql-replication types) -> the value clickhouse-driver inserts."""
    base = ch_base_type(column, features)
    name, args, _ = parse_mysql_type(column.mysql_type)
    if base == "String":
        if column.is_json or name == "json":
            return _json_text
        if name == "set":
            order = {m: i for i, m in enumerate(_members(args))}
            return lambda v: v if v is None or isinstance(v, str) else ",".join(sorted(v, key=lambda m: order.get(m, 1 << 30)))
        if name in ("datetime", "timestamp"):
            return lambda v: v if v is None or isinstance(v, str) else v.strftime("%Y-%m-%d %H:%M:%S.%f")
        if name == "decimal" or name == "numeric":
            return lambda v: v if v is None or isinstance(v, str) else format(v, "f")
        return _text
    if name == "bit":
        return _bits
    if base == "DateTime('UTC')":
        return _datetime_seconds
    if base.startswith("DateTime"):
        return _as_utc
    if base.startswith("Date"):
        return lambda v: v.date() if isinstance(v, datetime.datetime) else v
    if base.startswith("Decimal"):
        return _decimal
    if base.startswith("Float"):
        return _float
    return same


def same(value):
    """The value as the binlog gives it: the sink leaves a column with this converter as it is, uncalled."""
    return value


# A converter's `keeps`: the value types it returns unchanged, which the sink passes on without calling it.
_NONE = type(None)


def _as_utc(value):
    return value.replace(tzinfo=UTC) if isinstance(value, datetime.datetime) and value.tzinfo is None else value


_EPOCH = datetime.datetime(1970, 1, 1)


def _datetime_seconds(value):
    """DateTime('UTC'): a naive datetime (the wall-clock time as written, read as UTC) as the whole seconds since
    the epoch the driver would compute from it (int(timestamp())); the driver sends an int as it is, without
    its timezone conversions per value."""
    if value.__class__ is datetime.datetime and value.tzinfo is None:
        return int((value - _EPOCH).total_seconds())
    return _as_utc(value)


_datetime_seconds.keeps = frozenset({_NONE})


def _decimal(value):
    return decimal.Decimal(value) if isinstance(value, (str, int)) else value


_decimal.keeps = frozenset({decimal.Decimal, _NONE})


def _float(value):
    return None if value is None else float(value)


_float.keeps = frozenset({float, _NONE})


def _text(value):
    if isinstance(value, (dict, list, tuple)):  # JSON values first: the type that reaches here most often
        # text, not orjson's bytes under it: kept by the thousands until the INSERT, each of those cost ~10 µs
        # to allocate here against ~0.5 µs for the text (measured)
        return dumps(value)
    if value is None or isinstance(value, (str, bytes)):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    value = json_safe(value)
    return value if isinstance(value, str) else dumps(value)


_text.keeps = frozenset({str, bytes, _NONE})


def _json_text(value):
    """A JSON column's value as JSON text: values arrive parsed, so a str is a JSON string ('"é"'), not text."""
    if value is None:
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return dumps(value)


def _bits(value):
    """BIT: the library gives '0101' text; a SELECT gives bytes; both become the number."""
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, (bytes, bytearray)):
        return int.from_bytes(value, "big")
    return int(value, 2) if value else 0

