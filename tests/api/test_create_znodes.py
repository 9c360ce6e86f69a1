"""BinLake's /create/znodes/ registers through the domain: a group admin's instance waits for the DBA's
approval; the manager's token (the DBA side) takes it through every workflow step, each audited as "manager"."""

import pymysql
import pytest
from django.test import Client

from console.choices import DumpState, InstanceStatus
from console.domain.audit import ACCESS_ACTIONS
from console.models import AuditLog, Group, Instance
from manager_meta import NEW_DB, new_db



def body(**db_info):
    return new_db(db_info)




@pytest.fixture
def master(source_address):
    """(file, pos) where the source's binlog ends now."""
    host, port, user, password = source_address
    conn = pymysql.connect(host=host, port=port, user=user, password=password)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW MASTER STATUS")
            row = cur.fetchone()
    finally:
        conn.close()
    return row[0], int(row[1])


def audit_of(host, port):
    instance = Instance.objects.get(host=host, port=port)
    changes = AuditLog.objects.filter(object_id=instance.pk).exclude(action__in=ACCESS_ACTIONS)
    return list(changes.order_by("id").values_list("actor", "action"))


def test_group_admin_registers_into_the_workflow(world, api):
    response = api(world.alice.token).post("/create/znodes/", NEW_DB)
    assert response.status_code == 200, response.content
    assert response.json() == {"code": 1000, "message": "registered 10.7.0.1:3307 in state init: it dumps once"
                                                        " the DBA approved it"}
    instance = Instance.objects.get(host="10.7.0.1", port=3307)
    assert instance.group == world.group_a  # alice admins exactly one group
    assert (instance.status, instance.state) == (InstanceStatus.INIT, DumpState.OFFLINE)
    assert (instance.binlog_file, instance.binlog_pos, instance.candidates, instance.leader) == ("", 0, [], "")
    assert (instance.user, instance.password) == ("binlake", "pw-7")
    assert instance.slave_id > 1002  # allocated past every other instance
    assert audit_of("10.7.0.1", 3307) == [("alice", "instance_register")]
    # It is in the console's workflow, waiting for its admin to apply.
    console = Client()
    console.force_login(world.alice)
    page = console.get(f"/workflow/{instance.pk}/")
    assert page.status_code == 200 and "10.7.0.1:3307" in page.content.decode()


def test_group_admin_hex_gzip_names_the_group(world, api):
    import binascii
    import gzip
    import json

    raw = binascii.hexlify(gzip.compress(json.dumps({**NEW_DB, "group": "team-b"}).encode())).decode()
    response = api(world.carol.token).post("/create/znodes/", raw=raw, content_type="text/plain")
    assert response.json()["code"] == 1000
    instance = Instance.objects.get(host="10.7.0.1")
    assert (instance.group, instance.status) == (world.group_b, InstanceStatus.INIT)


def test_a_super_admin_token_registers_too(world, api):
    """A super admin's token is a user: registration only; the decision is the workflow's."""
    response = api(world.root.token).post("/create/znodes/", {**NEW_DB, "group": "team-b"})
    assert response.json()["code"] == 1000
    assert Instance.objects.get(host="10.7.0.1").status == InstanceStatus.INIT


def test_registration_refusals_change_nothing(world, api, unchanged):
    alice = api(world.alice.token)
    with unchanged():
        bad_port = alice.post("/create/znodes/", body(port=70000))
        assert (bad_port.status_code, bad_port.json()) == (400, {"code": 1007,
                                                                 "message": "port must be between 1 and 65535"})
        bad_host = alice.post("/create/znodes/", body(host="not a host"))
        assert bad_host.status_code == 400 and bad_host.json()["code"] == 1007
        taken = alice.post("/create/znodes/", body(host="10.1.0.1", port=3306))
        assert (taken.status_code, taken.json()) == (409, {"code": 1005, "message": "10.1.0.1:3306 is already"
                                                                                    " registered (group 'team-a')"})
        other_group = alice.post("/create/znodes/", {**NEW_DB, "group": "team-b"})
        assert other_group.status_code == 403 and other_group.json()["code"] == 1003
        member = api(world.bob.token).post("/create/znodes/", NEW_DB)
        assert member.status_code == 403 and member.json()["code"] == 1003


