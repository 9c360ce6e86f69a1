"""Many dumps in one worker process (TOWER_DUMPS_PER_PROCESS > 1): a kill -9 of that process moves every one of
its instances, and every target equals its source afterwards."""
import re

import pytest

from bench.tcp_forward import Forwarders
from console.models import Wave
from workers.tasks import with_room

from .conftest import Workload, empty_redis_db, leader, make_instance, make_subscription, redis_state, wait_for
from .expect import diff_states, expected_state

INSTANCES = 3
TABLE = "CREATE TABLE `{schema}`.`t{n}` (id INT PRIMARY KEY, n INT, v VARCHAR(64))"
THREADED = {"TOWER_DUMPS_PER_PROCESS": "4", "TOWER_LEASE_TTL": "3"}


@pytest.fixture
def addresses(source):
    """INSTANCES local ports that all reach the source: an instance is its source's host:port."""
    with Forwarders(source.host, source.port, INSTANCES) as ports:
        yield ports


def instances_on_one_source(source, ports, redis_url):
    """An instance of the source at each port, each with a subscription to its own table into its own empty
    Redis db; [(instance, client, table)]."""
    out = []
    for n, port in enumerate(ports):
        source.execute(TABLE.format(schema=source.schema, n=n))
        instance = make_instance(source, candidates=("w1", "w2"), port=port)
        uri, client = empty_redis_db(redis_url, 9 + n)
        make_subscription(instance, uri, name=f"sub{n}", tables=f"{source.schema}.t{n}")
        out.append((instance, client, f"t{n}"))
    return out


def led_by(instances, name):
    """{instance id: version} once every instance has a live lease held by `name`, else None."""
    leases = {i.pk: leader(i.pk) for i, _, _ in instances}
    if all(lease is not None and lease[0] == name for lease in leases.values()):
        return {pk: lease[1] for pk, lease in leases.items()}
    return None


@pytest.mark.slow
def test_kill_9_of_a_process_holding_several_dumps_moves_them_all(workers, source, addresses, redis_url):
    instances = instances_on_one_source(source, addresses, redis_url)
    workers.start("w1", **THREADED)
    workers.start_beat()
    versions = wait_for(lambda: led_by(instances, "w1"), 60, message="w1 to lead every instance")

    # All of them are dumps of w1's one process: its task log lines come from the main process, not pool children.
    def start_lines():
        found = [re.search(rf"^.*dump of {i.pk}: leader w1 at version .*$", workers.log("w1"), re.M)
                 for i, _, _ in instances]
        return all(found) and [m.group(0) for m in found]

    for line in wait_for(start_lines, 30, message="w1's log to show every dump's start"):
        assert "/MainProcess]" in line, line
    log = workers.log("w1")
    assert "ForkPoolWorker" not in log

    def write(cur, start):
        for n in range(INSTANCES):
            table = f"`{source.schema}`.t{n}"
            cur.executemany(f"INSERT INTO {table} VALUES (%s,%s,%s)", [(i, i, f"v{i}") for i in range(start, start + 20)])
            cur.execute(f"UPDATE {table} SET n=n+1, v=CONCAT(v,'u') WHERE id BETWEEN %s AND %s", (start - 20, start - 1))
            cur.execute(f"DELETE FROM {table} WHERE id=%s", (start + 3,))

    workload = Workload(source, range(0, 3000, 20), write, pause=0.02)
    workload.start()
    wait_for(lambda: all(client.dbsize() >= 100 for _, client, _ in instances), 60,
             message="every instance delivering from w1")
    workers.start("w2", **THREADED)
    workers.kill("w1")

    def moved():
        leases = {i.pk: leader(i.pk, versions[i.pk]) for i, _, _ in instances}
        return leases if all(lease is not None for lease in leases.values()) else None

    leases = wait_for(moved, 60, interval=0.1, message="every instance of the killed process to move")
    assert {name for name, _ in leases.values()} == {"w2"}
    workload.finished(timeout=300)

    for instance, client, table in instances:
        prefix = f"{source.schema}-{table}-"
        wait_for(lambda c=client, p=prefix, t=table: diff_states(redis_state(c, p), expected_state(source, t)) == [],
                 120, message=f"instance {instance.pk}'s target to equal its source table {table}")


@pytest.mark.slow
def test_a_worker_takes_no_more_dumps_than_its_slots(workers, source, addresses, redis_url):
    """A worker with two dump slots leads two of three instances; the third waits, said so in the owner's log,
    until a second worker joins."""
    instances = instances_on_one_source(source, addresses, redis_url)
    workers.start("w1", TOWER_DUMPS_PER_PROCESS="2")
    wait_for(lambda: Wave.objects.filter(name="w1", dump_slots=2).exists(), 30, message="w1 to say it has 2 slots")

    def leaders():
        return [lease[0] for lease in (leader(i.pk) for i, _, _ in instances) if lease is not None]

    wait_for(lambda: leaders() == ["w1", "w1"], 60, message="w1 to lead two instances")
    wait_for(lambda: "1 instance(s) wait for a worker" in workers.log("w1"), 30,
             message="the owner's pass to say one instance waits")
    assert leaders() == ["w1", "w1"]
    workers.start("w2", TOWER_DUMPS_PER_PROCESS="2")
    wait_for(lambda: sorted(leaders()) == ["w1", "w1", "w2"], 60, message="w2 to take the third instance")


def test_room_is_each_workers_slots_and_each_machines():
    """workers.tasks.with_room: a worker under its own slots, on a machine (ip) under the smallest non-zero
    host cap its workers give; 0 is no cap."""
    fleet = [("w1", "10.0.0.1", 2, 0), ("w2", "10.0.0.1", 2, 3), ("w3", "10.0.0.2", 0, 0)]
    assert with_room(fleet, {}) == {"w1", "w2", "w3"}
    assert with_room(fleet, {"w1": 2}) == {"w2", "w3"}
    assert with_room(fleet, {"w1": 1, "w2": 1}) == {"w1", "w2", "w3"}
    assert with_room(fleet, {"w1": 1, "w2": 2}) == {"w3"}  # 10.0.0.1 holds 3 of its 3
    assert with_room(fleet, {"w1": 2, "w2": 1, "w3": 500}) == {"w3"}
