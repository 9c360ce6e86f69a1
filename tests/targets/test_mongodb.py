"""MongoDB target against the local Mongo-wire server: documents keyed by primary key, exact values."""
import datetime
from decimal import Decimal

import pymongo
import pytest
from bson.decimal128 import Decimal128

from workers.sinks import SinkError, open_sink
from workers.sinks.mongodb import bson_value, document

from . import types_matrix as tm
from .binlog_helper import Recorder
from .conftest import run, select_all
from .test_clickhouse import PARITY_DDL, PARITY_DML


def mongo_uri(mongo_url, db, **params):
    base = mongo_url.rstrip("/")
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{base}/{db}" + (f"?{query}" if query else "")


@pytest.fixture
def mongo(mongo_url):
    client = pymongo.MongoClient(mongo_url)
    yield client
    client.close()


def expected_docs(rows, pk):
    out = {}
    for r in rows:
        doc = document(r)
        doc["_id"] = bson_value(r[pk[0]]) if len(pk) == 1 else {c: bson_value(r[c]) for c in pk}
        out[repr(doc["_id"])] = doc
    return out


def actual_docs(collection):
    return {repr(d["_id"]): d for d in collection.find()}


def test_parity_with_key_change_composite_key_and_replay(source_db, source_url, mongo_url, mongo):
    db, conn = source_db
    run(conn, *PARITY_DDL)
    with Recorder(source_url, [db]) as rec:
        run(conn, *PARITY_DML)
    sink = open_sink(mongo_uri(mongo_url, f"{db}_m", collection="{$TableName}", batch_size=2))
    try:
        for _ in range(2):  # the second pass is an at-least-once replay: same documents
            for batch in rec.batches(per_batch=3):
                sink.write(batch)
            target = mongo[f"{db}_m"]
            assert actual_docs(target.orders) == expected_docs(select_all(conn, db, "orders"), ("id",))
            lines = actual_docs(target.order_lines)
            assert lines == expected_docs(select_all(conn, db, "order_lines", "order_id, line"), ("order_id", "line"))
            assert {"_id": {"order_id": 1, "line": 3}, "order_id": 1, "line": 3, "sku": "y"} in lines.values()
        indexes = target.orders.index_information()
        assert indexes["tower_pk"]["unique"] is True
    finally:
        mongo.drop_database(f"{db}_m")
        sink.close()


def test_type_matrix(source_db, source_url, mongo_url, mongo):
    db, conn = source_db
    run(conn, tm.TABLE_DDL)
    with Recorder(source_url, [db]) as rec:
        run(conn, *tm.INSERTS)
    sink = open_sink(mongo_uri(mongo_url, "{$SchemaName}_m"))
    try:
        for batch in rec.batches():
            sink.write(batch)
        docs = {d["_id"]: d for d in mongo[f"{db}_m"].types.find()}
        one, two = docs[1], docs[2]
        assert one["biu"] == Decimal128("18446744073709551615")  # beyond int64: exact Decimal128
        assert one["bi"] == 9223372036854775807 and two["bi"] == -9223372036854775808
        assert one["d65"] == tm.D65_MAX and two["d65"] == "-" + tm.D65_MAX  # 65 digits: exact text
        assert one["d30"] == Decimal128("12345678901234567890.0123456789")
        assert two["d30"].to_decimal() == Decimal(tm.D30_MIN)
        assert one["f"] == 1.5 and one["dbl"] == 3.141592653589793 and one["b"] == "1010101010"
        assert one["e"] == "y" and one["st"] == ["a", "c"] and one["yr"] == 2155
        assert one["dt"] == "2024-02-29" and one["tm"] == "-838:59:59"
        assert one["dtm"] == "2024-01-31T23:59:59.123456" and one["ts"] == "2024-01-31T12:00:00.654321"
        assert one["vc"] == "héllo 😀 emoji" and one["bl"] == b"\x00\x01\x02\xff" and one["vb"] == b"\xde\xad\xbe\xef"
        assert one["js"] == {"a": 1, "b": [True, None, 1.5], "c": "😀"} and two["js"] == []
        assert all(v is None for k, v in docs[3].items() if k not in ("_id", "id"))
        assert docs[4]["zd"] is None and docs[4]["zdt"] is None
    finally:
        mongo.drop_database(f"{db}_m")
        sink.close()


def test_bson_values_are_exact():
    assert bson_value(Decimal("1.500000000000000000000000000000")) == Decimal128("1.500000000000000000000000000000")
    assert bson_value((1 << 63) - 1) == (1 << 63) - 1 and bson_value(1 << 63) == Decimal128(str(1 << 63))
    assert bson_value(datetime.datetime(2024, 1, 1, 0, 0, 0, 1)) == "2024-01-01T00:00:00.000001"
    assert bson_value({"a": Decimal("1.1")}) == {"a": Decimal128("1.1")}


def test_unreachable_server_is_a_retryable_sink_error():
    from workers.events import Batch, Position, RowChange

    sink = open_sink("mongodb://tower:m0ngo-pw@127.0.0.1:1/db?serverSelectionTimeoutMS=300")
    with pytest.raises(SinkError) as err:
        sink.write(Batch([RowChange("d", "t", "INSERT", {"id": 1}, None, ("id",), Position("b.000001", 4))]))
    assert "m0ngo-pw" not in str(err.value) and err.value.retryable
