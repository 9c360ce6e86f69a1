"""Compatibility actions against a running dump: each one through its HTTP surface, its effect in the engine.

Real `celery -A tower worker` processes dump the shared MariaDB into a Redis database of the run. The
actions go through django.test.Client as a real caller would send them (BinLake manager, TiCDC OpenAPI,
CCR jobs, Bifrost, the native API with a token; the console's instance operations with a session), and
the tests watch the engine: which worker leads the dump, which rows reach Redis, which positions, lag and
flow figures the dump and the status sampler write, and what the other surfaces report about it.
"""

from django.test import Client
from django.utils import timezone

from console.choices import MemberRole
from console.domain import subscriptions
from console.models import AuditLog, Instance
from workers.events import Position

import accounts

from .conftest import empty_redis_db, leader, make_instance, make_subscription, wait_for, wait_for_dump_reload

OK = {"code": 1000, "message": ""}
OTHER = {"w1": "w2", "w2": "w1"}  # the worker pair of a test


def make_user(username, group=None, super_admin=False):
    """A user (admin of `group`, or a super admin) and an API caller with their token."""
    user = accounts.make_user(username, group, MemberRole.ADMIN, super_admin)
    return user, accounts.Api(user.token)


def session_of(user):
    client = Client()
    client.force_login(user)
    return client


def led_by(instance_id, worker, after_version):
    """The new leader_version once `worker` holds a live lease taken after `after_version`."""
    held = leader(instance_id, after_version)
    return held[1] if held and held[0] == worker else None


def dump_stopped(instance_id):
    """No dump holds the instance: the one that ran released its lease and the supervisor sends no other."""
    i = Instance.objects.get(pk=instance_id)
    return i.lease_expires is None or i.lease_expires <= timezone.now()


def seq(file, pos):
    return Position(file, int(pos)).commit_seq


def db_info(instance):
    return {"dbInfo": {"host": instance.host, "port": instance.port}}


def test_leader_moves_with_set_leader_move_table_and_the_console(workers, source, redis_url):
    """BinLake /set/leader/, TiCDC move_table and the console's set leader move the running dump between
    the two workers: the named worker takes the lease, the old one is fenced, rows keep arriving; TiCDC,
    the manager, Bifrost and the native API report the new leader. TiCDC owner resign moves the owner
    among the live workers and leaves the dump where it is."""
    s = source.schema
    source.execute(f"CREATE TABLE `{s}`.t (id INT PRIMARY KEY, v INT)")
    instance = make_instance(source, candidates=("w1", "w2"))
    pk, dbname = instance.pk, f"{instance.host}:{instance.port}"
    uri, redis = empty_redis_db(redis_url, 10)
    make_subscription(instance, uri, name="feed", tables=f"{s}.t")
    ops_user, ops = make_user("ops", instance.group)
    _, root = make_user("root", super_admin=True)
    workers.start("w1")
    workers.start("w2")
    workers.start_beat()
    rows = 0

    def row_arrives():
        nonlocal rows
        rows += 1
        source.execute(f"INSERT INTO `{s}`.t VALUES (%s, %s)", (rows, rows))
        wait_for(lambda: redis.get(f"{s}-t-{rows}"), 30, message=f"row {rows} in Redis")

    first, version = wait_for(lambda: leader(pk), 60, message="a first leader")
    other = OTHER[first]
    row_arrives()

    def moved_to(worker, after_version, fenced_before):
        new_version = wait_for(lambda: led_by(pk, worker, after_version), 30, message=f"{worker} to take the dump")
        old = OTHER[worker]
        wait_for(lambda: workers.log(old).count(f"dump of {pk} fenced") > fenced_before, 20,
                 message=f"the dump on {old} to stop, fenced")
        row_arrives()  # delivered by the new leader: the old one is fenced and holds no lease
        assert f"dump of {pk}: leader {worker} at version {new_version}" in workers.log(worker)
        held = Instance.objects.get(pk=pk)
        assert (held.leader, held.leader_version) == (worker, new_version)
        return new_version

    def surfaces_show(leader, leader_version):
        assert ops.get("/api/v1/processors").json() == [{"changefeed_id": "feed", "capture_id": leader}]
        processor = ops.get(f"/api/v1/processors/feed/{leader}")
        assert processor.status_code == 200 and processor.json()["checkpoint_ts"] > 0
        assert ops.get(f"/api/v1/processors/feed/{OTHER[leader]}").status_code == 404
        task = ops.get("/api/v1/changefeeds/feed").json()["task_status"]
        assert [t["capture_id"] for t in task] == [leader]
        assert sorted(c["id"] for c in ops.get("/api/v1/captures").json()) == ["w1", "w2"]
        native = ops.get(f"/api/instances/{pk}/").json()
        assert (native["leader"], native["leader_version"]) == (leader, leader_version)
        slave = ops.post("/slave/status", db_info(instance)).json()["slave"]
        assert (slave["leader"], slave["leaderVersion"]) == (leader, leader_version)
        assert ops.get("/db/list").json()[dbname]["ConnStatus"] == "running"
        return task[0]["table_ids"]

    # BinLake manager: /set/leader/ names the other worker.
    fenced = workers.log(first).count(f"dump of {pk} fenced")
    assert ops.post("/set/leader/", {**db_info(instance), "slave": {"leader": other}}).json() == OK
    version = moved_to(other, version, fenced)
    table_ids = surfaces_show(other, version)

    # TiCDC: move the changefeed's table back to the first worker (Tower moves the instance's whole dump).
    fenced = workers.log(other).count(f"dump of {pk} fenced")
    moved = ops.post("/api/v1/changefeeds/feed/tables/move_table", {"capture_id": first, "table_id": table_ids[0]})
    assert moved.status_code == 202
    version = moved_to(first, version, fenced)
    surfaces_show(first, version)

    # The console's instance operations: set leader.
    fenced = workers.log(first).count(f"dump of {pk} fenced")
    assert session_of(ops_user).post(f"/instances/{pk}/leader/", {"leader": other}).status_code == 302
    version = moved_to(other, version, fenced)
    surfaces_show(other, version)

    # TiCDC owner resign: the owner moves to the other live worker each time; the dump stays with its leader.
    owners = []
    for _ in range(2):
        assert root.post("/api/v1/owner/resign").status_code == 202
        owners += [c["id"] for c in root.get("/api/v1/captures").json() if c["is_owner"]]
    assert sorted(owners) == ["w1", "w2"]
    assert AuditLog.objects.filter(action="owner_resign").count() == 2
    row_arrives()
    assert leader(pk) == (other, version)


