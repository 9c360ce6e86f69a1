"""Row events MariaDB 10.11 does not write (MySQL binary JSON, pre-5.6 temporal
types, nameless columns, null bitmaps with trailing bits set), built byte by byte
and decoded by the library and by the generated decoder: equal, or counted
fallbacks.  No server needed."""
from __future__ import annotations

import struct

import pytest
from pymysql.protocol import MysqlPacket
from pymysqlreplication.column import Column
from pymysqlreplication.constants import BINLOG
from pymysqlreplication.constants import FIELD_TYPE as FT
from pymysqlreplication.packet import BinLogPacketWrapper
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent
from pymysqlreplication.table import Table

from workers.decoder import fast_rows, stats
from workers.decoder.testing import diff_rows

TID = 77


class _Ctl:
    charset = "utf8"

    def _get_dbms(self):
        return "mysql"


def col(type_, name, **kw):
    base = dict(type=type_, name=name, unsigned=False, is_primary=False, charset_id=None,
                character_set_name=None, collation_name=None, enum_values=None, set_values=None,
                visibility=False)
    base.update(kw)
    return Column(**base)


def rows_event(columns, rows, event_type=BINLOG.WRITE_ROWS_EVENT_V2, bitmap=None):
    """A library RowsEvent for raw row images `rows` (each: null bitmap bytes + values)."""
    n = len(columns)
    bitmap = bitmap if bitmap is not None else bytes([0xFF] * ((n + 7) // 8))
    body = struct.pack("<Q", TID)[:6] + struct.pack("<HH", 1, 2) + bytes([n]) + bitmap
    if event_type == BINLOG.UPDATE_ROWS_EVENT_V2:
        body += bitmap
    body += b"".join(rows)
    header = struct.pack("<IBIII", 0, event_type, 1, 19 + len(body), 1000) + struct.pack("<H", 0)
    pkt = MysqlPacket(b"\x00" + header + body, "utf8")
    table_map = {TID: Table(TID, "db", "t", columns)}
    wrapper = BinLogPacketWrapper(
        pkt, table_map, _Ctl(), (8, 0, 0), False,
        frozenset([WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent]),
        None, None, None, None, False, False, False, True, False,
    )
    assert wrapper.event is not None
    return wrapper.event


def check(event, fallback=False):
    before = stats.fallback_rows
    fast = fast_rows(event)
    lib = event.rows
    assert diff_rows(fast, lib) is None, diff_rows(fast, lib)
    assert (stats.fallback_rows > before) == fallback, stats.fallback_reasons
    return lib


def test_mysql_binary_json():
    cols = [col(FT.LONG, "id"), col(FT.JSON, "j", length_size=4)]
    docs = [
        b"\x04\x01",                              # true
        b"\x05" + struct.pack("<h", -5),          # int16
        b"\x07" + struct.pack("<i", 70000),       # int32
        b"\x0b" + struct.pack("<d", 2.5),         # double
        b"\x0c\x03abc",                           # string
        b"\x02" + bytes.fromhex("0200 0c00 050100 0c0a00 01 61"),  # [1, "a"]
    ]
    rows = [b"\x00" + struct.pack("<i", i) + struct.pack("<I", len(d)) + d for i, d in enumerate(docs)]
    lib = check(rows_event(cols, rows))
    assert [r["values"]["id"] for r in lib] == list(range(len(docs)))
    assert lib[0]["values"]["j"] is True


@pytest.mark.parametrize("doc", [b"", b"\x04\x00"], ids=["empty", "null-literal"])
def test_mysql_json_without_fresh_none_source_falls_back(doc):
    # the library reports a stale/default none source for these: it decides
    cols = [col(FT.LONG, "id"), col(FT.JSON, "j", length_size=4)]
    check(rows_event(cols, [b"\x00" + struct.pack("<iI", 1, len(doc)) + doc]), fallback=True)


def test_old_temporal_types():
    cols = [
        col(FT.TIME, "t"),
        col(FT.DATETIME, "dt"),
        col(FT.TIMESTAMP, "ts"),
        col(FT.DATE, "d"),
    ]

    def row(t, dt, ts, d):
        return b"\x00" + struct.pack("<I", t)[:3] + struct.pack("<QI", dt, ts) + struct.pack("<I", d)[:3]

    lib = check(rows_event(cols, [
        row(123456, 20201231235959, 1_600_000_000, (2020 << 9) | (2 << 5) | 29),
        row(0, 0, 0, 0),
        row(8385959, 20200100000000, 1, (2020 << 9)),      # month 0 -> None
        row(1, 10000101000000, 2**31 - 1, (1000 << 9) | (1 << 5) | 1),
    ]))
    assert lib[1]["none_sources"] == {"dt": "out of datetime range", "d": "out of date range"}


def test_nameless_columns_and_trailing_null_bits():
    cols = [col(FT.LONG, None), col(FT.VARCHAR, None, max_length=10), col(FT.TINY, None, unsigned=True)]
    # null bitmap: 3 columns used; the server sets unused trailing bits: 0b11111000
    rows = [
        bytes([0b11111000]) + struct.pack("<i", 5) + b"\x02hi" + b"\xff",
        bytes([0b11111010]) + struct.pack("<i", 6) + b"\x07",
    ]
    lib = check(rows_event(cols, rows))
    assert lib[0]["values"] == {"UNKNOWN_COL0": 5, "UNKNOWN_COL1": "hi", "UNKNOWN_COL2": 255}
    assert lib[1]["none_sources"] == {"UNKNOWN_COL1": "null"}


def test_enum_without_metadata_falls_back():
    cols = [col(FT.LONG, "id"), col(FT.ENUM, "e", size=1)]
    check(rows_event(cols, [b"\x00" + struct.pack("<iB", 1, 2)]), fallback=True)


@pytest.mark.parametrize("event_type", [BINLOG.UPDATE_ROWS_EVENT_V2, BINLOG.DELETE_ROWS_EVENT_V2])
def test_unknown_charset_and_update_delete(event_type):
    cols = [col(FT.LONG, "id"), col(FT.BLOB, "b", length_size=2, character_set_name="swe7"),
            col(FT.STRING, "s", max_length=20, character_set_name="utf8")]
    image = b"\x00" + struct.pack("<i", 1) + b"\x02\x00ab" + b"\x02\xc3\xa9"
    empty = b"\x00" + struct.pack("<i", 2) + b"\x00\x00" + b"\x00"
    rows = [image + empty, empty + image] if event_type == BINLOG.UPDATE_ROWS_EVENT_V2 else [image, empty]
    lib = check(rows_event(cols, rows, event_type))
    first = lib[0].get("values") or lib[0]["before_values"]
    assert first["b"] == b"ab" and first["s"] == "é"


def test_truncated_row_falls_back():
    cols = [col(FT.LONG, "id"), col(FT.LONGLONG, "v")]
    ev = rows_event(cols, [b"\x00" + struct.pack("<iq", 1, 2), b"\x00" + struct.pack("<i", 3)])
    before = stats.fallback_events
    with pytest.raises(Exception):
        fast_rows(ev)  # the library itself fails on this event: so must we
    assert stats.fallback_events == before + 1
