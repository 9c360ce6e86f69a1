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


def dumps(obj) -> str:
    """Compact JSON text of anything made of decoded values.

    The C encoder writes what JSON has natively and asks json_safe only for the rest (Decimal, datetime,
    bytes, sets, ...): the same text as json.dumps(json_safe(obj)) at about twice the speed. What it
    refuses (bytes keys of MySQL JSON objects) goes the long way."""
    try:
        return _encode(obj)
    except (TypeError, ValueError):
        return json.dumps(json_safe(obj), ensure_ascii=False, separators=(",", ":"))


def key_text(value) -> str:
    """A value as it appears inside a key or a template (no quotes)."""
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
