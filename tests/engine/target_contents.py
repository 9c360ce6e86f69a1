"""The five targets as a test sees them: a fresh, uniquely named target URI, and what the target holds now.

`open_target(kind, ...)` returns a Target with
    .uri                      the URI of a new, empty target of that kind (unique names: no other test shares it)
    .state(schema, table)     {primary key tuple: row} — the table as the target holds it now, as plain Python data
    .close()                  drops what the test created (queue, topic reader, database)

What `state` gives per kind (each row a dict column -> value, without target bookkeeping):
    redis       keys `{schema}-{table}-{id}` (the default key template), each value's JSON
    kafka       the topic's canal-json messages read from the beginning up to the high watermark, applied in
                order (INSERT/UPDATE upsert the row, an UPDATE whose key changed drops the old key, DELETE drops
                it), duplicates by (logfileName, logfileOffset, seq, type) skipped: at-least-once converges
    amqp        the same, over the messages of the test's own durable queue (drained and kept, so that
                state() may be called again later in the test)
    mongodb     the documents of database/collection `{db}`/`{table}`, `_id` checked against the row's key
    clickhouse  `SELECT … FROM db.table FINAL WHERE _tower_deleted = 0` (the documented current state of the
                ReplacingMergeTree table), DateTime values without their 'UTC' tzinfo

Values stay as each target holds them (JSON values for redis/kafka/amqp, BSON-decoded values such as
Decimal128 and bytes for MongoDB, clickhouse-driver values for ClickHouse): tests write their expectations in
that form by hand (test_type_fidelity.py), or map source rows into it with `expected_row` for the few plain
types the end-to-end test uses.
"""
import datetime
import json
import uuid
from decimal import Decimal
from urllib.parse import urlsplit

from canal import apply_canal

KINDS = ("redis", "kafka", "amqp", "mongodb", "clickhouse")
# The session fixture (tests/conftest.py) with each kind's server address
SERVICE_FIXTURES = {"redis": "redis_url", "kafka": "kafka_bootstrap", "amqp": "amqp_url", "mongodb": "mongo_url",
                    "clickhouse": "clickhouse_url"}


def open_target_for(request, kind, redis_db):
    """open_target for a test: the server address comes from the kind's session fixture."""
    name = SERVICE_FIXTURES[kind]
    return open_target(kind, **{name: request.getfixturevalue(name)}, redis_db=redis_db)


def unique(prefix="tw_e2e"):
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


class Target:
    kind = ""

    def state(self, schema, table, pk=("id",)):
        raise NotImplementedError

    def close(self):
        pass


class RedisTarget(Target):
    kind = "redis"

    def __init__(self, redis_url, db):
        import redis

        import isolation

        self.uri = isolation.redis_db(redis_url, db)
        self.client = redis.Redis.from_url(self.uri)
        self.client.flushdb()

    def state(self, schema, table, pk=("id",)):
        prefix = f"{schema}-{table}-"
        out = {}
        for key in self.client.scan_iter(match=f"{prefix}*", count=5000):
            row = json.loads(self.client.get(key))
            got = tuple(row[c] for c in pk)
            assert key.decode() == prefix + "-".join(str(v) for v in got), f"key {key!r} does not name its row {got}"
            out[got] = row
        return out

    def close(self):
        self.client.flushdb()
        self.client.close()


class KafkaTarget(Target):
    kind = "kafka"

    def __init__(self, bootstrap):
        self.bootstrap = bootstrap
        self.topic = unique("tw-e2e").replace("_", "-")
        self.uri = f"kafka://{bootstrap}/{self.topic}"

    def messages(self):
        """Every message of the topic, per partition in offset order, read up to the high watermarks."""
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        from waiting import wait_for

        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": uuid.uuid4().hex,
                             "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        try:
            meta = consumer.list_topics(self.topic, timeout=10).topics[self.topic]
            partitions = sorted(meta.partitions)
            ends = {p: consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)[1]
                    for p in partitions}
            consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in partitions])
            got = {p: [] for p in partitions}
            read = {p: 0 for p in partitions}

            def all_read():
                msg = consumer.poll(0.2)
                if msg is not None and not msg.error():
                    got[msg.partition()].append(json.loads(msg.value()))
                    read[msg.partition()] = msg.offset() + 1
                return all(read[p] >= ends[p] for p in partitions)

            wait_for(all_read, 60, interval=0, message=f"the messages of {self.topic} up to {ends}")
        finally:
            consumer.close()
        used = [p for p in partitions if got[p]]
        # INSTANCE_ORDER (the default order type) keys every message by the instance: one partition, one order
        assert len(used) <= 1, f"messages spread over partitions {used}: no single order to replay"
        return [m for p in partitions for m in got[p]]

    def state(self, schema, table, pk=("id",)):
        msgs = [m for m in self.messages() if m.get("database") == schema]
        return apply_canal(msgs, pk, table)


class AmqpTarget(Target):
    kind = "amqp"

    def __init__(self, amqp_url):
        self.amqp_url = amqp_url
        self.queue = unique("tw-e2e")
        # default exchange: the routing key names the queue, which the sink declares (durable) before publishing
        self.uri = f"{amqp_url}?queue={self.queue}&topic={self.queue}"
        self.received = []

    def _connection(self):
        import pika

        return pika.BlockingConnection(pika.URLParameters(self.amqp_url))

    def drain(self):
        conn = self._connection()
        try:
            channel = conn.channel()
            while True:
                method, _props, body = channel.basic_get(self.queue, auto_ack=True)
                if method is None:
                    break
                self.received.append(json.loads(body))
        finally:
            conn.close()
        return self.received

    def state(self, schema, table, pk=("id",)):
        msgs = [m for m in self.drain() if m.get("database") == schema]
        return apply_canal(msgs, pk, table)

    def close(self):
        conn = self._connection()
        try:
            conn.channel().queue_delete(self.queue)
        except Exception:  # noqa: BLE001  (never declared: the test failed before the first write)
            pass
        finally:
            conn.close()


