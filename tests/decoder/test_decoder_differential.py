"""Differential test of workers/decoder: every column type with edge values, written to the
real MariaDB in each binlog_row_image mode; the library's decoder and the
generated decoder read the same events and must agree on every row, in value,
type and order."""
from __future__ import annotations

from decimal import Decimal

import pytest

from workers.decoder import fast_images, fast_rows, stats

# name -> (column definition, [edge values as SQL literals])
NUMERIC = {
    "ti": ("TINYINT", ["-128", "127", "0", "-1"]),
    "tiu": ("TINYINT UNSIGNED", ["0", "255", "128"]),
    "si": ("SMALLINT", ["-32768", "32767", "-1"]),
    "siu": ("SMALLINT UNSIGNED", ["0", "65535", "32768"]),
    "mi": ("MEDIUMINT", ["-8388608", "8388607", "-1"]),
    "miu": ("MEDIUMINT UNSIGNED", ["0", "16777215", "8388608"]),
    "ii": ("INT", ["-2147483648", "2147483647", "-1"]),
    "iu": ("INT UNSIGNED", ["0", "4294967295", "2147483648"]),
    "bi": ("BIGINT", ["-9223372036854775808", "9223372036854775807", "-1"]),
    "biu": ("BIGINT UNSIGNED", ["0", "18446744073709551615", "9223372036854775808"]),
    "fl": ("FLOAT", ["-3.40282e38", "3.40282e38", "1.17549e-38", "0", "-1.5", "0.1"]),
    "db": ("DOUBLE", ["-1.7976931348623157e308", "1.7976931348623157e308", "2.2250738585072014e-308", "0", "-0.1"]),
    "d65": ("DECIMAL(65,30)", [
        "99999999999999999999999999999999999.999999999999999999999999999999",
        "-99999999999999999999999999999999999.999999999999999999999999999999",
        "0", "-0.000000000000000000000000000001", "1.5", "-123456789.123456789",
    ]),
    "d100": ("DECIMAL(10,0)", ["9999999999", "-9999999999", "0", "-1", "1"]),
    "d44": ("DECIMAL(4,4)", ["0.9999", "-0.9999", "0", "-0.0001", "0.5"]),
    "d189": ("DECIMAL(18,9)", ["999999999.999999999", "-999999999.999999999", "-0.5", "1.000000001"]),
    "d52": ("DECIMAL(5,2)", ["999.99", "-999.99", "0.00", "-0.01", "10.1"]),
    "d3010": ("DECIMAL(30,10)", ["12345678901234567890.0123456789", "-1.0000000001", "0"]),
    "d10": ("DECIMAL(1,0)", ["9", "-9", "0"]),
    "d81": ("DECIMAL(8,1)", ["9999999.9", "-1234567.8", "0.1"]),
    "yr": ("YEAR", ["1901", "2155", "0", "2024"]),
    "b1": ("BIT(1)", ["b'0'", "b'1'"]),
    "b10": ("BIT(10)", ["b'1111111111'", "b'0000000001'", "b'1000000000'"]),
    "b64": ("BIT(64)", ["b'" + "1" * 64 + "'", "b'0'", "b'1" + "0" * 63 + "'"]),
    "b17": ("BIT(17)", ["b'10000000000000001'", "b'0'"]),
    "en": ("ENUM('a','b','ä','😀')", ["'a'", "'😀'", "''", "'ä'"]),
    "st": ("SET('x','y','z','ü')", ["''", "'x'", "'x,y,z,ü'", "'z'"]),
}

TEMPORAL = {
    "dt0": ("DATE", ["'1000-01-01'", "'9999-12-31'", "'0000-00-00'", "'2024-02-29'", "'2020-00-00'"]),
    "tm0": ("TIME", ["'-838:59:59'", "'838:59:59'", "'00:00:00'", "'-00:00:01'", "'12:34:56'"]),
    "tm1": ("TIME(1)", ["'-838:59:58.9'", "'838:59:58.9'", "'-00:00:00.5'", "'01:02:03.4'", "'-00:00:01.2'"]),
    "tm3": ("TIME(3)", ["'-01:00:00.001'", "'10:00:00.999'", "'00:00:00.000'"]),
    "tm4": ("TIME(4)", ["'-12:00:00.1234'", "'12:00:00.9999'"]),
    "tm6": ("TIME(6)", ["'-838:59:58.999999'", "'838:59:58.999999'", "'-00:00:00.000001'", "'00:00:00.5'",
                        "'-00:00:01.000001'", "'-12:34:56.5'"]),
    "dtm0": ("DATETIME", ["'1000-01-01 00:00:00'", "'9999-12-31 23:59:59'", "'0000-00-00 00:00:00'", "'2024-02-29 12:00:00'"]),
    "dtm1": ("DATETIME(1)", ["'2020-01-01 00:00:00.1'", "'9999-12-31 23:59:59.9'", "'0000-00-00 00:00:00.0'"]),
    "dtm2": ("DATETIME(2)", ["'2020-01-01 00:00:00.99'", "'1000-01-01 00:00:00.01'"]),
    "dtm3": ("DATETIME(3)", ["'2020-06-15 13:14:15.123'", "'2020-06-15 13:14:15.000'"]),
    "dtm4": ("DATETIME(4)", ["'2020-06-15 13:14:15.1234'"]),
    "dtm5": ("DATETIME(5)", ["'2020-06-15 13:14:15.12345'", "'2020-06-15 13:14:15.99999'"]),
    "dtm6": ("DATETIME(6)", ["'9999-12-31 23:59:59.999999'", "'1000-01-01 00:00:00.000001'", "'0000-00-00 00:00:00.000000'"]),
    "ts0": ("TIMESTAMP NULL DEFAULT NULL", ["'1970-01-01 00:00:01'", "'2038-01-19 03:14:07'", "'0000-00-00 00:00:00'"]),
    "ts3": ("TIMESTAMP(3) NULL DEFAULT NULL", ["'2001-02-03 04:05:06.789'", "'1970-01-01 00:00:01.000'"]),
    "ts6": ("TIMESTAMP(6) NULL DEFAULT NULL", ["'2038-01-19 03:14:07.999999'", "'2000-01-01 00:00:00.000001'"]),
}

