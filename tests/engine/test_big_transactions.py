"""Transactions of any size in bounded memory (docs/architecture.md, "Big transactions"): a transaction past
TOWER_TRANSACTION_PIECE_ROWS is delivered in pieces while the checkpoints stay at its start; a single huge row
is stored, or refused with the target's limit as the subscription's error while the dump goes on."""
import base64
import json

import pymysql
import pytest

from console.models import Checkpoint, Instance, Subscription

from private_servers import PrivateServer

from .conftest import (
    Source, empty_redis_db, leader, make_instance, make_subscription, redis_state, wait_caught_up, wait_for,
)
from .expect import diff_states, expected_state
from .target_contents import AmqpTarget, ClickHouseTarget, KafkaTarget, MongoTarget

BIG_ROWS = 40000
PIECE_ROWS = "500"


def boundaries(source, start, files):
    """Every transaction end position in these binlog files (where a checkpoint may point): after an XID, or
    after a statement logged on its own (DDL, COMMIT). Not after a GTID or BEGIN event: that position is inside
    its transaction (the one the rows of a transaction delivered in pieces carry)."""
    out = {start}
    for file in files:
        at = start[1] if file == start[0] else 4
        for _, _, kind, _, end, info in source.execute(f"SHOW BINLOG EVENTS IN '{file}' FROM {at}"):
            if kind == "Xid" or (kind == "Query" and not info.strip().upper().startswith("BEGIN")):
                out.add((file, int(end)))
    return out


def transaction_begin(source, start, table):
    """The position of the first event (GTID or BEGIN) of the first transaction after `start` that writes
    `table` (as a Table_map's info names it: "(schema.table)")."""
    begin = None
    for _, pos, kind, _, _, info in source.execute(f"SHOW BINLOG EVENTS IN '{start[0]}' FROM {start[1]}"):
        opens = kind == "Gtid" or (kind == "Query" and info.strip().upper().startswith("BEGIN"))
        if opens:
            begin = int(pos) if begin is None else begin  # MySQL: GTID, then BEGIN
        elif kind in ("Xid", "Query"):  # a transaction or a statement of its own ended
            begin = None
        elif kind == "Table_map" and table in info:
            return (start[0], begin)
    raise AssertionError(f"no transaction writes {table} after {start}")


def checkpoint_positions(instance):
    return set(Checkpoint.objects.filter(instance=instance).values_list("binlog_file", "binlog_pos"))