class MongoTarget(Target):
    kind = "mongodb"

    def __init__(self, mongo_url):
        import pymongo

        self.db = unique()
        self.uri = f"{mongo_url.rstrip('/')}/{self.db}"
        self.client = pymongo.MongoClient(mongo_url)

    def state(self, schema, table, pk=("id",)):
        out = {}
        for doc in self.client[self.db][table].find():
            doc = dict(doc)
            _id = doc.pop("_id")
            key = tuple(doc[c] for c in pk)
            assert _id == (key[0] if len(pk) == 1 else dict(zip(pk, key))), f"_id {_id!r} is not the key {key}"
            out[tuple(_plain_key(v) for v in key)] = doc
        return out

    def close(self):
        try:
            self.client.drop_database(self.db)
        finally:
            self.client.close()


def _plain_key(value):
    from bson.decimal128 import Decimal128

    return value.to_decimal() if isinstance(value, Decimal128) else value


class ClickHouseTarget(Target):
    kind = "clickhouse"

    def __init__(self, clickhouse_url, ddl=True):
        from clickhouse_driver import Client

        parts = urlsplit(clickhouse_url)
        self.db = unique()
        self.uri = f"clickhouse://{parts.netloc}/{self.db}" + ("?ddl=1" if ddl else "")
        self.client = Client(host=parts.hostname, port=parts.port or 9000, user=parts.username or "default",
                             password=parts.password or "")

    def columns(self, table):
        rows = self.client.execute(f"DESCRIBE TABLE `{self.db}`.`{table}`")
        return {r[0]: r[1] for r in rows}

    def state(self, schema, table, pk=("id",)):
        exists = self.client.execute(f"EXISTS TABLE `{self.db}`.`{table}`")[0][0]
        if not exists:
            return {}
        names = [c for c in self.columns(table) if not c.startswith("_tower_")]
        select = ", ".join(f"`{c}`" for c in names)
        rows = self.client.execute(f"SELECT {select} FROM `{self.db}`.`{table}` FINAL WHERE _tower_deleted = 0")
        out = {}
        for values in rows:
            row = {n: _naive(v) for n, v in zip(names, values)}
            key = tuple(row[c] for c in pk)
            assert key not in out, f"two current rows for key {key}"
            out[key] = row
        return out

    def close(self):
        try:
            self.client.execute(f"DROP DATABASE IF EXISTS `{self.db}`")
        finally:
            self.client.disconnect()


def _naive(value):
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return value


def open_target(kind, *, redis_url=None, redis_db=None, kafka_bootstrap=None, amqp_url=None, mongo_url=None,
                clickhouse_url=None):
    if kind == "redis":
        return RedisTarget(redis_url, redis_db)
    if kind == "kafka":
        return KafkaTarget(kafka_bootstrap)
    if kind == "amqp":
        return AmqpTarget(amqp_url)
    if kind == "mongodb":
        return MongoTarget(mongo_url)
    if kind == "clickhouse":
        return ClickHouseTarget(clickhouse_url)
    raise ValueError(f"unknown target kind {kind!r}")


# -- source rows in each target's form, for plain column types only ----------------------------------------

def expected_row(kind, row):
    """A source row (pymysql values) as `kind` holds it, for INT, VARCHAR, DECIMAL, DATETIME (no fsp) and NULL.

    Written out by hand from docs/types.md (not with Tower's encoders): DECIMAL is its digit string in JSON
    targets, Decimal128 in MongoDB (read back as Decimal here), Decimal in ClickHouse; DATETIME is ISO text
    (`T` separator) in JSON targets and MongoDB, a datetime in ClickHouse."""
    out = {}
    for name, value in row.items():
        if value is None or isinstance(value, (int, str)):
            out[name] = value
        elif isinstance(value, Decimal):
            out[name] = value if kind in ("mongodb", "clickhouse") else str(value)
        elif isinstance(value, datetime.datetime):
            out[name] = value if kind == "clickhouse" else value.strftime("%Y-%m-%dT%H:%M:%S")
        else:
            raise TypeError(f"expected_row has no mapping for {type(value).__name__} ({name})")
    return out


def comparable(kind, state):
    """A target state with MongoDB's Decimal128 values read as Decimal (so that expected_row can match them)."""
    if kind != "mongodb":
        return state
    from bson.decimal128 import Decimal128

    return {k: {c: (v.to_decimal() if isinstance(v, Decimal128) else v) for c, v in row.items()}
            for k, row in state.items()}


def diff(got, want, limit=8):
    """Human-readable differences between two {key: row} states (empty when equal)."""
    problems = []
    for key in sorted(set(got) | set(want), key=repr):
        if key not in got:
            problems.append(f"missing {key}: {want[key]}")
        elif key not in want:
            problems.append(f"extra {key}: {got[key]}")
        elif got[key] != want[key]:
            g, w = got[key], want[key]
            cols = sorted(set(g) | set(w))
            problems.append(f"{key}: " + ", ".join(f"{c}={g.get(c, '<absent>')!r} want {w.get(c, '<absent>')!r}"
                                                     for c in cols if g.get(c, ...) != w.get(c, ...)))
        if len(problems) >= limit:
            problems.append("…")
            break
    return problems
