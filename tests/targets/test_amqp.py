"""RabbitMQ target against the local broker: publisher confirms, routing key = topic, same messages as Kafka."""
import uuid

import pytest

from workers.sinks import SinkError, open_sink

from . import parity_data as pd
from . import types_matrix as tm
from .binlog_helper import Recorder
from .conftest import run, select_all
from .mq_helpers import amqp_uri, apply_canal, drain
from .parity_data import PARITY_DDL, PARITY_DML


def test_parity_through_an_exchange_with_confirms(source_db, source_url, amqp_url):
    db, conn = source_db
    run(conn, *PARITY_DDL)
    with Recorder(source_url, [db]) as rec:
        run(conn, *PARITY_DML)
    queue = "tw5-" + uuid.uuid4().hex[:8]
    sink = open_sink(amqp_uri(amqp_url, exchange="tw5.events", queue=queue, topic="{$SchemaName}.{$TableName}"),
                     {"order_type": "BUSINESS_KEY_ORDER"})
    batches = rec.batches(per_batch=3)
    assert sum(len(b.changes) for b in batches) == pd.PARITY_CHANGES
    expected_count = sum(len(list(sink.messages(b))) for b in batches)
    assert expected_count == pd.PARITY_CHANGES + 2  # two key changes go out as DELETE + INSERT
    for batch in batches:
        sink.write(batch)  # returns after RabbitMQ confirmed every message
    sink.close()
    got = drain(amqp_url, queue)
    assert len(got) == expected_count
    assert {rk for rk, _, _ in got} == {f"{db}.orders", f"{db}.order_lines"}
    messages = [m for _, _, m in got]
    assert select_all(conn, db, "orders") == pd.ORDERS
    assert apply_canal([m for m in messages if m["table"] == "orders"]) == pd.ORDERS_JSON
    assert apply_canal([m for m in messages if m["table"] == "order_lines"], ("order_id", "line")) == \
        pd.ORDER_LINES_JSON
    props = got[0][1]
    assert props.delivery_mode == 2 and props.message_id.startswith("mysql-bin.")
    assert props.headers["key"] == f"{db}.orders:1"


def test_type_matrix_and_maxwell(source_db, source_url, amqp_url):
    db, conn = source_db
    run(conn, tm.TABLE_DDL)
    with Recorder(source_url, [db]) as rec:
        run(conn, *tm.INSERTS)
    queue = "tw5-" + uuid.uuid4().hex[:8]
    sink = open_sink(amqp_uri(amqp_url, queue=queue, topic=queue, protocol="maxwell"))  # default exchange
    for batch in rec.batches():
        sink.write(batch)
    sink.close()
    got = drain(amqp_url, queue)
    assert len(got) == 4
    rows = {m["data"]["id"]: m["data"] for _, _, m in got}
    assert rows == tm.JSON_ROWS  # the JSON form of docs/types.md, every column of every row


def test_unroutable_message_is_an_error_not_a_silent_loss(source_db, source_url, amqp_url):
    db, conn = source_db
    run(conn, "CREATE TABLE t (id INT PRIMARY KEY)")
    with Recorder(source_url, [db]) as rec:
        run(conn, "INSERT INTO t VALUES (1)")
    sink = open_sink(amqp_uri(amqp_url, exchange="tw5.nobody", topic="nowhere"))
    with pytest.raises(SinkError, match="no queue receives routing key 'nowhere'"):
        sink.write(rec.batches()[0])
    sink.close()


def test_connection_errors_do_not_show_the_password():
    from workers.events import Batch, Position, RowChange

    sink = open_sink("amqp://tower:hunter2-pw@127.0.0.1:1/%2F?topic=x&connection_attempts=1")
    with pytest.raises(SinkError) as err:
        sink.write(Batch([RowChange("d", "t", "INSERT", {"id": 1}, None, ("id",), Position("b.000001", 4))]))
    assert "hunter2" not in str(err.value) and err.value.retryable
