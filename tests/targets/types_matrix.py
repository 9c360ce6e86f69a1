"""The MySQL type matrix every target is tested with: one table, rows at the limits, NULLs, zero dates."""
import datetime
from decimal import Decimal

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

# What every target must preserve, per row id, as Python values (after each target's documented mapping).
EXPECTED = {
    1: {"ti": 127, "tiu": 255, "si": 32767, "siu": 65535, "mi": 8388607, "miu": 16777215, "i": 2147483647,
        "iu": 4294967295, "bi": 9223372036854775807, "biu": 18446744073709551615,
        "d65": Decimal(D65_MAX), "d30": Decimal("12345678901234567890.0123456789"), "f": 1.5,
        "dbl": 3.141592653589793, "b": 0b1010101010, "e": "y", "st": {"a", "c"},
        "dt": datetime.date(2024, 2, 29), "tm": "-838:59:59", "dtm": datetime.datetime(2024, 1, 31, 23, 59, 59, 123456),
        "ts": datetime.datetime(2024, 1, 31, 12, 0, 0, 654321), "yr": 2155, "c": "abc", "vc": "héllo 😀 emoji",
        "tx": "long text 😀", "bn": b"\x00\xff\x10", "vb": b"\xde\xad\xbe\xef", "bl": b"\x00\x01\x02\xff",
        "js": {"a": 1, "b": [True, None, 1.5], "c": "😀"}},
    2: {"ti": -128, "tiu": 0, "si": -32768, "mi": -8388608, "i": -2147483648, "bi": -9223372036854775808, "biu": 0,
        "d65": Decimal("-" + D65_MAX), "d30": Decimal(D30_MIN), "f": -1.25, "dbl": -2.5e-300, "b": 0, "e": "x",
        "yr": 1901, "c": "", "vc": "", "js": []},
}
NULL_COLUMNS = [c for c in EXPECTED[1] if c not in ("id",)]
