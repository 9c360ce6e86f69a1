"""One create, one change, one delete and one shown state for a subscription, whichever surface is used.

The console form, the native API, TiCDC and CCR all go through console.domain.subscriptions: a bad
start_ts is refused everywhere (each surface in its own 4xx shape, nothing changed), a good create is
audited `create_subscription` everywhere, an edit a running job cannot take is refused everywhere and one
it can take is allowed everywhere. TiCDC shows a job whose source is down or whose target keeps failing
past the grace period as `error`; CCR get_lag is the job's own lag.
"""
import socket
import uuid
from datetime import datetime, timedelta, timezone as dt_timezone

import pymysql
import pytest
from django.test import Client
from django.utils import timezone

from accounts import Api
from console.choices import DumpState, InstanceStatus, SubscriptionState
from console.domain.subscriptions import ERROR_GRACE_SECONDS
from console.models import AuditLog, Checkpoint, Instance, Subscription
from workers import tso

BINLOG_WHEN = 1_700_000_000  # event time (s) of instance A's dumped position mysql-bin.000003:1200
DUMPED_TS = tso.position_ts(BINLOG_WHEN, 1200)
LONG_AGO = timedelta(seconds=ERROR_GRACE_SECONDS + 60)


@pytest.fixture
def positioned(world):
    """Instance A has read up to DUMPED_TS (a start_ts before it is too old)."""
    Instance.objects.filter(pk=world.instance_a.pk).update(binlog_when=BINLOG_WHEN, leader_version=4)
    return world


def console(world):
    client = Client()
    client.force_login(world.alice)
    return client


def form_errors(page):
    return " ".join(str(e) for errors in page.context["form"].errors.values() for e in errors)


# --- create through each surface -------------------------------------------------------------------

def create_console(world, name, **fields):
    return console(world).post("/subscriptions/add/", {
        "group": world.group_a.pk, "name": name, "instance": world.instance_a.pk, "target": world.target_a.pk,
        "tables": "shop.*", "must_be_success": "on", **fields})


def create_native(world, name, **fields):
    return Api(world.alice.token).post("/api/subscriptions/", {
        "name": name, "instance": world.instance_a.pk, "target": world.target_a.pk, "tables": "shop.*", **fields})


def create_ticdc(world, name, **fields):
    return Api(world.alice.token).post("/api/v1/changefeeds", {
        "changefeed_id": name, "upstream": "10.1.0.1:3306", "sink_uri": "blackhole://", "filter_rules": ["shop.*"],
        **fields})


CREATE = {"console": create_console, "native": create_native, "ticdc": create_ticdc}


def refusal(surface, response):
    """The surface's 4xx shape, and its message."""
    if surface == "console":
        assert response.status_code == 400 and response["Content-Type"].startswith("text/html")
        return form_errors(response)
    if surface == "native":
        assert response.status_code == 400
        return str(response.json())
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"error_msg", "error_code"} and body["error_code"] == "CDC:ErrAPIInvalidParam"
    return body["error_msg"]


@pytest.mark.parametrize("surface", list(CREATE))
@pytest.mark.parametrize("start_ts,says", [
    (-1, "start_ts"), (1 << 63, "start_ts"), ("soon", "start_ts"), (DUMPED_TS - 1, "older than"),
])
def test_a_bad_start_ts_is_refused_on_every_surface(positioned, unchanged, surface, start_ts, says):
    with unchanged():
        response = CREATE[surface](positioned, "bad-start", start_ts=start_ts)
        message = refusal(surface, response)
    assert says in message or (surface == "console" and start_ts == "soon" and "whole number" in message)
    if says == "older than":
        assert str(DUMPED_TS) in message


