#!/usr/bin/env python
"""Each sink against its bare client library on the same rows, side by side (figures as `name: value`).

    .venv/bin/python bench/bench_sinks_vs_raw.py [--rows 50000] [--repeat 3] [--only redis,kafka,...]

For every target the Tower sink's `write` and the bare client are timed in this one process, back to back
(sink, then raw, `--repeat` times; the best of each is printed), on the rows of bench_targets.batches (the
9-column shape, batches of 5,000 changes):

  <target>_rows_per_s      the sink's write() over the batches
  <target>_raw_rows_per_s  the client library alone writing the same bytes / documents / columns, with the
                           same guarantee and its best batch API, payloads built before the clock starts
  <target>_vs_raw          the first over the second (goal >= 0.8)

  redis       SET of the row JSON under the default key (pipeline.execute_command), one pipelined
              MULTI/EXEC per batch (db 250)
  kafka       the canal-json messages and keys, idempotent producer, acks=all, flush per batch
  amqp        the same messages and properties through a topic exchange into a durable queue, publisher
              confirms, a batch published at once then its confirms awaited (pika SelectConnection)
  mongodb     ReplaceOne(upsert) by _id of the same documents, ordered bulk_write of 1,000, unique key index
  clickhouse  the same converted values, clickhouse-driver columnar INSERT per batch

So the raw figure is what the client can do at best and the ratio is Tower's own cost (building keys,
messages, documents, columns). For redis, kafka and clickhouse that cost is also timed alone, the sink's
building without its client sending (the profile of the ratio, in microseconds per row):

  <target>_build_us_per_row   the sink's own work: redis keys and values queued on a pipeline never sent,
                              kafka messages() (keys and canal-json bodies), clickhouse columns converted
                              (its insert skipped)
  <target>_raw_us_per_row     the bare client's time per row (1e6 / <target>_raw_rows_per_s) RabbitMQ and MongoDB get fewer rows (--rows / 4), as they are far slower.
"""
import argparse
import datetime
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_targets import batches, load_env  # noqa: E402

REDIS_DB = 250  # no test uses it


def per_row_us(build, work, rows):
    """Microseconds per row of `build(batch)` over the batches."""
    started = time.perf_counter()
    for b in work:
        build(b)
    return (time.perf_counter() - started) / rows * 1e6


def timed_sink(sink, work, rows):
    sink.write(work[0])  # connection, topic or table lookup: a once-per-sink cost, not the rate (idempotent)
    return 1e6 / per_row_us(sink.write, work, rows)


# -- redis ------------------------------------------------------------------------------------------

def redis_pair(rows):
    import redis

    from workers.sinks import open_sink
    from workers.sinks.encoding import dumps_bytes
    from workers.sinks.redis import DEFAULT_TEMPLATE
    from workers.sinks.templates import Template

    url = os.environ["TOWER_REDIS_URL"].rsplit("/", 1)[0] + f"/{REDIS_DB}"
    work = batches(rows)
    sink = open_sink(url)
    try:
        sink_rate = timed_sink(sink, work, rows)

        def build(batch):
            pipe = sink.client.pipeline(transaction=True)
            for change in batch.changes:
                sink._queue(pipe, change)
            pipe.reset()

        build_us = per_row_us(build, work, rows)
    finally:
        sink.close()
    template = Template(DEFAULT_TEMPLATE)
    payloads = [[(template.render(c, c.row), dumps_bytes(c.row)) for c in b.changes] for b in work]
    client = redis.Redis.from_url(url)
    try:
        client.ping()
        started = time.perf_counter()
        for items in payloads:
            pipe = client.pipeline(transaction=True)
            for key, value in items:
                pipe.execute_command("SET", key, value)  # what pipe.set queues, without its option handling
            pipe.execute()
        raw_rate = rows / (time.perf_counter() - started)
        client.flushdb()
    finally:
        client.close()
    return sink_rate, raw_rate, build_us


# -- kafka ------------------------------------------------------------------------------------------

