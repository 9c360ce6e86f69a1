"""TiCDC changefeed options acted on by the engine (workers/changefeed.py): target_ts, ignore_txn_start_ts, start_ts.

Real MariaDB, real Redis target, real Celery workers. Timestamps come from the
binlog itself (the commit event of a transaction, read back with
python-mysql-replication), so the ts a test computes is the one the engine computes.
"""
import json
import random

import pytest
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import XidEvent
from pymysqlreplication.row_event import WriteRowsEvent

from console.domain import subscriptions as jobs
from console.domain.errors import DomainError
from workers import tso
from console.domain.caller import Caller
from console.models import AuditLog, Checkpoint, Subscription

from .conftest import empty_redis_db, make_instance, make_subscription, wait_caught_up, wait_for

REDIS_DB = 8
MANAGER = Caller(is_manager=True)


@pytest.fixture
def target(redis_url):
    return empty_redis_db(redis_url, REDIS_DB)


def get_json(client, key):
    value = client.get(key)
    return json.loads(value) if value is not None else None


def commit_ts(source, file, pos, table):
    """The ts (workers.tso) and end position of the first transaction after file:pos that writes
    `table` of the test's schema, from its XID event (other tests may commit in between)."""
    reader = BinLogStreamReader(
        connection_settings={"host": source.host, "port": source.port, "user": "root", "passwd": ""},
        server_id=random.randint(100000, 4000000000), log_file=file, log_pos=pos, resume_stream=True,
        blocking=False, only_events=[WriteRowsEvent, XidEvent],
    )
    try:
        ours = False
        for event in reader:
            if isinstance(event, WriteRowsEvent):
                ours = (event.schema, event.table) == (source.schema, table)
            elif ours:
                return tso.position_ts(event.timestamp, event.packet.log_pos), event.packet.log_pos
    finally:
        reader.close()
    raise AssertionError(f"no transaction on {table} after {file}:{pos}")


def checkpoint(sub):
    return Checkpoint.objects.get(subscription=sub)


def test_target_ts_finishes_and_delivers_nothing_after(workers, source, target):
    url, client = target
    s = source.schema
    source.execute(f"CREATE TABLE `{s}`.t (id INT PRIMARY KEY, v INT)")
    instance = make_instance(source)
    source.execute(f"INSERT INTO `{s}`.t VALUES (1, 1)")
    file, pos, _ = source.master()
    source.execute(f"INSERT INTO `{s}`.t VALUES (2, 2)")
    before_boundary = source.master()
    # target_ts is the ts of row 2's commit: rows 1 and 2 are at or before it, what follows is after it.
    target_ts, _ = commit_ts(source, file, pos, "t")
    source.execute(f"INSERT INTO `{s}`.t VALUES (3, 3)")
    source.execute(f"UPDATE `{s}`.t SET v = 20 WHERE id = 2")
    row_3_ts, _ = commit_ts(source, *before_boundary[:2], "t")
    assert row_3_ts > target_ts, "the binlog rotated within the second of rows 2 and 3: their ts are not ordered"
    feed = make_subscription(instance, url + "?key=F-{$id}", name="feed", tables=f"{s}.t", target_ts=target_ts)
    make_subscription(instance, url + "?key=C-{$id}", name="control", tables=f"{s}.t")
    workers.start("w1")
    workers.start_beat()

    wait_for(lambda: get_json(client, "C-2") == {"id": 2, "v": 20}, 60,
             message="the control subscription past target_ts")
    wait_for(lambda: Subscription.objects.get(pk=feed.pk).state == "finished", 20, message="the changefeed to finish")
    assert get_json(client, "F-1") == {"id": 1, "v": 1} and get_json(client, "F-2") == {"id": 2, "v": 2}
    assert client.get("F-3") is None  # after target_ts: not delivered

    cp = checkpoint(feed)
    assert (cp.binlog_file, cp.binlog_pos) >= before_boundary[:2]  # rows 1 and 2 are behind the checkpoint
    assert 0 < tso.position_ts(cp.binlog_when, cp.binlog_pos) <= target_ts
    finished = AuditLog.objects.filter(action="finish_changefeed", object_id=feed.pk)
    assert finished.count() == 1 and finished[0].after["target_ts"] == target_ts

    # Finished is final: later changes reach the other subscription only, the checkpoint stays.
    source.execute(f"INSERT INTO `{s}`.t VALUES (4, 4)")
    wait_for(lambda: client.get("C-4"), 20, message="the control subscription to get row 4")
    wait_caught_up(instance, source, 20)
    assert client.get("F-4") is None and get_json(client, "F-2") == {"id": 2, "v": 2}
    assert (checkpoint(feed).binlog_file, checkpoint(feed).binlog_pos) == (cp.binlog_file, cp.binlog_pos)
    assert Subscription.objects.get(pk=feed.pk).state == "finished"


