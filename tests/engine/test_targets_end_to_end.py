"""End to end, for every target: a real `celery -A tower worker` dumps the real binlog through the generated
decoder (TOWER_FAST_DECODER=1, the default) into Redis, Kafka, RabbitMQ, MongoDB and ClickHouse, and each target
ends up holding exactly the source table.

The test's own binlog reader plays no part: rows reach the target through the engine's stream, decoder,
subscriptions and checkpoints. Checked after each phase: inserts, updates (a primary-key change included),
deletes and a rolled-back transaction; ALTER TABLE ADD COLUMN and more DML; and a kill -9 of the leading worker
while transactions keep coming, with the candidate worker taking over. Delivery is at-least-once: message
targets may repeat messages (target_contents replays them in order), but the state must equal the source's.
"""
import random

import pytest

from .conftest import Workload, leader, make_instance, make_subscription, wait_caught_up, wait_for
from .target_contents import KINDS, comparable, diff, expected_row, open_target_for

TABLE = ("CREATE TABLE `{schema}`.`t` (id INT PRIMARY KEY, n INT, v VARCHAR(64), d DECIMAL(12,2), at DATETIME) "
         "CHARACTER SET utf8mb4")
REDIS_DB = 14


@pytest.fixture
def target(request):
    t = open_target_for(request, request.param, redis_db=REDIS_DB)
    yield t
    t.close()


def assert_same_state(target, source, phase):
    want = {(r["id"],): expected_row(target.kind, r) for r in source.rows("t")}
    got = comparable(target.kind, target.state(source.schema, "t"))
    problems = diff(got, want)
    assert not problems, f"{target.kind} after {phase}: " + "; ".join(problems)
    return len(want)


def row(i, rng, extra=False):
    values = (i, rng.randint(-10**6, 10**6), f"v{i}-ü€😀-{rng.randint(0, 999)}",
              f"{rng.randint(-10**9, 10**9) / 100:.2f}", f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)} 10:2{i % 10}:00")
    return values + (f"e{i}",) if extra else values


@pytest.mark.slow
@pytest.mark.parametrize("target", KINDS, indirect=True)
def test_engine_delivers_the_source_state(workers, source, target):
    rng = random.Random(20)
    t = f"`{source.schema}`.`t`"
    source.execute(TABLE.format(schema=source.schema))
    instance = make_instance(source, candidates=("w1", "w2"))
    make_subscription(instance, target.uri, tables=f"{source.schema}.t")
    workers.start("w1", TOWER_LEASE_TTL="3")
    workers.start_beat()
    first = wait_for(lambda: leader(instance.pk), 30, message="w1 to lead")
    assert first[0] == "w1"

    # 1. inserts, updates, a primary-key change, deletes, one transaction touching a row twice, a rollback
    for start in range(1, 201, 50):
        source.conn.begin()
        source.executemany(f"INSERT INTO {t} VALUES (%s,%s,%s,%s,%s)", [row(i, rng) for i in range(start, start + 50)])
        source.conn.commit()
    source.execute(f"UPDATE {t} SET n = n + 1, v = CONCAT(v, '-u') WHERE MOD(id, 3) = 0")
    source.execute(f"UPDATE {t} SET id = id + 1000 WHERE id IN (5, 6, 7)")
    source.execute(f"DELETE FROM {t} WHERE MOD(id, 10) = 1")
    source.conn.begin()
    source.execute(f"UPDATE {t} SET d = -0.01, at = NULL WHERE id = 2")
    source.execute(f"UPDATE {t} SET d = 123.45, v = NULL WHERE id = 2")
    source.execute(f"INSERT INTO {t} VALUES (300, 1, 'gone', 1, NULL)")
    source.execute(f"DELETE FROM {t} WHERE id = 300")
    source.conn.commit()
    source.conn.begin()
    source.execute(f"DELETE FROM {t}")
    source.conn.rollback()
    wait_caught_up(instance, source)
    assert assert_same_state(target, source, "inserts, updates, deletes") == 200 - 20

    # 2. DDL, then DML over every row (row targets learn the new column from the row images)
    source.execute(f"ALTER TABLE {t} ADD COLUMN extra VARCHAR(32) DEFAULT 'x'")
    source.execute(f"UPDATE {t} SET extra = CONCAT('e', id)")
    source.executemany(f"INSERT INTO {t} VALUES (%s,%s,%s,%s,%s,%s)", [row(i, rng, True) for i in range(400, 420)])
    source.execute(f"UPDATE {t} SET id = id + 1000, extra = NULL WHERE id IN (400, 401)")
    source.execute(f"DELETE FROM {t} WHERE id IN (402, 403)")
    wait_caught_up(instance, source)
    assert assert_same_state(target, source, "ALTER TABLE ADD COLUMN and more DML") == 180 + 18

    # 3. kill -9 of the leader while transactions keep coming; the candidate w2 takes over
    workers.start("w2", TOWER_LEASE_TTL="3")
    phase_start = source.master()[:2]
    wrng = random.Random(21)

    def write(cur, start):  # 150 transactions
        cur.executemany(f"INSERT INTO {t} VALUES (%s,%s,%s,%s,%s,%s)",
                        [row(i, wrng, True) for i in range(start, start + 2)])
        cur.execute(f"UPDATE {t} SET n = n - 1, extra = CONCAT(extra, '+') WHERE id = %s",
                    (wrng.randrange(3000, start + 2),))
        if start % 20 == 0:
            cur.execute(f"DELETE FROM {t} WHERE id = %s", (start + 1,))
            cur.execute(f"UPDATE {t} SET id = id + 10000 WHERE id = %s", (start,))

    writer = Workload(source, range(3000, 3300, 2), write, pause=0.02)
    writer.start()

    def flowing():
        instance.refresh_from_db()
        return (instance.binlog_file, instance.binlog_pos) > phase_start

    wait_for(flowing, 30, message="w1 to commit rows of the running workload")
    assert not writer.done.is_set(), "the workload ended before the kill: the kill would not be mid-stream"
    workers.kill("w1")
    second = wait_for(lambda: leader(instance.pk, first[1]), 30, message="w2 to take over after the kill")
    assert second[0] == "w2"
    writer.finished(timeout=120)
    wait_caught_up(instance, source)
    count = assert_same_state(target, source, "kill -9 of w1 and failover to w2")
    assert count == 198 + 300 - 15
