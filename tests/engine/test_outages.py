"""Servers going away mid-stream: a private Redis stopped for a long outage or hung, a private MariaDB restarted.

Never the shared servers: each test starts its own and stops it afterwards.
"""
import os
import signal

import pymysql
import pytest
import redis as redis_lib

from accounts import Api, make_user
from console.domain import subscriptions as job_states
from console.models import Instance, Subscription

from private_servers import PrivateServer

from workers.subscriptions import RETRY_BACKOFF_MAX

from .conftest import Source, make_instance, make_subscription, wait_for

# A MustBeSuccess subscription retries a failing target after 1, 2, 4, 8 … s, at most RETRY_BACKOFF_MAX apart:
# its 5th failed try is the first one made after the longest wait (tries at about 0, 1, 3, 7 and 15 s).
FAILED_TRIES_AT_LONGEST_BACKOFF = 5
assert RETRY_BACKOFF_MAX == 8.0, "FAILED_TRIES_AT_LONGEST_BACKOFF assumes backoffs of 1, 2, 4, 8 s"


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateServer("redis", tmp_path / "redis").start()
    yield server
    server.stop()


def delivering_into(private_redis, workers, source, must_be_success, **worker_env):
    """Table t streamed by worker w1 into the private Redis, row 1 delivered: (instance, subscription, uri)."""
    s = source.schema
    source.execute(f"CREATE TABLE `{s}`.t (id INT PRIMARY KEY, v INT)")
    instance = make_instance(source)
    uri = f"redis://127.0.0.1:{private_redis.port}/0"
    sub = make_subscription(instance, uri, tables=f"{s}.t", must_be_success=must_be_success)
    workers.start("w1", **worker_env)
    workers.start_beat()
    source.execute(f"INSERT INTO `{s}`.t VALUES (1, 1)")
    wait_for(lambda: redis_lib.Redis.from_url(uri).get(f"{s}-t-1"), 30, message="delivery of row 1")
    return instance, sub, uri


@pytest.mark.slow
@pytest.mark.parametrize("must_be_success", [True, False], ids=["must-be-success", "skip-on-failure"])
def test_redis_down_for_a_long_outage(workers, source, private_redis, must_be_success):
    """The target stays down until the dump has gone as far as an outage takes it: a MustBeSuccess subscription
    retrying at its longest backoff, or every row written meanwhile dropped and counted. The dump stays up and
    keeps its lease throughout; once the target is back, delivery goes on."""
    s = source.schema
    instance, sub, uri = delivering_into(private_redis, workers, source, must_be_success)
    leading = Instance.objects.values_list("leader", "leader_version").get(pk=instance.pk)

    private_redis.stop()
    for i in range(2, 12):
        source.execute(f"INSERT INTO `{s}`.t VALUES ({i}, {i})")

    def error_shown():
        sub.refresh_from_db()
        return sub.error if (sub.state == "error" if must_be_success else sub.skipped_count > 0) else ""
    assert "redis" in wait_for(error_shown, 25, message="the error to show").lower()

    if must_be_success:
        def retried_at_longest_backoff():
            sub.refresh_from_db()
            return sub.state == "error" and sub.error_count >= FAILED_TRIES_AT_LONGEST_BACKOFF
        wait_for(retried_at_longest_backoff, 60, interval=0.2, message="the subscription to retry at its longest backoff")
    else:
        def all_dropped():
            sub.refresh_from_db()
            return sub.skipped_count == 10
        wait_for(all_dropped, 30, interval=0.2, message="the 10 rows written during the outage to be dropped and counted")
    # Still the same dump: no failed run (retry counter), no other leader.
    dumping = Instance.objects.get(pk=instance.pk)
    assert (dumping.leader, dumping.leader_version) == leading
    assert (dumping.retry_times, dumping.last_error) == (0, "")
    private_redis.start()
    client = redis_lib.Redis.from_url(uri)
    source.execute(f"INSERT INTO `{s}`.t VALUES (100, 100)")
    wait_for(lambda: client.get(f"{s}-t-100"), 30, message="delivery after the outage")

    def shown_recovered():  # the state is written with the next checkpoint commit, just after the delivery
        sub.refresh_from_db()
        return sub.state == "normal" and (sub.error == "" or not must_be_success)
    wait_for(shown_recovered, 10, message="the subscription to be shown recovered")
    delivered = {i for i in range(2, 12) if client.get(f"{s}-t-{i}")}
    if must_be_success:
        assert delivered == set(range(2, 12))  # nothing lost
        assert sub.state == "normal" and sub.error == "" and sub.error_count >= 1
    else:
        assert delivered == set() and sub.skipped_count == 10  # dropped and counted
        assert sub.state == "normal"