def kafka_pair(rows):
    from confluent_kafka import Producer

    from workers.sinks import open_sink

    bootstrap = os.environ["TOWER_KAFKA_BOOTSTRAP"]
    work = batches(rows)
    sink = open_sink(f"kafka://{bootstrap}/bench-sink-{uuid.uuid4().hex[:8]}", {"order_type": "BUSINESS_KEY_ORDER"})
    try:
        sink_rate = timed_sink(sink, work, rows)
        build_us = per_row_us(lambda b: list(sink.messages(b)), work, rows)
        payloads = [[(key, value) for _topic, key, value in sink.messages(b)] for b in work]
        config = dict(sink.config)
    finally:
        sink.close()
    topic = f"bench-raw-{uuid.uuid4().hex[:8]}"
    producer = Producer(config)  # the sink's own settings: acks=all, idempotence, linger.ms
    failures = []

    def on_delivery(err, msg):
        if err is not None:
            failures.append(err)

    for key, value in payloads[0][:1]:  # the topic exists and the producer is connected before the clock starts
        producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
    producer.flush(30)
    started = time.perf_counter()
    for items in payloads:
        for key, value in items:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
            except BufferError:
                producer.poll(0.05)
                producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
        if producer.flush(30):
            raise RuntimeError("raw kafka: messages not acknowledged")
    raw_rate = rows / (time.perf_counter() - started)
    if failures:
        raise RuntimeError(f"raw kafka: {failures[0]}")
    return sink_rate, raw_rate, build_us


# -- amqp -------------------------------------------------------------------------------------------

def _raw_amqp(url, exchange, queue, payloads):
    """pika's SelectConnection with publisher confirms, a whole batch published then its confirms awaited."""
    import pika
    from pika.adapters.select_connection import SelectConnection

    state = {"conn": None, "channel": None, "unconfirmed": set(), "floor": 1, "tag": 0, "error": None}

    def stop(*_):
        state["conn"].ioloop.stop()

    def on_confirm(frame):
        method = frame.method
        if isinstance(method, pika.spec.Basic.Nack):
            state["error"] = "nack"
        elif method.multiple:
            for tag in range(state["floor"], method.delivery_tag + 1):
                state["unconfirmed"].discard(tag)
            state["floor"] = max(state["floor"], method.delivery_tag + 1)
        else:
            state["unconfirmed"].discard(method.delivery_tag)
        if not state["unconfirmed"] or state["error"]:
            stop()

    def on_open_error(conn, exc):
        state["error"] = str(exc)
        stop()

    def run():
        state["conn"].ioloop.start()
        if state["error"]:
            raise RuntimeError(f"raw amqp: {state['error']}")

    got = []

    def done(value=None):
        got.append(value)
        stop()

    state["conn"] = SelectConnection(pika.URLParameters(url), on_open_callback=done,
                                     on_open_error_callback=on_open_error, on_close_callback=stop)
    run()
    state["conn"].channel(on_open_callback=done)
    run()
    channel = got[-1]
    channel.confirm_delivery(on_confirm, callback=done)
    run()
    channel.exchange_declare(exchange, exchange_type="topic", durable=True, callback=done)
    run()
    channel.queue_declare(queue, durable=True, callback=done)
    run()
    channel.queue_bind(queue, exchange, routing_key="#", callback=done)
    run()
    rows = sum(len(p) for p in payloads)
    started = time.perf_counter()
    for items in payloads:
        for routing_key, body, properties in items:
            channel.basic_publish(exchange, routing_key, body, properties, mandatory=True)
            state["tag"] += 1
            state["unconfirmed"].add(state["tag"])
        run()
    raw_rate = rows / (time.perf_counter() - started)
    channel.queue_delete(queue, callback=done)
    run()
    state["conn"].close()
    state["conn"].ioloop.start()  # until closed
    return raw_rate


def amqp_pair(rows):
    import pika

    from workers.sinks import open_sink

    url = os.environ["TOWER_AMQP_URL"]
    exchange = "tower.bench"
    sink_queue, raw_queue = "bench-sink-" + uuid.uuid4().hex[:8], "bench-raw-" + uuid.uuid4().hex[:8]
    work = batches(rows)
    sink = open_sink(f"{url}?exchange={exchange}&queue={sink_queue}&topic=bench.mixed")
    try:
        sink_rate = timed_sink(sink, work, rows)
        payloads = [[(routing_key, body, pika.BasicProperties(
            delivery_mode=2, content_type="application/json", message_id=message_id,
            headers={"key": key} if key is not None else None))
            for routing_key, key, body, message_id in sink.messages(b)] for b in work]
    finally:
        sink.close()
        conn = pika.BlockingConnection(pika.URLParameters(url))
        conn.channel().queue_delete(sink_queue)
        conn.close()
    return sink_rate, _raw_amqp(url, exchange, raw_queue, payloads)


# -- mongodb ----------------------------------------------------------------------------------------

