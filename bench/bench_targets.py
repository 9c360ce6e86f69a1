#!/usr/bin/env python
"""Target throughput and full-sync speed against the local servers (figures as `name: value`).

    .venv/bin/python bench/bench_targets.py [--rows 50000] [--fullsync-rows 100000]

Each target gets the same synthetic row changes (the 9-column shape of
bench/common.py: bigint, int, varchar, decimal, datetime, json, text, double,
tinyint; inserts, then updates of the same keys) in batches of 5,000 changes (the dump loop's MAX_BATCH)
(whole transactions of 100 rows), through the sink's `write`, which returns
only once the target has the batch durably (Kafka acks=all, RabbitMQ publisher
confirms, MongoDB acknowledged bulk_write, ClickHouse INSERT):

  kafka_rows_per_s       canal-json, BUSINESS_KEY_ORDER, 4 partitions (librdkafka mock cluster)
  amqp_rows_per_s        canal-json through a topic exchange into one durable queue (publisher confirms,
                         pipelined: a batch is published at once, then its confirms awaited)
  mongodb_rows_per_s     replace/upsert by primary key, ordered bulk_write of 1,000 (local SecantusDB)
  clickhouse_rows_per_s  ReplacingMergeTree INSERT (local ClickHouse 18.16)
  fullsync_rows_per_s    workers.snapshot.FullSync of a --fullsync-rows table into ClickHouse: primary-key
                         chunks of 5,000 between binlog watermarks (its integer key: READERS ranges of 5,000
                         read at once), with the engine's binlog stream running
  fullsync_blackhole_rows_per_s  the same full sync into blackhole:// (the copy's own cost: reads, conversion,
                         watermarks; goal >= 150,000)
  fullsync_vs_sink       fullsync_rows_per_s / clickhouse_rows_per_s (goal >= 0.8)

--only NAME[,NAME…] runs some figures (fullsync_vs_sink needs both of its figures, run for it).

RabbitMQ and MongoDB get fewer rows (--rows / 10 and / 25): MongoDB is far
slower here, RabbitMQ's queue grows on disk, and the rate is what matters.
"""
import argparse
import datetime
import os
import random
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def load_env():
    from tower.services_env import load_into_environ

    load_into_environ()


