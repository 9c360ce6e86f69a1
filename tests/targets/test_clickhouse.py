"""ClickHouse target: parity with the source, the type matrix, DDL, crash recovery.

Against the local ClickHouse 18.16 over the native protocol (clickhouse-driver),
and for the current-server path (DateTime64, Decimal256, Date32,
ReplacingMergeTree(ver, is_deleted)) against ClickHouse 26.9 run in-process by
chdb: the production sink with clickhouse-driver's own parameter substitution,
row encoding (Native blocks) and result decoding; only the bytes go to chdb
instead of a TCP socket (ch_helpers.ChdbClient).
"""
import datetime
from decimal import Decimal

import pytest

from workers.sinks import SinkError, open_sink
from workers.sinks import clickhouse as ch
from workers.sinks import clickhouse_types as cht

from . import parity_data as pd
from . import types_matrix as tm
from .binlog_helper import Recorder
from .ch_helpers import ChdbSink, ch_url, state
from .conftest import run, select_all
from .parity_data import PARITY_DDL, PARITY_DML

UTC = datetime.timezone.utc

# pd.ORDERS as the sink stores it: DATETIME (fsp 0) in a DateTime('UTC') column, read back tz-aware.
ORDERS_CH = [
    {"id": 1, "name": "a2", "amount": Decimal("4.5000000000"), "qty": 1,
     "at": datetime.datetime(2024, 1, 1, 10, 0, tzinfo=UTC)},
    {"id": 4, "name": "d", "amount": Decimal("4.0000000000"), "qty": 41, "at": None},
    {"id": 20, "name": "b", "amount": Decimal("-2.2500000000"), "qty": 2,
     "at": datetime.datetime(2024, 1, 2, 10, 0, tzinfo=UTC)},
]


def assert_parity(sink, conn, db):
    assert select_all(conn, db, "orders") == pd.ORDERS  # the source is in the state written out by hand
    assert state(sink, db, "orders") == ORDERS_CH
    assert state(sink, db, "order_lines", "order_id, line") == pd.ORDER_LINES


def test_parity_with_source_including_key_change_and_composite_key(source_db, source_url, clickhouse_url):
    db, conn = source_db
    run(conn, *PARITY_DDL)
    with Recorder(source_url, [db]) as rec:
        run(conn, *PARITY_DML)
    assert len(rec.changes()) == pd.PARITY_CHANGES
    sink = open_sink(ch_url(clickhouse_url, db), {"source": source_url})
    try:
        for batch in rec.batches(per_batch=3):
            sink.write(batch)
        assert_parity(sink, conn, db)
        assert sink.client.execute(f"SELECT count() FROM {db}.orders FINAL WHERE id = 2 AND _tower_deleted = 1") \
            == [(1,)]  # the old key of the key change is flagged deleted
        for batch in rec.batches():  # a full replay (at-least-once) changes nothing
            sink.write(batch)
        assert_parity(sink, conn, db)
    finally:
        sink.client.execute(f"DROP DATABASE IF EXISTS {db}")
        sink.close()


def test_type_matrix_on_18_16(source_db, source_url, clickhouse_url):
    db, conn = source_db
    run(conn, tm.TABLE_DDL)
    with Recorder(source_url, [db]) as rec:
        run(conn, *tm.INSERTS)
    sink = open_sink(ch_url(clickhouse_url, db), {"source": source_url})
    try:
        for batch in rec.batches():
            sink.write(batch)
        assert sink.features.version[:2] == (18, 16)
        # precision 65 > 38 and DATETIME(6) are exact text on 18.16 (docs/types.md)
        assert sink.ch_columns(db, "types") == tm.CH_18_16_TYPES
        rows = {r["id"]: r for r in state(sink, db, "types")}
        assert rows == tm.CH_18_16_ROWS
    finally:
        sink.client.execute(f"DROP DATABASE IF EXISTS {db}")
        sink.close()


def test_ddl_add_modify_drop_column(source_db, source_url, clickhouse_url):
    db, conn = source_db
    run(conn, "CREATE TABLE t (id INT PRIMARY KEY, a INT, b VARCHAR(10))")
    with Recorder(source_url, [db]) as rec:
        run(conn, "INSERT INTO t VALUES (1, 1, 'x')",
            "ALTER TABLE t ADD COLUMN c DECIMAL(12,4) NOT NULL DEFAULT 0, MODIFY COLUMN a BIGINT UNSIGNED",
            "UPDATE t SET c = 12345678.1234, a = 18446744073709551615 WHERE id = 1",
            "ALTER TABLE t DROP COLUMN b", "INSERT INTO t (id, a) VALUES (2, 2)", "TRUNCATE TABLE t",
            "INSERT INTO t (id, a, c) VALUES (3, 3, 3.5)")
    sink = open_sink(ch_url(clickhouse_url, db, ddl=1), {"source": source_url})
    try:
        changes = rec.changes()
        sink.write(rec.batches()[0].__class__(changes=changes[:1]))  # create the table before the DDL
        sink.write(rec.batches()[0].__class__(changes=changes[1:]))
        columns = sink.ch_columns(db, "t")
        assert columns["a"] == "Nullable(UInt64)" and columns["c"] == "Nullable(Decimal(12, 4))"
        assert "b" not in columns
        assert state(sink, db, "t") == [{"id": 3, "a": 3, "c": Decimal("3.5000")}]  # TRUNCATE applied in order
        assert sink.client.execute(f"SELECT a, c FROM {db}.t FINAL WHERE id = 1") == []
    finally:
        sink.client.execute(f"DROP DATABASE IF EXISTS {db}")
        sink.close()


