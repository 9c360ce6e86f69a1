"""Conformance of every machine surface with the callers it imitates.

BinLake's manager sends `token: <manager token>` and a long transactionId; scripts spell paths with or
without the trailing slash; an integer beyond a signed 64 bits is a 4xx in the surface's own error shape
that changes nothing, never a 500; preLeader and withGTID tell the truth.
"""
import binascii
import copy
import gzip
import json

import pytest

from console.choices import InstanceStatus
from console.models import AuditLog, Instance, Subscription
from manager_meta import NEW_DB, new_db

OK = {"code": 1000, "message": ""}
HUGE = [2**63, 2**64, -(2**63) - 1]


def meta(host="10.1.0.1", port=3306, **parts):
    body = {"dbInfo": {"host": host, "port": port}, "slave": None, "master": None, "counter": None,
            "terminal": None, "candidate": None, "zk": None}
    body.update(parts)
    return body




def hexgzip(obj) -> str:
    return binascii.hexlify(gzip.compress(json.dumps(obj).encode())).decode()


def un_hexgzip(raw: bytes):
    return json.loads(gzip.decompress(binascii.unhexlify(raw)))






def token_header(api, key):
    caller = api()
    caller.headers["HTTP_TOKEN"] = key
    return caller


# --- the manager's own token header ---------------------------------------------------------------------------

def test_manager_token_header_is_the_manager(world, api, manager_token):
    manager = token_header(api, manager_token)
    assert manager.post("/exist/node/", meta("10.2.0.1")).json() == OK  # every group's instances
    assert manager.post("/set/offline/", meta("10.2.0.1")).json() == OK
    assert Instance.objects.get(pk=world.instance_b.pk).state == "OFFLINE"
    assert AuditLog.objects.filter(action="set_offline", actor="manager").exists()


@pytest.mark.parametrize("key", ["not-the-manager", "user-token"])
def test_token_header_takes_only_the_manager_token(world, api, manager_token, unchanged, key):
    key = world.root.token if key == "user-token" else key
    with unchanged():
        response = token_header(api, key).post("/create/znodes/", NEW_DB)
    assert response.status_code == 401
    assert response.json() == {"code": 1401, "message": "invalid token"}


def test_token_header_is_not_taken_by_the_other_surfaces(world, api, manager_token):
    response = token_header(api, manager_token).post("/get_lag", {"name": "job-a"})
    assert response.status_code == 401 and response.json()["success"] is False


# --- transactionId: a long, in and out ------------------------------------------------------------------------

def source_db(source_address, **slave):
    """A MetaData registering the test source server (the manager's registration checks its grants)."""
    host, port, user, password = source_address
    return {**NEW_DB, "dbInfo": {**NEW_DB["dbInfo"], "host": host, "port": port, "user": user, "password": password},
            "slave": {"leader": "wave-1", **slave}}


@pytest.mark.parametrize("sent, stored", [(0, 0), (123456789012, 123456789012), ("42", 42), ("", 0),
                                          (2**63 - 1, 2**63 - 1), (-7, -7)])
def test_transaction_id_is_an_integer_in_and_out(world, api, manager_token, source_address, sent, stored):
    manager = api(manager_token)
    response = manager.post("/create/znodes/", source_db(source_address, transactionId=sent))
    assert response.json() == OK, response.content
    host, port = source_address[:2]
    assert Instance.objects.get(host=host, port=port).transaction_id == stored
    for encoding in ("json", "hexgzip"):
        body = meta(host, port)
        if encoding == "json":
            slave = manager.post("/slave/status", body).json()["slave"]
        else:
            slave = un_hexgzip(manager.post("/slave/status", raw=hexgzip(body), content_type="text/plain").content)["slave"]
        assert slave["transactionId"] == stored and type(slave["transactionId"]) is int
    master = manager.post("/master/status", meta(host, port)).json()["master"]
    assert master["transactionId"] == stored and type(master["transactionId"]) is int


def test_transaction_id_of_an_instance_never_set_is_zero(world, api):
    slave = api(world.alice.token).post("/slave/status", meta()).json()["slave"]
    assert slave["transactionId"] == 0