def batches(rows, per_batch=5000, per_tx=100, schema="bench", table="mixed"):
    from workers.events import Batch, Position, RowChange

    rnd = random.Random(5)
    base = datetime.datetime(2024, 1, 1)
    pos = 4
    changes = []
    for i in range(rows):
        key = i % max(1, rows // 2)
        row = {"id": key, "qty": rnd.randint(-10**6, 10**6), "name": f"customer-{key}",
               "price": Decimal(f"{rnd.randint(-9999999, 9999999)}.{rnd.randint(0, 99):02d}"),
               "created_at": base + datetime.timedelta(seconds=rnd.randint(0, 86400 * 365)),
               "attrs": {"k": key % 97, "tags": ["a", "b"]}, "note": "note " * rnd.randint(1, 12),
               "ratio": rnd.random() * 1000, "status": rnd.randint(0, 255)}
        kind = "INSERT" if i < rows // 2 else "UPDATE"
        changes.append(RowChange(schema, table, kind, row, dict(row) if kind == "UPDATE" else None, ("id",), None,
                                 timestamp=1700000000))
    out = []
    for start in range(0, len(changes), per_batch):
        batch = Batch()
        for tx_start in range(start, min(start + per_batch, len(changes)), per_tx):
            pos += 1000
            position = Position("mysql-bin.000001", pos)
            tx = changes[tx_start:min(tx_start + per_tx, start + per_batch, len(changes))]
            for seq, c in enumerate(tx):
                c.position, c.seq = position, seq
            batch.transactions.append((len(batch.changes), len(batch.changes) + len(tx), position))
            batch.changes.extend(tx)
        batch.end = batch.transactions[-1][2]
        out.append(batch)
    return out


def rate(sink, rows):
    work = batches(rows)
    started = time.perf_counter()
    for b in work:
        sink.write(b)
    elapsed = time.perf_counter() - started
    sink.close()
    return rows / elapsed


def bench_kafka(rows):
    from workers.sinks import open_sink

    topic = "bench-" + uuid.uuid4().hex[:8]
    return rate(open_sink(f"kafka://{os.environ['TOWER_KAFKA_BOOTSTRAP']}/{topic}",
                          {"order_type": "BUSINESS_KEY_ORDER"}), rows)


def bench_amqp(rows):
    import pika

    from workers.sinks import open_sink

    queue = "bench-" + uuid.uuid4().hex[:8]
    url = os.environ["TOWER_AMQP_URL"]
    try:
        return rate(open_sink(f"{url}?exchange=tower.bench&queue={queue}&topic=bench.mixed"), rows)
    finally:
        conn = pika.BlockingConnection(pika.URLParameters(url))
        conn.channel().queue_delete(queue)
        conn.close()


def bench_mongodb(rows):
    import pymongo

    from workers.sinks import open_sink

    db = "bench_" + uuid.uuid4().hex[:8]
    url = os.environ["TOWER_MONGO_URL"].rstrip("/")
    try:
        return rate(open_sink(f"{url}/{db}?collection=mixed"), rows)
    finally:
        pymongo.MongoClient(url).drop_database(db)


CH_DDL = ("CREATE TABLE {db}.mixed (id Int64, qty Nullable(Int32), name Nullable(String), "
          "price Nullable(Decimal(12, 2)), created_at Nullable(DateTime('UTC')), attrs Nullable(String), "
          "note Nullable(String), ratio Nullable(Float64), status Nullable(UInt8), _tower_version UInt64, "
          "_tower_deleted UInt8) ENGINE = ReplacingMergeTree(_tower_version) ORDER BY id")


def bench_clickhouse(rows):
    from workers.sinks import open_sink

    db = "bench_" + uuid.uuid4().hex[:8]
    hostport = os.environ["TOWER_CLICKHOUSE_URL"].split("://", 1)[1].split("/", 1)[0]
    sink = open_sink(f"clickhouse://{hostport}/{db}?table=mixed&create=0")
    sink.client.execute(f"CREATE DATABASE {db}")
    sink.client.execute(CH_DDL.format(db=db))
    try:
        return rate(sink, rows)
    finally:
        cleanup = open_sink(f"clickhouse://{hostport}/{db}")
        cleanup.client.execute(f"DROP DATABASE IF EXISTS {db}")
        cleanup.close()


def bench_fullsync(rows, target="clickhouse"):
    from urllib.parse import urlsplit

    import pymysql

    from workers.events import Position
    from workers.sinks import open_sink
    from workers.snapshot import FullSync, run_standalone
    from workers.source import master_status
    from workers.stream import BinlogStream

    src = urlsplit(os.environ["TOWER_SOURCE_URL"])
    params = dict(host=src.hostname, port=src.port or 3306, user=src.username or "root", password=src.password or "",
                  charset="utf8mb4", autocommit=True)
    db = "bench_fs_" + uuid.uuid4().hex[:8]
    conn = pymysql.connect(**params)
    cur = conn.cursor()
    cur.execute(f"CREATE DATABASE {db}")
    cur.execute(f"USE {db}")  # the seq_1_to_N sequence tables resolve in the current database
    cur.execute(f"CREATE TABLE {db}.t (id BIGINT PRIMARY KEY, qty INT, name VARCHAR(64), price DECIMAL(12,2), "
                "created_at DATETIME, note TEXT, ratio DOUBLE, status TINYINT UNSIGNED)")
    cur.execute(f"INSERT INTO {db}.t SELECT seq, seq % 1000, CONCAT('customer-', seq), seq / 100, "
                f"'2024-01-01' + INTERVAL seq SECOND, REPEAT('note ', seq % 12), seq / 7, seq % 256 "
                f"FROM seq_1_to_{int(rows)}")
    start = master_status(conn)
    hostport = os.environ["TOWER_CLICKHOUSE_URL"].split("://", 1)[1].split("/", 1)[0]
    if target == "blackhole":
        sink = open_sink("blackhole://")
    else:
        sink = open_sink(f"clickhouse://{hostport}/{db}", {"source": os.environ["TOWER_SOURCE_URL"]})
    stream = BinlogStream(params["host"], params["port"], params["user"], params["password"], 300001,
                          Position(start["file"], start["pos"]), wants=lambda s, t: s == db).start()
    try:
        fullsync = FullSync(lambda: pymysql.connect(**params), sink, [f"{db}.t"], chunk_rows=5000)
        started = time.perf_counter()
        run_standalone(fullsync, stream, sink)
        elapsed = time.perf_counter() - started
        if target == "blackhole":
            copied = fullsync.rows_done - fullsync.state.get("dropped", 0)  # the stream's changes are counted too
        else:
            copied = sink.client.execute(f"SELECT count() FROM {db}.t FINAL WHERE _tower_deleted = 0")[0][0]
        if copied != rows:
            raise RuntimeError(f"full sync copied {copied} rows of {rows}")
        return rows / elapsed
    finally:
        stream.stop()
        fullsync.close()
        if target != "blackhole":
            sink.client.execute(f"DROP DATABASE IF EXISTS {db}")
        sink.close()
        cur.execute(f"DROP DATABASE IF EXISTS {db}")
        conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50000)
    parser.add_argument("--fullsync-rows", type=int, default=100000)
    parser.add_argument("--only", default="", help="comma-separated figure names (default: all)")
    args = parser.parse_args()
    load_env()
    got = {}

    def vs_sink():
        return got["fullsync_rows_per_s"] / got["clickhouse_rows_per_s"]

    results = [
        ("kafka_rows_per_s", lambda: bench_kafka(args.rows)),
        ("amqp_rows_per_s", lambda: bench_amqp(max(1000, args.rows // 10))),
        ("mongodb_rows_per_s", lambda: bench_mongodb(max(1000, args.rows // 25))),
        ("clickhouse_rows_per_s", lambda: bench_clickhouse(args.rows)),
        ("fullsync_rows_per_s", lambda: bench_fullsync(args.fullsync_rows)),
        ("fullsync_blackhole_rows_per_s", lambda: bench_fullsync(args.fullsync_rows, "blackhole")),
        ("fullsync_vs_sink", vs_sink),
    ]
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    unknown = only - {name for name, _ in results}
    if unknown:
        parser.error(f"unknown figures: {', '.join(sorted(unknown))}")
    if "fullsync_vs_sink" in only:
        only |= {"clickhouse_rows_per_s", "fullsync_rows_per_s"}
    failed = False
    for name, run in results:
        if only and name not in only:
            continue
        try:
            got[name] = value = run()
            print(f"{name}: {value:.2f}" if name == "fullsync_vs_sink" else f"{name}: {value:.0f}", flush=True)
        except Exception as exc:  # noqa: BLE001 - report and go on with the other targets
            print(f"{name}: error {type(exc).__name__}: {exc}", flush=True)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
