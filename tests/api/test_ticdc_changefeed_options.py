"""TiCDC changefeed options through the OpenAPI surface, down to what the engine does with them.

sink_config (protocol, dispatchers) is checked on the real local Kafka: the
changefeed is created over HTTP, its sink is opened the way the engine opens
it (a SubscriptionRuntime), and the keys and bodies of the messages it
produces are read back from the broker.
"""
import json
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from workers import tso
from console.models import Checkpoint, Instance, Subscription
from waiting import wait_for
from workers.events import Batch, Position, RowChange
from workers.subscriptions import SubscriptionRuntime

BINLOG_WHEN = 1_700_000_000  # instance_a's dumped position: mysql-bin.000003:1200 at this second


def consume(bootstrap, topic, count):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": uuid.uuid4().hex, "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(4)])
    got = []

    def enough():
        msg = consumer.poll(0.2)
        if msg is not None and not msg.error():
            got.append((msg.partition(), msg.key().decode() if msg.key() else None, json.loads(msg.value())))
        return len(got) >= count

    try:
        wait_for(enough, 20, interval=0, message=f"{count} messages on {topic}")
    finally:
        consumer.close()
    return got


def row(schema, table, id_, pos):
    return RowChange(schema, table, "INSERT", {"id": id_, "v": id_ * 10}, None, ("id",),
                     Position("mysql-bin.000003", pos), seq=0, timestamp=BINLOG_WHEN)


def test_dispatchers_and_protocol_key_each_table_on_kafka(world, api, kafka_bootstrap):
    topic = "cf-disp-" + uuid.uuid4().hex[:10]
    response = api(world.alice.token).post("/api/v1/changefeeds", {
        "changefeed_id": "dispatched", "upstream": "10.1.0.1:3306", "sink_uri": f"kafka://{kafka_bootstrap}/{topic}",
        "sink_config": {"protocol": "maxwell", "dispatchers": [
            {"matcher": ["shop.orders"], "dispatcher": "table"},
            {"matcher": ["shop.user*", "!shop.user_tmp"], "dispatcher": "rowid"},
            {"matcher": ["logs.*"], "dispatcher": "ts"},
            {"matcher": ["audit.*"], "dispatcher": "index-value"},
        ]},
    })
    assert response.status_code == 202, response.content
    job = Subscription.objects.select_related("target", "instance").get(name="dispatched")
    runtime = SubscriptionRuntime(job, Checkpoint(binlog_file="mysql-bin.000003", binlog_pos=1200))
    changes = [
        row("shop", "orders", 1, 2000), row("shop", "orders", 2, 2100),
        row("shop", "users", 7, 2200), row("shop", "users", 8, 2300),
        row("shop", "user_tmp", 9, 2400),  # excluded from the rowid matcher: falls through to default
        row("logs", "access", 1, 2500), row("logs", "error", 2, 2500),  # one transaction
        row("audit", "trail", 5, 2600),
        row("other", "t", 3, 2700),
    ]
    batch = Batch(changes=changes, end=changes[-1].position)
    runtime.sink.write(batch)
    runtime.close()

    got = consume(kafka_bootstrap, topic, len(changes))
    keys = {(m["database"], m["table"], m["data"]["id"]): key for _, key, m in got}
    assert keys == {
        ("shop", "orders", 1): "shop.orders", ("shop", "orders", 2): "shop.orders",  # table
        ("shop", "users", 7): "shop.users:7", ("shop", "users", 8): "shop.users:8",  # rowid: primary key
        ("shop", "user_tmp", 9): "10.1.0.1:3306",  # default: the instance
        ("logs", "access", 1): "mysql-bin.000003:2500", ("logs", "error", 2): "mysql-bin.000003:2500",  # ts
        ("audit", "trail", 5): "audit.trail:5",  # index-value
        ("other", "t", 3): "10.1.0.1:3306",  # no dispatcher matches
    }
    assert all(m["type"] == "insert" and m["position"].startswith("mysql-bin.000003:") for _, _, m in got)  # maxwell
    partitions = {}
    for partition, key, _ in got:
        partitions.setdefault(key, set()).add(partition)
    assert all(len(p) == 1 for p in partitions.values())  # one key, one partition: the order it promises