@pytest.mark.slow
def test_a_hung_target_keeps_the_lease(workers, source, private_redis):
    """A target that stops answering holds the dump loop in a write (Redis: up to its 5 s socket timeout,
    longer than this worker's 3 s lease): the lease keeper renews meanwhile, so the instance stays with its
    leader and nothing is fenced."""
    s = source.schema
    instance, sub, uri = delivering_into(private_redis, workers, source, True, TOWER_LEASE_TTL="3")
    client = redis_lib.Redis.from_url(uri)
    version = Instance.objects.get(pk=instance.pk).leader_version

    os.kill(private_redis.state["pid"], signal.SIGSTOP)
    try:
        source.execute(f"INSERT INTO `{s}`.t VALUES (2, 2)")
        # The error is written after the write timed out: the loop was held longer than the lease's TTL.
        wait_for(lambda: Subscription.objects.get(pk=sub.pk).error, 30, message="the hung write to fail")
    finally:
        os.kill(private_redis.state["pid"], signal.SIGCONT)
    wait_for(lambda: client.get(f"{s}-t-2"), 30, message="delivery after the hang")
    assert Instance.objects.get(pk=instance.pk).leader_version == version
    assert "fenced" not in workers.log("w1")


@pytest.mark.slow
def test_a_hung_target_holds_back_only_its_own_subscription(workers, source, private_redis, redis_url,
                                                              monkeypatch):
    """Two subscriptions of one instance: one into a private Redis that is then hung (SIGSTOP: it accepts
    connections and never answers), one into the shared Redis. The healthy one keeps getting every row within
    seconds; the hung one is shown as `error` with the reason; once its Redis answers again it gets every row
    it missed (nothing lost), and the dump never changed hands."""
    from .conftest import empty_redis_db

    s = source.schema
    source.execute(f"CREATE TABLE `{s}`.t (id INT PRIMARY KEY, v INT)")
    instance = make_instance(source)
    hung_uri = f"redis://127.0.0.1:{private_redis.port}/0"
    hung = make_subscription(instance, hung_uri + "?key=S-{$id}", name="sibling", tables=f"{s}.t")
    healthy_uri, healthy = empty_redis_db(redis_url, 15)
    make_subscription(instance, healthy_uri + "?key=H-{$id}", name="healthy", tables=f"{s}.t")
    workers.start("w1", TOWER_TARGET_STALL_SECONDS="1")
    workers.start_beat()
    source.execute(f"INSERT INTO `{s}`.t VALUES (1, 1)")
    sibling = redis_lib.Redis.from_url(hung_uri)
    wait_for(lambda: healthy.get("H-1") and sibling.get("S-1"), 30, message="row 1 in both")
    leading = Instance.objects.values_list("leader", "leader_version").get(pk=instance.pk)

    os.kill(private_redis.state["pid"], signal.SIGSTOP)
    try:
        # The sibling's writes hang (redis-py gives up after its 5 s socket timeout, then retries with a
        # backoff); every row still reaches the healthy subscription in a few seconds, the first one included
        # (the dump waits TOWER_TARGET_STALL_SECONDS for the hung write, then goes on).
        for i in range(2, 14):
            source.execute(f"INSERT INTO `{s}`.t VALUES ({i}, {i})")
            wait_for(lambda: healthy.get(f"H-{i}"), 4, interval=0.02, message=f"row {i} in the healthy target")

        def shown():
            row = Subscription.objects.get(pk=hung.pk)
            return row if row.state == "error" and row.error else None

        row = wait_for(shown, 30, interval=0.2, message="the hung subscription shown in error")
        assert "127.0.0.1" in row.error or "Timeout" in row.error or "answered" in row.error, row.error
        assert Subscription.objects.get(name="healthy", instance=instance).state == "normal"
        # Past the grace period (shortened here) every surface shows it: the native API, TiCDC and Bifrost.
        monkeypatch.setattr(job_states, "ERROR_GRACE_SECONDS", 3)
        api = Api(make_user("operator", super_admin=True).token)

        def surfaces():
            native = api.get(f"/api/subscriptions/{hung.pk}/").json()["state"]
            ticdc = {name: api.get(f"/api/v1/changefeeds/{name}").json()["state"] for name in ("sibling", "healthy")}
            channels = api.get("/synclist", {"format": "json", "dbname": str(instance)}).json()
            bifrost = {s["ToServerID"]: s["Status"] for c in channels for s in c["ToServerList"]}
            return native, ticdc, bifrost

        more = iter(range(100, 200))

        def all_error():
            # Rows keep coming: the hung one is read past (its queued position moves) without moving itself.
            source.execute(f"INSERT INTO `{s}`.t VALUES ({next(more)}, 0)")
            native, ticdc, bifrost = seen = surfaces()
            return native == "error" and ticdc["sibling"] == "error" and bifrost.get(hung.pk) == "error" and seen

        native, ticdc, bifrost = wait_for(all_error, 20, interval=0.5, message="every surface to show error")
        healthy_sub = Subscription.objects.get(name="healthy", instance=instance)
        assert ticdc["healthy"] == "normal" and bifrost.get(healthy_sub.pk) == "running", (ticdc, bifrost)
    finally:
        os.kill(private_redis.state["pid"], signal.SIGCONT)
    # Back: it rejoins and gets every row it missed; the healthy one lost nothing either.
    written = [i for (i,) in source.execute(f"SELECT id FROM `{s}`.t")]
    wait_for(lambda: all(sibling.get(f"S-{i}") for i in written), 60, interval=0.2,
             message="every row in the recovered target")
    assert all(healthy.get(f"H-{i}") for i in written)
    wait_for(lambda: Subscription.objects.get(pk=hung.pk).state == "normal", 30, interval=0.2,
             message="the recovered subscription shown normal")
    assert Instance.objects.values_list("leader", "leader_version").get(pk=instance.pk) == leading


