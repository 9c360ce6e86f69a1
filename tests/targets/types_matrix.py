"""The MySQL type matrix every target is tested with: one table, rows at the limits, NULLs, zero dates."""
import datetime
from decimal import Decimal

from bson.decimal128 import Decimal128

TABLE_DDL = """
CREATE TABLE types (
  id INT PRIMARY KEY,
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED, mi MEDIUMINT, miu MEDIUMINT UNSIGNED,
  i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
  d65 DECIMAL(65,30), d30 DECIMAL(30,10), f FLOAT, dbl DOUBLE, b BIT(10),
  e ENUM('x','y','z'), st SET('a','b','c'),
  dt DATE, tm TIME(6), dtm DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, yr YEAR,
  c CHAR(10), vc VARCHAR(100), tx TEXT, bn BINARY(4), vb VARBINARY(10), bl BLOB, js JSON,
  zd DATE, zdt DATETIME
) DEFAULT CHARSET=utf8mb4
"""

D65_MAX = "99999999999999999999999999999999999.999999999999999999999999999999"
D30_MIN = "-99999999999999999999.9999999999"

INSERTS = [
    "SET SESSION sql_mode = ''",
    "SET SESSION time_zone = '+00:00'",
    f"""INSERT INTO types VALUES (1, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295,
        9223372036854775807, 18446744073709551615, {D65_MAX}, 12345678901234567890.0123456789, 1.5, 3.141592653589793,
        b'1010101010', 'y', 'c,a', '2024-02-29', '-838:59:59.000000', '2024-01-31 23:59:59.123456',
        '2024-01-31 12:00:00.654321', 2155, 'abc', 'héllo 😀 emoji', 'long text 😀', x'00ff10',
        x'deadbeef', x'000102ff', '{{"a": 1, "b": [true, null, 1.5], "c": "😀"}}', '2024-01-01', '2024-01-01 00:00:00')""",
    f"""INSERT INTO types VALUES (2, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0,
        -9223372036854775808, 0, -{D65_MAX}, {D30_MIN}, -1.25, -2.5e-300, b'0', 'x', '', '1970-01-01',
        '00:00:00', '1970-01-01 00:00:00', '1970-01-01 00:00:01', 1901, '', '', '', x'', x'', x'', '[]',
        '2024-01-01', '2024-01-01 00:00:00')""",
    "INSERT INTO types (id) VALUES (3)",
    "INSERT INTO types (id, zd, zdt) VALUES (4, '0000-00-00', '0000-00-00 00:00:00')",
]

COLUMNS = ("id", "ti", "tiu", "si", "siu", "mi", "miu", "i", "iu", "bi", "biu", "d65", "d30", "f", "dbl", "b", "e",
           "st", "dt", "tm", "dtm", "ts", "yr", "c", "vc", "tx", "bn", "vb", "bl", "js", "zd", "zdt")


def null_row(row_id):
    """Rows 3 and 4: NULL in every column (row 4's zero dates arrive as NULL too)."""
    return {c: row_id if c == "id" else None for c in COLUMNS}


# What each target delivers for every row, written out by hand from docs/types.md (never computed by the
# code under test). Row 2's empty SET is NULL everywhere: the binlog reader cannot tell it from NULL.

# Message queues (canal-json `data`, maxwell `data`) and Redis values: the JSON table of docs/types.md.
JSON_ROWS = {
    1: {"id": 1, "ti": 127, "tiu": 255, "si": 32767, "siu": 65535, "mi": 8388607, "miu": 16777215, "i": 2147483647,
        "iu": 4294967295, "bi": 9223372036854775807, "biu": 18446744073709551615,
        "d65": "99999999999999999999999999999999999.999999999999999999999999999999",
        "d30": "12345678901234567890.0123456789", "f": 1.5, "dbl": 3.141592653589793, "b": "1010101010", "e": "y",
        "st": ["a", "c"], "dt": "2024-02-29", "tm": "-838:59:59", "dtm": "2024-01-31T23:59:59.123456",
        "ts": "2024-01-31T12:00:00.654321", "yr": 2155, "c": "abc", "vc": "héllo 😀 emoji", "tx": "long text 😀",
        "bn": "AP8Q", "vb": "3q2+7w==", "bl": "AAEC/w==", "js": {"a": 1, "b": [True, None, 1.5], "c": "😀"},
        "zd": "2024-01-01", "zdt": "2024-01-01T00:00:00"},
    2: {"id": 2, "ti": -128, "tiu": 0, "si": -32768, "siu": 0, "mi": -8388608, "miu": 0, "i": -2147483648, "iu": 0,
        "bi": -9223372036854775808, "biu": 0,
        "d65": "-99999999999999999999999999999999999.999999999999999999999999999999",
        "d30": "-99999999999999999999.9999999999", "f": -1.25, "dbl": -2.5e-300, "b": "0000000000", "e": "x",
        "st": [], "dt": "1970-01-01", "tm": "00:00:00", "dtm": "1970-01-01T00:00:00", "ts": "1970-01-01T00:00:01",
        "yr": 1901, "c": "", "vc": "", "tx": "", "bn": "", "vb": "", "bl": "", "js": [],
        "zd": "2024-01-01", "zdt": "2024-01-01T00:00:00"},
    3: null_row(3),
    4: null_row(4),
}

