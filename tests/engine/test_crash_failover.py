"""Crash safety and failover with real worker processes killed with SIGKILL."""
import random

import pytest

from console.models import Checkpoint, Instance
from workers import checkpoints
from workers.lease import Fenced, renew

from .conftest import Workload, empty_redis_db, leader, make_instance, make_subscription, redis_state, wait_for
from .expect import diff_states, expected_state

TABLE = "CREATE TABLE `{schema}`.`t` (id INT PRIMARY KEY, n INT, v VARCHAR(64), d DECIMAL(12,2))"


def boundaries(source, files):
    """Every transaction end position in these binlog files (where a checkpoint may point)."""
    out = set()
    for file in files:
        for row in source.execute(f"SHOW BINLOG EVENTS IN '{file}'"):
            if row[2] in ("Xid", "Query") or row[2].startswith("Gtid"):
                out.add((file, int(row[4])))
    return out


def two_candidates_into_redis(source, redis_url, db):
    """Table t on the source, an instance that w1 or w2 may dump, and a subscription into an empty Redis db."""
    source.execute(TABLE.format(schema=source.schema))
    instance = make_instance(source, candidates=("w1", "w2"))
    target, client = empty_redis_db(redis_url, db)
    make_subscription(instance, target, tables=f"{source.schema}.t")
    return instance, client


def commits_before_kill(instance_id, commits, source, workload_done):
    """Wait until the instance's committed position has moved `commits` times, or the workload is done and the
    position is at the master's."""
    first = Instance.objects.values_list("binlog_file", "binlog_pos").get(pk=instance_id)
    positions = {first}

    def committed():
        position = Instance.objects.values_list("binlog_file", "binlog_pos").get(pk=instance_id)
        positions.add(position)
        if len(positions) > commits:
            return True
        return workload_done.is_set() and position >= source.master()[:2]

    wait_for(committed, 60, interval=0.02, message=f"the leader to commit {commits} new positions")


@pytest.mark.slow
def test_kill_9_ten_times_during_50k_rows(workers, source, redis_url):
    instance, client = two_candidates_into_redis(source, redis_url, 12)
    for name in ("w1", "w2"):
        workers.start(name, TOWER_LEASE_TTL="3")
    workers.start_beat()
    version = wait_for(lambda: leader(instance.pk), 30, message="a first leader")[1] - 1

    wrng = random.Random(7)

    def write(cur, start):
        cur.executemany(f"INSERT INTO `{source.schema}`.t VALUES (%s,%s,%s,%s)",
                        [(i, i, f"v{i}", i / 100) for i in range(start, start + 250)])
        ids = wrng.sample(range(0, start + 250), 20)
        cur.execute(f"UPDATE `{source.schema}`.t SET n=n+1, v=CONCAT(v,'u') WHERE id IN %s", (ids,))
        cur.execute(f"DELETE FROM `{source.schema}`.t WHERE id=%s", (wrng.randrange(0, start + 250),))

    workload = Workload(source, range(0, 50000, 250), write, pause=0.05)
    workload.start()
    seen_positions = set()
    rng = random.Random(11)
    kills = 0
    while kills < 10:
        name, version = wait_for(lambda: leader(instance.pk, version), 30, message="a new leader after a kill")
        # Kill it mid-stream: once it committed a random number of new positions (or, the workload over, it
        # caught up with the master).
        commits_before_kill(instance.pk, rng.randint(1, 5), source, workload.done)
        seen_positions.update(Checkpoint.objects.filter(instance=instance).values_list("binlog_file", "binlog_pos"))
        workers.kill(name)
        kills += 1
        workers.start(name, TOWER_LEASE_TTL="3")
    workload.finished(timeout=300)
    wait_for(lambda: leader(instance.pk, version), 30, message="a leader after the last kill")
    file, pos, _ = source.master()

    def caught_up():
        instance.refresh_from_db()
        seen_positions.update(Checkpoint.objects.filter(instance=instance).values_list("binlog_file", "binlog_pos"))
        return (instance.binlog_file, instance.binlog_pos) >= (file, pos)

    wait_for(caught_up, 120, message="recovery to the master position")
    assert diff_states(redis_state(client, f"{source.schema}-t-"), expected_state(source, "t")) == []
    files = sorted({f for f, _ in seen_positions if f})
    allowed = boundaries(source, files) | {(instance.binlog_file, 0)}
    inside = {p for p in seen_positions if p[0] and p not in allowed}
    first = (Checkpoint.objects.filter(instance=instance, subscription__isnull=True).first())
    assert first is not None
    assert not inside, f"checkpoints inside a transaction: {sorted(inside)[:5]}"
    assert Instance.objects.get(pk=instance.pk).leader_version >= 11


