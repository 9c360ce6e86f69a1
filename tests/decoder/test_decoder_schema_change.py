"""A schema change between events of the same table: each side is decoded with
its own table map (workers/decoder)."""
from __future__ import annotations

import datetime
from decimal import Decimal

from workers.decoder import decoder_for, fast_rows, stats
from workers.decoder.testing import diff_rows


def test_schema_change_between_events(capture, compare):
    capture.session("FULL")
    capture.execute("CREATE TABLE sc (id INT PRIMARY KEY, a VARCHAR(10), b INT, c DECIMAL(6,2))")
    start = capture.mark()
    capture.execute("INSERT INTO sc VALUES (1, 'one', 10, 1.25)")
    capture.execute("ALTER TABLE sc ADD COLUMN d DATETIME(3) NULL AFTER a")
    capture.execute("INSERT INTO sc VALUES (2, 'two', '2020-01-01 00:00:00.5', 20, -2.5)")
    capture.execute("UPDATE sc SET b = b + 1")
    capture.execute("ALTER TABLE sc DROP COLUMN a, MODIFY c DECIMAL(20,6)")
    capture.execute("INSERT INTO sc VALUES (3, NULL, 30, 3.000001)")
    capture.execute("ALTER TABLE sc MODIFY b BIGINT UNSIGNED, ADD COLUMN a TEXT")
    capture.execute("INSERT INTO sc VALUES (4, '2021-02-03 04:05:06.007', 18446744073709551615, 0, 'back')")
    capture.execute("DELETE FROM sc")

    generated = stats.decoders_generated
    events = capture.events(start)
    lib = compare(events)  # decoded one by one, in binlog order
    assert stats.decoders_generated - generated >= 4  # one decoder per schema

    writes = [rows[0]["values"] for ev, rows in zip(events, lib) if type(ev).__name__ == "WriteRowsEvent"]
    assert writes == [
        {"id": 1, "a": "one", "b": 10, "c": Decimal("1.25")},
        {"id": 2, "a": "two", "d": datetime.datetime(2020, 1, 1, 0, 0, 0, 500000), "b": 20, "c": Decimal("-2.50")},
        {"id": 3, "d": None, "b": 30, "c": Decimal("3.000001")},
        {"id": 4, "d": datetime.datetime(2021, 2, 3, 4, 5, 6, 7000), "b": 18446744073709551615,
         "c": Decimal("0.000000"), "a": "back"},
    ]
    assert str(writes[3]["c"]) == "0.000000"
    deletes = [rows for ev, rows in zip(events, lib) if type(ev).__name__ == "DeleteRowsEvent"]
    assert [r["values"]["id"] for r in deletes[0]] == [1, 2, 3, 4]


def test_events_decoded_later_keep_their_own_schema(capture):
    """Events buffered across an ALTER decode with the table map they were read with."""
    capture.session("FULL")
    capture.execute("CREATE TABLE sc2 (id INT PRIMARY KEY, v INT)")
    start = capture.mark()
    capture.execute("INSERT INTO sc2 VALUES (1, -7)")
    capture.execute("ALTER TABLE sc2 MODIFY v VARCHAR(5), ADD COLUMN w YEAR")
    capture.execute("INSERT INTO sc2 VALUES (2, 'x', 2001)")
    events = capture.events(start)  # all read first, none decoded yet
    first, second = (fast_rows(ev) for ev in events)
    assert first == [{"values": {"id": 1, "v": -7}, "none_sources": {}}]
    assert second == [{"values": {"id": 2, "v": "x", "w": 2001}, "none_sources": {}}]
    assert decoder_for(events[0].columns) is not decoder_for(events[1].columns)
    for ev, rows in zip(events, (first, second)):
        assert diff_rows(rows, ev.rows) is None
