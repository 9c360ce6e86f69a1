"""RabbitMQ target against the local broker: publisher confirms, routing key = topic, same messages as Kafka."""
import json
import uuid

import pika
import pytest

from workers.sinks import SinkError, open_sink

from . import types_matrix as tm
from .binlog_helper import Recorder
from .conftest import run, select_all
from .mq_helpers import apply_canal, source_state
from .test_clickhouse import PARITY_DDL, PARITY_DML
from .test_kafka import assert_json_types


def amqp_uri(amqp_url, **params):
    return f"{amqp_url}?" + "&".join(f"{k}={v}" for k, v in params.items())


def drain(amqp_url, queue):
    """Every message waiting in a queue: [(routing key, properties, body as JSON)]."""
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = conn.channel()
        out = []
        while True:
            method, props, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return out
            out.append((method.routing_key, props, json.loads(body)))
    finally:
        try:
            conn.channel().queue_delete(queue)
        except Exception:
            pass
        conn.close()


def test_parity_through_an_exchange_with_confirms(source_db, source_url, amqp_url):
    db, conn = source_db
    run(conn, *PARITY_DDL)
    with Recorder(source_url, [db]) as rec:
        run(conn, *PARITY_DML)
    queue = "tw5-" + uuid.uuid4().hex[:8]
    sink = open_sink(amqp_uri(amqp_url, exchange="tw5.events", queue=queue, topic="{$SchemaName}.{$TableName}"),
                     {"order_type": "BUSINESS_KEY_ORDER"})
    batches = rec.batches(per_batch=3)
    expected_count = sum(len(list(sink.messages(b))) for b in batches)
    for batch in batches:
        sink.write(batch)  # returns after RabbitMQ confirmed every message
    sink.close()
    got = drain(amqp_url, queue)
    assert len(got) == expected_count
    assert {rk for rk, _, _ in got} == {f"{db}.orders", f"{db}.order_lines"}
    messages = [m for _, _, m in got]
    assert apply_canal([m for m in messages if m["table"] == "orders"]) == source_state(
        select_all(conn, db, "orders"))
    assert apply_canal([m for m in messages if m["table"] == "order_lines"], ("order_id", "line")) == source_state(
        select_all(conn, db, "order_lines", "order_id, line"), ("order_id", "line"))
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
    rows = {m["data"]["id"]: m["data"] for _, _, m in drain(amqp_url, queue)}
    assert_json_types(rows[1], rows[2], rows)


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
