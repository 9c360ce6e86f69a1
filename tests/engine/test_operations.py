"""DDL mid-stream, pause/resume, miss, set position and GTID resume against real workers."""
import json

import pytest

from console.models import AuditLog, Checkpoint, Instance, Subscription
from console.domain import subscriptions
from console.domain.errors import DomainError

from .conftest import caught_up, empty_redis_db, make_instance, make_subscription, wait_for, wait_for_dump_reload


def gtid_seqs(gtid_set):
    """MariaDB 'domain-server-seq,…' as sorted (domain, seq) pairs, comparable for "at least as far"."""
    return sorted((int(d), int(q)) for d, _server, q in (part.split("-") for part in gtid_set.split(",") if part))


def get_json(client, key):
    value = client.get(key)
    return json.loads(value) if value is not None else None


def test_ddl_mid_stream_keeps_columns_right(workers, source, redis_url):
    s = source.schema
    source.execute(f"CREATE TABLE `{s}`.t (id INT PRIMARY KEY, a INT, b INT)")
    instance = make_instance(source)
    target, client = empty_redis_db(redis_url, 14)
    make_subscription(instance, target, tables=f"{s}.*")
    workers.start("w1")
    workers.start_beat()
    source.execute(f"INSERT INTO `{s}`.t VALUES (1, 10, 100)")
    source.execute(f"ALTER TABLE `{s}`.t ADD COLUMN c VARCHAR(8) DEFAULT 'x' AFTER id")
    source.execute(f"INSERT INTO `{s}`.t (id, c, a, b) VALUES (2, 'two', 20, 200)")
    source.execute(f"ALTER TABLE `{s}`.t DROP COLUMN a")
    source.execute(f"INSERT INTO `{s}`.t (id, c, b) VALUES (3, 'three', 300)")
    source.execute(f"ALTER TABLE `{s}`.t MODIFY b VARCHAR(10)")
    source.execute(f"UPDATE `{s}`.t SET b='bee' WHERE id=3")
    source.execute(f"RENAME TABLE `{s}`.t TO `{s}`.t2")
    source.execute(f"INSERT INTO `{s}`.t2 (id, c, b) VALUES (4, 'four', 'b4')")
    wait_for(caught_up(source, instance), 60, message="the dump to pass the DDL")
    assert get_json(client, f"{s}-t-1") == {"id": 1, "a": 10, "b": 100}
    assert get_json(client, f"{s}-t-2") == {"id": 2, "c": "two", "a": 20, "b": 200}
    assert get_json(client, f"{s}-t-3") == {"id": 3, "c": "three", "b": "bee"}
    assert get_json(client, f"{s}-t2-4") == {"id": 4, "c": "four", "b": "b4"}


def test_pause_resume_one_subscription(workers, source, redis_url):
    s = source.schema
    source.execute(f"CREATE TABLE `{s}`.t (id INT PRIMARY KEY, v INT)")
    instance = make_instance(source)
    uri, client = empty_redis_db(redis_url, 14)
    paused = make_subscription(instance, uri + "?key=A-{$id}", name="a", tables=f"{s}.t")
    make_subscription(instance, uri + "?key=B-{$id}", name="b", tables=f"{s}.t")
    workers.start("w1")
    workers.start_beat()
    source.execute(f"INSERT INTO `{s}`.t VALUES (1, 1)")
    wait_for(lambda: client.get("A-1") and client.get("B-1"), 30, message="both subscriptions running")
    subscriptions.pause_job("tester", paused)
    wait_for(lambda: Subscription.objects.get(pk=paused.pk).state == "stopped", 5)
    wait_for_dump_reload(instance)
    source.execute(f"INSERT INTO `{s}`.t VALUES (2, 2), (3, 3)")
    wait_for(lambda: client.get("B-3"), 20, message="the other subscription to go on")
    wait_for(caught_up(source, instance), 20)
    assert client.get("A-2") is None and client.get("A-3") is None
    subscriptions.resume_job("tester", paused)
    wait_for(lambda: client.get("A-2") and client.get("A-3"), 20, message="the resumed subscription to catch up")
    assert AuditLog.objects.filter(action__in=("pause_subscription", "resume_subscription")).count() == 2


