"""ClickHouse target: parity with the source, the type matrix, DDL, crash recovery.

Against the local ClickHouse 18.16 over the native protocol (clickhouse-driver),
and for the current-server path (DateTime64, Decimal256, Date32,
ReplacingMergeTree(ver, is_deleted)) against ClickHouse 26.9 run in-process by
chdb: the same sink generates DDL and INSERT text, chdb executes it.
"""
import datetime
import json
from decimal import Decimal

import pytest

from workers.sinks import SinkError, open_sink
from workers.sinks import clickhouse as ch
from workers.sinks import clickhouse_types as cht

from . import types_matrix as tm
from .binlog_helper import Recorder
from .conftest import run, select_all


def ch_url(clickhouse_url, db, **params):
    base = clickhouse_url.split("://", 1)[1].split("/", 1)[0]
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"clickhouse://{base}/{db}" + (f"?{query}" if query else "")


def state(sink, db, table, order="id"):
    columns = [c for c in sink.ch_columns(db, table) if not c.startswith("_tower_")]
    rows = sink.client.execute(ch.current_state_sql(db, table, columns) + f" ORDER BY {order}")
    return [dict(zip(columns, r)) for r in rows]


def plain(value):
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=None)
    return value


PARITY_DDL = [
    "CREATE TABLE orders (id INT PRIMARY KEY, name VARCHAR(50), amount DECIMAL(30,10), qty INT UNSIGNED, "
    "at DATETIME)",
    "CREATE TABLE order_lines (order_id INT, line INT, sku VARCHAR(20), PRIMARY KEY (order_id, line))",
]
PARITY_DML = [
    "INSERT INTO orders VALUES (1,'a',1.5,1,'2024-01-01 10:00:00'),(2,'b',-2.25,2,'2024-01-02 10:00:00'),"
    "(3,'c',3,3,NULL),(4,'d',4,4,NULL)",
    "UPDATE orders SET name='a2', amount=amount*3 WHERE id=1",
    "UPDATE orders SET id=20 WHERE id=2",  # primary key change
    "DELETE FROM orders WHERE id=3",
    "BEGIN", "UPDATE orders SET qty=40 WHERE id=4", "UPDATE orders SET qty=41 WHERE id=4",
    "INSERT INTO orders VALUES (5,'e',5,5,NULL)", "DELETE FROM orders WHERE id=5", "COMMIT",
    "INSERT INTO order_lines VALUES (1,1,'x'),(1,2,'y'),(2,1,'z')",
    "UPDATE order_lines SET line=3 WHERE order_id=1 AND line=2",
    "DELETE FROM order_lines WHERE order_id=2",
]


def assert_parity(sink, conn, db):
    source = [{k: plain(v) for k, v in r.items()} for r in select_all(conn, db, "orders")]
    target = [{k: plain(v) for k, v in r.items()} for r in state(sink, db, "orders")]
    assert target == source
    assert [tuple(r.values()) for r in state(sink, db, "order_lines", "order_id, line")] == \
        [tuple(r.values()) for r in select_all(conn, db, "order_lines", "order_id, line")]


def test_parity_with_source_including_key_change_and_composite_key(source_db, source_url, clickhouse_url):
    db, conn = source_db
    run(conn, *PARITY_DDL)
    with Recorder(source_url, [db]) as rec:
        run(conn, *PARITY_DML)
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
        types = sink.ch_columns(db, "types")
        assert types["d65"] == "Nullable(String)"  # precision 65 > 38: exact text on 18.16
        assert types["d30"] == "Nullable(Decimal(30, 10))"
        assert types["dtm"] == "Nullable(String)" and types["zdt"] == "Nullable(DateTime('UTC'))"
        rows = {r["id"]: r for r in state(sink, db, "types")}
        one, two = rows[1], rows[2]
        assert one["biu"] == 18446744073709551615 and two["bi"] == -9223372036854775808
        assert one["d65"] == tm.D65_MAX and two["d65"] == "-" + tm.D65_MAX
        assert one["d30"] == Decimal("12345678901234567890.0123456789") and two["d30"] == Decimal(tm.D30_MIN)
        assert one["f"] == 1.5 and one["dbl"] == 3.141592653589793 and two["dbl"] == -2.5e-300
        assert one["b"] == 0b1010101010 and one["e"] == "y" and one["st"] == "a,c"
        assert one["dt"] == datetime.date(2024, 2, 29) and one["tm"] == "-838:59:59"
        assert one["dtm"] == "2024-01-31 23:59:59.123456"  # DATETIME as written
        assert one["ts"] == "2024-01-31 12:00:00.654321"  # TIMESTAMP in UTC
        assert one["yr"] == 2155 and one["vc"] == "héllo 😀 emoji" and one["tx"] == "long text 😀"
        assert one["vb"] == b"\xde\xad\xbe\xef" and one["bl"] == b"\x00\x01\x02\xff"
        assert json.loads(one["js"]) == tm.EXPECTED[1]["js"]
        assert all(v is None for k, v in rows[3].items() if k != "id")  # NULL in every type
        assert rows[4]["zd"] is None and rows[4]["zdt"] is None  # zero dates
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