@pytest.fixture
def private_mariadb(tmp_path):
    server = PrivateServer("mariadb", tmp_path / "mariadb").start()
    yield server
    server.stop()


@pytest.mark.slow
def test_mariadb_restarted_mid_stream(workers, private_mariadb, redis_url):
    from .conftest import empty_redis_db

    src = Source(f"mysql://root@127.0.0.1:{private_mariadb.port}/", "eng_restart")
    src.execute("CREATE TABLE eng_restart.t (id INT PRIMARY KEY, v INT)")
    instance = make_instance(src)
    target, client = empty_redis_db(redis_url, 13)
    make_subscription(instance, target, tables="eng_restart.t")
    workers.start("w1")
    workers.start_beat()
    src.executemany("INSERT INTO eng_restart.t VALUES (%s, %s)", [(i, i) for i in range(1, 501)])
    wait_for(lambda: client.get("eng_restart-t-500"), 30, message="delivery before the restart")
    src.conn.close()
    private_mariadb.stop()
    private_mariadb.start()
    src = Source.__new__(Source)
    src.host, src.port, src.schema = "127.0.0.1", private_mariadb.port, "eng_restart"
    src.conn = pymysql.connect(host=src.host, port=src.port, user="root", autocommit=True)
    src.executemany("INSERT INTO eng_restart.t VALUES (%s, %s)", [(i, i) for i in range(501, 1001)])
    src.execute("UPDATE eng_restart.t SET v = -v WHERE id <= 10")
    # the UPDATE is a transaction after the INSERT's: wait for both, not for the INSERT's last row alone
    wait_for(lambda: client.get("eng_restart-t-1000") and client.get("eng_restart-t-1") == b'{"id":1,"v":-1}', 40,
             message="delivery after the restart")
    assert len(list(client.scan_iter("eng_restart-t-*", count=2000))) == 1000
    src.conn.close()