@pytest.mark.slow
def test_kill_9_while_a_transaction_is_delivered_in_pieces(workers, source, redis_url):
    s = source.schema
    source.execute(f"CREATE TABLE `{s}`.t (id INT PRIMARY KEY, n INT, v VARCHAR(64))")
    instance = make_instance(source, candidates=("w1", "w2"))
    origin = (instance.binlog_file, instance.binlog_pos)
    target, client = empty_redis_db(redis_url, 9)
    sub = make_subscription(instance, target, tables=f"{s}.t")
    env = {"TOWER_LEASE_TTL": "3", "TOWER_TRANSACTION_PIECE_ROWS": PIECE_ROWS}
    workers.start("w1", **env)
    workers.start_beat()
    version = wait_for(lambda: leader(instance.pk), 30, message="w1 to lead")[1]
    source.execute(f"INSERT INTO `{s}`.t VALUES (0, 0, 'before')")
    wait_caught_up(instance, source)
    instance.refresh_from_db()
    floor = (instance.binlog_file, instance.binlog_pos)  # committed: no checkpoint goes back before it
    start = source.master()[:2]  # where the big transaction is written after

    # One transaction of 80,000 row changes: 40,000 inserts, then an update of each of them.
    conn = pymysql.connect(host=source.host, port=source.port, user="root", autocommit=False)
    with conn.cursor() as cur:
        cur.execute(f"INSERT INTO `{s}`.t SELECT seq, seq, CONCAT('v', seq) FROM `{s}`.seq_1_to_{BIG_ROWS}")
        cur.execute(f"UPDATE `{s}`.t SET n = n + 1, v = CONCAT(v, 'u') WHERE id > 0")
    conn.commit()
    conn.close()
    end = source.master()[:2]

    samples = checkpoint_positions(instance)

    def partly_delivered():
        samples.update(checkpoint_positions(instance))
        return client.dbsize() > 1  # rows of the big transaction reached Redis before its end was read

    wait_for(partly_delivered, 60, interval=0.01, message="the first pieces of the big transaction in Redis")
    workers.kill("w1")
    partial = client.dbsize()
    samples.update(checkpoint_positions(instance))
    # Killed in the middle: some of its rows delivered (a whole transaction is one MULTI/EXEC: all or none), and
    # neither checkpoint moved past the transaction's start (with the metadata DB on the source server its own
    # writes are transactions too: the checkpoints may pass those before the big one, never into it; positions
    # moved only past such transactions are committed once a second, so they may not have passed them yet).
    assert 1 < partial < BIG_ROWS + 1, partial
    begin = transaction_begin(source, start, f"({s}.t)")
    for where in (Instance.objects.filter(pk=instance.pk), Checkpoint.objects.filter(subscription=sub)):
        assert floor <= where.values_list("binlog_file", "binlog_pos").get() <= begin

    source.execute(f"INSERT INTO `{s}`.t VALUES ({BIG_ROWS + 1}, 1, 'after')")
    workers.start("w2", **env)
    wait_for(lambda: leader(instance.pk, version), 30, message="w2 to take over")
    file, pos, _ = source.master()

    def caught_up():
        samples.update(checkpoint_positions(instance))
        return Instance.objects.values_list("binlog_file", "binlog_pos").get(pk=instance.pk) >= (file, pos)

    wait_for(caught_up, 180, interval=0.02, message="w2 to deliver the big transaction again and catch up")
    assert Instance.objects.get(pk=instance.pk).leader == "w2"
    assert diff_states(redis_state(client, f"{s}-t-"), expected_state(source, "t")) == []
    assert len(redis_state(client, f"{s}-t-")) == BIG_ROWS + 2
    allowed = boundaries(source, origin, sorted({f for f, _ in samples if f}))
    assert any(start <= p <= begin for p in samples) and end in allowed
    inside = sorted(p for p in samples if p[0] and p not in allowed)
    assert inside == [], f"checkpoints inside a transaction: {inside[:5]}"


class LeaseRenewals:
    """The instance's lease renewals as the test's polls see them: each renewal sets lease_expires to the
    worker's now + TTL, so the gaps between the values seen are the gaps between renewals."""

    def __init__(self, instance):
        self.instance_id, self.seen = instance.pk, []

    def note(self):
        expires = Instance.objects.values_list("lease_expires", flat=True).get(pk=self.instance_id)
        if not self.seen or expires != self.seen[-1]:
            self.seen.append(expires)

    def longest_gap(self):
        return max((b - a).total_seconds() for a, b in zip(self.seen, self.seen[1:]))


@pytest.fixture
def big_packet_source(tmp_path):
    """A private MariaDB that takes 64 MB rows (max_allowed_packet 256 MB): the shared one keeps its 16 MB."""
    server = PrivateServer("mariadb", tmp_path / "mariadb").start()
    conn = pymysql.connect(host="127.0.0.1", port=server.port, user="root", autocommit=True)
    with conn.cursor() as cur:
        cur.execute("SET GLOBAL max_allowed_packet = 268435456")
    conn.close()
    src = Source(f"mysql://root@127.0.0.1:{server.port}/", "eng_bigrow")  # connects with the new limit
    yield src
    src.conn.close()
    server.stop()


def closed_after(target):
    """A fixture's body for a target: it, then closed (its topic, queue or database dropped)."""
    yield target
    target.close()