def test_miss_skips_exactly_one_failed_event(workers, source, redis_url):
    s = source.schema
    source.execute(f"CREATE TABLE `{s}`.t (id INT PRIMARY KEY, v INT)")
    instance = make_instance(source)
    target, client = empty_redis_db(redis_url, 15)
    client.set("L-3", "not a list")  # LPUSH onto it fails with WRONGTYPE, every time
    sub = make_subscription(instance, target + "?mode=list&key=L-{$id}", tables=f"{s}.t",
                            must_be_success=True)
    workers.start("w1")
    workers.start_beat()
    for i in range(1, 6):
        source.execute(f"INSERT INTO `{s}`.t VALUES ({i}, {i})")

    def failing():
        sub.refresh_from_db()
        return sub.state == "error" and sub.error_wait_data and sub.error_wait_data["row"]["id"] == 3
    wait_for(failing, 30, message="the subscription to stop on the event of id 3")
    assert "WRONGTYPE" in sub.error
    assert client.llen("L-1") >= 1 and client.llen("L-2") >= 1
    # MustBeSuccess: the subscription's position stays before the failing event (list mode is at-least-once:
    # a Redis MULTI/EXEC applies the commands around a failing one, so neighbours may arrive twice).
    cp = Checkpoint.objects.get(subscription=sub)
    failing_seq = sub.error_wait_data["commit_seq"]
    from workers.events import Position
    assert Position(cp.binlog_file, cp.binlog_pos).commit_seq < failing_seq
    subscriptions.miss("tester", sub)
    def recovered():
        sub.refresh_from_db()
        return sub.state == "normal" and sub.skipped_count == 1
    wait_for(recovered, 20, message="the subscription to recover after the miss")
    wait_for(lambda: client.exists("L-4") and client.exists("L-5"), 20, message="delivery after the miss")
    sub.refresh_from_db()
    assert sub.state == "normal" and sub.skipped_count == 1 and not sub.skip_next and sub.error == ""
    assert client.get("L-3") == b"not a list"
    assert AuditLog.objects.filter(action="miss_event", object_id=str(sub.pk)).count() == 1
    with pytest.raises(DomainError):
        subscriptions.miss("tester", sub)  # nothing is failing now


def test_set_position_replays_from_there(workers, source, redis_url):
    s = source.schema
    source.execute(f"CREATE TABLE `{s}`.t (id INT PRIMARY KEY, v INT)")
    instance = make_instance(source)
    file, pos, gtid = source.master()
    target, client = empty_redis_db(redis_url, 15)
    sub = make_subscription(instance, target, tables=f"{s}.t")
    workers.start("w1")
    workers.start_beat()
    source.execute(f"INSERT INTO `{s}`.t VALUES (1, 1), (2, 2)")
    wait_for(lambda: client.get(f"{s}-t-2"), 30)
    wait_for(caught_up(source, instance), 20)
    client.flushdb()
    subscriptions.set_position("tester", sub, file, pos, gtid)
    wait_for(lambda: client.get(f"{s}-t-1") and client.get(f"{s}-t-2"), 20, message="replay after set position")
    def committed():  # written with the next checkpoint commit after the replay
        cp = Checkpoint.objects.get(subscription=sub)
        return (cp.binlog_file, cp.binlog_pos)
    wait_for(lambda: committed() > (file, pos), 10, message="the replayed position to be committed")
    assert AuditLog.objects.filter(action="set_position").exists()
    with pytest.raises(DomainError):
        subscriptions.set_position("tester", sub, "", 0)