def mongodb_pair(rows):
    import pymongo

    from workers.sinks import open_sink
    from workers.sinks.mongodb import document, document_id

    url = os.environ["TOWER_MONGO_URL"].rstrip("/")
    db = "bench_" + uuid.uuid4().hex[:8]
    work = batches(rows)
    client = pymongo.MongoClient(url)
    try:
        sink = open_sink(f"{url}/{db}?collection=sink")
        try:
            sink_rate = timed_sink(sink, work, rows)
        finally:
            sink.close()
        ops = []
        for b in work:
            for c in b.changes:
                doc = document(c.row)
                doc["_id"] = document_id(c.row, c.primary_key)
                ops.append(pymongo.ReplaceOne({"_id": doc["_id"]}, doc, upsert=True))
        collection = client[db]["raw"]
        collection.create_index([("id", pymongo.ASCENDING)], unique=True, name="tower_pk")
        started = time.perf_counter()
        for start in range(0, len(ops), 1000):
            collection.bulk_write(ops[start:start + 1000], ordered=True)
        raw_rate = rows / (time.perf_counter() - started)
    finally:
        client.drop_database(db)
        client.close()
    return sink_rate, raw_rate


# -- clickhouse -------------------------------------------------------------------------------------

def clickhouse_pair(rows):
    from bench.bench_targets import CH_DDL
    from workers.sinks import open_sink
    from workers.sinks.clickhouse import DELETED_COLUMN, VERSION_COLUMN, insert_sql

    db = "bench_" + uuid.uuid4().hex[:8]
    hostport = os.environ["TOWER_CLICKHOUSE_URL"].split("://", 1)[1].split("/", 1)[0]
    work = batches(rows)
    sink = open_sink(f"clickhouse://{hostport}/{db}?table=mixed&create=0")
    client = sink.client
    client.execute(f"CREATE DATABASE {db}")
    client.execute(CH_DDL.format(db=db))
    client.execute(CH_DDL.format(db=db).replace(f"{db}.mixed", f"{db}.raw"))
    try:
        sink_rate = timed_sink(sink, work, rows)
        sink.insert = lambda *_: None  # the sink's own work alone: the same batches, converted, not sent
        build_us = per_row_us(sink.write, work, rows)
        del sink.insert
        converters = sink._tables[(db, "mixed")]
        names = list(converters)
        columns = names + [VERSION_COLUMN, DELETED_COLUMN]
        payloads = []
        def driver_value(value):  # an aware datetime as the int the driver turns it into: its fast path
            return int(value.timestamp()) if isinstance(value, datetime.datetime) else value

        for b in work:
            cols = [[driver_value(converters[n](c.row.get(n))) for c in b.changes] for n in names]
            cols.append([c.position.commit_seq for c in b.changes])
            cols.append([1 if c.type == "DELETE" else 0 for c in b.changes])
            payloads.append(cols)
        sql = insert_sql(db, "raw", columns)
        started = time.perf_counter()
        for cols in payloads:
            client.execute(sql, cols, columnar=True)
        raw_rate = rows / (time.perf_counter() - started)
    finally:
        client.execute(f"DROP DATABASE IF EXISTS {db}")
        sink.close()
    return sink_rate, raw_rate, build_us


TARGETS = {
    "redis": (redis_pair, 1),
    "kafka": (kafka_pair, 1),
    "amqp": (amqp_pair, 4),
    "mongodb": (mongodb_pair, 4),
    "clickhouse": (clickhouse_pair, 1),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50000)
    parser.add_argument("--repeat", type=int, default=3, help="pairs per target; the best of each side is kept")
    parser.add_argument("--only", default="", help="comma-separated targets (default: all)")
    args, _ = parser.parse_known_args()  # scripts/bench.sh passes every module the same arguments
    load_env()
    only = [n.strip() for n in args.only.split(",") if n.strip()] or list(TARGETS)
    unknown = set(only) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    failed = False
    for name in only:
        pair, divisor = TARGETS[name]
        rows = max(1000, args.rows // divisor)
        try:
            figures = [pair(rows) for _ in range(max(1, args.repeat))]
        except Exception as exc:  # noqa: BLE001 - report and go on with the other targets
            print(f"{name}_vs_raw: error {type(exc).__name__}: {exc}", flush=True)
            failed = True
            continue
        sink_rate = max(f[0] for f in figures)
        raw_rate = max(f[1] for f in figures)
        print(f"{name}_rows_per_s: {sink_rate:.0f}", flush=True)
        print(f"{name}_raw_rows_per_s: {raw_rate:.0f}", flush=True)
        print(f"{name}_vs_raw: {sink_rate / raw_rate:.2f}", flush=True)
        builds = [f[2] for f in figures if len(f) > 2]
        if builds:
            print(f"{name}_build_us_per_row: {min(builds):.2f}  (the sink's own work; the sink takes "
                  f"{1e6 / sink_rate:.2f} in all)", flush=True)
            print(f"{name}_raw_us_per_row: {1e6 / raw_rate:.2f}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