def test_offline_online_and_set_binlog_steer_the_dump(workers, source, redis_url):
    """BinLake /set/offline/ and the console's offline stop the dump: rows written meanwhile wait in the
    server's binlog (the status sampler's real lag shows them, CCR /get_lag too) and arrive after
    /set/online/. With the dump offline, /set/binlog/ moves where the next dump starts: back, and the
    dump re-reads the binlog from there (its flow count of the table grows with no new row) and delivers
    the rows again; forward (through the console), and the rows before the position are never delivered."""
    s = source.schema
    source.execute(f"CREATE TABLE `{s}`.t (id INT PRIMARY KEY, v INT)")
    instance = make_instance(source)
    pk, dbname = instance.pk, f"{instance.host}:{instance.port}"
    uri, redis = empty_redis_db(redis_url, 10)
    make_subscription(instance, uri, name="orders", tables=f"{s}.t")
    ops_user, ops = make_user("ops", instance.group)
    console = session_of(ops_user)
    workers.start("w1")
    workers.start_beat()

    def insert(*ids):
        source.executemany(f"INSERT INTO `{s}`.t VALUES (%s, %s)", [(i, i) for i in ids])
        return source.master()

    def key(i):
        return f"{s}-t-{i}"

    def stopped():
        """One more dump task returned 'stopped' (it commits first) and no other dump holds the lease."""
        return workers.log("w1").count("s: 'stopped'") == stops + 1 and dump_stopped(pk)

    def progress():
        p = ops.post("/job_progress", {"name": "orders"}).json()["job_progress"]
        return seq(p["binlog_file"], p["binlog_pos"])

    def table_flow():
        points = ops.get("/flow/get", {"type": "minute", "dbname": dbname, "schema": s, "table_name": "t"}).json()
        return points[-1]["Count"]

    version = wait_for(lambda: leader(pk), 60, message="the dump to start")[1]
    insert(1)
    wait_for(lambda: redis.get(key(1)), 30, message="row 1 in Redis")

    # --- /set/offline/: the dump stops; rows written now wait in the server's binlog.
    stops = 0
    assert ops.post("/set/offline/", db_info(instance)).json() == OK
    wait_for(stopped, 20, message="the dump to stop")
    stops += 1
    assert ops.get("/db/list").json()[dbname]["ConnStatus"] == "stop"
    assert ops.get(f"/api/instances/{pk}/").json()["state"] == "OFFLINE"
    offline = Instance.objects.get(pk=pk)
    before_2 = source.master()
    end = insert(2, 3)
    # The status sampler (beat, every 5 s) reads the server's binlog end past rows 2 and 3: real lag.
    sampled = wait_for(lambda: (lambda i: i if seq(i.master_file, i.master_pos) >= seq(*end[:2]) else None)(
        Instance.objects.get(pk=pk)), 20, message="the status sampler to see rows 2 and 3")
    assert (sampled.binlog_file, sampled.binlog_pos) == (offline.binlog_file, offline.binlog_pos)
    written = end[1] - before_2[1] if end[0] == before_2[0] else 1  # the bytes of rows 2 and 3
    assert sampled.lag_bytes >= written > 0
    # ...and stores with it how far the instance's furthest subscription is: what the monitor ranks on.
    assert sampled.behind_bytes >= written and sampled.behind_seconds >= sampled.lag_seconds
    lag = ops.post("/get_lag", {"name": "orders"}).json()
    assert lag["success"] and lag["lag"] >= written
    assert redis.get(key(2)) is None and redis.get(key(3)) is None
    assert progress() < seq(*end[:2])

    # --- /set/online/: a new dump delivers what was written meanwhile.
    assert ops.post("/set/online/", db_info(instance)).json() == OK
    wait_for(lambda: redis.get(key(2)) and redis.get(key(3)), 30, message="rows 2 and 3 after /set/online/")
    version = wait_for(lambda: leader(pk, version), 10, message="the new dump's lease")[1]
    wait_for(lambda: progress() >= seq(*end[:2]), 20, message="CCR job_progress past rows 2 and 3")

    # --- offline (console), /set/binlog/ back to before rows 2 and 3, online (console): the dump re-reads.
    assert console.post(f"/instances/{pk}/offline/").status_code == 302
    wait_for(stopped, 20, message="the dump to stop (console offline)")
    stops += 1
    flow_at_stop = table_flow()  # the last sample the stopped dump wrote: where the next dump counts from
    redis.flushdb()
    body = {**db_info(instance), "slave": {"binlogFile": before_2[0], "binlogPos": before_2[1]}}
    assert ops.post("/set/binlog/", body).json() == OK
    native = ops.get(f"/api/instances/{pk}/").json()
    assert (native["binlog_file"], native["binlog_pos"]) == before_2[:2]
    assert console.post(f"/instances/{pk}/online/").status_code == 302
    version = wait_for(lambda: leader(pk, version), 30, message="the dump to start again")[1]
    # Rows 2 and 3 are read a second time: the table's flow count grows by exactly them, with no new row.
    wait_for(lambda: table_flow() == flow_at_stop + 2, 20, message="the dump to re-read rows 2 and 3")
    wait_for(lambda: seq(*(lambda i: (i.binlog_file, i.binlog_pos))(Instance.objects.get(pk=pk)))
             >= seq(*end[:2]), 20, message="the dumped position to pass rows 2 and 3 again")
    # The instance's position is its subscriptions' too: the re-read rows reach the target again.
    wait_for(lambda: redis.get(key(2)) and redis.get(key(3)), 30, message="rows 2 and 3 again after /set/binlog/")
    assert redis.get(key(1)) is None  # before the position set

    # --- offline (manager), row 4, /set/binlog/ past it (console), online (manager): row 4 is skipped.
    assert ops.post("/set/offline/", db_info(instance)).json() == OK
    wait_for(stopped, 20, message="the dump to stop")
    stops += 1
    after_4 = insert(4)
    form = {"binlog_file": after_4[0], "binlog_pos": after_4[1], "gtid_set": ""}
    assert console.post(f"/instances/{pk}/binlog/", form).status_code == 302
    assert ops.post("/set/online/", db_info(instance)).json() == OK
    insert(5)
    wait_for(lambda: redis.get(key(5)), 30, message="row 5 after the position moved forward")
    assert redis.get(key(4)) is None  # before row 5 in the binlog, and never read
    assert progress() >= seq(*after_4[:2])
    actions = list(AuditLog.objects.filter(object_id=pk, action__in=("set_offline", "set_online", "set_binlog"))
                   .order_by("id").values_list("action", flat=True))
    assert actions == ["set_offline", "set_online", "set_offline", "set_binlog", "set_online", "set_offline",
                       "set_binlog", "set_online"]


