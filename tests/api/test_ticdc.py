"""TiCDC OpenAPI v1 (docs/compatibility.md): the TiCDC OpenAPI page's requests replayed, every endpoint, auth, scoping, refusals."""
import logging
import os
from datetime import timedelta

import pytest
from django.utils import timezone

from workers import tso
from console.choices import SubscriptionState
from console.models import AuditLog, Checkpoint, Instance, Subscription, Wave

ENDPOINTS = [
    ("get", "/api/v1/status"), ("get", "/api/v1/health"), ("get", "/api/v1/changefeeds"),
    ("post", "/api/v1/changefeeds"), ("get", "/api/v1/changefeeds/job-a"), ("put", "/api/v1/changefeeds/job-a"),
    ("delete", "/api/v1/changefeeds/job-a"), ("post", "/api/v1/changefeeds/job-a/pause"),
    ("post", "/api/v1/changefeeds/job-a/resume"), ("get", "/api/v1/processors"),
    ("get", "/api/v1/processors/job-a/wave-1"), ("get", "/api/v1/captures"), ("post", "/api/v1/owner/resign"),
    ("post", "/api/v1/changefeeds/job-a/tables/rebalance_table"),
    ("post", "/api/v1/changefeeds/job-a/tables/move_table"), ("post", "/api/v1/log"),
]


def call(client, method, path, body=None):
    if method in ("get", "delete"):
        return getattr(client, method)(path)
    return getattr(client, method)(path, body or {})


@pytest.mark.parametrize("method,path", ENDPOINTS)
def test_every_endpoint_requires_a_token(world, api, unchanged, method, path):
    with unchanged():
        response = call(api(), method, path)
    assert response.status_code == 401
    assert set(response.json()) == {"error_msg", "error_code"}


def test_status_and_health(world, api, waves, settings):
    settings.WORKER_NAME = "wave-1"
    status = api(world.bob.token).get("/api/v1/status").json()
    assert set(status) == {"version", "git_hash", "id", "pid", "is_owner"}
    assert status["id"] == "wave-1" and status["is_owner"] is True
    # Where the fleet runs is for super admins: a group's user gets the shape with those fields blank.
    assert (status["pid"], status["git_hash"]) == (0, "")
    assert api(world.root.token).get("/api/v1/status").json()["pid"] == os.getpid()
    assert api(world.bob.token).get("/api/v1/health").status_code == 200
    Wave.objects.update(state="dead")
    unhealthy = api(world.bob.token).get("/api/v1/health")
    assert unhealthy.status_code == 503 and unhealthy.json()["error_code"]


def test_create_changefeed_reference_example(world, api):
    # curl -X POST http://127.0.0.1:8300/api/v1/changefeeds -d '{"changefeed_id":"test5","sink_uri":"blackhole://"}'
    # carol's only dumping instance is the upstream when the body names none.
    response = api(world.carol.token).post("/api/v1/changefeeds", {"changefeed_id": "test5", "sink_uri": "blackhole://"})
    assert response.status_code == 202, response.content
    job = Subscription.objects.get(name="test5")
    assert job.instance == world.instance_b and job.target.uri == "blackhole://" and job.tables == "*.*"
    assert AuditLog.objects.filter(action="create_subscription", object_repr="test5", actor="carol").exists()