def ccr_database(source_address):
    host, port, user, password = source_address
    name = f"api_xs_{uuid.uuid4().hex[:8]}"
    conn = pymysql.connect(host=host, port=port, user=user, password=password, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
        cur.execute(f"CREATE TABLE {name}.empty (id INT PRIMARY KEY)")
    return conn, name


@pytest.mark.parametrize("surface", ["console", "native", "ticdc", "ccr"])
def test_a_good_create_is_audited_create_subscription_on_every_surface(positioned, request, surface):
    world = positioned
    if surface == "ccr":
        source_address = request.getfixturevalue("source_address")
        host, port, user, password = source_address
        Instance.objects.create(group=world.group_a, host=host, port=port, user=user, password=password,
                                status=InstanceStatus.DUMP, slave_id=3001)
        conn, database = ccr_database(source_address)
        request.addfinalizer(lambda: (conn.cursor().execute(f"DROP DATABASE {database}"), conn.close()))
        response = Api(world.alice.token).post("/create_ccr", {
            "name": "made", "src": {"host": host, "port": port, "user": user, "password": password,
                                    "database": database, "table": "empty"},
            "dest": {"sink_uri": "blackhole://"}})
        assert response.json() == {"success": True}
    else:
        response = CREATE[surface](world, "made", start_ts=DUMPED_TS)
        assert response.status_code == {"console": 302, "native": 201, "ticdc": 202}[surface], response.content
    job = Subscription.objects.get(name="made")
    assert job.group == world.group_a and job.state == SubscriptionState.NORMAL and job.created_by == "alice"
    audits = list(AuditLog.objects.filter(object_type="Subscription", object_id=str(job.pk))
                  .values_list("action", "actor"))
    assert audits == [("create_subscription", "alice")]
    if surface != "ccr":
        # started at the position its start_ts was checked against, on every surface
        assert job.start_ts == DUMPED_TS
        cp = Checkpoint.objects.get(subscription=job)
        assert (cp.binlog_file, cp.binlog_pos, cp.binlog_when) == ("mysql-bin.000003", 1200, BINLOG_WHEN)


def test_a_taken_name_and_a_not_dumping_instance_are_refused_alike(world, unchanged):
    Instance.objects.filter(pk=world.instance_a.pk).update(status=InstanceStatus.AGREE)
    with unchanged():
        assert create_console(world, "job-b").status_code == 409  # taken (by another group's job)
        assert create_native(world, "job-b").status_code == 409
        assert create_ticdc(world, "job-b").status_code == 409
        page = create_console(world, "fresh")
        assert page.status_code == 409 and "not approved for dumping" in form_errors(page)
        assert create_native(world, "fresh").status_code == 409
        assert create_ticdc(world, "fresh").json()["error_code"] == "CDC:ErrChangefeedStateRefused"


# --- edits of a running job ----------------------------------------------------------------------------

def console_form(job, **changes):
    fields = {"target": job.target_id, "mq_rule": "", "tables": job.tables, "field_list": job.field_list,
              "target_ts": job.target_ts, **changes}
    if job.must_be_success:
        fields.setdefault("must_be_success", "on")
    return {k: v for k, v in fields.items() if v is not False}


def edit_console(world, **changes):
    return console(world).post(f"/subscriptions/{world.job_a.pk}/edit/", console_form(world.job_a, **changes))


def edit_native(world, **changes):
    return Api(world.alice.token).patch(f"/api/subscriptions/{world.job_a.pk}/", changes)


def edit_ticdc(world, tables):
    return Api(world.alice.token).put("/api/v1/changefeeds/job-a", {"filter_rules": tables.split(",")})


def test_changing_tables_while_running_is_refused_on_every_surface_and_allowed_once_stopped(world, unchanged):
    with unchanged():
        page = edit_console(world, tables="shop.orders")
        assert page.status_code == 409 and "pause job 'job-a' to change tables" in form_errors(page)
        native = edit_native(world, tables="shop.orders")
        assert native.status_code == 409 and "pause job 'job-a' to change tables" in native.json()["detail"]
        ticdc = edit_ticdc(world, "shop.orders")
        assert ticdc.status_code == 400 and ticdc.json()["error_code"] == "CDC:ErrChangefeedUpdateRefused"
        assert "pause job 'job-a' to change tables" in ticdc.json()["error_msg"]
    Subscription.objects.filter(pk=world.job_a.pk).update(state=SubscriptionState.STOPPED)
    assert edit_console(world, tables="shop.a").status_code == 302
    assert Subscription.objects.get(pk=world.job_a.pk).tables == "shop.a"
    assert edit_native(world, tables="shop.b").status_code == 200
    assert Subscription.objects.get(pk=world.job_a.pk).tables == "shop.b"
    assert edit_ticdc(world, "shop.c").status_code == 202
    assert Subscription.objects.get(pk=world.job_a.pk).tables == "shop.c"
    updates = AuditLog.objects.filter(action="update_subscription", object_repr="job-a").order_by("id")
    assert [(a.actor, a.before["tables"], a.after["tables"]) for a in updates] == [
        ("alice", "shop.orders,shop.users", "shop.a"), ("alice", "shop.a", "shop.b"), ("alice", "shop.b", "shop.c")]


def test_what_a_running_job_takes_live_changes_on_every_surface(world):
    """must_be_success (TiCDC has no such setting) changes while the job runs, audited the same way."""
    assert edit_console(world, must_be_success=False).status_code == 302
    assert Subscription.objects.get(pk=world.job_a.pk).must_be_success is False
    world.job_a.refresh_from_db()
    response = edit_native(world, must_be_success=True, field_list="id, name")
    assert response.status_code == 200 and response.json()["field_list"] == "id,name"
    job = Subscription.objects.get(pk=world.job_a.pk)
    assert job.must_be_success is True and job.state == SubscriptionState.NORMAL
    changes = [(a.before["must_be_success"], a.after["must_be_success"])
               for a in AuditLog.objects.filter(action="update_subscription", object_repr="job-a").order_by("id")]
    assert changes == [(True, False), (False, True)]


def test_fixed_fields_and_no_op_edits(world, unchanged):
    with unchanged():
        assert console(world).get("/subscriptions/add/").status_code == 200
        page = console(world).get(f"/subscriptions/{world.job_a.pk}/edit/")
        assert page.status_code == 200
        assert [n for n, f in page.context["form"].fields.items() if f.disabled] == ["name", "instance", "start_ts"]
        renamed = edit_native(world, name="job-renamed")
        assert renamed.status_code == 400 and "name cannot be changed" in renamed.json()["detail"]
        assert edit_native(world, start_ts=5).status_code == 400
        # the same values again: no change, nothing audited, also while running
        assert edit_native(world, tables="shop.orders,shop.users").status_code == 200
        assert edit_console(world).status_code == 302


def test_delete_is_audited_delete_subscription_on_every_surface(world):
    for name in ("d-console", "d-native", "d-ticdc", "d-ccr"):
        Subscription.objects.create(name=name, group=world.group_a, instance=world.instance_a, target=world.target_a)
    alice = Api(world.alice.token)
    assert console(world).post(f"/subscriptions/{Subscription.objects.get(name='d-console').pk}/delete/"
                               ).status_code == 302
    assert alice.delete(f"/api/subscriptions/{Subscription.objects.get(name='d-native').pk}/").status_code == 204
    assert alice.delete("/api/v1/changefeeds/d-ticdc").status_code == 202
    assert alice.post("/delete", {"name": "d-ccr"}).json() == {"success": True}
    assert not Subscription.objects.filter(name__startswith="d-").exists()
    deleted = AuditLog.objects.filter(object_repr__startswith="d-").values_list("action", "object_repr")
    assert sorted(deleted) == [("delete_subscription", n) for n in ("d-ccr", "d-console", "d-native", "d-ticdc")]


# --- the shown state --------------------------------------------------------------------------------

def closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_ticdc_shows_error_for_a_source_that_is_down(world, waves):
    from workers.source import connect_instance
    from workers.tasks import record_failure

    port = closed_port()
    down = Instance.objects.create(group=world.group_a, host="127.0.0.1", port=port, status=InstanceStatus.DUMP,
                                   state=DumpState.ONLINE, slave_id=4001, binlog_file="mysql-bin.000001",
                                   binlog_pos=4, leader="wave-1", leader_version=2)
    alice = Api(world.alice.token)
    assert alice.post("/api/v1/changefeeds", {"changefeed_id": "cf-down", "upstream": f"127.0.0.1:{port}",
                                              "sink_uri": "blackhole://"}).status_code == 202
    # The engine's dump of that instance fails to connect and records it, as workers.tasks.dump_instance does.
    with pytest.raises(pymysql.OperationalError) as refused:
        connect_instance(down, connect_timeout=2)
    record_failure(down.pk, "wave-1", 2, refused.value)
    message = f"source 127.0.0.1:{port} is unavailable: OperationalError: {refused.value}"

    # Within the grace period: still normal, the error already says what is being retried.
    fresh = alice.get("/api/v1/changefeeds/cf-down").json()
    assert fresh["state"] == "normal"
    assert fresh["error"] == {"addr": "wave-1", "code": "CDC:ErrUpstreamUnavailable", "message": message}
    assert alice.post("/job_status", {"name": "cf-down"}).json()["state"] == "running"

    Subscription.objects.filter(name="cf-down").update(create_time=timezone.now() - LONG_AGO)
    detail = alice.get("/api/v1/changefeeds/cf-down").json()
    assert detail["state"] == "error"
    assert detail["error"] == {"addr": "wave-1", "code": "CDC:ErrUpstreamUnavailable", "message": message}
    listed = alice.get("/api/v1/changefeeds", {"state": "error"}).json()
    assert [(c["id"], c["state"], c["error"]["message"]) for c in listed] == [("cf-down", "error", message)]
    assert "cf-down" not in [c["id"] for c in alice.get("/api/v1/changefeeds").json()]  # default: not error
    assert alice.post("/job_status", {"name": "cf-down"}).json()["state"] == "paused"
    assert alice.post("/job_progress", {"name": "cf-down"}).json()["job_progress"]["error"] == message
    # the other instance's jobs are not concerned
    assert alice.get("/api/v1/changefeeds/job-a").json()["state"] == "normal"


def test_ticdc_shows_error_for_a_target_failing_past_the_grace_period(world, waves):
    alice = Api(world.alice.token)
    cp = Checkpoint.objects.create(instance=world.instance_a, subscription=world.job_a,
                                   binlog_file="mysql-bin.000003", binlog_pos=1000)
    # What the engine writes when it parks the job at a change the target refuses.
    Subscription.objects.filter(pk=world.job_a.pk).update(
        state=SubscriptionState.ERROR, error="WRONGTYPE Operation against a key holding the wrong kind of value",
        error_count=3)
    expected_error = {"addr": "wave-1", "code": "CDC:ErrProcessorUnknown",
                      "message": "WRONGTYPE Operation against a key holding the wrong kind of value"}
    fresh = alice.get("/api/v1/changefeeds/job-a").json()
    assert (fresh["state"], fresh["error"]) == ("normal", expected_error)
    Checkpoint.objects.filter(pk=cp.pk).update(update_time=timezone.now() - LONG_AGO)  # no progress since
    detail = alice.get("/api/v1/changefeeds/job-a").json()
    assert (detail["state"], detail["error"]) == ("error", expected_error)
    assert [c["id"] for c in alice.get("/api/v1/changefeeds", {"state": "error"}).json()] == ["job-a"]
    assert alice.get("/api/v1/processors/job-a/wave-1").json()["error"] == expected_error
    # paused by the operator: stopped, whatever the engine recorded
    assert alice.post("/api/v1/changefeeds/job-a/pause").status_code == 202
    assert alice.get("/api/v1/changefeeds/job-a").json()["state"] == "stopped"


def test_every_surface_shows_the_same_error_state(world, waves):
    """TiCDC, CCR, Bifrost and the console list all show job_status: `error` once the grace period is over."""
    cp = Checkpoint.objects.create(instance=world.instance_a, subscription=world.job_a,
                                   binlog_file="mysql-bin.000003", binlog_pos=1000)
    Subscription.objects.filter(pk=world.job_a.pk).update(state=SubscriptionState.ERROR, error="target refuses")
    Checkpoint.objects.filter(pk=cp.pk).update(update_time=timezone.now() - LONG_AGO)
    alice = Api(world.alice.token)
    assert alice.get("/api/v1/changefeeds/job-a").json()["state"] == "error"
    channels = alice.get("/synclist", {"format": "json", "dbname": str(world.instance_a)}).json()
    servers = [s for row in channels for s in row["ToServerList"] if s["ToServerID"] == world.job_a.pk]
    assert servers and {(s["Status"], s["Error"]) for s in servers} == {("error", "target refuses")}  # one per table
    client = Client()
    client.force_login(world.alice)
    page = client.get("/subscriptions/").content.decode()
    assert 'title="target refuses">error</span>' in page


# --- CCR get_lag -------------------------------------------------------------------------------------

def test_ccr_get_lag_is_the_jobs_own(world):
    sampled = datetime(2024, 1, 1, 12, 0, 0, tzinfo=dt_timezone.utc)
    now_s = int(sampled.timestamp())
    # The status sampler's last reading of the source, and the instance's own lag (not the jobs').
    Instance.objects.filter(pk=world.instance_a.pk).update(
        master_file="mysql-bin.000003", master_pos=9000, status_time=sampled, lag_bytes=555, lag_seconds=777)
    behind = Subscription.objects.create(name="behind", group=world.group_a, instance=world.instance_a,
                                         target=world.target_a)
    older_file = Subscription.objects.create(name="older-file", group=world.group_a, instance=world.instance_a,
                                             target=world.target_a)
    Checkpoint.objects.create(instance=world.instance_a, subscription=world.job_a, binlog_file="mysql-bin.000003",
                              binlog_pos=8000, binlog_when=now_s - 10)
    Checkpoint.objects.create(instance=world.instance_a, subscription=behind, binlog_file="mysql-bin.000003",
                              binlog_pos=5000, binlog_when=now_s - 100)
    Checkpoint.objects.create(instance=world.instance_a, subscription=older_file, binlog_file="mysql-bin.000002",
                              binlog_pos=700, binlog_when=now_s - 3600)
    alice = Api(world.alice.token)
    assert alice.post("/get_lag", {"name": "job-a"}).json() == {"success": True, "lag": 1000, "lag_seconds": 10}
    assert alice.post("/get_lag", {"name": "behind"}).json() == {"success": True, "lag": 4000, "lag_seconds": 100}
    assert alice.post("/get_lag", {"name": "older-file"}).json() == {
        "success": True, "lag": (1 << 32) + 9000 - 700, "lag_seconds": 3600}
    # caught up: no lag
    Checkpoint.objects.filter(subscription=world.job_a).update(binlog_pos=9000)
    assert alice.post("/get_lag", {"name": "job-a"}).json() == {"success": True, "lag": 0, "lag_seconds": 0}
