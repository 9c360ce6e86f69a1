"""Each local server that scripts/services.py starts answers a real request."""
import uuid
from urllib.parse import urlsplit

import pymysql
from waiting import wait_for


def test_mariadb_row_arrives_as_a_binlog_row_event(source_url):
    from pymysqlreplication import BinLogStreamReader
    from pymysqlreplication.row_event import WriteRowsEvent

    u = urlsplit(source_url)
    settings = {"host": u.hostname, "port": u.port, "user": u.username or "root", "passwd": ""}
    db = f"svc_{uuid.uuid4().hex[:8]}"
    conn = pymysql.connect(host=u.hostname, port=u.port, user="root", autocommit=True)
    with conn.cursor() as cur:
        cur.execute("SHOW GLOBAL VARIABLES WHERE Variable_name IN ('binlog_format','binlog_row_image','binlog_row_metadata','log_bin')")
        assert dict(cur.fetchall()) == {"binlog_format": "ROW", "binlog_row_image": "FULL", "binlog_row_metadata": "FULL", "log_bin": "ON"}
        cur.execute(f"CREATE DATABASE {db}")
        cur.execute(f"CREATE TABLE {db}.t (id INT PRIMARY KEY, name VARCHAR(20))")
        cur.execute("SHOW MASTER STATUS")
        file, pos = cur.fetchone()[:2]
        cur.execute(f"INSERT INTO {db}.t VALUES (1, 'hello')")
    stream = BinLogStreamReader(
        connection_settings=settings, server_id=4242, log_file=file, log_pos=pos, resume_stream=True,
        blocking=False, only_events=[WriteRowsEvent], only_schemas=[db],
    )
    try:
        rows = [row["values"] for event in stream for row in event.rows]
    finally:
        stream.close()
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE {db}")
        conn.close()
    assert rows == [{"id": 1, "name": "hello"}]


def test_redis_set_get(redis_url):
    import redis

    r = redis.Redis.from_url(redis_url)
    key = f"svc:{uuid.uuid4().hex}"
    r.set(key, "v1", ex=60)
    assert r.get(key) == b"v1"
    r.delete(key)


def test_mongo_document_round_trip(mongo_url):
    import pymongo

    client = pymongo.MongoClient(mongo_url, serverSelectionTimeoutMS=5000)
    coll = client["svc_test"][f"c{uuid.uuid4().hex[:8]}"]
    coll.insert_one({"_id": 1, "name": "hello", "n": 2**40})
    assert coll.find_one({"_id": 1}) == {"_id": 1, "name": "hello", "n": 2**40}
    coll.drop()
    client.close()


def test_kafka_produce_and_consume(kafka_bootstrap):
    from confluent_kafka import Consumer, Producer

    topic = f"svc-{uuid.uuid4().hex[:8]}"
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "acks": "all"})
    delivered = []
    producer.produce(topic, key=b"k", value=b"hello", on_delivery=lambda err, msg: delivered.append(err))
    producer.flush(10)
    assert delivered == [None]
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": topic, "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    try:
        def poll():
            msg = consumer.poll(0.5)
            return msg if msg is not None and not msg.error() else None

        msg = wait_for(poll, timeout=30)
        assert (msg.key(), msg.value()) == (b"k", b"hello")
    finally:
        consumer.close()


def test_rabbitmq_publish_with_confirm_and_consume(amqp_url):
    import pika

    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    ch = conn.channel()
    ch.confirm_delivery()
    queue = ch.queue_declare(queue="", exclusive=True).method.queue
    ch.basic_publish(exchange="", routing_key=queue, body=b"hello", mandatory=True)
    method, _, body = wait_for(lambda: (lambda r: r if r[0] else None)(ch.basic_get(queue, auto_ack=True)))
    assert body == b"hello"
    conn.close()


def test_clickhouse_insert_select(clickhouse_url):
    from clickhouse_driver import Client

    u = urlsplit(clickhouse_url)
    client = Client(u.hostname, port=u.port)
    table = f"svc_{uuid.uuid4().hex[:8]}"
    client.execute(f"CREATE TABLE {table} (id UInt64, name String) ENGINE = MergeTree ORDER BY id")
    try:
        client.execute(f"INSERT INTO {table} (id, name) VALUES", [(1, "hello"), (2, "world")])
        assert client.execute(f"SELECT id, name FROM {table} ORDER BY id") == [(1, "hello"), (2, "world")]
    finally:
        client.execute(f"DROP TABLE {table}")
