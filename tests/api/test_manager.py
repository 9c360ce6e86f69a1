"""BinLake manager MetaData API (docs/compatibility.md): every path, both encodings, auth, scoping, refusals."""
import binascii
import gzip
import json

import pytest

from console.choices import DumpState, InstanceStatus
from console.models import AuditLog, Checkpoint, Instance, Subscription
from manager_meta import NEW_DB

OK = {"code": 1000, "message": ""}


def meta(host="10.1.0.1", port=3306, **parts):
    body = {"dbInfo": {"host": host, "port": port}, "slave": None, "master": None, "counter": None,
            "terminal": None, "candidate": None, "zk": None}
    body.update(parts)
    return body


def hexgzip(obj) -> str:
    return binascii.hexlify(gzip.compress(json.dumps(obj).encode())).decode()


def un_hexgzip(raw: bytes):
    return json.loads(gzip.decompress(binascii.unhexlify(raw)))


def binary_logs(source_address):
    """[(name, size)] of the source server's binary logs."""
    import pymysql

    host, port, user, password = source_address
    conn = pymysql.connect(host=host, port=port, user=user, password=password)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW BINARY LOGS")
            return [(r[0], int(r[1])) for r in cur.fetchall()]
    finally:
        conn.close()




@pytest.mark.parametrize("path", [
    "/create/znodes/", "/set/binlog/", "/set/online/", "/set/offline/", "/set/leader/", "/set/candidate/",
    "/reset/counter/", "/master/status", "/slave/status", "/remove/node/", "/exist/node/",
])
def test_every_path_requires_auth(world, api, unchanged, path):
    with unchanged():
        response = api().post(path, meta())
        assert response.status_code == 401
        assert response.json()["code"] == 1401
        bad = api("not-a-token").post(path, meta())
        assert bad.status_code == 401 and bad.json()["code"] == 1401


# /create/znodes/ (registration through the domain, the manager's approval): tests/api/test_create_znodes.py


def test_plain_user_cannot_create_or_change(world, api, unchanged):
    with unchanged():
        assert api(world.bob.token).post("/create/znodes/", NEW_DB).json()["code"] == 1003
        response = api(world.bob.token).post("/set/offline/", meta())
        assert response.status_code == 403 and response.json()["code"] == 1003


def test_set_offline_online_leader_candidate_counter(world, api):
    alice = api(world.alice.token)
    assert alice.post("/set/offline/", meta()).json() == OK
    world.instance_a.refresh_from_db()
    assert world.instance_a.state == DumpState.OFFLINE
    assert alice.post("/set/online/", meta()).json() == OK
    world.instance_a.refresh_from_db()
    assert world.instance_a.state == DumpState.ONLINE
    assert alice.post("/set/leader/", meta(slave={"leader": "wave-2"})).json() == OK
    assert alice.post("/set/candidate/", meta(candidate=["wave-2", "wave-3"])).json() == OK
    Instance.objects.filter(pk=world.instance_a.pk).update(retry_times=7, kill_times=2)
    assert alice.post("/reset/counter/", meta()).json() == OK
    world.instance_a.refresh_from_db()
    assert world.instance_a.leader == "wave-2"
    assert world.instance_a.candidates == ["wave-2", "wave-3"]
    assert (world.instance_a.retry_times, world.instance_a.kill_times) == (0, 0)
    actions = set(AuditLog.objects.filter(object_id=world.instance_a.pk).values_list("action", flat=True))
    assert {"set_offline", "set_online", "set_leader", "set_candidates", "reset_counter"} <= actions


def test_set_binlog_and_slave_status_in_both_encodings(world, api, source_address):
    """/set/binlog/ moves the instance and every subscription (their checkpoints); /slave/status shows it at once."""
    host, port, user, password = source_address
    instance = Instance.objects.create(group=world.group_a, host=host, port=port, user=user, password=password,
                                       status=InstanceStatus.DUMP, state=DumpState.ONLINE, slave_id=2001,
                                       candidates=["wave-1"])
    job = Subscription.objects.create(name="job-real", group=world.group_a, instance=instance, target=world.target_a)
    first = binary_logs(source_address)[0][0]
    # The engine's checkpoints, far past the position about to be set.
    far = dict(binlog_file="mysql-bin.999998", binlog_pos=999, queued_file="mysql-bin.999998", queued_pos=999)
    Checkpoint.objects.create(instance=instance, **far)
    Checkpoint.objects.create(instance=instance, subscription=job, **far)
    alice = api(world.alice.token)
    body = meta(host, port, slave={"binlogFile": first, "binlogPos": 4, "executedGtidSets": ""})
    assert alice.post("/set/binlog/", body).json() == OK
    cp = Checkpoint.objects.get(subscription=job)
    assert (cp.binlog_file, cp.binlog_pos, cp.queued_file, cp.queued_pos) == (first, 4, "mysql-bin.999998", 999)
    status = alice.post("/slave/status", meta(host, port))
    assert status.status_code == 200
    data = status.json()
    assert set(data) == {"dbInfo", "slave", "master", "counter", "terminal", "candidate", "zk"}
    assert (data["slave"]["binlogFile"], data["slave"]["binlogPos"]) == (first, 4)
    assert set(data["slave"]) == {"binlogFile", "binlogPos", "executedGtidSets", "leader", "leaderVersion",
                                  "binlogWhen", "transactionId", "instanceIp", "withGTID", "preLeader"}
    assert set(data["dbInfo"]) == {"slaveId", "host", "port", "user", "password", "createTime", "state", "rule",
                                   "metaVersion", "slaveUUID"}
    assert data["dbInfo"]["password"] == ""  # never returned
    assert data["counter"] == {"retryTimes": 0, "killTimes": 0}
    assert data["candidate"] == ["wave-1"]
    encoded = alice.post("/slave/status", raw=hexgzip(meta(host, port)), content_type="text/plain")
    assert encoded.status_code == 200
    assert un_hexgzip(encoded.content) == data
    assert AuditLog.objects.filter(object_id=instance.pk, action="set_binlog", actor="alice").count() == 1


