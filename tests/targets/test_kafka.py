"""Kafka target against the local broker (librdkafka mock cluster, 4 partitions per topic)."""
import uuid

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from workers.sinks import SinkError, open_sink

from . import parity_data as pd
from . import types_matrix as tm
from .binlog_helper import Recorder, wait_for
from .conftest import run, select_all
from .mq_helpers import apply_canal, loads
from .parity_data import PARITY_DDL, PARITY_DML


def new_topic():
    return "tw5-" + uuid.uuid4().hex[:12]


def consume(bootstrap, topic, count, timeout=20, until=None):
    """[(partition, key, value)] of a topic's messages, per partition in offset order: the first `count`,
    or (with `until`) as many as it takes for until(values) to hold."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": uuid.uuid4().hex, "enable.auto.commit": False})
    # assign, not subscribe: no consumer-group rebalance to wait for
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(4)])
    got = []
    try:
        def enough():
            msg = consumer.poll(0.2)
            if msg is not None and not msg.error():
                got.append((msg.partition(), msg.key().decode() if msg.key() else None, msg.value()))
            if until is not None:
                return until([v for _, _, v in got])
            return len(got) >= count
        wait_for(enough, timeout, interval=0, message=f"messages on {topic}")
    finally:
        consumer.close()
    return got


def kafka_sink(bootstrap, topic, **options):
    protocol = options.pop("protocol", "canal-json")
    return open_sink(f"kafka://{bootstrap}/{topic}?protocol={protocol}", options)


def test_parity_and_per_key_order(source_db, source_url, kafka_bootstrap):
    db, conn = source_db
    run(conn, *PARITY_DDL)
    with Recorder(source_url, [db]) as rec:
        run(conn, *PARITY_DML)
    topic = new_topic()
    sink = kafka_sink(kafka_bootstrap, topic, order_type="BUSINESS_KEY_ORDER")
    batches = rec.batches(per_batch=2)
    for batch in batches:
        sink.write(batch)
    sink.close()
    assert sum(len(b.changes) for b in batches) == pd.PARITY_CHANGES
    total = sum(len(list(sink.messages(b))) for b in batches)
    assert total == pd.PARITY_CHANGES + 2  # two key changes went out as DELETE + INSERT
    got = consume(kafka_bootstrap, topic, total)
    assert len(got) == total
    messages = loads(v for _, _, v in got)
    assert select_all(conn, db, "orders") == pd.ORDERS
    orders = [m for m in messages if m["table"] == "orders"]
    assert apply_canal(orders) == pd.ORDERS_JSON
    lines = [m for m in messages if m["table"] == "order_lines"]
    assert apply_canal(lines, ("order_id", "line")) == pd.ORDER_LINES_JSON
    # every key lives in one partition, and its messages come in binlog order there
    by_key = {}
    for partition, key, value in got:
        by_key.setdefault(key, []).append((partition, value))
    assert len({p for p, _ in by_key[f"{db}.orders:4"]}) == 1
    seq = [(m["logfileOffset"], m["seq"]) for m in loads(v for _, v in by_key[f"{db}.orders:4"])]
    assert seq == sorted(seq) and len(seq) == 3  # insert + two updates of id 4
    key_change = by_offset_of_key_change(messages)
    split = [m for m in messages if m["table"] == "orders" and m["logfileOffset"] == key_change]
    # the key change, as two halves keyed (so partitioned) by the old and the new key
    assert sorted((m["type"], m["data"][0]["id"]) for m in split) == [("DELETE", 2), ("INSERT", 20)]
    first = next(m for m in orders if m["type"] == "UPDATE" and m["data"][0]["id"] == 1)
    assert first["old"] == [{"name": "a", "amount": "1.5000000000"}] and first["pkNames"] == ["id"]
    assert first["logfileName"].startswith("mysql-bin.") and first["es"] > 0


@pytest.mark.parametrize("order_type,expect", [
    ("TABLE_ORDER", lambda db, m: f"{db}.{m['table']}"),
    ("DB_ORDER", lambda db, m: db),
    ("INSTANCE_ORDER", lambda db, m: "10.0.0.1:3306"),
    ("TRANSACTION_ORDER", lambda db, m: f"{m['logfileName']}:{m['logfileOffset']}"),
    ("NO_ORDER", lambda db, m: None),
])
def test_order_types_choose_the_key(source_db, source_url, kafka_bootstrap, order_type, expect):
    db, conn = source_db
    run(conn, *PARITY_DDL[:1])
    with Recorder(source_url, [db]) as rec:
        run(conn, *PARITY_DML[:4])
    topic = new_topic()
    sink = kafka_sink(kafka_bootstrap, topic, order_type=order_type, instance="10.0.0.1:3306")
    changes = rec.changes()
    assert len(changes) == pd.PARITY_CHANGES_FIRST_4  # the loop below checks every message: there must be some
    for batch in rec.batches():
        sink.write(batch)
    got = consume(kafka_bootstrap, topic, len(changes))
    assert len(got) == len(changes)
    for partition, key, value in got:
        assert key == expect(db, loads([value])[0])
    if order_type in ("TABLE_ORDER", "DB_ORDER", "INSTANCE_ORDER"):
        assert len({p for p, _, _ in got}) == 1  # one key: one partition, total order


def test_type_matrix_canal_json(source_db, source_url, kafka_bootstrap):
    db, conn = source_db
    run(conn, tm.TABLE_DDL)
    with Recorder(source_url, [db]) as rec:
        run(conn, *tm.INSERTS)
    topic = new_topic()
    sink = kafka_sink(kafka_bootstrap, topic, order_type="TABLE_ORDER")
    for batch in rec.batches():
        sink.write(batch)
    messages = loads(v for _, _, v in consume(kafka_bootstrap, topic, 4))
    assert len(messages) == 4
    rows = {m["data"][0]["id"]: m["data"][0] for m in messages}
    assert rows == tm.JSON_ROWS  # the JSON form of docs/types.md, every column of every row


def test_maxwell_with_transaction_markers(source_db, source_url, kafka_bootstrap):
    db, conn = source_db
    run(conn, *PARITY_DDL[:1])
    with Recorder(source_url, [db]) as rec:
        run(conn, "BEGIN", "INSERT INTO orders VALUES (1,'a',1,1,NULL)", "UPDATE orders SET name='b' WHERE id=1",
            "COMMIT")
    topic = new_topic()
    sink = kafka_sink(kafka_bootstrap, topic, protocol="maxwell", with_trx="1", order_type="TRANSACTION_ORDER")
    for batch in rec.batches():
        sink.write(batch)
    messages = loads(v for _, _, v in consume(kafka_bootstrap, topic, 4))
    assert [m["type"] for m in messages] == ["begin", "insert", "update", "commit"]
    insert, update = messages[1], messages[2]
    assert update["old"] == {"name": "a"} and update["data"]["name"] == "b" and update.get("commit") is True
    assert insert.get("commit") is None and insert["primary_key"] == [1] and insert["primary_key_columns"] == ["id"]
    assert insert["position"] == messages[0]["position"] == messages[3]["position"]
    assert insert["database"] == db and insert["table"] == "orders"


def test_failed_send_raises_and_a_retry_of_the_batch_loses_nothing(source_db, source_url, kafka_bootstrap):
    db, conn = source_db
    run(conn, "CREATE TABLE t (id INT PRIMARY KEY, body TEXT)")
    with Recorder(source_url, [db]) as rec:
        run(conn, "INSERT INTO t VALUES (1, 'small'), (2, 'small')", f"INSERT INTO t VALUES (3, '{'x' * 5000}')",
            "INSERT INTO t VALUES (4, 'small')", "UPDATE t SET body = 'changed' WHERE id = 1")
    topic = new_topic()
    batch = rec.batches()[0]
    # The broker refuses the big row in the middle of the batch (its producer's size limit is small).
    failing = kafka_sink(kafka_bootstrap, topic, order_type="BUSINESS_KEY_ORDER",
                         producer_config={"message.max.bytes": 2000})
    with pytest.raises(SinkError) as err:
        failing.write(batch)
    assert "too large" in str(err.value) and not err.value.retryable
    # Recovery: the engine re-delivers the same batch from the committed position.
    sink = kafka_sink(kafka_bootstrap, topic, order_type="BUSINESS_KEY_ORDER")
    sink.write(batch)
    expected = {(1,): {"id": 1, "body": "changed"}, (2,): {"id": 2, "body": "small"},
                (3,): {"id": 3, "body": "x" * 5000}, (4,): {"id": 4, "body": "small"}}
    # Messages sent before the failure may arrive twice; deduplicated by (file, pos, seq) nothing is missing.
    consume(kafka_bootstrap, topic, 0, until=lambda values: apply_canal(loads(values)) == expected)


def test_bad_uri_and_unreachable_broker_are_sink_errors():
    with pytest.raises(SinkError, match="no topic"):
        open_sink("kafka://127.0.0.1:1/")
    with pytest.raises(SinkError, match="order type"):
        open_sink("kafka://127.0.0.1:1/t", {"order_type": "RANDOM"})
    from workers.events import Batch, Position, RowChange

    sink = open_sink("kafka://user:pa55word@127.0.0.1:1/t?timeout=1")
    with pytest.raises(SinkError) as err:
        sink.write(Batch([RowChange("d", "t", "INSERT", {"id": 1}, None, ("id",), Position("b.000001", 4))]))
    assert "pa55word" not in str(err.value) and err.value.retryable


def by_offset_of_key_change(messages):
    return next(m["logfileOffset"] for m in messages
                if m["table"] == "orders" and m["type"] == "INSERT" and m["data"][0]["id"] == 20)