# MongoDB documents (docs/types.md, MongoDB table); `_id` is the key.
MONGO_ROWS = {
    1: {"_id": 1, "id": 1, "ti": 127, "tiu": 255, "si": 32767, "siu": 65535, "mi": 8388607, "miu": 16777215,
        "i": 2147483647, "iu": 4294967295, "bi": 9223372036854775807, "biu": Decimal128("18446744073709551615"),
        "d65": "99999999999999999999999999999999999.999999999999999999999999999999",  # 65 digits: text
        "d30": Decimal128("12345678901234567890.0123456789"), "f": 1.5, "dbl": 3.141592653589793, "b": "1010101010",
        "e": "y", "st": ["a", "c"], "dt": "2024-02-29", "tm": "-838:59:59", "dtm": "2024-01-31T23:59:59.123456",
        "ts": "2024-01-31T12:00:00.654321", "yr": 2155, "c": "abc", "vc": "héllo 😀 emoji", "tx": "long text 😀",
        "bn": b"\x00\xff\x10", "vb": b"\xde\xad\xbe\xef", "bl": b"\x00\x01\x02\xff",
        "js": {"a": 1, "b": [True, None, 1.5], "c": "😀"}, "zd": "2024-01-01", "zdt": "2024-01-01T00:00:00"},
    2: {"_id": 2, "id": 2, "ti": -128, "tiu": 0, "si": -32768, "siu": 0, "mi": -8388608, "miu": 0, "i": -2147483648,
        "iu": 0, "bi": -9223372036854775808, "biu": 0,
        "d65": "-99999999999999999999999999999999999.999999999999999999999999999999",
        "d30": Decimal128("-99999999999999999999.9999999999"), "f": -1.25, "dbl": -2.5e-300, "b": "0000000000",
        "e": "x", "st": [], "dt": "1970-01-01", "tm": "00:00:00", "dtm": "1970-01-01T00:00:00",
        "ts": "1970-01-01T00:00:01", "yr": 1901, "c": "", "vc": "", "tx": "",
        "bn": b"", "vb": b"", "bl": b"",
        "js": [], "zd": "2024-01-01", "zdt": "2024-01-01T00:00:00"},
    3: {"_id": 3, **null_row(3)},
    4: {"_id": 4, **null_row(4)},
}
# BINARY/VARBINARY/BLOB are BSON binary, empty ones too (the library's '' is not what the server holds).
MONGO_EMPTY_BINARY = {"bn": b"", "vb": b"", "bl": b""}

UTC = datetime.timezone.utc

# ClickHouse column types (docs/types.md, ClickHouse table), then the rows as clickhouse-driver reads them.
_CH_COMMON_TYPES = {
    "id": "Int32", "ti": "Nullable(Int8)", "tiu": "Nullable(UInt8)", "si": "Nullable(Int16)",
    "siu": "Nullable(UInt16)", "mi": "Nullable(Int32)", "miu": "Nullable(UInt32)", "i": "Nullable(Int32)",
    "iu": "Nullable(UInt32)", "bi": "Nullable(Int64)", "biu": "Nullable(UInt64)", "d30": "Nullable(Decimal(30, 10))",
    "f": "Nullable(Float32)", "dbl": "Nullable(Float64)", "b": "Nullable(UInt64)", "e": "Nullable(String)",
    "st": "Nullable(String)", "tm": "Nullable(String)", "yr": "Nullable(UInt16)", "c": "Nullable(String)",
    "vc": "Nullable(String)", "tx": "Nullable(String)", "bn": "Nullable(String)", "vb": "Nullable(String)",
    "bl": "Nullable(String)", "js": "Nullable(String)", "_tower_version": "UInt64", "_tower_deleted": "UInt8",
}
CH_18_16_TYPES = {**_CH_COMMON_TYPES, "d65": "Nullable(String)", "dt": "Nullable(Date)", "dtm": "Nullable(String)",
                  "ts": "Nullable(String)", "zd": "Nullable(Date)", "zdt": "Nullable(DateTime('UTC'))"}
