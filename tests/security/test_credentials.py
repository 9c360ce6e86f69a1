"""No credential leaves Tower for a host no DBA approved, and no password is ever sent in clear text.

A fake MySQL server (fake_mysql.py) asks for the password with `mysql_clear_password`, the plugin that
makes a client send it as-is, and records every byte it receives.
"""
import json

import pymysql
import pytest
from console.choices import InstanceStatus, MemberRole
from console.models import Config, Group, Instance, Member, Subscription, Target
from workers import source
from workers.stream import StreamConnection

from accounts import client_for, make_user


GLOBAL_PASSWORD = "GLOBAL-dump-secret-123"
STORED_PASSWORD = "group-stored-secret-456"


@pytest.fixture
def dba_account(db):
    config = Config.current()
    config.dump_user, config.dump_password = "dba_dump", GLOBAL_PASSWORD
    config.save()
    return config


def user(name):
    account = make_user(name)
    account.client = client_for(name)
    return account


def post_json(account, path, body):
    return account.client.post(path, json.dumps(body), content_type="application/json",
                               HTTP_AUTHORIZATION=f"Token {account.token}")


def assert_no_secret_sent(fake, *secrets):
    for secret in secrets:
        assert secret.encode() not in bytes(fake.received)


def test_the_fake_server_catches_a_client_that_sends_its_password_in_clear(fake):
    """The detector works: stock PyMySQL agrees to the plugin and the password arrives as-is."""
    with pytest.raises(pymysql.OperationalError):
        pymysql.connect(host="127.0.0.1", port=fake.port, user="u", password=GLOBAL_PASSWORD, connect_timeout=5)
    assert GLOBAL_PASSWORD.encode() + b"\0" in bytes(fake.received)


@pytest.mark.parametrize("connection", [source.SourceConnection, StreamConnection], ids=["source", "stream"])
def test_tower_connections_refuse_cleartext_auth_without_tls(fake, connection):
    with pytest.raises(pymysql.OperationalError, match="clear text"):
        connection(host="127.0.0.1", port=fake.port, user="u", password=STORED_PASSWORD, connect_timeout=5)
    assert fake.connections == 1
    assert_no_secret_sent(fake, STORED_PASSWORD)


def test_an_outsiders_instance_with_a_blank_user_never_gets_the_global_account(fake, dba_account):
    mallory = user("mallory")
    assert mallory.client.post("/groups/add/", {"name": "mallory-team", "mark": ""}).status_code == 302
    group = Group.objects.get(name="mallory-team")
    response = mallory.client.post("/instances/add/", {"group": group.pk, "host": "127.0.0.1", "port": fake.port,
                                                       "user": "", "password": ""})
    assert response.status_code == 302
    instance = Instance.objects.get(port=fake.port)
    assert (instance.user, instance.password) == ("", "")  # the global account is not copied in

    manager = post_json(mallory, "/master/status", {"dbInfo": {"host": "127.0.0.1", "port": fake.port}})
    assert manager.json()["code"] != 1000 and "approved" in manager.json()["message"]
    grant = mallory.client.post(f"/workflow/{instance.pk}/grant/")
    assert grant.status_code == 409 and Instance.objects.get(pk=instance.pk).status == InstanceStatus.INIT
    with pytest.raises(source.SourceRefused, match="approved"):
        source.connect_instance(instance)
    assert fake.connections == 0
    assert_no_secret_sent(fake, GLOBAL_PASSWORD, "dba_dump")


def test_the_global_account_goes_to_the_approved_address_only(fake, dba_account):
    group = Group.objects.create(name="team")
    instance = Instance.objects.create(group=group, host="10.255.0.9", port=3306, status=InstanceStatus.AGREE,
                                       slave_id=77)
    assert source.instance_endpoint(instance) == ("10.255.0.9", 3306, "dba_dump", GLOBAL_PASSWORD)
    target = Target.objects.create(group=group, name="hole", uri="blackhole://")
    Subscription.objects.create(name="mapped", group=group, instance=instance, target=target,
                                options={"src_host_mapping": {"10.255.0.9": "127.0.0.1"}})
    with pytest.raises(source.SourceRefused, match="host mapping"):
        source.connect_instance(instance)
    assert fake.connections == 0