def test_protocol_reaches_amqp_and_is_ignored_by_other_sinks(world, api):
    alice = api(world.alice.token)
    for name, uri in (("cf-amqp", "amqp://u:p@127.0.0.1:5672/vh"), ("cf-hole", "blackhole://")):
        assert alice.post("/api/v1/changefeeds", {
            "changefeed_id": name, "upstream": "10.1.0.1:3306", "sink_uri": uri,
            "sink_config": {"protocol": "maxwell", "dispatchers": [{"matcher": ["a.*"], "dispatcher": "table"}]},
        }).status_code == 202
    from workers.changefeed import sink_options

    assert sink_options(Subscription.objects.get(name="cf-amqp")) == {"protocol": "maxwell"}
    assert sink_options(Subscription.objects.get(name="cf-hole")) == {}


def test_protocol_a_kafka_sink_cannot_write_is_refused(world, api, unchanged):
    alice = api(world.alice.token)
    with unchanged():
        response = alice.post("/api/v1/changefeeds", {
            "changefeed_id": "avro-feed", "upstream": "10.1.0.1:3306", "sink_uri": "kafka://127.0.0.1:9092/t",
            "sink_config": {"protocol": "avro"},
        })
    assert response.status_code == 400
    assert response.json()["error_code"] == "CDC:ErrAPIInvalidParam" and "avro" in response.json()["error_msg"]
    # the same protocol for a sink without one is ignored, as TiCDC does
    assert alice.post("/api/v1/changefeeds", {
        "changefeed_id": "avro-hole", "upstream": "10.1.0.1:3306", "sink_uri": "blackhole://",
        "sink_config": {"protocol": "avro"},
    }).status_code == 202
    # ... and an update that would give a kafka sink that protocol is refused too
    assert alice.post("/api/v1/changefeeds/avro-hole/pause").status_code == 202
    with unchanged():
        response = alice.put("/api/v1/changefeeds/avro-hole", {"sink_uri": "kafka://127.0.0.1:9092/t"})
    assert response.status_code == 400 and "avro" in response.json()["error_msg"]


def test_start_ts_before_the_dumped_position_is_refused(world, api, unchanged):
    Instance.objects.filter(pk=world.instance_a.pk).update(binlog_when=BINLOG_WHEN, leader_version=4)
    dumped = tso.position_ts(BINLOG_WHEN, 1200)
    alice = api(world.alice.token)
    with unchanged():
        response = alice.post("/api/v1/changefeeds", {
            "changefeed_id": "too-early", "upstream": "10.1.0.1:3306", "sink_uri": "blackhole://",
            "start_ts": dumped - 1,
        })
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "CDC:ErrAPIInvalidParam"
    assert "older than" in body["error_msg"] and str(dumped) in body["error_msg"]

    assert alice.post("/api/v1/changefeeds", {
        "changefeed_id": "from-now", "upstream": "10.1.0.1:3306", "sink_uri": "blackhole://", "start_ts": dumped,
    }).status_code == 202
    job = Subscription.objects.get(name="from-now")
    assert job.start_ts == dumped
    # its checkpoint is the position start_ts was checked against, fenced like the dump's own rows
    cp = Checkpoint.objects.get(subscription=job)
    assert (cp.binlog_file, cp.binlog_pos, cp.queued_file, cp.queued_pos) == ("mysql-bin.000003", 1200,
                                                                              "mysql-bin.000003", 1200)
    assert cp.leader_version == 4 and cp.binlog_when == BINLOG_WHEN
    detail = alice.get("/api/v1/changefeeds/from-now").json()
    assert detail["start_ts"] == dumped and detail["checkpoint_tso"] == dumped


def test_finished_changefeed_is_listed_and_final(world, api, unchanged):
    Subscription.objects.filter(pk=world.job_a.pk).update(state="finished")
    alice = api(world.alice.token)
    listed = alice.get("/api/v1/changefeeds", {"state": "finished"}).json()
    assert [c["id"] for c in listed] == ["job-a"] and listed[0]["state"] == "finished"
    with unchanged():
        assert alice.post("/api/v1/changefeeds/job-a/resume").status_code == 400
        assert alice.post("/api/v1/changefeeds/job-a/pause").status_code == 400