def test_alter_parser():
    clauses = ch.alter_columns("ALTER TABLE `t` ADD COLUMN `x` decimal(10, 2) NOT NULL DEFAULT '0', "
                               "ADD INDEX i (x), DROP COLUMN y, MODIFY z enum('a,b','c') NULL AFTER x")
    assert [(a, n) for a, n, _ in clauses] == [("ADD", "x"), ("DROP", "y"), ("MODIFY", "z")]
    assert clauses[0][2].mysql_type == "decimal(10, 2)" and not clauses[0][2].nullable
    assert cht.ch_base_type(clauses[0][2], cht.CH_18_16) == "Decimal(10, 2)"


class CrashingSink(ch.ClickHouseSink):
    """Dies after its first INSERT statement: the middle of a batch (a crash the server cannot be asked for)."""

    def insert(self, db, table, columns, rows):
        super().insert(db, table, columns, rows)
        raise ConnectionResetError("worker killed mid-batch")


def test_crash_mid_batch_then_retry_from_committed_position_loses_nothing(source_db, source_url, clickhouse_url):
    db, conn = source_db
    run(conn, *PARITY_DDL)
    with Recorder(source_url, [db]) as rec:
        run(conn, *PARITY_DML)
    url = ch_url(clickhouse_url, db, batch_size=2)
    crashing = CrashingSink(url, {"source": source_url})
    batches = rec.batches()
    with pytest.raises(SinkError) as err:
        crashing.write(batches[0])
    assert "worker killed mid-batch" in str(err.value) and err.value.retryable
    crashing.close()
    sink = open_sink(url, {"source": source_url})  # recovery: the engine re-delivers from the committed position
    try:
        for batch in batches:
            sink.write(batch)
        assert_parity(sink, conn, db)
    finally:
        sink.client.execute(f"DROP DATABASE IF EXISTS {db}")
        sink.close()


def test_errors_are_sink_errors_without_credentials(source_url):
    sink = open_sink("clickhouse://tower:s3cr3t-pw@127.0.0.1:1/db", {"source": source_url})
    from workers.events import Batch, Position, RowChange

    with pytest.raises(SinkError) as err:
        sink.write(Batch([RowChange("d", "t", "INSERT", {"id": 1}, None, ("id",), Position("b.000001", 4))]))
    assert "s3cr3t" not in str(err.value) and "127.0.0.1:1" in str(err.value)
    with pytest.raises(SinkError) as err:
        open_sink("clickhouse://127.0.0.1:1/db").write(
            Batch([RowChange("d", "t", "INSERT", {"id": 1}, None, (), Position("b.000001", 4))]))
    assert "primary key" in str(err.value) and not err.value.retryable


# -- the current-ClickHouse path, executed by chdb (ClickHouse 26.9 in-process) --------------------------

@pytest.fixture(scope="module")
def chdb_session(tmp_path_factory):
    from chdb import session as chdb_session

    s = chdb_session.Session(str(tmp_path_factory.mktemp("chdb")))
    yield s
    s.close()


def chdb_sink(session, db, source_url):
    ChdbSink.session = session
    return ChdbSink(f"clickhouse://chdb/{db}", {"source": source_url})


def test_current_clickhouse_types_and_engine_with_chdb(source_db, source_url, chdb_session):
    db, conn = source_db
    run(conn, tm.TABLE_DDL)
    with Recorder(source_url, [db]) as rec:
        run(conn, *tm.INSERTS, "DELETE FROM types WHERE id = 4")
    assert len(rec.changes()) == 5
    sink = chdb_sink(chdb_session, db, source_url)
    for batch in rec.batches():
        sink.write(batch)
    assert sink.features.version[:2] == (26, 9) and sink.features.is_deleted and sink.features.decimal256
    ddl = sink.client.execute(f"SHOW CREATE TABLE {db}.types")[0][0]
    assert "ReplacingMergeTree(_tower_version, _tower_deleted)" in ddl
    assert sink.ch_columns(db, "types") == tm.CH_CURRENT_TYPES
    rows = {r["id"]: r for r in state(sink, db, "types")}
    assert rows == {k: v for k, v in tm.CH_CURRENT_ROWS.items() if k != 4}  # id 4 deleted; FINAL hides it
    assert sink.client.execute(f"SELECT id, _tower_deleted FROM {db}.types FINAL ORDER BY id") == \
        [(1, 0), (2, 0), (3, 0)]  # is_deleted: FINAL drops the deleted row itself


def test_current_clickhouse_parity_with_chdb(source_db, source_url, chdb_session):
    db, conn = source_db
    run(conn, *PARITY_DDL)
    with Recorder(source_url, [db]) as rec:
        run(conn, *PARITY_DML)
    assert len(rec.changes()) == pd.PARITY_CHANGES
    sink = chdb_sink(chdb_session, db, source_url)
    for batch in rec.batches(per_batch=2):
        sink.write(batch)
    assert sink.ch_columns(db, "orders") == {
        "id": "Int32", "name": "Nullable(String)", "amount": "Nullable(Decimal(30, 10))", "qty": "Nullable(UInt32)",
        "at": "Nullable(DateTime64(0, 'UTC'))", "_tower_version": "UInt64", "_tower_deleted": "UInt8"}
    assert_parity(sink, conn, db)
    for batch in rec.batches():  # a full replay (at-least-once) changes nothing
        sink.write(batch)
    assert_parity(sink, conn, db)
