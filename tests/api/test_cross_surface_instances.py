"""Registering an instance and deciding on it: the same rule on every surface (one domain operation each).

Registration: the console's /instances/add/, the native POST /api/instances/, BinLake's /create/znodes/.
Decision: the console's decide (a super admin) and the signed DBA callback.
"""
import json
import time

import pytest
from django.test import Client

from console.choices import InstanceStatus
from console.domain.instances import sign_callback
from console.models import AuditLog, Config, Instance


def console_register(world, user, host, port):
    client = Client()
    client.force_login(user)
    response = client.post("/instances/add/", {"group": world.group_a.pk, "host": host, "port": port,
                                               "user": "dump", "password": "pw"})
    return response.status_code, response.content.decode()


def native_register(world, user, host, port, api):
    response = api(user.token).post("/api/instances/", {"group": world.group_a.pk, "host": host, "port": port,
                                                       "user": "dump", "password": "pw"})
    return response.status_code, response.content.decode()


def manager_register(world, user, host, port, api):
    response = api(user.token).post("/create/znodes/", {"group": "team-a", "dbInfo": {
        "host": host, "port": port, "user": "dump", "password": "pw"}})
    return response.status_code, response.content.decode()


SURFACES = {
    "console": lambda world, user, host, port, api: console_register(world, user, host, port),
    "native": native_register,
    "manager": manager_register,
}


@pytest.mark.parametrize("surface", SURFACES)
def test_a_group_admin_registers_in_state_init_audited_alike(world, api, surface):
    status, _ = SURFACES[surface](world, world.alice, "10.5.0.1", 3310, api)
    assert status in (200, 201, 302)
    instance = Instance.objects.get(host="10.5.0.1", port=3310)
    assert (instance.group, instance.status, instance.user) == (world.group_a, InstanceStatus.INIT, "dump")
    assert list(AuditLog.objects.filter(object_id=instance.pk).values_list("actor", "action")) == [
        ("alice", "instance_register")]


@pytest.mark.parametrize("surface", SURFACES)
def test_a_plain_member_is_refused(world, api, unchanged, surface):
    with unchanged():
        status, _ = SURFACES[surface](world, world.bob, "10.5.0.1", 3310, api)
    assert status == 403


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("port", [0, 70000])
def test_a_bad_port_is_refused(world, api, unchanged, surface, port):
    with unchanged():
        status, _ = SURFACES[surface](world, world.alice, "10.5.0.1", port, api)
    assert status == 400


@pytest.mark.parametrize("surface", SURFACES)
def test_a_bad_host_is_refused(world, api, unchanged, surface):
    with unchanged():
        status, _ = SURFACES[surface](world, world.alice, "not a host", 3306, api)
    assert status == 400


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("host, where", [("10.1.0.1", "group 'team-a'"), ("10.2.0.1", "another group")])
def test_an_address_taken_is_refused_with_the_same_message(world, api, unchanged, surface, host, where):
    """A conflict (409) on every surface, the console's form included. Another group's instance is not named
    to someone outside it."""
    with unchanged():
        got, text = SURFACES[surface](world, world.alice, host, 3306, api)
    assert got == 409
    assert f"{host}:3306 is already registered ({where})" in text.replace("&#x27;", "'")


# --- the decision -------------------------------------------------------------------------------------------

SECRET = "cross-surface-secret"


@pytest.fixture
def waiting(world):
    config = Config.current()
    config.callback_secret = SECRET
    config.save()
    return Instance.objects.create(group=world.group_a, host="10.5.0.2", port=3306, user="dump", slave_id=3001,
                                   status=InstanceStatus.WAIT, request_id="order-1")


def console_decide(world, user, instance, approve):
    client = Client()
    client.force_login(user)
    return client.post(f"/workflow/{instance.pk}/decide/",
                       {"decision": "approve" if approve else "refuse", "comment": "ok", "confirmed": "yes"}).status_code


def callback_decide(world, user, instance, approve, signed=True):
    """The DBA system's callback; a user without the secret can only send it unsigned or wrongly signed."""
    raw = json.dumps({"approveStatus": "approve" if approve else "refuse", "approveUser": "dba1", "comment": "ok",
                      "towerId": instance.pk, "dbsOrderId": instance.request_id}).encode()
    stamp = str(int(time.time()))
    signature = sign_callback(SECRET if signed else f"{user.username}-guess", stamp, raw)
    return Client().post("/workflow/callback/", data=raw, content_type="application/json",
                         HTTP_X_TOWER_TIMESTAMP=stamp, HTTP_X_TOWER_SIGNATURE=signature).status_code