@pytest.fixture
def mongo_target(mongo_url):
    yield from closed_after(MongoTarget(mongo_url))


@pytest.mark.slow
def test_a_64_mb_row_is_stored_or_refused_with_the_targets_limit(workers, big_packet_source, redis_url,
                                                                 kafka_bootstrap, mongo_target):
    src = big_packet_source
    s = src.schema
    size = 64 << 20
    src.execute(f"CREATE TABLE `{s}`.big (id INT PRIMARY KEY, b LONGBLOB)")
    src.execute(f"CREATE TABLE `{s}`.small (id INT PRIMARY KEY, v VARCHAR(16))")
    instance = make_instance(src)
    target, client = empty_redis_db(redis_url, 10)
    into_redis = make_subscription(instance, target, name="redis", tables=f"{s}.*")
    topic = f"tw-bigrow-{instance.pk}-{instance.slave_id}"
    into_kafka = make_subscription(instance, f"kafka://{kafka_bootstrap}/{topic}", name="kafka", tables=f"{s}.*")
    small_kafka = make_subscription(instance, f"kafka://{kafka_bootstrap}/{topic}-small", name="kafka-small",
                                    tables=f"{s}.small")
    into_mongo = make_subscription(instance, mongo_target.uri, name="mongodb", tables=f"{s}.*")
    workers.start("w1")
    workers.start_beat()
    wait_for(lambda: leader(instance.pk), 30, message="w1 to lead")
    src.execute(f"INSERT INTO `{s}`.small VALUES (1, 'before')")
    src.execute(f"INSERT INTO `{s}`.big VALUES (1, REPEAT('x', {size}))")
    src.execute(f"INSERT INTO `{s}`.small VALUES (2, 'after')")

    renewals = LeaseRenewals(instance)

    # Redis stores it (its limit, proto-max-bulk-len, is 512 MB by default).
    wait_for(lambda: renewals.note() or client.exists(f"{s}-big-1"), 120, interval=0.2,
             message="the 64 MB row in Redis")
    stored = json.loads(client.get(f"{s}-big-1"))
    assert stored["id"] == 1 and len(base64.b64decode(stored["b"])) == size
    assert set(base64.b64decode(stored["b"])[:1000]) == {ord("x")}

    # Kafka refuses it with the producer's limit, as the subscription's error; it stays before that row.
    def kafka_error():
        renewals.note()
        row = Subscription.objects.get(pk=into_kafka.pk)
        return row.error if row.state == "error" else ""

    error = wait_for(kafka_error, 120, interval=0.2, message="the Kafka subscription's error")
    assert "message.max.bytes (1000000)" in error and f"topic '{topic}'" in error, error
    assert "larger than the producer's message.max.bytes" in error, error
    # The failing event kept with it names the row and its BLOB's size, not the 89 MB of base64 (rewritten at
    # every retry, that starved the lease keeper's renewals for seconds).
    failing = Subscription.objects.get(pk=into_kafka.pk).error_wait_data
    assert failing["row"]["id"] == 1 and failing["row"]["b"].endswith(f"(base64 of {size} bytes in all)")
    assert len(json.dumps(failing)) < 4096, len(json.dumps(failing))

    # MongoDB: stored, or refused with its document limit (maxBsonObjectSize) as the subscription's error.
    def mongo_outcome():
        renewals.note()
        row = Subscription.objects.get(pk=into_mongo.pk)
        if row.state == "error":
            return ("refused", row.error)
        doc = mongo_target.client[mongo_target.db]["big"].find_one({"_id": 1})
        return ("stored", len(doc["b"])) if doc is not None else None

    outcome = wait_for(mongo_outcome, 120, interval=0.2, message="the MongoDB subscription to store or refuse it")
    if outcome[0] == "stored":
        assert outcome[1] == size
    else:
        assert "MongoDB at 127.0.0.1 refuses the document" in outcome[1], outcome
        assert "maxBsonObjectSize is 16777216 bytes" in outcome[1], outcome

    # The dump goes on for the other tables and subscriptions: row 2 (after the big row) reaches Redis, the
    # subscription of the small table only reaches the master position, and the instance's position too.
    wait_for(lambda: client.exists(f"{s}-small-2"), 60, message="the row after the big one in Redis")
    src.execute(f"INSERT INTO `{s}`.small VALUES (3, 'later')")
    file, pos, _ = src.master()

    def others_caught_up():
        renewals.note()
        done = Checkpoint.objects.filter(subscription__in=[into_redis, small_kafka], binlog_file=file,
                                         binlog_pos__gte=pos).count()
        return done == 2 and client.exists(f"{s}-small-3")

    wait_for(others_caught_up, 60, interval=0.2, message="the Redis and small-table Kafka subscriptions to go on")
    assert Subscription.objects.get(pk=small_kafka.pk).state == "normal"
    assert Subscription.objects.get(pk=into_redis.pk).state == "normal"
    stuck = Checkpoint.objects.get(subscription=into_kafka)
    assert (stuck.binlog_file, stuck.binlog_pos) < (file, pos)
    assert Instance.objects.get(pk=instance.pk).last_error == ""
    # Renewed all along (every second; the lease lapses TOWER_LEASE_TTL, 8 s, after the last renewal). Encoding
    # the row holds the interpreter for a moment at each try (gaps up to ~3 s measured); with the whole row
    # rewritten into the metadata database at each retry, gaps were 7-10 s.
    assert len(renewals.seen) >= 3 and renewals.longest_gap() < 5, renewals.longest_gap()