def test_create_changefeed_with_every_option(world, api):
    body = {
        "changefeed_id": "full-options", "upstream": "10.1.0.1:3306", "start_ts": 426919038970232833,
        "target_ts": 0, "sink_uri": "kafka://127.0.0.1:9092/topic-a?protocol=canal-json",
        "force_replicate": True, "ignore_ineligible_table": True, "filter_rules": ["shop*.*", "!shop.tmp_*"],
        "ignore_txn_start_ts": [1, 2], "mounter_worker_num": 16,
        "sink_config": {"dispatchers": [{"matcher": ["test1.*", "test2.*"], "dispatcher": "ts"},
                                        {"matcher": ["test3.*", "test4.*"], "dispatcher": "rowid"}],
                        "protocol": "canal-json"},
    }
    assert api(world.alice.token).post("/api/v1/changefeeds", body).status_code == 202
    job = Subscription.objects.get(name="full-options")
    assert job.instance == world.instance_a and job.tables == "shop*.*,!shop.tmp_*"
    assert job.start_ts == 426919038970232833
    assert job.options["sink_config"]["dispatchers"][1] == {"matcher": ["test3.*", "test4.*"], "dispatcher": "rowid"}
    assert job.options["ignore_txn_start_ts"] == [1, 2] and job.options["force_replicate"] is True
    for uri in ("redis://127.0.0.1:6379/0", "mongodb://127.0.0.1:27017/db", "clickhouse://127.0.0.1:9000/db",
                "amqp://u:p@127.0.0.1:5672/vh"):
        name = "cf-" + uri.split(":")[0]
        assert api(world.alice.token).post("/api/v1/changefeeds", {
            "changefeed_id": name, "sink_uri": uri, "upstream": "10.1.0.1:3306"}).status_code == 202
        assert Subscription.objects.get(name=name).target.kind == uri.split(":")[0]


@pytest.mark.parametrize("body,status", [
    ({"changefeed_id": "x"}, 400),  # no sink_uri
    ({"changefeed_id": "x", "sink_uri": "ftp://nowhere"}, 400),
    ({"changefeed_id": "x", "sink_uri": "blackhole://", "upstream": "10.1.0.1:3306", "start_ts": "soon"}, 400),
    ({"changefeed_id": "x", "sink_uri": "blackhole://", "upstream": "10.1.0.1:3306", "start_ts": -1}, 400),
    ({"changefeed_id": "x", "sink_uri": "blackhole://", "upstream": "10.1.0.1:3306", "filter_rules": ["nodot"]}, 400),
    ({"changefeed_id": "x", "sink_uri": "blackhole://", "upstream": "10.1.0.1:3306", "force_replicate": "yes"}, 400),
    ({"changefeed_id": "x", "sink_uri": "blackhole://", "upstream": "10.1.0.1:3306",
      "sink_config": {"dispatchers": [{"matcher": ["a.*"], "dispatcher": "random"}]}}, 400),
    ({"changefeed_id": "x", "sink_uri": "blackhole://", "upstream": "10.1.0.1:3306",
      "sink_config": {"protocol": "xml"}}, 400),
    ({"changefeed_id": "x", "sink_uri": "blackhole://", "upstream": "10.2.0.1:3306"}, 404),  # team-b's
    ({"changefeed_id": "x", "sink_uri": "blackhole://", "upstream": "nonsense"}, 400),
    ({"changefeed_id": "x", "sink_uri": "blackhole://"}, 400),  # no upstream and alice has two instances
    ({"changefeed_id": "job-b", "sink_uri": "blackhole://", "upstream": "10.1.0.1:3306"}, 409),  # id taken
    ({"changefeed_id": "bad id!", "sink_uri": "blackhole://", "upstream": "10.1.0.1:3306"}, 400),
])
def test_create_refusals(world, api, unchanged, body, status):
    Instance.objects.create(group=world.group_a, host="10.1.0.2", port=3306, status="dump", slave_id=77)
    with unchanged():
        response = api(world.alice.token).post("/api/v1/changefeeds", body)
    assert response.status_code == status, response.content
    assert set(response.json()) == {"error_msg", "error_code"}


def test_malformed_json(world, api, unchanged):
    with unchanged():
        for path in ("/api/v1/changefeeds", "/api/v1/changefeeds/job-a/tables/move_table", "/api/v1/log"):
            response = api(world.root.token).post(path, raw="{oops")
            assert response.status_code == 400 and response.json()["error_code"] == "CDC:ErrAPIInvalidParam"
        response = api(world.root.token).client.put("/api/v1/changefeeds/job-a", "[1,2", content_type="application/json",
                                                    **api(world.root.token).headers)
        assert response.status_code == 400


