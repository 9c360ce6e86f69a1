"""Property test of workers/decoder: random table schemas and random rows, written for
real to MariaDB, decoded by the library and by the generated decoder: equal."""
from __future__ import annotations

import datetime
import itertools
import json
import os
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_counter = itertools.count()

TEXT = st.characters(codec="utf-8", exclude_categories=("Cs",))
LATIN = "abcXYZ 019-_.àéîõüßÄÖ€"


def _time_str(td_us, fsp):
    sign = "-" if td_us < 0 else ""
    us = abs(td_us)
    s, frac = divmod(us, 1_000_000)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    out = f"{sign}{h:02d}:{m:02d}:{sec:02d}"
    if fsp:
        out += "." + f"{frac:06d}"[:fsp]
    return out


def _trunc(dt, fsp):
    step = 10 ** (6 - fsp)
    return dt.replace(microsecond=dt.microsecond // step * step)


@st.composite
def column_type(draw):
    """(sql type, strategy of parameter values)"""
    kind = draw(st.sampled_from([
        "int", "decimal", "float", "double", "date", "datetime", "timestamp", "time",
        "year", "bit", "enum", "set", "char", "varchar", "latin1", "binary", "varbinary",
        "text", "blob", "json",
    ]))
    if kind == "int":
        name, bits = draw(st.sampled_from([("TINYINT", 8), ("SMALLINT", 16), ("MEDIUMINT", 24), ("INT", 32), ("BIGINT", 64)]))
        if draw(st.booleans()):
            return f"{name} UNSIGNED", st.integers(0, 2**bits - 1)
        return name, st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    if kind == "decimal":
        p = draw(st.integers(1, 65))
        s = draw(st.integers(0, min(p, 30)))
        vals = st.integers(-(10**p - 1), 10**p - 1).map(lambda n: f"{Decimal(n).scaleb(-s):f}")
        return f"DECIMAL({p},{s})", vals
    if kind == "float":
        return "FLOAT", st.floats(-3.0000000054977558e+38, 3.0000000054977558e+38, width=32, allow_subnormal=False)
    if kind == "double":
        return "DOUBLE", st.floats(-1e300, 1e300, allow_subnormal=False)
    if kind == "date":
        return "DATE", st.dates(datetime.date(1000, 1, 1), datetime.date(9999, 12, 31)).map(str)
    if kind in ("datetime", "timestamp"):
        fsp = draw(st.integers(0, 6))
        lo, hi = ((datetime.datetime(1000, 1, 1), datetime.datetime(9999, 12, 31, 23, 59, 59))
                  if kind == "datetime" else
                  (datetime.datetime(1970, 1, 2), datetime.datetime(2038, 1, 18)))
        vals = st.datetimes(lo, hi).map(lambda d: _trunc(d, fsp).isoformat(sep=" "))
        return f"{kind.upper()}({fsp})", vals
    if kind == "time":
        fsp = draw(st.integers(0, 6))
        limit = (838 * 3600 + 59 * 60 + 59) * 1_000_000
        step = 10 ** (6 - fsp)
        return f"TIME({fsp})", st.integers(-limit // step, limit // step).map(lambda n: _time_str(n * step, fsp))
    if kind == "year":
        return "YEAR", st.integers(1901, 2155)
    if kind == "bit":
        n = draw(st.integers(1, 64))
        return f"BIT({n})", st.integers(0, 2**n - 1)
    if kind in ("enum", "set"):
        values = draw(st.lists(st.text(alphabet="abcxyzäö😀", min_size=1, max_size=4), min_size=1, max_size=8, unique=True))
        spec = ",".join("'" + v + "'" for v in values)
        if kind == "enum":
            return f"ENUM({spec})", st.sampled_from(values)
        return f"SET({spec})", st.sets(st.sampled_from(values)).map(lambda s: ",".join(sorted(s)))
    if kind in ("char", "varchar"):
        n = draw(st.integers(1, 300 if kind == "varchar" else 255))
        return f"{kind.upper()}({n})", st.text(TEXT, max_size=min(n, 40))
    if kind == "latin1":
        n = draw(st.integers(1, 300))
        return f"VARCHAR({n}) CHARACTER SET latin1", st.text(LATIN, max_size=min(n, 40))
    if kind == "binary":
        n = draw(st.integers(1, 255))
        return f"BINARY({n})", st.binary(max_size=n)
    if kind == "varbinary":
        n = draw(st.integers(1, 400))
        return f"VARBINARY({n})", st.binary(max_size=min(n, 64))
    if kind == "text":
        t = draw(st.sampled_from(["TINYTEXT", "TEXT", "MEDIUMTEXT", "LONGTEXT"]))
        return t, st.text(TEXT, max_size=60)
    if kind == "blob":
        t = draw(st.sampled_from(["TINYBLOB", "BLOB", "MEDIUMBLOB", "LONGBLOB"]))
        return t, st.binary(max_size=100)
    leaves = st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.text(TEXT, max_size=8)
    doc = st.recursive(leaves, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(TEXT, max_size=5), c, max_size=3), max_leaves=6)
    return "JSON", doc.map(json.dumps)


@st.composite
def scenario(draw):
    cols = draw(st.lists(column_type(), min_size=1, max_size=8))
    nullable = [draw(st.booleans()) for _ in cols]
    strategies = [(st.none() | s) if n else s for (_, s), n in zip(cols, nullable)]
    nrows = draw(st.integers(1, 6))
    rows = [[draw(s) for s in strategies] for _ in range(nrows)]
    updates = [(draw(st.integers(0, nrows - 1)), c, draw(strategies[c]))
               for c in draw(st.lists(st.integers(0, len(cols) - 1), max_size=4))]
    image = draw(st.sampled_from(["FULL", "MINIMAL", "NOBLOB"]))
    pk = draw(st.booleans())
    return [(t, n) for (t, _), n in zip(cols, nullable)], rows, updates, image, pk


@settings(max_examples=int(os.environ.get("TOWER_DECODER_EXAMPLES", "80")), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenario())
def test_random_schemas_and_rows(capture, compare, case):
    cols, rows, updates, image, pk = case
    table = f"p{next(_counter)}"
    capture.session(image)
    defs = ", ".join(f"c{i} {t}{' NULL' if n else ' NOT NULL'}" for i, (t, n) in enumerate(cols))
    key = "id INT NOT NULL PRIMARY KEY" if pk else "id INT NOT NULL"
    capture.execute(f"CREATE TABLE {table} ({key}, {defs})")
    try:
        start = capture.mark()
        names = ", ".join(f"c{i}" for i in range(len(cols)))
        marks = ", ".join(["%s"] * (len(cols) + 1))
        capture.execute(f"INSERT INTO {table} (id, {names}) VALUES ({marks})", [0, *rows[0]])
        if len(rows) > 1:  # the rest in one multi-row event
            values = ", ".join(f"({marks})" for _ in rows[1:])
            capture.execute(f"INSERT INTO {table} (id, {names}) VALUES {values}",
                           [v for i, r in enumerate(rows[1:], 1) for v in (i, *r)])
        for row, col, value in updates:
            capture.execute(f"UPDATE {table} SET c{col} = %s WHERE id = %s", (value, row))
        capture.execute(f"DELETE FROM {table} WHERE id % 2 = 0")
        capture.execute(f"DELETE FROM {table}")
        events = capture.events(start)
        assert events
        wanted = frozenset(["id", f"c{len(cols) - 1}"])
        compare(events, wanted_sets=(None, wanted))
    finally:
        capture.execute(f"DROP TABLE {table}")
