"""Bifrost monitoring API (docs/compatibility.md): Basic and token auth, every field, filters, flow, the Miss write."""
from datetime import timedelta

import pytest
from django.utils import timezone

from console.domain import progress
from console.models import AuditLog, Checkpoint, FlowSample, Instance, Subscription
from accounts import PASSWORD

DB_FIELDS = {"Name", "ConnectUri", "ConnStatus", "ConnErr", "ChannelCount", "LastChannelID", "TableCount",
             "BinlogDumpFileName", "BinlogDumpPosition", "MaxBinlogDumpFileName", "MaxBinlogDumpPosition",
             "ReplicateDoDb", "ServerId", "AddTime"}
TO_SERVER_FIELDS = {"ToServerID", "PluginName", "MustBeSuccess", "FilterQuery", "FilterUpdate", "FieldList",
                    "ToServerKey", "BinlogFileNum", "BinlogPosition", "PluginParam", "Status", "Error",
                    "ErrorWaitDeal", "ErrorWaitData"}


@pytest.mark.parametrize("method,path", [("get", "/db/list?format=json"), ("get", "/synclist?format=json"),
                                         ("post", "/synclist?format=json"), ("get", "/flow/get?format=json&type=minute"),
                                         ("post", "/table/toserver/deal")])
def test_auth_required(world, api, method, path):
    response = getattr(api(), method)(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")
    assert response.json()["status"] == 0 and response.json()["msg"]
    wrong = getattr(api(basic=("bob", "wrong")), method)(path)
    assert wrong.status_code == 401


def test_db_list_reference_shape_with_basic_auth(world, api):
    # req.SetBasicAuth(...); GET /db/list?format=json -> map[string]DbListStruct
    response = api(basic=("bob", PASSWORD)).get("/db/list", {"format": "json"})
    assert response.status_code == 200
    data = response.json()
    assert list(data) == ["10.1.0.1:3306"]  # bob sees team-a only
    db = data["10.1.0.1:3306"]
    assert set(db) == DB_FIELDS
    assert db["Name"] == "10.1.0.1:3306"
    assert db["ConnectUri"] == "dump:@tcp(10.1.0.1:3306)/" and "dump-pw" not in response.content.decode()
    assert db["ConnStatus"] == "starting"  # online, no live lease
    assert (db["ChannelCount"], db["LastChannelID"], db["TableCount"]) == (1, world.job_a.pk, 2)
    assert (db["BinlogDumpFileName"], db["BinlogDumpPosition"]) == ("mysql-bin.000003", 1200)
    assert db["ReplicateDoDb"] == {"shop": 1} and db["ServerId"] == 1001
    assert db["AddTime"] == int(world.instance_a.create_time.timestamp())
    # and with a token; filtered by dbname
    assert list(api(world.root.token).get("/db/list", {"format": "json"}).json()) == ["10.1.0.1:3306", "10.2.0.1:3306"]
    assert list(api(world.root.token).get("/db/list", {"dbname": "10.2.0.1:3306"}).json()) == ["10.2.0.1:3306"]


def test_synclist_reference_example_and_filters(world, api):
    Checkpoint.objects.create(instance=world.instance_a, subscription=world.job_a, binlog_file="mysql-bin.000003",
                              binlog_pos=900)
    Subscription.objects.filter(pk=world.job_a.pk).update(field_list="id, name", error="redis down", skip_next=True,
                                                         error_wait_data={"id": 7})
    bob = api(basic=("bob", PASSWORD))
    # https://127.0.0.1:21036/synclist?dbname=myTest&schema_name=&table_name=&toserverkey=&channelid=0&format=json
    data = bob.get("/synclist?dbname=10.1.0.1:3306&schema_name=&table_name=&toserverkey=&channelid=0&format=json").json()
    assert [(r["DbName"], r["SchemaName"], r["TableName"]) for r in data] == [
        ("10.1.0.1:3306", "shop", "orders"), ("10.1.0.1:3306", "shop", "users")]
    entry = data[0]["ToServerList"][0]
    assert set(entry) == TO_SERVER_FIELDS
    assert entry["ToServerID"] == world.job_a.pk and entry["PluginName"] == "redis"
    assert entry["ToServerKey"] == "redis-a" and entry["FieldList"] == ["id", "name"]
    assert (entry["BinlogFileNum"], entry["BinlogPosition"]) == (3, 900)
    assert entry["Error"] == "redis down" and entry["ErrorWaitDeal"] == 1 and entry["ErrorWaitData"] == {"id": 7}
    assert entry["PluginParam"]["SinkUri"] == "redis://:******@127.0.0.1:6379/0"
    assert entry["Status"] == "running" and entry["MustBeSuccess"] is True
    assert [r["TableName"] for r in bob.get("/synclist", {"table_name": "users"}).json()] == ["users"]
    assert bob.get("/synclist", {"schema_name": "other"}).json() == []
    assert bob.get("/synclist", {"toserverkey": "nope"}).json() == []
    assert len(bob.post("/synclist?format=json", raw="channelid=%d" % world.job_a.pk,
                        content_type="application/x-www-form-urlencoded").json()) == 2
    assert bob.get("/synclist", {"channelid": world.job_b.pk}).json() == []  # team-b's channel
    bad = bob.get("/synclist", {"channelid": "x"})
    assert bad.status_code == 400 and bad.json()["status"] == 0


def test_synclist_status_of_failing_jobs_and_a_job_before_its_first_checkpoint(world, api):
    # Read in bulk (rows, each target once): the one status rule still names the source and the target.
    long_ago = timezone.now() - timedelta(minutes=5)
    Instance.objects.filter(pk=world.instance_a.pk).update(retry_times=2, last_error="connection refused")
    Subscription.objects.filter(pk=world.job_a.pk).update(create_time=long_ago)
    Subscription.objects.filter(pk=world.job_b.pk).update(state="error", create_time=long_ago)
    data = api(world.root.token).get("/synclist?format=json").json()
    assert [(r["DbName"], r["SchemaName"], r["TableName"]) for r in data] == [
        ("10.1.0.1:3306", "shop", "orders"), ("10.1.0.1:3306", "shop", "users"), ("10.2.0.1:3306", "*", "*")]
    entry = data[0]["ToServerList"][0]
    assert (entry["Status"], entry["Error"]) == ("error", "source 10.1.0.1:3306 is unavailable: connection refused")
    assert (entry["BinlogFileNum"], entry["BinlogPosition"]) == (3, 1200)  # no checkpoint yet: the instance's
    assert entry["PluginParam"] == {"SinkUri": "redis://:******@127.0.0.1:6379/0"}
    entry = data[2]["ToServerList"][0]
    assert (entry["Status"], entry["Error"]) == ("error", "target 'hole-b' refuses the job's changes")
    assert (entry["PluginName"], entry["ToServerKey"], entry["PluginParam"]) == (
        "blackhole", "hole-b", {"SinkUri": "blackhole://"})


def test_flow_sums_every_visible_instance(world, api):
    now = timezone.now()
    for instance, schema, before, latest in ((world.instance_a, "shop", 10, 60), (world.instance_b, "shop2", 100, 400)):
        for seconds_ago, count in ((120, before), (2, latest)):
            at = now - timedelta(seconds=seconds_ago)
            FlowSample.objects.create(time=at, instance=instance, count=count, byte_size=count * 2)
            FlowSample.objects.create(time=at, instance=instance, schema_name=schema, table_name="orders",
                                      count=count + 1, byte_size=count)
    root = api(world.root.token)
    points = root.get("/flow/get?format=json&type=minute").json()
    assert (points[0]["Count"], points[0]["ByteSize"]) == (110, 220)  # carried in from before the window
    assert (points[-1]["Count"], points[-1]["ByteSize"]) == (460, 920)
    by_table = root.get("/flow/get", {"type": "minute", "table_name": "orders"}).json()  # shop.orders + shop2.orders
    assert (by_table[0]["Count"], by_table[-1]["Count"], by_table[-1]["ByteSize"]) == (112, 462, 460)
    assert root.get("/flow/get", {"type": "minute", "dbname": "10.2.0.1:3306"}).json()[-1]["Count"] == 400
    # The bulk read is the sum of the single series' windows, point by point.
    series = [(world.instance_a.pk, None, None, None), (world.instance_b.pk, "shop2", "orders", None),
              (world.instance_b.pk, "shop2", "orders", None)]
    windows = [progress.flow_window(key[0], "hour", schema=key[1], table=key[2], now=now) for key in series]
    assert progress.flow_sum(series, "hour", now=now) == [
        {"time": ps[0]["time"], "count": sum(p["count"] for p in ps), "byte_size": sum(p["byte_size"] for p in ps)}
        for ps in zip(*windows)]
    assert progress.flow_sum(series, "hour", now=now)[-1]["count"] == 60 + 401 + 401
    assert {p["count"] for p in progress.flow_sum([], "minute")} == {0}


def test_flow_is_cumulative_per_window(world, api):
    # The engine's series (read by console.domain.progress): instance totals, per schema, per table, per subscription.
    now = timezone.now()
    for seconds_ago, count, size in ((50, 10, 100), (20, 30, 300), (3, 60, 600)):
        at = now - timedelta(seconds=seconds_ago)
        FlowSample.objects.create(time=at, instance=world.instance_a, count=count, byte_size=size)
        FlowSample.objects.create(time=at, instance=world.instance_a, schema_name="shop", count=count, byte_size=size)
        FlowSample.objects.create(time=at, instance=world.instance_a, schema_name="shop", table_name="orders",
                                  count=count - 5, byte_size=size)
    FlowSample.objects.create(time=now - timedelta(seconds=20), instance=world.instance_a, subscription=world.job_a,
                              count=5, byte_size=50)
    FlowSample.objects.create(time=now - timedelta(seconds=20), instance=world.instance_b, count=999, byte_size=9)
    bob = api(basic=("bob", PASSWORD))
    # https://127.0.0.1:21036/flow/get?format=json&type=minute
    points = bob.get("/flow/get?format=json&type=minute").json()
    assert len(points) == 12 and all(set(p) == {"Time", "Count", "ByteSize"} for p in points)
    assert [p["Time"] for p in points] == sorted(p["Time"] for p in points)
    assert all(b["Time"] - a["Time"] == 5 for a, b in zip(points, points[1:]))
    counts = [p["Count"] for p in points]
    assert counts == sorted(counts) and max(counts) <= 60 and 30 in counts  # cumulative, team-a only, no double count
    by_table = [p["Count"] for p in bob.get("/flow/get", {"type": "minute", "schema": "shop",
                                                          "table_name": "orders"}).json()]
    assert 25 in by_table and max(by_table) <= 55
    assert 25 in [p["Count"] for p in bob.get("/flow/get", {"type": "minute", "table_name": "orders"}).json()]
    assert bob.get("/flow/get", {"type": "minute", "schema": "other"}).json()[-1]["Count"] == 0
    by_channel = bob.get("/flow/get", {"type": "minute", "channelid": world.job_a.pk}).json()
    assert max(p["Count"] for p in by_channel) == 5
    for window, n in (("tenminute", 120), ("hour", 120), ("eighthour", 96), ("day", 144)):
        assert len(bob.get("/flow/get", {"type": window}).json()) == n
    bad = bob.get("/flow/get", {"type": "week"})
    assert bad.status_code == 400 and bad.json()["status"] == 0
    assert bob.get("/flow/get", {"type": "minute", "channelid": world.job_b.pk}).status_code == 404


def test_read_only_role_cannot_write(world, api, unchanged):
    with unchanged():  # nothing is failing: nothing to miss
        assert api(basic=("alice", PASSWORD)).post("/table/toserver/deal?ToServerID=%d" % world.job_a.pk
                                                   ).status_code == 409
    Subscription.objects.filter(pk=world.job_a.pk).update(error="down", error_wait_data={"commit_seq": 9, "seq": 0})
    with unchanged():
        response = api(basic=("bob", PASSWORD)).post("/table/toserver/deal?ToServerID=%d" % world.job_a.pk)
        assert response.status_code == 403 and response.json()["status"] == 0
        assert api(basic=("carol", PASSWORD)).post("/table/toserver/deal?ToServerID=%d" % world.job_a.pk
                                                   ).status_code == 404
    response = api(basic=("alice", PASSWORD)).post("/table/toserver/deal?ToServerID=%d" % world.job_a.pk)
    assert response.status_code == 200 and response.json()["status"] == 1
    assert Subscription.objects.get(pk=world.job_a.pk).skip_next is True
    assert AuditLog.objects.filter(action="miss_event", actor="alice").exists()