@pytest.mark.slow
def test_failover_to_candidate_and_fencing(workers, source, redis_url):
    instance, client = two_candidates_into_redis(source, redis_url, 13)
    workers.start("w1")
    workers.start("w2")
    workers.start_beat()
    first = wait_for(lambda: leader(instance.pk), 30, message="a first leader")[0]
    source.execute(f"INSERT INTO `{source.schema}`.t VALUES (1, 1, 'a', 1)")
    wait_for(lambda: client.get(f"{source.schema}-t-1"), 20, message="row 1 in redis")
    old = Instance.objects.get(pk=instance.pk)

    workers.kill(first)
    source.execute(f"INSERT INTO `{source.schema}`.t VALUES (2, 2, 'b', 2)")
    # How long the failover takes is measured by bench/bench_engine.py (failover_seconds), not asserted here.
    wait_for(lambda: client.get(f"{source.schema}-t-2"), 60, message="the candidate to resume delivery")
    now = Instance.objects.get(pk=instance.pk)
    assert now.leader != first and now.leader in ("w1", "w2")
    assert now.leader_version > old.leader_version

    # The dead leader's version is fenced: no renewal, no checkpoint write.
    assert not renew(instance.pk, first, old.leader_version)
    before = Checkpoint.objects.get(instance=instance, subscription__isnull=True)
    from workers.events import Position
    with pytest.raises(Fenced):
        checkpoints.commit(instance.pk, first, old.leader_version, Position(before.binlog_file, 4), 0, [])
    with pytest.raises(Fenced):  # the same even under the new leader's name: the version decides
        checkpoints.commit(instance.pk, now.leader, old.leader_version, Position(before.binlog_file, 4), 0, [])
    after = Checkpoint.objects.get(instance=instance, subscription__isnull=True)
    assert (after.binlog_file, after.binlog_pos) >= (before.binlog_file, before.binlog_pos) and after.binlog_pos != 4


@pytest.mark.slow
@pytest.mark.parametrize("pool", [{}, {"TOWER_DUMPS_PER_PROCESS": "4"}], ids=["prefork", "threads"])
def test_warm_shutdown_hands_the_instance_over(workers, source, redis_url, pool):
    """SIGTERM to a worker's main process only (a warm shutdown waits for running tasks): its dump
    commits, releases the lease and returns, the worker exits, and the other worker takes over. The same
    with the dumps as threads of the worker's process (TOWER_DUMPS_PER_PROCESS)."""
    import os
    import signal

    instance, client = two_candidates_into_redis(source, redis_url, 13)
    workers.start("w1", **pool)
    workers.start_beat()
    first = wait_for(lambda: leader(instance.pk), 30, message="w1 to lead")
    assert first[0] == "w1"
    workers.start("w2", **pool)
    source.execute(f"INSERT INTO `{source.schema}`.t VALUES (1, 1, 'a', 1.50)")
    wait_for(lambda: client.get(f"{source.schema}-t-1"), 30, message="delivery by w1")

    w1 = workers.procs["w1"]
    os.kill(w1.pid, signal.SIGTERM)  # not the process group: the pool children get no signal
    wait_for(lambda: w1.poll() is not None, 20, message="w1 to finish its warm shutdown")
    second = wait_for(lambda: leader(instance.pk, first[1]), 30, message="w2 to take over")
    assert second[0] == "w2"
    source.execute(f"INSERT INTO `{source.schema}`.t VALUES (2, 2, 'b', 2.50)")
    wait_for(lambda: client.get(f"{source.schema}-t-2"), 30, message="delivery by w2")
    assert "fenced" not in workers.log("w1")  # it stopped by itself, it was not overtaken
