"""Native REST API at /api/: auth, scoping like the console, secrets, audit, filters, pagination, actions, schema."""
import pytest

from console.choices import SubscriptionState
from console.models import AuditLog, Checkpoint, Config, Group, Instance, Member, Subscription, Target
from accounts import PASSWORD

LISTS = ["groups", "members", "filters", "mq-rules", "mq-filter-relations", "rules", "targets", "instances",
         "subscriptions", "audit", "checkpoints", "waves", "config"]


@pytest.mark.parametrize("name", LISTS)
def test_lists_require_auth(world, api, name):
    response = api().get(f"/api/{name}/")
    assert response.status_code in (401, 403)
    assert "detail" in response.json()
    assert api("bad-token").get(f"/api/{name}/").status_code == 401


def test_session_auth_works(world):
    from django.test import Client

    client = Client()
    assert client.login(username="alice", password=PASSWORD)
    assert client.get("/api/instances/").status_code == 200


@pytest.mark.parametrize("name,expected", [
    ("groups", {"team-a"}), ("instances", {"10.1.0.1"}), ("subscriptions", {"job-a"}), ("targets", {"redis-a"}),
])
def test_lists_are_scoped(world, api, name, expected):
    key = {"groups": "name", "instances": "host", "subscriptions": "name", "targets": "name"}[name]
    data = api(world.alice.token).get(f"/api/{name}/").json()
    assert {row[key] for row in data["results"]} == expected
    everything = api(world.root.token).get(f"/api/{name}/").json()
    assert len(everything["results"]) == 2


def test_cross_group_objects_are_404(world, api, unchanged):
    carol = api(world.carol.token)
    with unchanged():
        assert carol.get(f"/api/instances/{world.instance_a.pk}/").status_code == 404
        assert carol.patch(f"/api/targets/{world.target_a.pk}/", {"name": "x"}).status_code == 404
        assert carol.delete(f"/api/subscriptions/{world.job_a.pk}/").status_code == 404
        assert carol.post(f"/api/subscriptions/{world.job_a.pk}/pause/").status_code == 404
        # creating in a group she is not in
        response = carol.post("/api/targets/", {"name": "t", "group": world.group_a.pk, "uri": "blackhole://"})
        assert response.status_code == 400


def test_plain_member_reads_but_cannot_write(world, api, unchanged):
    bob = api(world.bob.token)
    assert bob.get(f"/api/instances/{world.instance_a.pk}/").status_code == 200
    with unchanged():
        assert bob.patch(f"/api/instances/{world.instance_a.pk}/", {"user": "x"}).status_code == 403
        assert bob.post(f"/api/instances/{world.instance_a.pk}/set_offline/").status_code == 403
        # like the console: a member of the group who is not its admin is forbidden
        assert bob.post("/api/targets/", {"name": "t", "group": world.group_a.pk, "uri": "blackhole://"}
                        ).status_code == 403
        assert bob.delete(f"/api/subscriptions/{world.job_a.pk}/").status_code == 403


def test_secrets_are_write_only(world, api):
    alice = api(world.alice.token)
    instance = alice.get(f"/api/instances/{world.instance_a.pk}/").json()
    assert "password" not in instance
    target = alice.get(f"/api/targets/{world.target_a.pk}/").json()
    assert "uri" not in target and target["display_uri"] == "redis://:******@127.0.0.1:6379/0"
    created = alice.post("/api/targets/", {"name": "amqp-a", "group": world.group_a.pk,
                                           "uri": "amqp://u:hunter2@127.0.0.1:5672/vh?exchange=x"})
    assert created.status_code == 201, created.content
    assert "hunter2" not in created.content.decode()
    assert Target.objects.get(name="amqp-a").uri.endswith("hunter2@127.0.0.1:5672/vh?exchange=x")
    assert "hunter2" not in str(list(AuditLog.objects.values("before", "after")))
    Config.current()
    root = api(world.root.token)
    assert root.patch("/api/config/default/", {"manager_token": "mgr-secret"}).status_code == 200
    assert Config.current().manager_token == "mgr-secret"
    assert "mgr-secret" not in root.get("/api/config/default/").content.decode()
    assert api(world.alice.token).get("/api/config/").status_code == 403
    assert api(world.alice.token).get("/api/waves/").status_code == 403