def test_set_binlog_refuses_a_position_the_server_does_not_have(world, api, source_address, unchanged):
    host, port, user, password = source_address
    Instance.objects.create(group=world.group_a, host=host, port=port, user=user, password=password,
                            status=InstanceStatus.DUMP, state=DumpState.ONLINE, slave_id=2001)
    last, size = binary_logs(source_address)[-1]
    alice = api(world.alice.token)
    with unchanged():
        for file, pos, says in (("mysql-bin.999999", 4, "binlog file 'mysql-bin.999999' is not on"),
                                (last, 999999999, f"position 999999999 is outside {last}: give a position from 4"),
                                (last, 5, f"no event starts at {last}:5")):
            response = alice.post("/set/binlog/", meta(host, port, slave={"binlogFile": file, "binlogPos": pos}))
            assert response.status_code == 400 and response.json()["code"] == 1007, (file, pos)
            assert says in response.json()["message"]


def test_slave_status_reports_the_position_the_engine_committed(world, api):
    # workers.checkpoints.commit writes the instance row and its checkpoint in one transaction.
    dumped = dict(binlog_file="mysql-bin.000005", binlog_pos=999, binlog_when=1700000000)
    type(world.instance_a).objects.filter(pk=world.instance_a.pk).update(**dumped)
    Checkpoint.objects.create(instance=world.instance_a, **dumped)
    data = api(world.alice.token).post("/slave/status", meta()).json()
    assert (data["slave"]["binlogFile"], data["slave"]["binlogPos"], data["slave"]["binlogWhen"]) == (
        "mysql-bin.000005", 999, 1700000000)


def test_master_status_reads_the_real_server(world, api, source_address):
    host, port, user, password = source_address
    from console.models import Instance

    Instance.objects.create(group=world.group_a, host=host, port=port, user=user, password=password,
                            status=InstanceStatus.DUMP, slave_id=2001)
    plain = api(world.alice.token).post("/master/status", meta(host, port))
    assert plain.status_code == 200, plain.content
    master = plain.json()["master"]
    assert master["binlogFile"].startswith("mysql-bin.") and master["binlogPos"] >= 4
    encoded = api(world.alice.token).post("/master/status", raw=hexgzip(meta(host, port)), content_type="text/plain")
    assert un_hexgzip(encoded.content)["master"]["binlogFile"] == master["binlogFile"]


def test_master_status_of_an_unreachable_source(world, api):
    from console.models import Instance

    Instance.objects.create(group=world.group_a, host="127.0.0.1", port=1, status=InstanceStatus.DUMP, slave_id=9)
    response = api(world.alice.token).post("/master/status", meta("127.0.0.1", 1))
    assert response.status_code == 502 and response.json()["code"] == 1006


def test_cross_group_is_not_found(world, api, unchanged):
    with unchanged():
        for path in ("/set/offline/", "/slave/status", "/exist/node/", "/remove/node/"):
            response = api(world.carol.token).post(path, meta())  # instance_a is team-a's
            assert response.status_code == 404 and response.json()["code"] == 1002, path


def test_exist_and_remove_node(world, api):
    alice = api(world.alice.token)
    assert alice.post("/exist/node/", meta()).json() == OK
    refused = alice.post("/remove/node/", meta())
    assert refused.status_code == 409 and refused.json()["code"] == 1004  # ONLINE
    assert alice.post("/set/offline/", meta()).json() == OK
    assert alice.post("/remove/node/", meta()).json() == OK
    assert not Instance.objects.filter(pk=world.instance_a.pk).exists()
    gone = alice.post("/exist/node/", meta())
    assert gone.status_code == 404 and gone.json()["code"] == 1002


@pytest.mark.parametrize("raw", [
    "{not json", "[1, 2]", "zz-not-hex", "abcd", "", json.dumps({"dbInfo": "x"}),
    json.dumps({"dbInfo": {"host": "10.1.0.1", "port": "three"}}), json.dumps({"dbInfo": {"host": 5, "port": 3306}}),
    json.dumps({"dbInfo": {"host": "10.1.0.1", "port": 3306}, "candidate": "wave-1"}),
])
def test_malformed_bodies_are_1001(world, api, unchanged, raw):
    with unchanged():
        response = api(world.alice.token).post("/set/offline/", raw=raw)
    assert response.status_code == 400
    assert response.json()["code"] == 1001


def test_illegal_values_and_states(world, api, unchanged):
    alice = api(world.alice.token)
    with unchanged():
        assert alice.post("/set/binlog/", meta(slave={"binlogFile": "mysql-bin.000001", "binlogPos": 0})).json()[
            "code"] == 1007
        assert alice.post("/set/leader/", meta(slave={"leader": ""})).json()["code"] == 1007
        assert alice.post("/set/candidate/", meta()).json()["code"] == 1007
    Instance.objects.filter(pk=world.instance_a.pk).update(status=InstanceStatus.AGREE)
    with unchanged():
        response = alice.post("/set/online/", meta())
    assert response.status_code == 409 and response.json()["code"] == 1004


def test_get_is_not_allowed(world, api):
    assert api(world.alice.token).get("/set/online/").status_code == 405