STRINGS = {
    "c10": ("CHAR(10)", ["''", "'abc'", "'😀😀😀'", "'ünï'"]),
    "c100": ("CHAR(100)", ["''", "REPEAT('ß', 100)"]),
    "vc": ("VARCHAR(20)", ["''", "'hello'", "'emoji 😀 ok'", "' trailing  '"]),
    "vc300": ("VARCHAR(300)", ["''", "REPEAT('x', 300)", "REPEAT('😀', 300)"]),
    "vl1": ("VARCHAR(30) CHARACTER SET latin1", ["''", "'café'", "'Ärger'"]),
    "cl1": ("CHAR(5) CHARACTER SET latin1", ["''", "'ab'", "'é'"]),
    "va": ("VARCHAR(10) CHARACTER SET ascii", ["''", "'plain'"]),
    "bn4": ("BINARY(4)", ["''", "X'00000000'", "X'FF00FF01'", "'ab'"]),
    "vb": ("VARBINARY(300)", ["''", "X'00'", "X'DEADBEEF'", "REPEAT(X'FF', 300)"]),
    "tt": ("TINYTEXT", ["''", "'tiny 😀'"]),
    "tx": ("TEXT", ["''", "REPEAT('t', 1000)", "'多言語 text'"]),
    "mt": ("MEDIUMTEXT", ["''", "REPEAT('m', 70000)"]),
    "lt": ("LONGTEXT", ["''", "'long 😀'"]),
    "tb": ("TINYBLOB", ["''", "X'00FF'"]),
    "bl": ("BLOB", ["''", "REPEAT(X'01', 2000)"]),
    "mb": ("MEDIUMBLOB", ["''", "X'CAFEBABE'"]),
    "lb": ("LONGBLOB", ["''", "REPEAT(X'7F', 70000)"]),
    "js": ("JSON", ["'{}'", "'[]'", "'{\"a\": [1, 2.5, null, true], \"b\": \"😀\"}'", "'\"str\"'", "'null'"]),
    "tl1": ("TEXT CHARACTER SET latin1", ["''", "'latin ü'"]),
    "geo": ("GEOMETRY", ["ST_GeomFromText('POINT(1 2)')", "ST_GeomFromText('LINESTRING(0 0, 1 1, 2 5)')"]),
    "pt": ("POINT", ["POINT(-1.5, 2.25)", "POINT(0, 0)"]),
}

TABLES = {"numeric": NUMERIC, "temporal": TEMPORAL, "strings": STRINGS}
IMAGES = ["FULL", "MINIMAL", "NOBLOB"]


def _rows(columns):
    """Rows of SQL literals: edge value k of every column, then one row per column
    with only that column NULL, then a row with every column NULL."""
    names = list(columns)
    depth = max(len(v) for _, v in columns.values())
    rows = []
    for k in range(depth):
        rows.append({n: columns[n][1][k % len(columns[n][1])] for n in names})
    for n in names:
        row = {m: columns[m][1][0] for m in names}
        row[n] = "NULL"
        rows.append(row)
    rows.append({n: "NULL" for n in names})
    return rows