def test_list_states(world, api):
    alice = api(world.alice.token)
    for name, state in (("cf-stopped", "stopped"), ("cf-failed", "failed"), ("cf-finished", "finished"),
                        ("cf-error", "error")):
        Subscription.objects.create(name=name, group=world.group_a, instance=world.instance_a, target=world.target_a,
                                    state=state)
    # cf-error: parked by the engine, with no progress for longer than the grace period (so shown `error`)
    Subscription.objects.filter(name="cf-error").update(create_time=timezone.now() - timedelta(minutes=5))
    default = [c["id"] for c in alice.get("/api/v1/changefeeds").json()]
    assert default == ["cf-failed", "cf-stopped", "job-a"]
    all_ = [c["id"] for c in alice.get("/api/v1/changefeeds", {"state": "all"}).json()]
    assert all_ == ["cf-error", "cf-failed", "cf-finished", "cf-stopped", "job-a"]
    normal = alice.get("/api/v1/changefeeds", {"state": "normal"}).json()
    assert [c["id"] for c in normal] == ["job-a"]
    assert set(normal[0]) == {"id", "state", "checkpoint_tso", "checkpoint_time", "error"}
    assert alice.get("/api/v1/changefeeds", {"state": "bogus"}).status_code == 400


def test_list_shows_each_changefeed_as_its_detail_does(world, api):
    """The list reads jobs as rows, not models (ticdc.listed_jobs): every state and error job_status can give
    comes out as the changefeed's own GET shows it."""
    long_ago = timezone.now() - timedelta(minutes=5)  # past the error grace period
    down = Instance.objects.create(group=world.group_a, host="10.1.0.2", port=3307, slave_id=1003, status="dump",
                                   state="ONLINE", binlog_file="mysql-bin.000007", binlog_pos=400,
                                   binlog_when=1628604000, leader="wave-2", retry_times=2,
                                   last_error="connection refused")
    Checkpoint.objects.create(instance=world.instance_a, subscription=world.job_a, binlog_file="mysql-bin.000003",
                              binlog_pos=5000, binlog_when=1628604294)
    for name, instance, state in (("cf-refused", world.instance_a, "error"), ("cf-down", down, "normal"),
                                  ("cf-stopped", down, "stopped")):
        Subscription.objects.create(name=name, group=world.group_a, instance=instance, target=world.target_a,
                                    state=state)
    Subscription.objects.filter(name__in=["cf-refused", "cf-down"]).update(create_time=long_ago)
    alice = api(world.alice.token)
    listed = alice.get("/api/v1/changefeeds", {"state": "all"}).json()
    assert [(c["id"], c["state"]) for c in listed] == [
        ("cf-down", "error"), ("cf-refused", "error"), ("cf-stopped", "stopped"), ("job-a", "normal")]
    by_id = {c["id"]: c for c in listed}
    assert by_id["cf-down"]["error"] == {"addr": "wave-2", "code": "CDC:ErrUpstreamUnavailable",
                                         "message": "source 10.1.0.2:3307 is unavailable: connection refused"}
    assert by_id["cf-refused"]["error"] == {"addr": "wave-1", "code": "CDC:ErrProcessorUnknown",
                                            "message": "target 'redis-a' refuses the job's changes"}
    assert by_id["job-a"]["checkpoint_tso"] == tso.position_ts(1628604294, 5000)
    assert by_id["cf-down"]["checkpoint_tso"] == tso.position_ts(1628604000, 400)  # before a checkpoint: the instance's
    for entry in listed:
        detail = alice.get(f"/api/v1/changefeeds/{entry['id']}").json()
        assert entry == {field: detail[field] for field in entry}