def test_writes_are_audited(world, api):
    alice = api(world.alice.token)
    response = alice.post("/api/filters/", {"group": world.group_a.pk, "type": "WHITE", "table_name": "shop\\..*"})
    assert response.status_code == 201, response.content
    entry = AuditLog.objects.get(action="filter_create", object_type="Filter")
    assert entry.actor == "alice" and entry.group_id == world.group_a.pk
    assert alice.patch(f"/api/filters/{response.json()['id']}/", {"events": "INSERT"}).status_code == 200
    assert AuditLog.objects.filter(action="filter_update", object_type="Filter").exists()


def test_create_instance_and_operate_it(world, api, unchanged):
    alice = api(world.alice.token)
    response = alice.post("/api/instances/", {"group": world.group_a.pk, "host": "10.1.0.9", "port": 3306,
                                              "user": "u", "password": "pw"})
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "init" and data["slave_id"] > 1002
    with unchanged():  # not dumping yet: the dump operations are refused
        refused = alice.post(f"/api/instances/{data['id']}/set_online/")
        assert refused.status_code == 409 and "detail" in refused.json()
        assert alice.post("/api/instances/", {"group": world.group_a.pk, "host": "10.1.0.9", "port": 3306}
                          ).status_code == 409  # already registered
        assert alice.post("/api/instances/", {"group": world.group_a.pk, "host": "h", "port": 70000}
                          ).status_code == 400
    pk = world.instance_a.pk
    assert alice.post(f"/api/instances/{pk}/set_offline/").json()["state"] == "OFFLINE"
    # A GTID set alone moves the instance's own position (a file position is checked against the server:
    # tests/engine/test_instance_position.py).
    assert alice.post(f"/api/instances/{pk}/set_binlog/", {"gtid_set": "0-1-99"}).json()["gtid_set"] == "0-1-99"
    assert alice.post(f"/api/instances/{pk}/set_leader/", {"leader": "wave-2"}).json()["leader"] == "wave-2"
    assert alice.post(f"/api/instances/{pk}/set_candidates/", {"candidates": ["a", "b"]}).json()["candidates"] == [
        "a", "b"]
    assert alice.post(f"/api/instances/{pk}/reset_counter/").status_code == 200
    with unchanged():
        assert alice.post(f"/api/instances/{pk}/set_binlog/", {"binlog_file": "", "binlog_pos": 0}).status_code == 400
        assert alice.post(f"/api/instances/{pk}/set_leader/", {}).status_code == 400


def test_subscription_actions_share_the_job_service(world, api, unchanged, source_address):
    alice = api(world.alice.token)
    url = f"/api/subscriptions/{world.job_a.pk}"
    assert alice.post(f"{url}/pause/").json()["state"] == "stopped"
    with unchanged():  # again: scripts retry, nothing changes
        assert alice.post(f"{url}/pause/").json()["state"] == "stopped"
    assert alice.post(f"{url}/resume/").json()["state"] == "normal"
    assert alice.post(f"{url}/force_fullsync/").json()["phase"] == "FullSync"
    with unchanged():
        assert alice.post(f"{url}/skip_event/", {"commit_seq": 42}).status_code == 409  # nothing failing
        assert alice.post(f"{url}/miss/").status_code == 409
    Subscription.objects.filter(pk=world.job_a.pk).update(error_wait_data={"commit_seq": 42, "seq": 1})
    assert alice.post(f"{url}/skip_event/", {"commit_seq": 42}).json()["skip_next"] is True
    # A position is checked against the source's binary logs: job-a's instance on the real server.
    host, port, user, password = source_address
    Instance.objects.filter(pk=world.instance_a.pk).update(host=host, port=port, user=user, password=password)
    from console.domain.sources import binary_log_names

    first_log = binary_log_names(Instance.objects.get(pk=world.instance_a.pk))[0]
    position = alice.post(f"{url}/set_position/", {"binlog_file": first_log, "binlog_pos": 4})
    assert position.status_code == 200, position.content
    cp = Checkpoint.objects.get(subscription=world.job_a)
    assert (cp.binlog_file, cp.binlog_pos) == (first_log, 4)
    with unchanged():
        assert alice.post(f"{url}/skip_event/", {"commit_seq": "x"}).status_code == 400
        assert alice.post(f"{url}/set_position/", {"binlog_file": "", "binlog_pos": 0}).status_code == 400
        assert alice.post(f"{url}/set_position/", {"binlog_file": "mysql-bin.999999", "binlog_pos": 4}
                          ).status_code == 400
        # a target of another group
        assert alice.patch(f"{url}/", {"target": world.target_b.pk}).status_code == 400
    created = alice.post("/api/subscriptions/", {"name": "job-a2", "instance": world.instance_a.pk,
                                                 "target": world.target_a.pk, "tables": "shop.*"})
    assert created.status_code == 201, created.content
    assert created.json()["group"] == world.group_a.pk and created.json()["created_by"] == "alice"
    assert alice.delete(f"/api/subscriptions/{created.json()['id']}/").status_code == 204
    assert AuditLog.objects.filter(action="delete_subscription", object_repr="job-a2").exists()