def test_ccr_pause_resume_and_skip_act_on_one_job_of_the_running_dump(workers, source, redis_url, monkeypatch):
    """Two CCR jobs (created with /create_ccr) on one instance: /pause stops delivering to one job only,
    TiCDC and Bifrost say it is stopped and its real positions and flow stay behind while the other job's
    go on; /resume catches it up; /job_skip_binlog with the commit_seq Bifrost shows for a failing event
    skips exactly that event."""
    s = source.schema
    source.execute(f"CREATE TABLE `{s}`.t (id INT PRIMARY KEY, v INT)")
    instance = make_instance(source)
    dbname = f"{instance.host}:{instance.port}"
    uri, redis = empty_redis_db(redis_url, 10)
    _, ops = make_user("ops", instance.group)
    workers.start("w1")
    workers.start_beat()
    wait_for(lambda: leader(instance.pk), 60, message="the dump to start")
    src = {"host": instance.host, "port": instance.port, "user": "root", "password": "", "database": s, "table": "t"}
    for name, sink in (("ccr-a", f"{uri}?mode=list&key=A-{{$id}}"), ("ccr-b", f"{uri}?key=B-{{$id}}")):
        assert ops.post("/create_ccr", {"name": name, "src": src, "dest": {"sink_uri": sink}}).json() == {
            "success": True}
    wait_for_dump_reload(instance)  # the running dump took both jobs

    def insert(*ids):
        for i in ids:
            source.execute(f"INSERT INTO `{s}`.t VALUES (%s, %s)", (i, i))
        return source.master()

    def progress(name):
        p = ops.post("/job_progress", {"name": name}).json()["job_progress"]
        return seq(p["binlog_file"], p["binlog_pos"])

    def state(name):
        return (ops.post("/job_status", {"name": name}).json()["state"],
                ops.get(f"/api/v1/changefeeds/{name}").json()["state"])

    def bifrost(name):
        lists = ops.get("/synclist", {"dbname": dbname}).json()
        return next(t for row in lists for t in row["ToServerList"] if t["ToServerKey"] == name)

    def flow(name):
        channel = bifrost(name)["ToServerID"]
        return ops.get("/flow/get", {"type": "minute", "dbname": dbname, "channelid": channel}).json()[-1]["Count"]

    insert(1)
    wait_for(lambda: redis.exists("A-1") and redis.get("B-1"), 30, message="row 1 through both jobs")

    # /pause: job A stops, job B goes on.
    assert ops.post("/pause", {"name": "ccr-a"}).json() == {"success": True}
    assert state("ccr-a") == ("paused", "stopped") and state("ccr-b") == ("running", "normal")
    assert bifrost("ccr-a")["Status"] == "stopped" and bifrost("ccr-b")["Status"] == "running"
    wait_for_dump_reload(instance)
    end = insert(2, 3)
    wait_for(lambda: redis.get("B-3") and progress("ccr-b") >= seq(*end[:2]), 30, message="job B past rows 2, 3")
    assert not redis.exists("A-2") and not redis.exists("A-3")
    assert progress("ccr-a") < seq(*end[:2])
    # The dump's real flow samples (every 5 s): B counted 3 rows, A still 1.
    wait_for(lambda: flow("ccr-b") == 3, 20, message="job B's flow to count rows 1-3")
    assert flow("ccr-a") == 1

    # /resume: A catches up from where it stopped.
    assert ops.post("/resume", {"name": "ccr-a"}).json() == {"success": True}
    assert state("ccr-a") == ("running", "normal")
    wait_for(lambda: redis.exists("A-2") and redis.exists("A-3") and progress("ccr-a") >= seq(*end[:2]), 30,
             message="job A to catch up after /resume")
    wait_for(lambda: flow("ccr-a") == 3, 20, message="job A's flow to count rows 1-3")

    # /job_skip_binlog: A fails on row 5 (its Redis key is not a list), B is not held back.
    redis.set("A-5", "not a list")
    end = insert(4, 5, 6)
    wait_for(lambda: bifrost("ccr-a")["ErrorWaitData"], 30, message="job A to fail on row 5")
    failing = bifrost("ccr-a")["ErrorWaitData"]
    assert failing["row"]["id"] == 5
    # TiCDC shows `error` once the failure outlasts the grace period: none here, rather than waiting it out.
    monkeypatch.setattr(subscriptions, "ERROR_GRACE_SECONDS", 0)
    detail = ops.get("/api/v1/changefeeds/ccr-a").json()
    assert detail["state"] == "error" and detail["error"]["addr"] == "w1" and "WRONGTYPE" in detail["error"]["message"]
    wait_for(lambda: redis.get("B-6") and progress("ccr-b") >= seq(*end[:2]), 30, message="job B past row 6")
    assert progress("ccr-a") < failing["commit_seq"]  # A stays before the failing event
    skip = {"name": "ccr-a", "skip_by": "silence", "skip_commit_seq": failing["commit_seq"]}
    assert ops.post("/job_skip_binlog", skip).json() == {"success": True}
    end = insert(7)
    wait_for(lambda: redis.exists("A-6") and redis.exists("A-7") and progress("ccr-a") >= seq(*end[:2]), 30,
             message="job A to go on after the skipped event")
    assert redis.get("A-5") == b"not a list" and redis.exists("A-4")
    wait_for(lambda: state("ccr-a") == ("running", "normal"), 10, message="job A back to normal")
    assert ops.post("/job_progress", {"name": "ccr-a"}).json()["job_progress"]["skipped"] == 1
    wait_for(lambda: flow("ccr-b") == 7, 20, message="job B's flow to count rows 1-7")