@pytest.fixture
def amqp_target(amqp_url):
    yield from closed_after(AmqpTarget(amqp_url))


@pytest.fixture
def clickhouse_target(clickhouse_url):
    yield from closed_after(ClickHouseTarget(clickhouse_url))


@pytest.mark.slow
def test_a_64_mb_row_reaches_rabbitmq_and_clickhouse(workers, big_packet_source, amqp_target, clickhouse_target):
    """Both store it: RabbitMQ's max_message_size is 128 MB (3.8 and later; the encoded message is ~89.5 MB),
    and a ClickHouse native INSERT sends its values as data blocks, not query text (max_query_size does not
    apply). The dump goes on with the rows after it."""
    src = big_packet_source
    s = src.schema
    size = 64 << 20
    src.execute(f"CREATE TABLE `{s}`.big (id INT PRIMARY KEY, b LONGBLOB)")
    src.execute(f"CREATE TABLE `{s}`.small (id INT PRIMARY KEY, v VARCHAR(16))")
    instance = make_instance(src)
    into_amqp = make_subscription(instance, amqp_target.uri, name="amqp", tables=f"{s}.*")
    into_clickhouse = make_subscription(instance, clickhouse_target.uri, name="clickhouse", tables=f"{s}.*")
    workers.start("w1")
    workers.start_beat()
    wait_for(lambda: leader(instance.pk), 30, message="w1 to lead")
    src.execute(f"INSERT INTO `{s}`.small VALUES (1, 'before')")
    src.execute(f"INSERT INTO `{s}`.big VALUES (1, REPEAT('x', {size}))")
    src.execute(f"INSERT INTO `{s}`.small VALUES (2, 'after')")
    wait_caught_up(instance, src, timeout=180)
    for sub in (into_amqp, into_clickhouse):
        row = Subscription.objects.get(pk=sub.pk)
        assert (row.state, row.error) == ("normal", ""), (sub.name, row.state, row.error)

    # RabbitMQ: one message holding the row, its BLOB as base64.
    big = [m for m in amqp_target.drain() if m.get("table") == "big"]
    assert [(m["type"], len(m["data"])) for m in big] == [("INSERT", 1)]
    blob = base64.b64decode(big[0]["data"][0]["b"])
    assert len(blob) == size and set(blob[:1000]) == {ord("x")}
    assert amqp_target.state(s, "small") == {(1,): {"id": 1, "v": "before"}, (2,): {"id": 2, "v": "after"}}

    # ClickHouse: the row in its String column, whole.
    ch, db = clickhouse_target.client, clickhouse_target.db
    stored = ch.execute(f"SELECT id, length(b), substring(b, 1, 1000) FROM `{db}`.big FINAL WHERE _tower_deleted = 0")
    assert stored == [(1, size, "x" * 1000)], [row[:2] for row in stored]
    assert clickhouse_target.state(s, "small") == {(1,): {"id": 1, "v": "before"}, (2,): {"id": 2, "v": "after"}}

    # The dump goes on after it.
    src.execute(f"INSERT INTO `{s}`.small VALUES (3, 'later')")
    wait_caught_up(instance, src)
    assert set(clickhouse_target.state(s, "small")) == {(1,), (2,), (3,)}
    assert set(amqp_target.state(s, "small")) == {(1,), (2,), (3,)}
    assert Instance.objects.get(pk=instance.pk).last_error == ""