class ChdbClient:
    """clickhouse-driver's `execute` over a chdb session: parameters and rows rendered as SQL literals."""

    def __init__(self, session):
        self.session = session

    def execute(self, query, params=None):
        if isinstance(params, dict):
            query = query % {k: cht.literal(v) for k, v in params.items()}
        result = self.session.query(query, "JSONCompact")
        text = result.bytes().decode() if hasattr(result, "bytes") else str(result)
        if not text.strip():
            return []
        return [tuple(r) for r in json.loads(text, parse_float=Decimal)["data"]]

    def disconnect(self):
        pass


class ChdbSink(ch.ClickHouseSink):
    session = None

    def connect(self):
        return ChdbClient(self.session)

    def insert(self, db, table, columns, rows):
        self.client.execute(ch.insert_text(db, table, columns, rows))


@pytest.fixture(scope="module")
def chdb_session(tmp_path_factory):
    from chdb import session as chdb_session

    s = chdb_session.Session(str(tmp_path_factory.mktemp("chdb")))
    yield s
    s.close()


def strings(sink, db, table):
    columns = [c for c in sink.ch_columns(db, table) if not c.startswith("_tower_")]
    select = ", ".join(f"toString({ch.quote_name(c)})" for c in columns)
    rows = sink.client.execute(f"SELECT {select} FROM {db}.{table} FINAL WHERE _tower_deleted = 0 ORDER BY 1")
    return {r[0]: dict(zip(columns, r)) for r in rows}


def test_current_clickhouse_types_and_engine_with_chdb(source_db, source_url, chdb_session):
    db, conn = source_db
    run(conn, tm.TABLE_DDL)
    with Recorder(source_url, [db]) as rec:
        run(conn, *tm.INSERTS, "DELETE FROM types WHERE id = 4")
    ChdbSink.session = chdb_session
    sink = ChdbSink(f"clickhouse://chdb/{db}", {"source": source_url})
    for batch in rec.batches():
        sink.write(batch)
    assert sink.features.version[0] >= 26 and sink.features.is_deleted
    ddl = sink.client.execute(f"SHOW CREATE TABLE {db}.types")[0][0]
    assert "ReplacingMergeTree(_tower_version, _tower_deleted)" in ddl
    types = sink.ch_columns(db, "types")
    assert types["d65"] == "Nullable(Decimal(65, 30))" and types["dtm"] == "Nullable(DateTime64(6, 'UTC'))"
    assert types["ts"] == "Nullable(DateTime64(6, 'UTC'))" and types["dt"] == "Nullable(Date32)"
    rows = strings(sink, db, "types")
    one, two = rows["1"], rows["2"]
    assert set(rows) == {"1", "2", "3"}  # id 4 deleted; FINAL hides it
    assert one["d65"] == tm.D65_MAX and two["d65"] == "-" + tm.D65_MAX  # string compare: Decimal() rounds to 28 digits
    assert Decimal(two["d30"]) == Decimal(tm.D30_MIN)
    assert one["biu"] == "18446744073709551615" and two["bi"] == "-9223372036854775808"
    assert one["dtm"] == "2024-01-31 23:59:59.123456" and one["ts"] == "2024-01-31 12:00:00.654321"
    assert one["dt"] == "2024-02-29" and one["tm"] == "-838:59:59" and one["b"] == str(0b1010101010)
    assert one["vc"] == "héllo 😀 emoji" and one["st"] == "a,c" and one["yr"] == "2155"
    assert json.loads(one["js"]) == tm.EXPECTED[1]["js"]
    assert rows["3"]["d65"] is None and rows["3"]["dtm"] is None  # NULL in every type


def test_current_clickhouse_parity_with_chdb(source_db, source_url, chdb_session):
    db, conn = source_db
    run(conn, *PARITY_DDL)
    with Recorder(source_url, [db]) as rec:
        run(conn, *PARITY_DML)
    ChdbSink.session = chdb_session
    sink = ChdbSink(f"clickhouse://chdb/{db}", {"source": source_url})
    for batch in rec.batches(per_batch=2):
        sink.write(batch)
    rows = strings(sink, db, "orders")
    source = {str(r["id"]): r for r in select_all(conn, db, "orders")}
    assert set(rows) == set(source)
    for key, r in source.items():
        assert rows[key]["name"] == r["name"] and Decimal(rows[key]["amount"]) == r["amount"]
        assert rows[key]["qty"] == str(r["qty"])
        assert rows[key]["at"] == (r["at"].strftime("%Y-%m-%d %H:%M:%S") if r["at"] else None)
