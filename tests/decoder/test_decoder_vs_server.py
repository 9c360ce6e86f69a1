"""Both decoders against the server's own values: the rows of every type the differential test writes, read
back with SELECT, must equal what the generated decoder (the engine's path) and the library path with Tower's
corrections (workers.events.row_images) make of their binlog events. Where the binlog cannot carry the
server's value the difference is the documented one (docs/types.md, "Known limits"), and only that."""
import datetime
import math

import pymysql
import pytest

from workers.decoder import fast_images
from workers.events import LibraryLosses, row_images

from test_decoder_differential import TABLES, _rows


def documented(column_type, value):
    """The server's value as the binlog can carry it (docs/types.md, Known limits)."""
    spec = column_type.upper()
    if isinstance(value, str) and value.startswith("0000-00-00") or isinstance(value, str) and (
            spec.startswith("DATE") and ("-00" in value[:10])):
        return None  # a zero date (or a zero month or day) arrives as null
    if spec.startswith("BINARY(") and isinstance(value, bytes):
        return value.rstrip(b"\0")  # BINARY(n) arrives without its trailing 0x00 padding
    if spec.startswith("BIT") and isinstance(value, bytes):  # a string of its n bits, as SELECT BIN() shows
        return format(int.from_bytes(value, "big"), f"0{int(spec[4:-1])}b")
    if spec.startswith("SET") and isinstance(value, (set, str)):
        members = value if isinstance(value, set) else set(value.split(","))
        return {m for m in members if m}
    return value


def same(column_type, got, want):
    if column_type.upper().startswith("FLOAT") and got is not None and want is not None:
        return math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-44)  # float32 in the binlog
    if isinstance(want, datetime.datetime) and isinstance(got, datetime.datetime):
        return got.replace(tzinfo=None) == want.replace(tzinfo=None)
    return got == want and type(got) is type(want) or (got == want and want is None)


@pytest.mark.parametrize("kind", list(TABLES))
def test_both_decoders_give_the_servers_values(capture, kind):
    columns = TABLES[kind]
    table = f"vs_{kind}"
    capture.session("FULL")
    names = list(columns)
    cols = ", ".join(f"`{n}` {spec}" for n, (spec, _) in columns.items())
    capture.execute(f"CREATE TABLE `{table}` (id INT NOT NULL PRIMARY KEY, {cols})")
    start = capture.mark()
    for i, row in enumerate(_rows(columns)):
        values = ", ".join(row[n] for n in names)
        capture.execute(f"INSERT INTO `{table}` (id, {', '.join(f'`{n}`' for n in names)}) VALUES ({i}, {values})")
    events = capture.events(start)
    engine = [r for ev in events for r in fast_images(ev)]
    library_events = capture.events(start)
    library = [r for ev in library_events for r in row_images(ev.rows, LibraryLosses.of(ev.columns))]
    with capture.conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute(f"SELECT * FROM `{table}` ORDER BY id")
        server = cur.fetchall()
    assert len(server) == len(engine) == len(library) > len(columns)
    problems = []
    for want_row, engine_row, library_row in zip(server, engine, library):
        for name in ["id", *names]:
            spec = columns[name][0] if name != "id" else "INT"
            want = documented(spec, want_row[name])
            for path, got in (("engine", engine_row[name]), ("library", library_row[name])):
                if not same(spec, got, want):
                    problems.append(f"{path} row {want_row['id']} {name} {spec}: {got!r} != server {want!r}")
    assert not problems, "\n".join(problems[:60])
