"""MongoDB target against the local Mongo-wire server: documents keyed by primary key, exact values."""
import datetime
from decimal import Decimal

import pymongo
import pytest
from bson.decimal128 import Decimal128

from workers.sinks import SinkError, open_sink
from workers.sinks.mongodb import bson_value

from . import parity_data as pd
from . import types_matrix as tm
from .binlog_helper import Recorder
from .conftest import run, select_all
from .parity_data import PARITY_DDL, PARITY_DML


def mongo_uri(mongo_url, db, **params):
    base = mongo_url.rstrip("/")
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{base}/{db}" + (f"?{query}" if query else "")


@pytest.fixture
def mongo(mongo_url):
    client = pymongo.MongoClient(mongo_url)
    yield client
    client.close()


def docs(collection):
    """Every document of a collection, in key order."""
    return list(collection.find().sort("_id", 1))


def test_parity_with_key_change_composite_key_and_replay(source_db, source_url, mongo_url, mongo):
    db, conn = source_db
    run(conn, *PARITY_DDL)
    with Recorder(source_url, [db]) as rec:
        run(conn, *PARITY_DML)
    sink = open_sink(mongo_uri(mongo_url, f"{db}_m", collection="{$TableName}", batch_size=2))
    batches = rec.batches(per_batch=3)
    assert sum(len(b.changes) for b in batches) == pd.PARITY_CHANGES
    assert select_all(conn, db, "orders") == pd.ORDERS
    assert select_all(conn, db, "order_lines", "order_id, line") == pd.ORDER_LINES
    try:
        for _ in range(2):  # the second pass is an at-least-once replay: same documents
            for batch in batches:
                sink.write(batch)
            target = mongo[f"{db}_m"]
            assert docs(target.orders) == pd.ORDERS_MONGO
            assert docs(target.order_lines) == pd.ORDER_LINES_MONGO
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
        got = {d["_id"]: d for d in mongo[f"{db}_m"].types.find()}
        assert got == tm.MONGO_ROWS  # docs/types.md, MongoDB table: every column of every row
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


def test_empty_binary_values_are_bson_binary(source_db, source_url, mongo_url, mongo):
    db, conn = source_db
    run(conn, tm.TABLE_DDL)
    with Recorder(source_url, [db]) as rec:
        run(conn, *tm.INSERTS[:2], tm.INSERTS[3])
    sink = open_sink(mongo_uri(mongo_url, f"{db}_m"))
    try:
        for batch in rec.batches():
            sink.write(batch)
        doc = mongo[f"{db}_m"].types.find_one({"_id": 2})
        assert {c: doc[c] for c in tm.MONGO_EMPTY_BINARY} == tm.MONGO_EMPTY_BINARY
    finally:
        mongo.drop_database(f"{db}_m")
        sink.close()