@pytest.mark.parametrize("sent", ["abc", "1.5", 1.5, True, [1], {"id": 1}, 2**63, -(2**63) - 1, str(2**64)])
@pytest.mark.parametrize("part", ["slave", "master"])
def test_transaction_id_that_is_no_long_is_refused(world, api, unchanged, sent, part):
    body = new_db()
    body[part] = {**(body[part] or {}), "transactionId": sent}
    with unchanged():
        response = api(world.root.token).post("/create/znodes/", body)
    assert response.status_code == 400
    data = response.json()
    assert data["code"] == 1001 and f"{part}.transactionId" in data["message"]


# --- paths with and without the trailing slash ----------------------------------------------------------------

MANAGER_PATHS = ["exist/node", "slave/status", "set/online", "set/offline", "set/leader", "set/candidate",
                 "reset/counter"]
MANAGER_BODY = meta(slave={"binlogFile": "mysql-bin.000004", "binlogPos": 4, "leader": "wave-2"},
                    candidate=["wave-1", "wave-2"])


@pytest.mark.parametrize("path", MANAGER_PATHS)
def test_manager_paths_answer_without_the_slash(world, api, path):
    alice = api(world.alice.token)
    without = alice.post(f"/{path}", MANAGER_BODY)
    with_slash = alice.post(f"/{path}/", MANAGER_BODY)
    assert without.status_code == 200, without.content
    assert (without.status_code, without.content) == (with_slash.status_code, with_slash.content)


def test_create_znodes_without_the_slash_creates(world, api):
    response = api(world.alice.token).post("/create/znodes", NEW_DB)
    assert response.status_code == 200 and response.json()["code"] == 1000, response.content
    assert Instance.objects.filter(host="10.7.0.1", port=3307, group=world.group_a).exists()
    again = api(world.alice.token).post("/create/znodes/", NEW_DB)
    assert again.status_code == 409 and again.json()["code"] == 1005


@pytest.mark.parametrize("path, body", [
    ("/version", {}), ("/list_jobs", {}), ("/get_lag", {"name": "job-a"}), ("/job_status", {"name": "job-a"}),
    ("/job_progress", {"name": "job-a"}), ("/pause", {"name": "job-a"}), ("/resume", {"name": "job-a"}),
    ("/update_host_mapping", {"name": "job-a", "src_host_mapping": {"172.168.1.1": "10.0.10.1"}}),
])
def test_ccr_paths_answer_with_and_without_the_slash(world, api, path, body):
    alice = api(world.alice.token)
    without = alice.post(path, body)
    with_slash = alice.post(f"{path}/", body)
    assert without.status_code == 200 and without.json()["success"] is True, without.content
    assert (without.status_code, without.json()) == (with_slash.status_code, with_slash.json())


@pytest.mark.parametrize("method, path", [
    ("get", "/api/v1/changefeeds"), ("get", "/api/v1/changefeeds/job-a"), ("post", "/api/v1/changefeeds/job-a/pause"),
    ("post", "/api/v1/changefeeds/job-a/resume"), ("get", "/api/v1/status"), ("get", "/api/v1/captures"),
    ("get", "/api/v1/processors"),
])
def test_ticdc_paths_answer_with_and_without_the_slash(world, api, waves, method, path):
    alice = api(world.alice.token)
    without = getattr(alice, method)(path)
    with_slash = getattr(alice, method)(f"{path}/")
    assert without.status_code in (200, 202), without.content
    assert (without.status_code, without.content) == (with_slash.status_code, with_slash.content)


@pytest.mark.parametrize("path", ["/db/list", "/synclist"])
def test_bifrost_paths_answer_with_and_without_the_slash(world, api, path):
    bob = api(world.bob.token)
    without = bob.get(path)
    with_slash = bob.get(f"{path}/")
    assert without.status_code == 200 and without.json(), without.content
    assert without.json() == with_slash.json()