@pytest.mark.parametrize("surface, approve, action, status", [
    ("console", True, "approve", InstanceStatus.UNAUTHORIZED), ("console", False, "refuse", InstanceStatus.OPPOSE),
    ("callback", True, "approve", InstanceStatus.UNAUTHORIZED), ("callback", False, "refuse", InstanceStatus.OPPOSE),
])
def test_the_dba_side_decides_audited_alike(world, waiting, surface, approve, action, status):
    if surface == "console":
        assert console_decide(world, world.root, waiting, approve) == 302
        actor = "root-admin"
    else:
        assert callback_decide(world, None, waiting, approve) == 200
        actor = "dbs:dba1"
    assert Instance.objects.get(pk=waiting.pk).status == status
    assert AuditLog.objects.filter(object_id=waiting.pk, action=action, actor=actor).count() == 1


@pytest.mark.parametrize("surface, refused_status", [("console", 403), ("callback", 401)])
def test_a_plain_member_cannot_decide(world, waiting, unchanged, surface, refused_status):
    with unchanged():
        if surface == "console":
            assert console_decide(world, world.bob, waiting, True) == refused_status
            assert console_decide(world, world.alice, waiting, True) == refused_status  # a group admin neither
        else:
            assert callback_decide(world, world.bob, waiting, True, signed=False) == refused_status
    assert Instance.objects.get(pk=waiting.pk).status == InstanceStatus.WAIT


# --- edit and delete ---------------------------------------------------------------------------------------------

def console_delete(world, user, instance, api):
    client = Client()
    client.force_login(user)
    return client.post(f"/instances/{instance.pk}/delete/").status_code


def native_delete(world, user, instance, api):
    return api(user.token).delete(f"/api/instances/{instance.pk}/").status_code


def manager_delete(world, user, instance, api):
    return api(user.token).post("/remove/node/", {"dbInfo": {"host": instance.host, "port": instance.port}}).status_code


DELETERS = {"console": console_delete, "native": native_delete, "manager": manager_delete}


@pytest.mark.parametrize("surface", DELETERS)
def test_a_dumping_instance_is_not_deleted_on_any_surface(world, api, unchanged, surface):
    with unchanged():
        DELETERS[surface](world, world.alice, world.instance_a, api)
    assert Instance.objects.filter(pk=world.instance_a.pk).exists()


@pytest.mark.parametrize("surface", DELETERS)
def test_an_offline_instance_is_deleted_and_audited_alike(world, api, surface):
    Instance.objects.filter(pk=world.instance_a.pk).update(state="OFFLINE")
    status = DELETERS[surface](world, world.alice, world.instance_a, api)
    assert status in (200, 204, 302)
    assert not Instance.objects.filter(pk=world.instance_a.pk).exists()
    assert list(AuditLog.objects.filter(object_id=world.instance_a.pk).values_list("actor", "action")) == [
        ("alice", "instance_delete")]


@pytest.mark.parametrize("surface", DELETERS)
def test_a_plain_member_deletes_nothing(world, api, unchanged, surface):
    Instance.objects.filter(pk=world.instance_a.pk).update(state="OFFLINE")
    with unchanged():
        status = DELETERS[surface](world, world.bob, world.instance_a, api)
    assert status == 403


def test_a_taken_server_id_is_refused_on_the_console_and_the_api(world, api, unchanged):
    other = Instance.objects.create(group=world.group_a, host="10.6.0.1", port=3306, slave_id=4242)
    client = Client()
    client.force_login(world.alice)
    with unchanged():
        page = client.post(f"/instances/{world.instance_a.pk}/edit/", {"user": "dump", "slave_id": other.slave_id})
        answer = api(world.alice.token).patch(f"/api/instances/{world.instance_a.pk}/", {"slave_id": 4242})
    assert page.status_code == 400 and "server_id 4242 is used by another instance" in page.content.decode()
    assert answer.status_code == 400 and answer.json() == {"slave_id": ["server_id 4242 is used by another instance"]}


def test_host_and_port_are_fixed_once_registered(world, api, unchanged):
    with unchanged():
        answer = api(world.alice.token).patch(f"/api/instances/{world.instance_a.pk}/", {"host": "elsewhere"})
    assert answer.status_code == 400 and "host" in answer.json()