CH_CURRENT_TYPES = {**_CH_COMMON_TYPES, "d65": "Nullable(Decimal(65, 30))", "dt": "Nullable(Date32)",
                    "dtm": "Nullable(DateTime64(6, 'UTC'))", "ts": "Nullable(DateTime64(6, 'UTC'))",
                    "zd": "Nullable(Date32)", "zdt": "Nullable(DateTime64(0, 'UTC'))"}

_CH_COMMON_1 = {
    "id": 1, "ti": 127, "tiu": 255, "si": 32767, "siu": 65535, "mi": 8388607, "miu": 16777215, "i": 2147483647,
    "iu": 4294967295, "bi": 9223372036854775807, "biu": 18446744073709551615,
    "d30": Decimal("12345678901234567890.0123456789"), "f": 1.5, "dbl": 3.141592653589793, "b": 682, "e": "y",
    "st": "a,c", "dt": datetime.date(2024, 2, 29), "tm": "-838:59:59", "yr": 2155, "c": "abc",
    "vc": "héllo 😀 emoji", "tx": "long text 😀", "bn": b"\x00\xff\x10", "vb": b"\xde\xad\xbe\xef",
    "bl": b"\x00\x01\x02\xff", "js": '{"a":1,"b":[true,null,1.5],"c":"😀"}', "zd": datetime.date(2024, 1, 1),
    "zdt": datetime.datetime(2024, 1, 1, 0, 0, 0, tzinfo=UTC),
}
_CH_COMMON_2 = {
    "id": 2, "ti": -128, "tiu": 0, "si": -32768, "siu": 0, "mi": -8388608, "miu": 0, "i": -2147483648, "iu": 0,
    "bi": -9223372036854775808, "biu": 0, "d30": Decimal("-99999999999999999999.9999999999"), "f": -1.25,
    "dbl": -2.5e-300, "b": 0, "e": "x", "st": "", "dt": datetime.date(1970, 1, 1), "tm": "00:00:00", "yr": 1901,
    "c": "", "vc": "", "tx": "", "bn": "", "vb": "", "bl": "", "js": "[]", "zd": datetime.date(2024, 1, 1),
    "zdt": datetime.datetime(2024, 1, 1, 0, 0, 0, tzinfo=UTC),
}
CH_18_16_ROWS = {
    1: {**_CH_COMMON_1, "d65": "99999999999999999999999999999999999.999999999999999999999999999999",
        "dtm": "2024-01-31 23:59:59.123456", "ts": "2024-01-31 12:00:00.654321"},
    2: {**_CH_COMMON_2, "d65": "-99999999999999999999999999999999999.999999999999999999999999999999",
        "dtm": "1970-01-01 00:00:00.000000", "ts": "1970-01-01 00:00:01.000000"},
    3: null_row(3),
    4: null_row(4),
}
CH_CURRENT_ROWS = {
    1: {**_CH_COMMON_1, "d65": Decimal("99999999999999999999999999999999999.999999999999999999999999999999"),
        "dtm": datetime.datetime(2024, 1, 31, 23, 59, 59, 123456, tzinfo=UTC),
        "ts": datetime.datetime(2024, 1, 31, 12, 0, 0, 654321, tzinfo=UTC)},
    2: {**_CH_COMMON_2, "d65": Decimal("-99999999999999999999999999999999999.999999999999999999999999999999"),
        "dtm": datetime.datetime(1970, 1, 1, 0, 0, 0, tzinfo=UTC),
        "ts": datetime.datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)},
    3: null_row(3),
    4: null_row(4),
}