def test_groups(world, api, unchanged):
    alice = api(world.alice.token)
    response = alice.post("/api/groups/", {"name": "team-new"})
    assert response.status_code == 201
    group = Group.objects.get(name="team-new")
    assert Member.objects.get(group=group, erp="alice").role == "creator"
    with unchanged():
        assert alice.delete(f"/api/groups/{world.group_a.pk}/").status_code == 403  # only its creator deletes it
        assert api(world.root.token).delete(f"/api/groups/{world.group_a.pk}/").status_code == 409  # has instances
        assert api(world.bob.token).patch(f"/api/groups/{world.group_a.pk}/", {"mark": "x"}).status_code == 403
        assert alice.patch(f"/api/groups/{group.pk}/", {"name": "team-a"}).status_code == 400  # taken
    # A new name re-keys the group (id = md5(name)), as in the console.
    renamed = alice.patch(f"/api/groups/{group.pk}/", {"name": "team-newer"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "team-newer"
    assert not Group.objects.filter(pk=group.pk).exists()
    assert Member.objects.get(group_id=renamed.json()["id"], erp="alice").role == "creator"
    assert alice.delete(f"/api/groups/{renamed.json()['id']}/").status_code == 204


def test_filtering_and_pagination(world, api, settings):
    root = api(world.root.token)
    Subscription.objects.filter(pk=world.job_b.pk).update(state=SubscriptionState.STOPPED)
    assert [s["name"] for s in root.get("/api/subscriptions/", {"state": "stopped"}).json()["results"]] == ["job-b"]
    assert [i["host"] for i in root.get("/api/instances/", {"group": world.group_b.pk}).json()["results"]] == [
        "10.2.0.1"]
    assert root.get("/api/instances/", {"status": "bogus"}).status_code == 400
    for n in range(55):
        Target.objects.create(group=world.group_a, name=f"t{n:02d}", uri="blackhole://")
    page1 = root.get("/api/targets/").json()
    assert page1["count"] == 57 and len(page1["results"]) == 50 and page1["next"]
    assert len(root.get("/api/targets/", {"page": 2}).json()["results"]) == 7


def test_audit_is_scoped(world, api):
    AuditLog.record(world.alice, "poke", world.instance_a)
    AuditLog.record(world.carol, "poke", world.instance_b)
    actors = {e["actor"] for e in api(world.alice.token).get("/api/audit/").json()["results"]}
    assert actors == {"alice"}


def test_schema_and_docs(world, api):
    assert api().get("/api/schema/").status_code in (401, 403)
    schema = api(world.bob.token).get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for name in ("groups", "members", "filters", "mq-rules", "targets", "instances", "subscriptions", "audit"):
        assert f"/api/{name}/" in paths
    docs = api(world.bob.token).get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html and "cdn." not in html and "/static/drf_spectacular_sidecar/" in html