def test_manager_token_takes_it_to_dump_step_by_step(world, api, manager_token, source_address, master):
    host, port, user, password = source_address
    data = body(host=host, port=port, user=user, password=password)
    data["slave"].update(binlogFile=master[0], binlogPos=master[1])
    response = api(manager_token).post("/create/znodes/", data)
    assert response.status_code == 200, response.content
    assert response.json() == {"code": 1000, "message": ""}
    instance = Instance.objects.get(host=host, port=port)
    assert instance.group.name == "default"
    assert (instance.status, instance.state) == (InstanceStatus.DUMP, DumpState.ONLINE)
    assert (instance.binlog_file, instance.binlog_pos) == master
    assert (instance.candidates, instance.leader, instance.slave_uuid) == (["wave-1", "wave-2"], "wave-1", "uuid-7")
    assert audit_of(host, port) == [
        ("manager", "instance_register"), ("manager", "apply"), ("manager", "approve"), ("manager", "grant"),
        ("manager", "start_dump"), ("manager", "set_leader"),
    ]


def test_manager_token_offline_and_at_the_master_position(world, api, manager_token, source_address, master):
    host, port, user, password = source_address
    data = body(host=host, port=port, user=user, password=password, state="OFFLINE")
    data["slave"] = None  # no position: where the master is now
    data["group"] = "team-a"
    assert api(manager_token).post("/create/znodes/", data).json() == {"code": 1000, "message": ""}
    instance = Instance.objects.get(host=host, port=port)
    assert (instance.group, instance.status, instance.state) == (world.group_a, InstanceStatus.DUMP, DumpState.OFFLINE)
    assert (instance.binlog_file, instance.binlog_pos) >= master
    assert [a for _, a in audit_of(host, port)][-2:] == ["start_dump", "set_offline"]


def test_manager_refusals_change_nothing(world, api, manager_token, source_address, unchanged):
    host, port, user, password = source_address
    manager = api(manager_token)
    with unchanged():
        # The grant checks run against the real server: a wrong password refuses the registration.
        wrong = body(host=host, port=port, user=user, password=password + "-wrong")
        refused = manager.post("/create/znodes/", wrong)
        assert refused.status_code == 502 and refused.json()["code"] == 1006
        assert "cannot connect" in refused.json()["message"]
        # The start position is checked against the server's binary logs.
        missing = body(host=host, port=port, user=user, password=password)
        missing["slave"].update(binlogFile="mysql-bin.999999", binlogPos=4)
        refused = manager.post("/create/znodes/", missing)
        assert refused.status_code == 400 and refused.json()["code"] == 1007
        assert "binlog file 'mysql-bin.999999' is not on" in refused.json()["message"]
        zero = body(host=host, port=port, user=user, password=password)
        zero["slave"]["binlogPos"] = 0
        assert manager.post("/create/znodes/", zero).json()["code"] == 1007
        assert manager.post("/create/znodes/", body(host="10.1.0.1", port=3306)).json()["code"] == 1005
    assert not Group.objects.filter(name="default").exists()


def test_a_missing_group_and_another_groups_name_get_the_same_refusal(world, api, unchanged):
    """The manager's answer must not tell which group names exist."""
    alice = api(world.alice.token)
    with unchanged():
        missing = alice.post("/create/znodes/", {"group": "no-such-team", "dbInfo": {"host": "10.7.0.1", "port": 3306}})
        other = alice.post("/create/znodes/", {"group": "team-b", "dbInfo": {"host": "10.7.0.1", "port": 3306}})
    assert (missing.status_code, other.status_code) == (403, 403)
    assert missing.json()["message"] == "you may not register instances in group 'no-such-team'"
    assert other.json()["message"] == "you may not register instances in group 'team-b'"
