"""Decoded binlog values -> JSON-safe values, exactly.

python-mysql-replication hands sinks Python objects that `json` cannot write
or would write lossily. Every target that serialises rows goes through here so
the same column reads the same everywhere:

| Python value (MySQL type)            | JSON value                                   |
|--------------------------------------|----------------------------------------------|
| int (every integer width, unsigned)  | the int, unchanged (BIGINT UNSIGNED included)|
| Decimal (DECIMAL)                    | string with its exact digits, never a float  |
| datetime (DATETIME, TIMESTAMP)       | ISO 8601 text `2024-01-31T12:00:00[.ffffff]` |
| date (DATE)                          | `2024-01-31`                                 |
| time                                 | `12:00:00[.ffffff]`                          |
| timedelta (TIME)                     | `[-]HH:MM:SS[.ffffff]` (hours may pass 24)   |
| bytes (BLOB, BINARY, BIT)            | base64 text                                  |
| set (SET)                            | sorted list of members                       |
| str (CHAR, TEXT, ENUM)               | unchanged                                    |
| JSON column                          | the parsed JSON (MariaDB sends JSON as text: |
|                                      | `parse_json_columns` parses it)              |
| float (FLOAT, DOUBLE)                | unchanged                                    |

Zero dates (`0000-00-00`) arrive as None from the library and stay null.
"""
import base64
import datetime
import decimal
import json
import re

import orjson


def _timedelta_text(value: datetime.timedelta) -> str:
    micro = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if micro < 0 else ""
    micro = abs(micro)
    seconds, fraction = divmod(micro, 1_000_000)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{text}.{fraction:06d}" if fraction else text


def json_safe(value):
    """One value in JSON-safe form (recurses into dicts and lists)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return _timedelta_text(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (set, frozenset)):
        return sorted(json_safe(v) for v in value)
    if isinstance(value, dict):
        return {(k.decode() if isinstance(k, bytes) else str(k)): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return str(value)


def json_row(row: dict | None) -> dict | None:
    if row is None:
        return None
    return {name: json_safe(value) for name, value in row.items()}


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=json_safe)
_encode = _ENCODER.encode
_orjson = orjson.dumps
# datetime, date and time go through json_safe like every other non-JSON type (one spelling of them)
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME
# What orjson spells unlike json (repr): floats below 1e-4 (1e-05 -> 1e-5; 5e-05 -> 0.00005). Text that may
# hold one is re-encoded by json; a string that merely looks like one only costs that slower pass.
_MAYBE_SMALL_FLOAT = re.compile(rb"\de-\d(?!\d)|(?<![\d.])0\.0000")


def _default(value):
    """json_safe, asked by orjson for every such value: the two types rows are full of first, by exact type."""
    cls = value.__class__
    if cls is decimal.Decimal:
        return format(value, "f")
    if cls is datetime.datetime:
        return value.isoformat()
    return json_safe(value)


def _std_dumps(obj) -> str:
    try:
        return _encode(obj)
    except (TypeError, ValueError):
        return json.dumps(json_safe(obj), ensure_ascii=False, separators=(",", ":"))


def dumps_bytes(obj) -> bytes:
    """UTF-8 compact JSON of anything made of decoded values: the bytes of `dumps(obj).encode()`.

    orjson writes what JSON has natively (several times faster than json) and asks json_safe for the rest
    (Decimal, datetime, bytes, sets, ...). What it refuses (non-str keys of MySQL JSON objects, integers past
    64 bits, lone surrogates) or may spell differently (small floats) goes through json, so the bytes are the
    same either way. (NaN and infinities, which orjson writes as null, cannot come from MySQL: DOUBLE and JSON
    columns refuse them.)"""
    try:
        out = _orjson(obj, default=_default, option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError
        return _std_dumps(obj).encode("utf-8")
    if (b"e-" in out or b"0.0000" in out) and _MAYBE_SMALL_FLOAT.search(out):
        return _std_dumps(obj).encode("utf-8")
    return out


def dumps(obj) -> str:
    """Compact JSON text of anything made of decoded values: json.dumps(json_safe(obj), ensure_ascii=False,
    separators=(",", ":")), written by dumps_bytes."""
    try:
        return dumps_bytes(obj).decode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: json writes it, UTF-8 cannot
        return _std_dumps(obj)


def key_text(value) -> str:
    """A value as it appears inside a key or a template (no quotes)."""
    if value.__class__ is int or value.__class__ is str:  # most keys
        return str(value)
    value = json_safe(value)
    if value is None:
        return "NULL"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


def parse_json_columns(row: dict, names) -> dict:
    """Parse MariaDB JSON columns (text in the binlog) in place; text that is not valid JSON stays text."""
    for name in names:
        value = row.get(name)
        if isinstance(value, (str, bytes)):
            try:
                row[name] = json.loads(value)
            except ValueError:
                pass
    return row