def test_bifrost_post_without_the_slash_is_not_redirected(world, api):
    Subscription.objects.filter(pk=world.job_a.pk).update(error="boom", error_wait_data={"commit_seq": 7})
    alice = api(world.alice.token)
    response = alice.client.post("/table/toserver/deal/", {"ToServerID": world.job_a.pk}, **alice.headers)
    assert response.status_code == 200, response.content
    assert response.json() == {"status": 1, "msg": "success", "data": None}
    assert Subscription.objects.get(pk=world.job_a.pk).skip_next is True


# --- integers beyond 64 bits: a 4xx in the surface's shape, nothing changed -----------------------------------

def manager_shape(response):
    data = response.json()
    return response.status_code == 400 and data["code"] == 1001 and set(data) == {"code", "message"}


def bifrost_shape(response):
    data = response.json()
    return 400 <= response.status_code < 500 and data["status"] == 0 and data["data"] is None and data["msg"]


def ccr_shape(response):
    data = response.json()
    return 400 <= response.status_code < 500 and data == {"success": False, "error_msg": data["error_msg"]}


def ticdc_shape(response):
    data = response.json()
    return 400 <= response.status_code < 500 and set(data) == {"error_msg", "error_code"}


def native_shape(response):
    return 400 <= response.status_code < 500 and isinstance(response.json(), dict) and response.json()


def at(body, dotted, value):
    """A copy of `body` with `value` at the dotted path (objects made on the way)."""
    body = copy.deepcopy(body)
    *parents, last = dotted.split(".")
    node = body
    for key in parents:
        if node.get(key) is None:
            node[key] = {}
        node = node[key]
    node[last] = value
    return body


MANAGER_FIELDS = ["dbInfo.port", "dbInfo.slaveId", "dbInfo.metaVersion", "dbInfo.createTime", "slave.binlogPos",
                  "slave.binlogWhen", "slave.leaderVersion", "slave.transactionId", "master.binlogPos",
                  "counter.retryTimes", "counter.killTimes"]
EXISTING = meta(slave={"binlogFile": "mysql-bin.000004", "binlogPos": 4, "leader": "wave-2"}, counter={},
                master={}, candidate=["wave-1"])


def manager_cases():
    for path in ["/create/znodes/", "/set/binlog/", "/set/leader/", "/exist/node/", "/slave/status", "/remove/node/"]:
        for field in MANAGER_FIELDS:
            base = NEW_DB if path == "/create/znodes/" else EXISTING
            yield pytest.param("post", path, lambda w, v, b=base, f=field: at(b, f, v), manager_shape,
                               id=f"manager{path}{field}")


def case(surface, method, path, body, shape, field=""):
    return pytest.param(method, path, body, shape, id=f"{surface}:{method} {path} {field}".strip())