def test_get_changefeed_has_every_reference_field(world, api, waves):
    Checkpoint.objects.create(instance=world.instance_a, subscription=world.job_a, binlog_file="mysql-bin.000003",
                              binlog_pos=5000, binlog_when=1628604294, queued_file="mysql-bin.000003", queued_pos=6000)
    data = api(world.alice.token).get("/api/v1/changefeeds/job-a").json()
    assert set(data) == {"id", "sink_uri", "create_time", "start_ts", "target_ts", "checkpoint_tso",
                         "checkpoint_time", "sort_engine", "state", "error", "error_history", "creator_version",
                         "task_status"}
    assert data["sink_uri"] == "redis://:******@127.0.0.1:6379/0"
    assert data["checkpoint_tso"] == tso.position_ts(1628604294, 5000)
    assert data["checkpoint_time"].startswith("2021-08-10 ")
    assert data["task_status"] == [{"capture_id": "wave-1", "table_ids": data["task_status"][0]["table_ids"],
                                    "table_operations": {}}]
    assert len(data["task_status"][0]["table_ids"]) == 2
    assert api(world.carol.token).get("/api/v1/changefeeds/job-a").status_code == 404
    assert api(world.alice.token).get("/api/v1/changefeeds/nope").json()["error_code"] == "CDC:ErrChangeFeedNotExists"


def test_pause_update_resume_delete(world, api, unchanged):
    alice = api(world.alice.token)
    with unchanged():  # update only when stopped
        refused = alice.put("/api/v1/changefeeds/job-a", {"mounter_worker_num": 32})
    assert refused.status_code == 400 and refused.json()["error_code"] == "CDC:ErrChangefeedUpdateRefused"
    # curl -X POST http://127.0.0.1:8300/api/v1/changefeeds/test1/pause
    assert alice.post("/api/v1/changefeeds/job-a/pause").status_code == 202
    assert Subscription.objects.get(name="job-a").state == SubscriptionState.STOPPED
    with unchanged():
        assert alice.post("/api/v1/changefeeds/job-a/pause").status_code == 202  # again: scripts retry
    # curl -X PUT .../changefeeds/test1 -d '{"mounter_worker_num":32}'
    assert alice.put("/api/v1/changefeeds/job-a", {"mounter_worker_num": 32}).status_code == 202
    assert alice.put("/api/v1/changefeeds/job-a", {"sink_uri": "blackhole://", "filter_rules": ["shop.*"],
                                                   "target_ts": 5}).status_code == 202
    job = Subscription.objects.get(name="job-a")
    assert job.options["mounter_worker_num"] == 32 and job.tables == "shop.*" and job.target_ts == 5
    assert job.target.uri == "blackhole://"
    assert alice.post("/api/v1/changefeeds/job-a/resume").status_code == 202
    assert Subscription.objects.get(name="job-a").state == SubscriptionState.NORMAL
    with unchanged():
        assert alice.post("/api/v1/changefeeds/job-a/resume").status_code == 202  # again: scripts retry
        assert api(world.bob.token).post("/api/v1/changefeeds/job-a/pause").status_code == 403
        assert api(world.carol.token).delete("/api/v1/changefeeds/job-a").status_code == 404
    # curl -X DELETE http://127.0.0.1:8300/api/v1/changefeeds/test1
    assert alice.delete("/api/v1/changefeeds/job-a").status_code == 202
    assert not Subscription.objects.filter(name="job-a").exists()


def test_processors(world, api):
    Checkpoint.objects.create(instance=world.instance_a, subscription=world.job_a, binlog_file="mysql-bin.000003",
                              binlog_pos=5000, binlog_when=1628604294, queued_file="mysql-bin.000003", queued_pos=6000)
    alice = api(world.alice.token)
    assert alice.get("/api/v1/processors").json() == [{"changefeed_id": "job-a", "capture_id": "wave-1"}]
    detail = alice.get("/api/v1/processors/job-a/wave-1").json()
    assert set(detail) == {"checkpoint_ts", "resolved_ts", "table_ids", "error"}
    assert detail["resolved_ts"] > detail["checkpoint_ts"] == tso.position_ts(1628604294, 5000)
    assert detail["error"] is None
    Subscription.objects.filter(pk=world.job_a.pk).update(error="sink down", state="error")
    assert alice.get("/api/v1/processors/job-a/wave-1").json()["error"]["message"] == "sink down"
    assert alice.get("/api/v1/processors/job-a/wave-9").status_code == 404
    assert api(world.carol.token).get("/api/v1/processors/job-a/wave-1").status_code == 404