def test_ignore_txn_start_ts_skips_exactly_that_transaction(workers, source, target):
    url, client = target
    s = source.schema
    source.execute(f"CREATE TABLE `{s}`.t (id INT PRIMARY KEY, v INT)")
    instance = make_instance(source)
    feed = make_subscription(instance, url + "?key=I-{$id}", name="ign", tables=f"{s}.t", state="stopped")
    make_subscription(instance, url + "?key=C-{$id}", name="control", tables=f"{s}.t")
    workers.start("w1")
    workers.start_beat()
    wait_for(lambda: Checkpoint.objects.filter(subscription=feed).exists(), 30, message="the dump to start")

    source.execute(f"INSERT INTO `{s}`.t VALUES (1, 1)")
    file, pos, _ = source.master()
    source.execute(f"INSERT INTO `{s}`.t VALUES (2, 2), (3, 3)")  # the transaction to ignore: two rows
    ignored_ts, ignored_end = commit_ts(source, file, pos, "t")
    source.execute(f"INSERT INTO `{s}`.t VALUES (4, 4)")
    wait_for(lambda: client.get("C-4"), 30, message="the control subscription to get every row")
    assert client.get("C-2") and client.get("C-3")  # the ignored transaction is real and was read

    jobs.update_subscription(MANAGER, feed, options={**feed.options, "ignore_txn_start_ts": [ignored_ts, 12345]})
    jobs.resume_job(MANAGER, feed)
    wait_for(lambda: client.get("I-4"), 30, message="the resumed changefeed to catch up")
    assert get_json(client, "I-1") == {"id": 1, "v": 1}
    assert client.get("I-2") is None and client.get("I-3") is None

    wait_for(lambda: Subscription.objects.get(pk=feed.pk).skipped_count == 1, 10, message="the skip to be counted")
    audits = AuditLog.objects.filter(action="ignore_txn", object_id=feed.pk)
    assert [(a.after["start_ts"], a.actor) for a in audits] == [(ignored_ts, "system")]
    assert audits[0].after["commit_seq"] >> 32 == int(file.rsplit(".", 1)[1])
    assert audits[0].after["commit_seq"] & 0xFFFFFFFF == ignored_end
    assert Subscription.objects.get(pk=feed.pk).state == "normal"


def test_start_ts_passes_over_earlier_transactions_and_refuses_the_past(workers, source, target):
    url, client = target
    s = source.schema
    source.execute(f"CREATE TABLE `{s}`.t (id INT PRIMARY KEY, v INT)")
    instance = make_instance(source)
    file, pos, _ = source.master()
    source.execute(f"INSERT INTO `{s}`.t VALUES (1, 1)")
    # Just after row 1's commit: row 1 is before start_ts, row 2 (committed later) at or past it.
    start_ts = commit_ts(source, file, pos, "t")[0] + 1
    after_row_1 = source.master()[:2]
    # The instance has read nothing yet (binlog_when 0): any start_ts is accepted, the checkpoint starts at
    # the instance's position, before row 1.
    feed = jobs.create_subscription(MANAGER, name="late", instance=instance, sink_uri=url + "?key=S-{$id}",
                                    tables=f"{s}.t", start_ts=start_ts)
    assert (checkpoint(feed).binlog_file, checkpoint(feed).binlog_pos) == (instance.binlog_file, instance.binlog_pos)
    make_subscription(instance, url + "?key=C-{$id}", name="control", tables=f"{s}.t")
    source.execute(f"INSERT INTO `{s}`.t VALUES (2, 2)")
    assert commit_ts(source, *after_row_1, "t")[0] >= start_ts, "the binlog rotated within the second of rows 1 and 2"
    workers.start("w1")
    workers.start_beat()
    wait_for(lambda: client.get("S-2") and client.get("C-2"), 60, message="both subscriptions to get row 2")
    assert client.get("C-1") and client.get("S-1") is None  # row 1 is before start_ts
    assert Subscription.objects.get(pk=feed.pk).skipped_count == 0  # passed over, not skipped

    # The instance's position is written with the next checkpoint commit, which may follow the delivery by up
    # to COMMIT_EVERY.
    def dumped():
        instance.refresh_from_db()
        return tso.position_ts(instance.binlog_when, instance.binlog_pos)
    wait_for(lambda: dumped() >= start_ts, 10, message="the instance's position to pass start_ts")
    with pytest.raises(DomainError) as refused:
        jobs.create_subscription(MANAGER, name="too-old", instance=instance, sink_uri=url, tables=f"{s}.t",
                                 start_ts=start_ts - 1)
    assert refused.value.kind == "invalid" and "older than" in refused.value.message
    assert not Subscription.objects.filter(name="too-old").exists()