def test_a_replay_cut_by_kill_9_is_finished_after_takeover(workers, source, redis_url):
    """A subscription replaying from an earlier position stays marked behind (its queued position) until the
    replay is over: a worker killed mid-replay hands over a checkpoint the next leader rewinds for."""
    from workers.events import Position

    s, rows = source.schema, 100_000
    source.execute(f"CREATE TABLE `{s}`.t (id INT PRIMARY KEY, v INT)")
    instance = make_instance(source, candidates=("w1", "w2"))
    file, pos, gtid = source.master()
    target, client = empty_redis_db(redis_url, 13)
    sub = make_subscription(instance, target, tables=f"{s}.t")
    workers.start("w1")
    workers.start_beat()
    for k in range(rows // 1000):  # one transaction per thousand rows: a replay commits many times on the way
        source.execute(f"INSERT INTO `{s}`.t SELECT seq + {k * 1000}, seq FROM `{s}`.seq_1_to_1000")
    # Where the rows end: with the metadata DB on the source server the engine's own writes come after them,
    # and a position moved only past those is committed once a second.
    end = Position(*source.master()[:2]).commit_seq
    wait_for(caught_up(source, instance), 120, message="the first delivery")
    assert client.dbsize() == rows
    client.flushdb()
    subscriptions.set_position("tester", sub, file, pos, gtid)

    def replayed_part():  # a commit inside the replay: past the set position, short of where it had been
        cp = Checkpoint.objects.get(subscription=sub)
        return Position(file, pos).commit_seq < Position(cp.binlog_file, cp.binlog_pos).commit_seq < end

    wait_for(replayed_part, 60, interval=0.01, message="a commit in the middle of the replay")
    workers.kill("w1")
    cp = Checkpoint.objects.get(subscription=sub)
    assert Position(cp.queued_file, cp.queued_pos).commit_seq >= end  # still owed everything up to there
    workers.start("w2")
    wait_for(lambda: client.dbsize() == rows, 120, message="the rest of the replay after the takeover")
    assert sorted(int(k.rsplit(b"-", 1)[1]) for k in client.scan_iter(f"{s}-t-*")) == list(range(1, rows + 1))


def test_a_target_that_cannot_be_opened_parks_only_its_subscription(workers, source, redis_url):
    """A target whose settings the engine refuses (written around the checks, e.g. by an older version) stops
    its own subscription with the reason; the instance's other subscriptions keep delivering, and fixing the
    target lets it catch up."""
    from console.models import Target

    s = source.schema
    source.execute(f"CREATE TABLE `{s}`.t (id INT PRIMARY KEY, v INT)")
    instance = make_instance(source)
    good_url, good = empty_redis_db(redis_url, 12)
    bad_url, bad = empty_redis_db(redis_url, 11)
    make_subscription(instance, good_url, name="good", tables=f"{s}.t")
    broken = make_subscription(instance, bad_url, name="broken", tables=f"{s}.t")
    separator = "&" if "?" in bad_url else "?"
    Target.objects.filter(pk=broken.target_id).update(uri=f"{bad_url}{separator}ssl_ca_certs=/etc/passwd")
    workers.start("w1")
    workers.start_beat()
    source.execute(f"INSERT INTO `{s}`.t VALUES (1, 1)")
    wait_for(lambda: good.get(f"{s}-t-1"), 30, message="the good subscription's delivery")

    def parked():
        broken.refresh_from_db()
        return broken.state == "error" and broken.error

    wait_for(parked, 30, message="the broken subscription to show its error")
    assert broken.error.startswith("target settings refused: URI parameter 'ssl_ca_certs' is not allowed")
    assert bad.dbsize() == 0
    Target.objects.filter(pk=broken.target_id).update(uri=bad_url)
    wait_for(lambda: bad.get(f"{s}-t-1"), 30, message="the fixed target to catch up")
    wait_for(lambda: Subscription.objects.get(pk=broken.pk).state == "normal", 30, message="the error to clear")


def test_gtid_resume_after_kill(workers, source, redis_url):
    s = source.schema
    source.execute(f"CREATE TABLE `{s}`.t (id INT PRIMARY KEY, v INT)")
    instance = make_instance(source, gtid=True)
    target, client = empty_redis_db(redis_url, 15)
    make_subscription(instance, target, tables=f"{s}.t")
    workers.start("w1", TOWER_LEASE_TTL="3")
    workers.start_beat()
    source.execute(f"INSERT INTO `{s}`.t VALUES (1, 1)")
    wait_for(lambda: client.get(f"{s}-t-1"), 30)
    workers.kill("w1")
    source.execute(f"INSERT INTO `{s}`.t VALUES (2, 2)")
    source.execute(f"UPDATE `{s}`.t SET v=10 WHERE id=1")
    workers.start("w1", TOWER_LEASE_TTL="3")
    wait_for(lambda: get_json(client, f"{s}-t-1") == {"id": 1, "v": 10} and client.get(f"{s}-t-2"), 30,
             message="GTID resume")
    _, _, master_gtid = source.master()
    wait_for(caught_up(source, instance), 20)
    instance.refresh_from_db()
    # Other suites may write to the shared server meanwhile: the dumped GTID reaches at least the one read above.
    assert instance.with_gtid and gtid_seqs(instance.gtid_set) >= gtid_seqs(master_gtid)
    assert Instance.objects.get(pk=instance.pk).leader_version >= 2