def test_captures_and_owner_resign(world, api, waves, unchanged):
    captures = api(world.root.token).get("/api/v1/captures").json()
    assert captures == [{"id": "wave-1", "is_owner": True, "address": "10.9.0.1:8300"},
                        {"id": "wave-2", "is_owner": False, "address": "10.9.0.2:8300"}]
    captures = api(world.bob.token).get("/api/v1/captures").json()
    assert captures == [{"id": "wave-1", "is_owner": True, "address": ""},
                        {"id": "wave-2", "is_owner": False, "address": ""}]
    with unchanged():
        assert api(world.alice.token).post("/api/v1/owner/resign").status_code == 403
    assert api(world.root.token).post("/api/v1/owner/resign").status_code == 202
    assert list(Wave.objects.filter(is_owner=True).values_list("name", flat=True)) == ["wave-2"]
    assert api(world.root.token).post("/api/v1/owner/resign").status_code == 202
    assert list(Wave.objects.filter(is_owner=True).values_list("name", flat=True)) == ["wave-1"]
    Wave.objects.filter(name="wave-2").update(state="dead")
    with unchanged():
        assert api(world.root.token).post("/api/v1/owner/resign").status_code == 400


def test_move_and_rebalance(world, api, waves, unchanged):
    alice = api(world.alice.token)
    table_id = alice.get("/api/v1/changefeeds/job-a").json()["task_status"][0]["table_ids"][0]
    with unchanged():
        assert alice.post("/api/v1/changefeeds/job-a/tables/move_table",
                          {"capture_id": "wave-dead", "table_id": table_id}).status_code == 404
        assert alice.post("/api/v1/changefeeds/job-a/tables/move_table",
                          {"capture_id": "wave-2", "table_id": 12345}).status_code == 400
        assert alice.post("/api/v1/changefeeds/job-a/tables/move_table",
                          {"capture_id": "wave-2", "table_id": "x"}).status_code == 400
        assert api(world.bob.token).post("/api/v1/changefeeds/job-a/tables/move_table",
                                         {"capture_id": "wave-2", "table_id": table_id}).status_code == 403
    # the TiCDC OpenAPI page's body: {"capture_id": ..., "table_id": 49}
    response = alice.post("/api/v1/changefeeds/job-a/tables/move_table", {"capture_id": "wave-2", "table_id": table_id})
    assert response.status_code == 202
    world.instance_a.refresh_from_db()
    assert world.instance_a.leader == "wave-2" and "wave-2" in world.instance_a.candidates
    # rebalance: wave-2 now leads instance_a; give it another instance so wave-1 is the lighter one
    Instance.objects.filter(pk=world.instance_b.pk).update(leader="wave-2")
    assert alice.post("/api/v1/changefeeds/job-a/tables/rebalance_table").status_code == 202
    world.instance_a.refresh_from_db()
    assert world.instance_a.leader == "wave-1"
    assert AuditLog.objects.filter(action="set_leader", object_id=world.instance_a.pk).count() == 2


def test_log_level(world, api, unchanged):
    root_logger = logging.getLogger()
    level = root_logger.level
    try:
        with unchanged():
            assert api(world.alice.token).post("/api/v1/log", {"log_level": "debug"}).status_code == 403
            assert api(world.root.token).post("/api/v1/log", {"log_level": "loud"}).status_code == 400
        # curl -X POST http://127.0.0.1:8300/api/v1/log -d '{"log_level":"debug"}'
        assert api(world.root.token).post("/api/v1/log", {"log_level": "debug"}).status_code == 200
        assert root_logger.level == logging.DEBUG
        assert api(world.root.token).post("/api/v1/log", {"log_level": "warn"}).status_code == 200
        assert root_logger.level == logging.WARNING
    finally:
        root_logger.setLevel(level)
