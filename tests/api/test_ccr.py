"""CCR-syncer style job API (docs/compatibility.md): the ccr-syncer README's requests replayed, auth, scoping, refusals."""
import uuid

import pymysql
import pytest

from console.choices import InstanceStatus, SubscriptionState, SyncPhase
from console.domain.audit import ACCESS_ACTIONS
from console.models import AuditLog, Instance, Subscription

OPERATIONS = ["version", "create_ccr", "get_lag", "pause", "resume", "delete", "list_jobs", "job_detail",
              "job_progress", "job_status", "update_host_mapping", "add_host_mapping", "job_skip_binlog",
              "force_fullsync"]


@pytest.fixture
def job_name(world):
    """The reference's examples all name their job "job_name"."""
    return Subscription.objects.create(name="job_name", group=world.group_a, instance=world.instance_a,
                                       target=world.target_a, tables="shop.orders",
                                       options={"ccr_src": {"database": "shop", "table": "orders"}})


@pytest.fixture
def source_db(source_address):
    """A private database on the real source: table `filled` with rows, table `empty` without."""
    host, port, user, password = source_address
    name = f"api_ccr_{uuid.uuid4().hex[:8]}"
    conn = pymysql.connect(host=host, port=port, user=user, password=password, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
        cur.execute(f"CREATE TABLE {name}.filled (id INT PRIMARY KEY, v VARCHAR(10))")
        cur.execute(f"INSERT INTO {name}.filled VALUES (1, 'a'), (2, 'b')")
        cur.execute(f"CREATE TABLE {name}.empty (id INT PRIMARY KEY)")
    yield name
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE {name}")
    conn.close()


def ccr_body(name, source_address, database, table, sink_uri="blackhole://", **extra):
    host, port, user, password = source_address
    return {"name": name, "src": {"host": host, "port": port, "user": user, "password": password,
                                  "database": database, "table": table},
            "dest": {"sink_uri": sink_uri}, **extra}


@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_operation_requires_a_token(world, api, unchanged, operation):
    with unchanged():
        response = api().post(f"/{operation}", {"name": "job-a"})
    assert response.status_code == 401
    assert response.json()["success"] is False and response.json()["error_msg"]


def test_version(world, api):
    response = api(world.bob.token).post("/version", {})
    assert response.status_code == 200
    assert response.json()["success"] is True and response.json()["version"]


def test_super_admin_creates_a_job_on_an_unknown_source(world, api, source_address, source_db):
    response = api(world.root.token).post("/create_ccr", ccr_body("ccr_test", source_address, source_db, "filled"))
    assert response.status_code == 200, response.content
    assert response.json() == {"success": True}
    host, port = source_address[:2]
    instance = Instance.objects.get(host=host, port=port)
    assert instance.group.name == "default" and instance.status == InstanceStatus.DUMP
    assert instance.binlog_file.startswith("mysql-bin.") and instance.binlog_pos >= 4
    changes = AuditLog.objects.filter(object_id=instance.pk).exclude(action__in=ACCESS_ACTIONS).order_by("id")
    steps = list(changes.values_list("action", flat=True))
    assert steps == ["register_source", "apply", "approve", "grant", "start_dump"]
    job = Subscription.objects.get(name="ccr_test")
    assert job.phase == SyncPhase.FULL_SYNC  # the table has rows: full sync first
    assert job.tables == f"{source_db}.filled" and job.target.uri == "blackhole://"
    status = api(world.root.token).post("/job_status", {"name": "ccr_test"}).json()
    assert status == {"success": True, "name": "ccr_test", "state": "running", "progress_state": "TableFullSync"}


def test_group_admin_needs_an_approved_instance(world, api, unchanged, source_address, source_db):
    with unchanged():
        response = api(world.alice.token).post("/create_ccr", ccr_body("ccr_a", source_address, source_db, "empty"))
    assert response.status_code == 404 and response.json()["success"] is False
    host, port, user, password = source_address
    Instance.objects.create(group=world.group_a, host=host, port=port, user=user, password=password,
                            status=InstanceStatus.DUMP, slave_id=3001)
    response = api(world.alice.token).post("/create_ccr", ccr_body("ccr_a", source_address, source_db, "empty"))
    assert response.json() == {"success": True}
    job = Subscription.objects.get(name="ccr_a")
    assert job.group == world.group_a and job.phase == SyncPhase.INCREMENTAL  # empty table: stream at once
    assert api(world.alice.token).post("/job_status", {"name": "ccr_a"}).json()["progress_state"] == \
        "TableIncrementalSync"
    # a whole database with a filled table: DB full sync
    response = api(world.alice.token).post("/create_ccr", ccr_body("ccr_db", source_address, source_db, ""))
    assert response.json() == {"success": True}
    assert api(world.alice.token).post("/job_status", {"name": "ccr_db"}).json()["progress_state"] == "DBFullSync"
    # a name already taken
    with unchanged():
        again = api(world.alice.token).post("/create_ccr", ccr_body("ccr_a", source_address, source_db, "empty"))
    assert again.status_code == 409 and again.json()["success"] is False


def test_create_ccr_refusals_change_nothing(world, api, unchanged, source_address, source_db):
    root = api(world.root.token)
    with unchanged():
        bad_table = root.post("/create_ccr", ccr_body("x1", source_address, source_db, "missing"))
        assert bad_table.status_code == 400 and "does not exist" in bad_table.json()["error_msg"]
        bad_sink = root.post("/create_ccr", ccr_body("x2", source_address, source_db, "filled", sink_uri="ftp://x"))
        assert bad_sink.status_code == 400
        no_dest = root.post("/create_ccr", {"name": "x3", "src": {"host": "h", "port": 1, "database": "d"}})
        assert no_dest.status_code == 400
        wrong_port = root.post("/create_ccr", {**ccr_body("x4", source_address, source_db, "filled"),
                                               "src": {"host": "h", "port": "many", "database": "d"}})
        assert wrong_port.status_code == 400
        unreachable = root.post("/create_ccr", ccr_body("x5", ("127.0.0.1", 1, "root", ""), source_db, "filled"))
        assert unreachable.status_code == 400 and unreachable.json()["success"] is False


def test_reference_operations_replayed(world, api, job_name):
    alice = api(world.alice.token)
    # curl ... -d '{"name": "job_name"}' http://ccr_syncer_host:ccr_syncer_port/get_lag
    lag = alice.post("/get_lag", {"name": "job_name"}).json()
    assert lag["success"] is True and isinstance(lag["lag"], int)
    # pause, then job_status says paused
    assert alice.post("/pause", {"name": "job_name"}).json() == {"success": True}
    assert alice.post("/job_status", {"name": "job_name"}).json()["state"] == "paused"
    assert Subscription.objects.get(name="job_name").state == SubscriptionState.STOPPED
    assert alice.post("/resume", {"name": "job_name"}).json() == {"success": True}
    assert alice.post("/job_status", {"name": "job_name"}).json() == {
        "success": True, "name": "job_name", "state": "running", "progress_state": "TableIncrementalSync"}
    # list_jobs -d '{}'
    jobs = alice.post("/list_jobs", {}).json()
    assert jobs == {"success": True, "jobs": ["job-a", "job_name"]}  # team-a's only
    detail = alice.post("/job_detail", {"name": "job_name"}).json()["job"]
    assert detail["src"]["host"] == "10.1.0.1" and detail["src"]["table"] == "orders"
    assert detail["dest"]["sink_uri"] == "redis://:******@127.0.0.1:6379/0"  # masked
    assert "topsecret" not in str(detail) and "dump-pw" not in str(detail)
    progress = alice.post("/job_progress", {"name": "job_name"}).json()["job_progress"]
    assert progress["binlog_file"] == "mysql-bin.000003" and progress["commit_seq"] == (3 << 32) | 1200
    assert alice.post("/delete", {"name": "job_name"}).json() == {"success": True}
    assert not Subscription.objects.filter(name="job_name").exists()
    assert AuditLog.objects.filter(action="delete_subscription", object_repr="job_name").exists()


def test_host_mapping_reference_example(world, api, job_name):
    alice = api(world.alice.token)
    first = alice.post("/update_host_mapping", {"name": "job_name", "src_host_mapping": {"172.168.1.5": "10.0.10.5"}})
    assert first.json() == {"success": True}
    # The reference's example, posted to /add_host_mapping ("..." in dest replaced by an empty map).
    body = {
        "name": "job_name",
        "src_host_mapping": {"172.168.1.1": "10.0.10.1", "172.168.1.2": "10.0.10.2", "172.168.1.3": "10.0.10.3",
                             "172.168.1.5": ""},
        "dest_host_mapping": {},
    }
    assert alice.post("/add_host_mapping", body).json() == {"success": True}
    detail = alice.post("/job_detail", {"name": "job_name"}).json()["job"]
    assert detail["src"]["host_mapping"] == {"172.168.1.1": "10.0.10.1", "172.168.1.2": "10.0.10.2",
                                             "172.168.1.3": "10.0.10.3"}


def test_skip_binlog_and_full_sync(world, api, unchanged, job_name):
    alice = api(world.alice.token)
    silence = {"name": "job_name", "skip_by": "silence", "skip_commit_seq": 1001}
    with unchanged():  # nothing is failing: nothing to skip
        refused = alice.post("/job_skip_binlog", silence)
    assert refused.status_code == 409 and "no failing event" in refused.json()["error_msg"]
    Subscription.objects.filter(pk=job_name.pk).update(
        state="error", error="sink refused", error_wait_data={"commit_seq": 1001, "seq": 0, "table": "orders"})
    with unchanged():  # not the failing event's commit seq
        wrong = alice.post("/job_skip_binlog", {**silence, "skip_commit_seq": 1000})
    assert wrong.status_code == 409 and "1001" in wrong.json()["error_msg"]
    assert alice.post("/job_skip_binlog", silence).json() == {"success": True}
    job_name.refresh_from_db()
    assert job_name.skip_next is True  # the engine skips exactly that event once (console.domain.subscriptions.miss)
    assert job_name.phase == SyncPhase.INCREMENTAL
    # The reference's "force full sync" example posts skip_by silence without a commit seq: refused, unchanged.
    with unchanged():
        refused = alice.post("/job_skip_binlog", {"name": "job_name", "skip_by": "silence"})
    assert refused.status_code == 400 and refused.json()["success"] is False
    assert alice.post("/job_skip_binlog", {"name": "job_name", "skip_by": "fullsync"}).json() == {"success": True}
    job_name.refresh_from_db()
    assert job_name.phase == SyncPhase.FULL_SYNC
    Subscription.objects.filter(pk=job_name.pk).update(phase=SyncPhase.INCREMENTAL, fullsync_done=10)
    assert alice.post("/force_fullsync", {"name": "job_name"}).json() == {"success": True}
    job_name.refresh_from_db()
    assert (job_name.phase, job_name.fullsync_done) == (SyncPhase.FULL_SYNC, 0)
    assert alice.post("/job_status", {"name": "job_name"}).json()["progress_state"] == "TableFullSync"


def test_repeated_pause_and_resume_succeed_and_a_finished_job_refuses(world, api, unchanged, job_name):
    """Scripts retry: resuming a running job or pausing a paused one succeeds and changes nothing."""
    alice = api(world.alice.token)
    with unchanged():
        response = alice.post("/resume", {"name": "job_name"})  # already running
    assert response.status_code == 200 and response.json()["success"] is True
    assert alice.post("/pause", {"name": "job_name"}).json()["success"] is True
    with unchanged():
        response = alice.post("/pause", {"name": "job_name"})
    assert response.status_code == 200 and response.json()["success"] is True
    Subscription.objects.filter(pk=job_name.pk).update(state=SubscriptionState.FINISHED)
    with unchanged():
        response = alice.post("/resume", {"name": "job_name"})
    assert response.status_code == 409 and response.json()["success"] is False
    assert "finished" in response.json()["error_msg"]


def test_scoping(world, api, unchanged, job_name):
    with unchanged():
        for operation in ("pause", "job_detail", "delete", "job_status", "force_fullsync"):
            response = api(world.carol.token).post(f"/{operation}", {"name": "job_name"})
            assert response.status_code == 404 and response.json()["success"] is False, operation
        assert api(world.carol.token).post("/list_jobs", {}).json()["jobs"] == ["job-b"]
        # bob is a plain member of team-a: he reads but may not change
        assert api(world.bob.token).post("/job_status", {"name": "job_name"}).status_code == 200
        for operation in ("pause", "delete", "force_fullsync"):
            response = api(world.bob.token).post(f"/{operation}", {"name": "job_name"})
            assert response.status_code == 403 and response.json()["success"] is False, operation


@pytest.mark.parametrize("raw,status", [
    ("{broken", 400), ("[1]", 400), ('{"name": 5}', 400), ('{"name": ""}', 400), ('{"name": "nope"}', 404),
    ('{"name": "job_name", "skip_by": "teleport"}', 400),
    ('{"name": "job_name", "skip_by": "silence", "skip_commit_seq": "x"}', 400),
    ('{"name": "job_name", "src_host_mapping": ["a"]}', 400),
])
def test_bad_requests(world, api, unchanged, job_name, raw, status):
    operation = "job_skip_binlog" if "skip_by" in raw else "update_host_mapping" if "mapping" in raw else "pause"
    with unchanged():
        response = api(world.alice.token).post(f"/{operation}", raw=raw)
    assert response.status_code == status
    assert response.json()["success"] is False and response.json()["error_msg"]