OVERFLOW_CASES = [
    *manager_cases(),
    # Bifrost: query strings and its one form POST
    case("bifrost", "get", "/synclist?channelid={v}", None, bifrost_shape),
    case("bifrost", "get", "/flow/get?type=minute&channelid={v}", None, bifrost_shape),
    case("bifrost", "get", "/db/list?dbname=10.1.0.1:{v}", None, bifrost_shape),
    case("bifrost", "form", "/table/toserver/deal", lambda w, v: {"ToServerID": v}, bifrost_shape),
    # CCR
    case("ccr", "post", "/create_ccr", lambda w, v: {
        "name": "ccr-new", "src": {"host": "10.1.0.1", "port": v, "database": "shop"},
        "dest": {"sink_uri": "blackhole://"}}, ccr_shape),
    case("ccr", "post", "/job_skip_binlog", lambda w, v: {
        "name": "job-a", "skip_by": "silence", "skip_commit_seq": v}, ccr_shape),
    case("ccr", "post", "/get_lag", lambda w, v: {"name": "job-a", "extra": [v]}, ccr_shape),
    case("ccr", "post", "/pause", lambda w, v: {"name": "job-a", "deep": {"er": v}}, ccr_shape),
    # TiCDC
    case("ticdc", "post", "/api/v1/changefeeds", lambda w, v: {
        "changefeed_id": "cf-new", "sink_uri": "blackhole://", "upstream": "10.1.0.1:3306", "start_ts": v}, ticdc_shape,
        "start_ts"),
    case("ticdc", "post", "/api/v1/changefeeds", lambda w, v: {
        "changefeed_id": "cf-new", "sink_uri": "blackhole://", "upstream": "10.1.0.1:3306", "target_ts": v}, ticdc_shape,
        "target_ts"),
    case("ticdc", "put", "/api/v1/changefeeds/job-a", lambda w, v: {"target_ts": v}, ticdc_shape),
    case("ticdc", "post", "/api/v1/changefeeds/job-a/tables/move_table", lambda w, v: {
        "capture_id": "wave-2", "table_id": v}, ticdc_shape),
    case("ticdc", "post", "/api/v1/changefeeds", lambda w, v: {
        "changefeed_id": "cf-new", "sink_uri": "blackhole://", "upstream": "10.1.0.1:3306",
        "sink_config": {"dispatchers": [{"matcher": ["shop.*"], "dispatcher": "ts", "partition": v}]}}, ticdc_shape,
        "sink_config"),
    # The native API: ids in paths, query parameters, body fields
    case("native", "get", "/api/targets/{v}/", None, native_shape),
    case("native", "get", "/api/subscriptions/{v}/", None, native_shape),
    case("native", "get", "/api/checkpoints/{v}/", None, native_shape),
    case("native", "post", "/api/subscriptions/{v}/pause/", lambda w, v: {}, native_shape),
    case("native", "get", "/api/subscriptions/?target={v}", None, native_shape),
    case("native", "get", "/api/instances/?page={v}", None, native_shape),
    case("native", "post", "/api/instances/", lambda w, v: {
        "group": w.group_a.pk, "host": "10.1.0.9", "port": v}, native_shape, "port"),
    case("native", "post", "/api/subscriptions/", lambda w, v: {
        "name": "job-new", "group": w.group_a.pk, "instance": w.instance_a.pk, "target": v}, native_shape, "target"),
    case("native", "post", "/api/instances/{instance_a}/set_binlog/", lambda w, v: {
        "binlog_file": "mysql-bin.000007", "binlog_pos": v}, native_shape),
    case("native", "post", "/api/subscriptions/{job_a}/skip_event/", lambda w, v: {"commit_seq": v}, native_shape),
    case("native", "post", "/api/subscriptions/{job_a}/set_position/", lambda w, v: {
        "binlog_file": "mysql-bin.000003", "binlog_pos": v}, native_shape),
    case("native", "patch", "/api/subscriptions/{job_a}/", lambda w, v: {"target": v}, native_shape),
]


@pytest.mark.parametrize("value", HUGE, ids=["2pow63", "2pow64", "minus2pow63minus1"])
@pytest.mark.parametrize("method, path, body, shape", OVERFLOW_CASES)
def test_integers_beyond_64_bits_are_refused(world, api, waves, unchanged, value, method, path, body, shape):
    root = api(world.root.token)
    url = path.format(v=value, instance_a=world.instance_a.pk, job_a=world.job_a.pk)
    with unchanged():
        if method == "get":
            response = root.get(url)
        elif method == "form":
            response = root.client.post(url, body(world, value), **root.headers)
        else:
            response = getattr(root, method)(url, body(world, value))
    assert shape(response), (response.status_code, response.content)


@pytest.mark.parametrize("value", HUGE)
def test_a_filter_beyond_64_bits_matches_nothing(world, api, value):
    """A list filter is a question, not a write: a number no row can hold matches no row (and is no 500)."""
    response = api(world.root.token).get(f"/api/instances/?port={value}")
    assert (response.status_code, response.json()["results"]) == (200, [])


def test_manager_refuses_a_huge_integer_in_hex_gzip(world, api, unchanged):
    with unchanged():
        response = api(world.root.token).post("/set/binlog/", raw=hexgzip(at(EXISTING, "slave.binlogPos", 2**64)),
                                              content_type="text/plain")
    assert manager_shape(response)