def test_set_candidate_chooses_the_takeover_and_reset_counter_restarts_a_parked_dump(workers, source, redis_url):
    """BinLake /set/candidate/ decides which live worker takes a dead leader's dump (without it the first
    live worker by name would); /reset/counter/ lets the supervisor start again a dump it parked after
    `retry_latch` failed starts."""
    from console.models import Config

    s = source.schema
    source.execute(f"CREATE TABLE `{s}`.t (id INT PRIMARY KEY, v INT)")
    instance = make_instance(source, candidates=("w1",))
    pk = instance.pk
    uri, redis = empty_redis_db(redis_url, 10)
    make_subscription(instance, uri, name="feed", tables=f"{s}.t")
    _, ops = make_user("ops", instance.group)
    workers.start("w1", TOWER_LEASE_TTL="3")
    workers.start_beat()
    _, version = wait_for(lambda: leader(pk), 60, message="w1 to lead")
    workers.start("w2", TOWER_LEASE_TTL="3")
    workers.start("w3", TOWER_LEASE_TTL="3")
    wait_for(lambda: sorted(c["id"] for c in ops.get("/api/v1/captures").json()) == ["w1", "w2", "w3"], 30,
             message="three live workers")

    assert ops.post("/set/candidate/", {**db_info(instance), "candidate": ["w3"]}).json() == OK
    workers.kill("w1")
    source.execute(f"INSERT INTO `{s}`.t VALUES (1, 1)")
    version = wait_for(lambda: led_by(pk, "w3", version), 60, message="w3, the only candidate, to take over")
    wait_for(lambda: redis.get(f"{s}-t-1"), 30, message="row 1 through w3")
    assert "dump of " + pk not in workers.log("w2")

    # Park the dump: a password that fails every start, one failed start allowed.
    Config.objects.filter(keyword="default").update(retry_latch=1)
    assert ops.post("/set/offline/", db_info(instance)).json() == OK
    wait_for(lambda: dump_stopped(pk), 30, message="the dump to stop")
    Instance.objects.filter(pk=pk).update(user="no_such_user")
    assert ops.post("/set/online/", db_info(instance)).json() == OK
    wait_for(lambda: Instance.objects.get(pk=pk).retry_times > 1, 60, message="failed starts past the latch")
    parked = Instance.objects.get(pk=pk)
    assert parked.last_error and parked.retry_times == 2
    Instance.objects.filter(pk=pk).update(user="root")  # the DBA fixes the account
    source.execute(f"INSERT INTO `{s}`.t VALUES (2, 2)")
    assert ops.post("/reset/counter/", db_info(instance)).json() == OK
    assert Instance.objects.get(pk=pk).retry_times == 0
    wait_for(lambda: redis.get(f"{s}-t-2"), 60, message="row 2 once the counter is reset")