def _write(capture, table, columns, image):
    """Insert every row, update every other row (two columns changed), delete all."""
    capture.session(row_image=image)
    names = list(columns)
    capture.execute(f"DROP TABLE IF EXISTS `{table}`")
    cols = ", ".join(f"`{n}` {spec}" for n, (spec, _) in columns.items())
    capture.execute(f"CREATE TABLE `{table}` (id INT NOT NULL PRIMARY KEY, {cols}, extra INT NULL)")
    start = capture.mark()
    rows = _rows(columns)
    for i, row in enumerate(rows):
        values = ", ".join(row[n] for n in names)
        capture.execute(f"INSERT INTO `{table}` (id, {', '.join(f'`{n}`' for n in names)}, extra) VALUES ({i}, {values}, {i})")
    # a multi-row insert: many rows in one event
    capture.execute(
        f"INSERT INTO `{table}` SELECT id + 1000, {', '.join(f'`{n}`' for n in names)}, extra FROM `{table}`"
    )
    a, b = names[0], names[len(names) // 2]
    for i, row in enumerate(rows):
        if i % 2 == 0:
            other = rows[(i + 1) % len(rows)]
            capture.execute(
                f"UPDATE `{table}` SET `{a}` = {other[a]}, `{b}` = {other[b]}, extra = NULL WHERE id = {i}"
            )
    capture.execute(f"UPDATE `{table}` SET extra = extra + 1 WHERE id >= 1000")
    capture.execute(f"DELETE FROM `{table}` WHERE id < 1000")
    capture.execute(f"DELETE FROM `{table}`")
    return start


@pytest.mark.parametrize("image", IMAGES)
@pytest.mark.parametrize("kind", list(TABLES))
def test_every_type_every_row_image(capture, compare, kind, image):
    columns = TABLES[kind]
    table = f"{kind}_{image.lower()}"
    start = _write(capture, table, columns, image)
    events = capture.events(start)
    kinds = {type(ev).__name__ for ev in events}
    assert kinds == {"WriteRowsEvent", "UpdateRowsEvent", "DeleteRowsEvent"}, kinds
    fast_before = stats.fast_rows
    names = list(columns)
    wanted = frozenset(names[::3] + ["id", "no_such_column"])
    lib = compare(events, wanted_sets=(None, wanted))
    n_rows = sum(len(r) for r in lib)
    assert n_rows > 3 * len(columns)
    assert stats.fast_rows - fast_before == 4 * n_rows  # fast_rows and fast_images, each wanted set
    if image == "MINIMAL":
        # the minimal images really were minimal: absent columns are 'cols bitmap'
        updates = [r for ev, rows in zip(events, lib) for r in rows if "after_values" in r]
        assert any(
            "cols bitmap" in r["before_none_sources"].values() for r in updates
        ), "MINIMAL image did not leave columns out"


def test_fallback_is_counted_and_equal(capture, compare):
    capture.session("FULL")
    capture.execute("CREATE TABLE fb (id INT PRIMARY KEY, d DECIMAL(10,2), s VARCHAR(10))")
    start = capture.mark()
    capture.execute("INSERT INTO fb VALUES (1, -1.5, 'x'), (2, NULL, '')")
    (ev,) = capture.events(start)
    lib = ev.rows  # decoded by the library first: fast_rows must return the same, counted
    before = (stats.fallback_rows, stats.fallback_events)
    assert fast_rows(ev) is lib
    assert (stats.fallback_rows, stats.fallback_events) == (before[0] + 2, before[1] + 1)
    assert stats.fallback_reasons.get("already decoded")
    # the engine's shape, from the library's rows: values only
    assert fast_images(ev) == [{"id": 1, "d": Decimal("-1.50"), "s": "x"}, {"id": 2, "d": None, "s": ""}]
    assert fast_images(ev, {"id"}) == [{"id": 1}, {"id": 2}]
    assert stats.fallback_events == before[1] + 3


def test_fallback_update_images_are_before_after_pairs(capture):
    capture.session("FULL")
    capture.execute("CREATE TABLE fbu (id INT PRIMARY KEY, v VARCHAR(10))")
    capture.execute("INSERT INTO fbu VALUES (1, 'a')")
    start = capture.mark()
    capture.execute("UPDATE fbu SET v = 'b'")
    (ev,) = capture.events(start)
    ev.rows  # the library decoded it first: fast_images must fall back to its rows
    assert fast_images(ev) == [({"id": 1, "v": "a"}, {"id": 1, "v": "b"})]


def test_decode_mismatch_falls_back(capture, monkeypatch):
    from workers.decoder import codegen
    from workers.decoder.testing import diff_rows

    capture.session("FULL")
    capture.execute("CREATE TABLE mm (id INT PRIMARY KEY, v VARCHAR(10))")
    start = capture.mark()
    capture.execute("INSERT INTO mm VALUES (1, 'a'), (2, 'b')")
    (ev,) = capture.events(start)

    def broken(*args, **kwargs):
        def decode(data, pos, end):
            raise codegen.DecodeMismatch("simulated")
        return decode

    monkeypatch.setattr(codegen, "compile_decoder", broken)
    from workers.decoder import clear_cache

    clear_cache()
    ev.columns[0].__dict__.pop("_tower_decoder", None)
    before = stats.fallback_rows
    rows = fast_rows(ev)
    assert stats.fallback_rows == before + 2
    monkeypatch.undo()
    clear_cache()
    assert rows[0]["values"] == {"id": 1, "v": "a"}
    assert diff_rows(rows, ev.rows) is None