def test_a_big_but_valid_integer_is_taken(world, api, manager_token, source_address):
    """The guard is the signed 64-bit range itself: its largest value still goes through."""
    body = source_db(source_address, transactionId=2**63 - 1, binlogWhen=2**63 - 1)
    assert api(manager_token).post("/create/znodes/", body).json() == OK
    instance = Instance.objects.get(host=source_address[0], port=source_address[1])
    assert (instance.transaction_id, instance.binlog_when) == (2**63 - 1, 2**63 - 1)


# --- preLeader and withGTID -----------------------------------------------------------------------------------

def test_pre_leader_is_the_leader_before(world, api):
    alice = api(world.alice.token)
    assert alice.post("/set/leader/", meta(slave={"leader": "wave-2"})).json() == OK
    slave = alice.post("/slave/status", meta()).json()["slave"]
    assert (slave["leader"], slave["preLeader"]) == ("wave-2", "wave-1")
    assert alice.post("/set/leader/", meta(slave={"leader": "wave-2"})).json() == OK  # the same leader again
    slave = alice.post("/slave/status", meta()).json()["slave"]
    assert (slave["leader"], slave["preLeader"]) == ("wave-2", "wave-1")


def test_pre_leader_after_the_supervisor_hands_the_dump_over(world):
    from workers import lease

    instance = world.instance_a  # led by wave-1, no lease
    assert lease.dispatch(instance.pk, "wave-2", instance.leader_version)
    instance.refresh_from_db()
    assert (instance.leader, instance.pre_leader) == ("wave-2", "wave-1")
    assert lease.take(instance.pk, "wave-2", instance.leader_version) == 1
    instance.refresh_from_db()
    assert (instance.leader, instance.pre_leader, instance.leader_version) == ("wave-2", "wave-1", 1)


def test_pre_leader_stays_when_the_same_worker_is_dispatched_again(world):
    from workers import lease

    Instance.objects.filter(pk=world.instance_a.pk).update(pre_leader="wave-0")
    assert lease.dispatch(world.instance_a.pk, "wave-1", 0)
    instance = Instance.objects.get(pk=world.instance_a.pk)
    assert (instance.leader, instance.pre_leader) == ("wave-1", "wave-0")


@pytest.mark.parametrize("with_gtid, gtid_set, expected", [
    (False, "", False), (False, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5", False),
    (True, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5", True),
])
def test_with_gtid_is_whether_the_dump_follows_gtids(world, api, with_gtid, gtid_set, expected):
    Instance.objects.filter(pk=world.instance_a.pk).update(with_gtid=with_gtid, gtid_set=gtid_set)
    slave = api(world.alice.token).post("/slave/status", meta()).json()["slave"]
    assert slave["withGTID"] is expected
    assert slave["executedGtidSets"] == gtid_set


def test_master_status_answers_integers_and_the_instance_flags(world, api, source_address):
    host, port, user, password = source_address
    Instance.objects.create(group=world.group_a, host=host, port=port, user=user, password=password,
                            status=InstanceStatus.DUMP, slave_id=2001, leader="wave-2", pre_leader="wave-1",
                            transaction_id=77)
    master = api(world.alice.token).post("/master/status", meta(host, port)).json()["master"]
    assert (master["transactionId"], master["leader"], master["preLeader"], master["withGTID"]) == (
        77, "wave-2", "wave-1", False)


def test_master_status_of_an_unreachable_source_is_the_managers_shape(world, api):
    Instance.objects.create(group=world.group_a, host="127.0.0.1", port=1, status=InstanceStatus.DUMP, slave_id=9)
    response = api(world.alice.token).post("/master/status/", meta("127.0.0.1", 1))
    assert response.status_code == 502
    assert set(response.json()) == {"code", "message"} and response.json()["code"] == 1006


def test_slave_status_transaction_id_survives_json(world, api):
    Instance.objects.filter(pk=world.instance_a.pk).update(transaction_id=2**63 - 1)
    raw = api(world.alice.token).post("/slave/status", meta()).content
    assert f'"transactionId": {2**63 - 1}' in raw.decode()
    assert json.loads(raw)["slave"]["transactionId"] == 2**63 - 1