def test_a_plain_members_create_ccr_through_a_host_mapping_connects_nowhere(fake, dba_account):
    group = Group.objects.create(name="team")
    bob = user("bob")
    Member.objects.create(erp="bob", group=group, role=MemberRole.USER)
    Instance.objects.create(group=group, host="db-private.internal", port=fake.port, user="repl",
                            password=STORED_PASSWORD, status=InstanceStatus.DUMP, slave_id=78)
    body = {"name": "steal", "group": "team",
            "src": {"host": "db-private.internal", "port": fake.port, "database": "shop", "table": "orders",
                    "host_mapping": {"db-private.internal": "127.0.0.1"}},
            "dest": {"sink_uri": "blackhole://"}}
    response = post_json(bob, "/create_ccr", body)
    assert response.status_code == 403 and response.json()["success"] is False
    assert fake.connections == 0
    assert not Subscription.objects.filter(name="steal").exists()
    assert_no_secret_sent(fake, STORED_PASSWORD)


def test_an_admins_own_credentials_are_not_sent_in_clear_either(fake, dba_account):
    """Every path that connects with stored credentials ends in SourceConnection: the admin's own host that
    asks for cleartext gets a refusal, not the password."""
    group = Group.objects.create(name="team")
    alice = user("alice")
    Member.objects.create(erp="alice", group=group, role=MemberRole.ADMIN)
    instance = Instance.objects.create(group=group, host="127.0.0.1", port=fake.port, user="repl",
                                       password=STORED_PASSWORD, status=InstanceStatus.UNAUTHORIZED, slave_id=79)
    grant = alice.client.post(f"/workflow/{instance.pk}/grant/")
    assert grant.status_code == 422 and b"clear text" in grant.content
    manager = post_json(alice, "/master/status", {"dbInfo": {"host": "127.0.0.1", "port": fake.port}})
    assert manager.json()["code"] != 1000
    assert fake.connections >= 2
    assert_no_secret_sent(fake, STORED_PASSWORD, GLOBAL_PASSWORD)
    assert Instance.objects.get(pk=instance.pk).status == InstanceStatus.UNAUTHORIZED


def test_source_networks_allow_list_is_enforced_before_any_socket(fake, monkeypatch):
    monkeypatch.setenv("TOWER_SOURCE_NETWORKS", "10.0.0.0/8, 192.0.2.0/24")
    with pytest.raises(source.SourceRefused, match="outside the source networks"):
        source.connect("127.0.0.1", fake.port, "u", STORED_PASSWORD)
    with pytest.raises(source.SourceRefused, match="outside the source networks"):
        StreamConnection(host="localhost", port=fake.port, user="u", password=STORED_PASSWORD)
    assert fake.connections == 0
    monkeypatch.setenv("TOWER_SOURCE_NETWORKS", "127.0.0.0/8")
    with pytest.raises(pymysql.OperationalError, match="clear text"):
        source.connect("localhost", fake.port, "u", STORED_PASSWORD)
    assert fake.connections == 1


def test_a_closed_port_and_a_silent_one_fail_alike():
    """A refused and a timed-out connect read the same, so errors do not map which ports are open."""
    import socket

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(pymysql.OperationalError) as refused:
        source.connect("127.0.0.1", port, "u", "pw", connect_timeout=1)
    assert refused.value.args == (2003, f"cannot connect to 127.0.0.1:{port}")


def test_grant_through_a_host_mapping_with_the_global_account_is_a_failed_check(fake, dba_account):
    group = Group.objects.create(name="team")
    alice = user("alice")
    Member.objects.create(erp="alice", group=group, role=MemberRole.ADMIN)
    instance = Instance.objects.create(group=group, host="db-private.internal", port=fake.port,
                                       status=InstanceStatus.UNAUTHORIZED, slave_id=80)
    target = Target.objects.create(group=group, name="hole", uri="blackhole://")
    Subscription.objects.create(name="mapped", group=group, instance=instance, target=target,
                                options={"src_host_mapping": {"db-private.internal": "127.0.0.1"}})
    grant = alice.client.post(f"/workflow/{instance.pk}/grant/")
    assert grant.status_code == 422 and b"host mapping" in grant.content
    assert Instance.objects.get(pk=instance.pk).status == InstanceStatus.UNAUTHORIZED
    assert fake.connections == 0