@pytest.fixture
def framing_target(request):
    if request.param == "kafka":
        yield KafkaTarget(request.getfixturevalue("kafka_bootstrap"))
        return
    yield from closed_after(AmqpTarget(request.getfixturevalue("amqp_url")))


@pytest.mark.slow
@pytest.mark.parametrize("framing_target", ["kafka", "amqp"], indirect=True)
def test_with_trx_frames_a_transaction_in_pieces_once(workers, source, framing_target):
    """with_trx (Kafka, RabbitMQ): one BEGIN before the first row of a transaction delivered in pieces and one
    COMMIT after its last; every row carries the same position and a seq that runs on across pieces."""
    s = source.schema
    source.execute(f"CREATE TABLE `{s}`.t (id INT PRIMARY KEY, v VARCHAR(16))")
    instance = make_instance(source)
    target = framing_target
    make_subscription(instance, target.uri + ("&" if "?" in target.uri else "?") + "with_trx=1", tables=f"{s}.t")
    workers.start("w1", TOWER_TRANSACTION_PIECE_ROWS=PIECE_ROWS)
    workers.start_beat()
    wait_for(lambda: leader(instance.pk), 30, message="w1 to lead")
    source.execute(f"INSERT INTO `{s}`.t VALUES (0, 'before')")
    before_end = source.master()[1]
    source.execute(f"INSERT INTO `{s}`.t SELECT seq, 'big' FROM `{s}`.seq_1_to_2000")  # one transaction
    big_end = source.master()[1]
    source.execute(f"INSERT INTO `{s}`.t VALUES (2001, 'after')")
    wait_caught_up(instance, source)

    msgs = target.messages() if isinstance(target, KafkaTarget) else target.drain()
    kinds = [m["type"] for m in msgs]
    assert kinds == ["BEGIN", "INSERT", "COMMIT", "BEGIN"] + ["INSERT"] * 2000 + ["COMMIT", "BEGIN", "INSERT", "COMMIT"]
    big = msgs[3:2005]
    offsets = {m["logfileOffset"] for m in big}
    assert len(offsets) == 1
    offset = offsets.pop()
    # Delivered in pieces: the position of the transaction's first event, not its end (whole ones carry the end).
    # (Other tests may write to the shared server in between: its transactions are whole in the binlog.)
    file = big[0]["logfileName"]
    xid_end = next(int(end) for _, _, kind, _, end, _ in
                   source.execute(f"SHOW BINLOG EVENTS IN '{file}' FROM {offset} LIMIT 200") if kind == "Xid")
    assert msgs[1]["logfileOffset"] <= before_end < offset < xid_end <= big_end
    assert msgs[2006]["logfileOffset"] > big_end
    assert [m["seq"] for m in big[1:-1]] == list(range(2000))
    assert [m["data"][0]["id"] for m in big[1:-1]] == list(range(1, 2001))
