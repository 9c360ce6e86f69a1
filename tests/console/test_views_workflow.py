"""The approval workflow through the views: every transition, illegal ones refused, the signed DBA callback."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pymysql
import pytest
from django.utils import timezone

from console.choices import InstanceStatus
from console.domain.audit import ACCESS_ACTIONS
from console.models import AuditLog, Config, Instance, Wave

from console.ids import md5_id

from console_helpers import db_rows, make_instance, signed_callback


@pytest.fixture
def local_instance(world, source_address):
    host, port, user, password = source_address
    return make_instance(world["alpha"], host=host, port=port, user=user, password=password)


def status_of(instance):
    return Instance.objects.get(pk=instance.pk).status


def refused(client, path, status, data=None):
    """POST a step that must be refused: the exact status, and nothing changed in the database."""
    before = db_rows()
    response = client.post(path, data or {})
    assert response.status_code == status, (path, response.status_code)
    assert db_rows() == before, f"{path} was refused but changed the database"
    return response


def done(client, path, redirect, data=None):
    """POST a step that must succeed: 302 to `redirect`."""
    response = client.post(path, data or {})
    assert (response.status_code, response.url) == (302, redirect), (path, response.status_code, response.content[:300])
    return response


def decision(instance, status="approve", **extra):
    instance.refresh_from_db()
    return {"approveStatus": status, "approveUser": "dba1", "comment": extra.pop("comment", ""),
            "towerId": instance.pk, "dbsOrderId": instance.request_id, **extra}


def test_full_walk_init_to_dump_with_illegal_steps_refused(clients, local_instance, callback_secret, client):
    adam, pk = clients["adam"], local_instance.pk
    Wave.objects.create(ip="127.0.0.1", name="worker-a", last_heartbeat=timezone.now())
    Wave.objects.create(ip="127.0.0.2", name="worker-dead", last_heartbeat=timezone.now() - timezone.timedelta(hours=1))

    detail = f"/workflow/{pk}/"
    # init: only apply is legal.
    for step in ("grant", "start-dump"):
        refused(adam, f"/workflow/{pk}/{step}/", 409)
    done(adam, f"/workflow/{pk}/apply/", detail)
    assert status_of(local_instance) == InstanceStatus.WAIT
    page = adam.get(f"/workflow/{pk}/").content.decode()
    local_instance.refresh_from_db()
    assert local_instance.request_id and local_instance.request_id in page
    assert local_instance.url.endswith(f"/workflow/{pk}/")

    # wait: apply/grant/start refused; a group admin cannot approve themselves.
    for step in ("apply", "grant", "start-dump"):
        response = refused(adam, f"/workflow/{pk}/{step}/", 409)
        assert "cannot" in response.content.decode()
    refused(adam, f"/workflow/{pk}/decide/", 403, {"decision": "approve"})
    assert status_of(local_instance) == InstanceStatus.WAIT

    # The DBA approves through the signed callback → unauthorized.
    response = signed_callback(client, callback_secret, decision(local_instance))
    assert response.status_code == 200 and response.json()["status"] == "unauthorized"
    assert status_of(local_instance) == InstanceStatus.UNAUTHORIZED
    refused(adam, f"/workflow/{pk}/start-dump/", 409)

    # grant checks the real MariaDB → agree.
    done(adam, f"/workflow/{pk}/grant/", detail)
    assert status_of(local_instance) == InstanceStatus.AGREE
    refused(adam, f"/workflow/{pk}/grant/", 409)

    # start dump: the master's position now, live workers only as candidates → dump, ONLINE.
    conn = pymysql.connect(host=local_instance.host, port=local_instance.port, user=local_instance.user,
                           password=local_instance.password)
    with conn.cursor() as cur:
        cur.execute("SHOW MASTER STATUS")
        master_file = cur.fetchone()[0]
    conn.close()
    done(adam, f"/workflow/{pk}/start-dump/", detail)
    local_instance.refresh_from_db()
    assert local_instance.status == InstanceStatus.DUMP and local_instance.state == "ONLINE"
    assert local_instance.binlog_file == master_file and local_instance.binlog_pos >= 4
    assert local_instance.candidates == ["worker-a"]
    for step in ("apply", "grant", "start-dump"):
        refused(adam, f"/workflow/{pk}/{step}/", 409)
    changes = AuditLog.objects.filter(object_id=pk).exclude(action__in=ACCESS_ACTIONS).order_by("id")
    actions = list(changes.values_list("action", flat=True))
    assert actions[-5:] == ["apply", "approve", "dbs_callback", "grant", "start_dump"]


def test_refuse_shows_comment_and_reapply(clients, world, callback_secret, client):
    instance = make_instance(world["alpha"], port=3600)
    done(clients["carol"], f"/workflow/{instance.pk}/apply/", f"/workflow/{instance.pk}/")
    first = decision(instance, "refuse", comment="no binlog for prod-critical DBs")
    assert signed_callback(client, callback_secret, first).status_code == 200
    instance.refresh_from_db()
    assert (instance.status, instance.comment) == (InstanceStatus.OPPOSE, "no binlog for prod-critical DBs")
    page = clients["ursula"].get(f"/workflow/{instance.pk}/").content.decode()
    assert "no binlog for prod-critical DBs" in page
    # Re-apply from oppose opens a new request; the old refusal cannot be replayed against it.
    done(clients["carol"], f"/workflow/{instance.pk}/apply/", f"/workflow/{instance.pk}/")
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.WAIT and instance.request_id != first["dbsOrderId"]
    before = db_rows()
    assert signed_callback(client, callback_secret, first).status_code == 409
    after = db_rows()  # nothing changed but, when re-signed, the memory of the refusal
    assert {r["action"] for pk, r in after["AuditLog"].items() if pk not in before["AuditLog"]} <= {"dbs_callback_refused"}
    assert {**after, "AuditLog": before["AuditLog"]} == before


def test_super_admin_can_decide_in_place_of_dbs(clients, world):
    instance = make_instance(world["alpha"], port=3601)
    detail = f"/workflow/{instance.pk}/"
    done(clients["carol"], f"/workflow/{instance.pk}/apply/", detail)
    done(clients["sam"], f"/workflow/{instance.pk}/decide/", detail, {"decision": "refuse", "comment": "later",
                                                                              "confirmed": "yes"})
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.OPPOSE and instance.comment == "later"
    assert AuditLog.objects.filter(action="refuse", actor="sam", object_id=instance.pk).count() == 1
    refused(clients["sam"], f"/workflow/{instance.pk}/decide/", 400, {"decision": "maybe"})


class TestCallbackAuthentication:
    @pytest.fixture
    def waiting(self, world, clients, callback_secret):
        instance = make_instance(world["alpha"], port=3602)
        done(clients["carol"], f"/workflow/{instance.pk}/apply/", f"/workflow/{instance.pk}/")
        instance.refresh_from_db()
        return instance

    def test_forged_signature_is_rejected(self, client, waiting):
        body = decision(waiting)
        before = db_rows()
        response = signed_callback(client, "not-the-secret", body)
        assert response.status_code == 401 and response.json()["message"] == "bad signature"
        assert db_rows() == before

    def test_missing_headers_and_tampered_body(self, client, waiting, callback_secret):
        waiting.refresh_from_db()
        before = db_rows()
        assert client.post("/workflow/callback/", data=json.dumps(decision(waiting)), content_type="application/json").status_code == 401
        from console.domain.instances import sign_callback
        ts = str(int(time.time()))
        good = json.dumps(decision(waiting)).encode()
        tampered = good.replace(b"dba1", b"evil")
        response = client.post("/workflow/callback/", data=tampered, content_type="application/json",
                               HTTP_X_TOWER_TIMESTAMP=ts, HTTP_X_TOWER_SIGNATURE=sign_callback(callback_secret, ts, good))
        assert response.status_code == 401
        assert db_rows() == before

    def test_stale_timestamp_is_rejected(self, client, waiting, callback_secret):
        body = decision(waiting)
        before = db_rows()
        response = signed_callback(client, callback_secret, body, timestamp=int(time.time()) - 600)
        assert response.status_code == 401 and "5 minute" in response.json()["message"]
        assert db_rows() == before

    def test_replay_is_rejected(self, client, waiting, callback_secret):
        body = decision(waiting, "approve")
        ts = int(time.time())
        assert signed_callback(client, callback_secret, body, timestamp=ts).status_code == 200
        # Exactly the same request again, and the same order re-signed with a new timestamp.
        assert signed_callback(client, callback_secret, body, timestamp=ts).status_code == 409
        assert signed_callback(client, callback_secret, {**body, "approveStatus": "refuse"}).status_code == 409
        assert status_of(waiting) == InstanceStatus.UNAUTHORIZED
        assert AuditLog.objects.filter(action="dbs_callback", object_id=waiting.pk).count() == 1

    def test_bad_bodies_and_unknown_instances(self, client, waiting, callback_secret):
        before = db_rows()
        assert signed_callback(client, callback_secret, {"hello": 1}).status_code == 400
        assert signed_callback(client, callback_secret, decision(waiting, "perhaps")).status_code == 400
        assert signed_callback(client, callback_secret, {**decision(waiting), "towerId": "f" * 32, "dbsOrderId": "x"}).status_code == 404
        assert signed_callback(client, callback_secret, {**decision(waiting), "dbsOrderId": "another-order"}).status_code == 409
        assert client.get("/workflow/callback/").status_code == 405
        # Nothing changed but the memory of the four signed refusals (their signatures' digests).
        after = db_rows()
        refusals = {pk: row for pk, row in after["AuditLog"].items() if pk not in before["AuditLog"]}
        assert sorted((row["action"], row["after"]["status"]) for row in refusals.values()) == [
            ("dbs_callback_refused", 400), ("dbs_callback_refused", 400), ("dbs_callback_refused", 404),
            ("dbs_callback_refused", 409)]
        assert {**after, "AuditLog": before["AuditLog"]} == before

    def test_a_refused_callback_cannot_be_replayed_once_it_would_apply(self, client, waiting, callback_secret):
        ts = int(time.time())
        early = decision(waiting, "approve", dbsOrderId="DBS-1")
        Instance.objects.filter(pk=waiting.pk).update(request_id="DBS-0")  # the request the DBA side answers is not open
        assert signed_callback(client, callback_secret, early, timestamp=ts).status_code == 409
        Instance.objects.filter(pk=waiting.pk).update(request_id="DBS-1")
        replay = signed_callback(client, callback_secret, early, timestamp=ts)
        assert (replay.status_code, replay.json()["message"]) == (409, "this callback was already refused (replay)")
        assert status_of(waiting) == InstanceStatus.WAIT
        # The approval system signing its decision anew (a new timestamp) is not a replay.
        assert signed_callback(client, callback_secret, early, timestamp=ts + 1).status_code == 200
        assert status_of(waiting) == InstanceStatus.UNAUTHORIZED

    def test_no_secret_configured_disables_callbacks(self, client, waiting):
        config = Config.current()
        config.callback_secret = ""
        config.save()
        body = decision(waiting)
        before = db_rows()
        assert signed_callback(client, "", body).status_code == 503
        assert db_rows() == before


class _DbsHandler(BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _DbsHandler.received.append((body, self.headers.get("Authorization")))
        answer = json.dumps({"dbsOrderId": "DBS-4242", "url": "http://dbs.example/orders/4242"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def test_apply_posts_to_the_approval_system(clients, world):
    server = HTTPServer(("127.0.0.1", 0), _DbsHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        config = Config.current()
        config.dbs_api = f"http://127.0.0.1:{server.server_port}/apply"
        config.dbs_token = "dbs-token-1"
        config.save()
        instance = make_instance(world["alpha"], port=3603)
        done(clients["carol"], f"/workflow/{instance.pk}/apply/", f"/workflow/{instance.pk}/")
        instance.refresh_from_db()
        assert instance.status == InstanceStatus.WAIT and instance.request_id == "DBS-4242"
        assert instance.url == "http://dbs.example/orders/4242"
        body, auth = _DbsHandler.received[-1]
        assert body["towerId"] == instance.pk and body["callbackUrl"].endswith("/workflow/callback/")
        assert auth == "Token dbs-token-1"
        # The approval system going away refuses the step and changes nothing.
        server.shutdown()
        server.server_close()
        other = make_instance(world["alpha"], port=3604)
        response = refused(clients["carol"], f"/workflow/{other.pk}/apply/", 409)
        assert "did not answer" in response.content.decode()
    finally:
        server.server_close()


def test_register_instance_form(clients, world):
    carol = clients["carol"]
    response = carol.post("/instances/add/", {"group": world["alpha"].pk, "host": "db1.example", "port": 3306, "user": "dump", "password": "pw1"})
    new_id = md5_id("db1.example:3306")
    assert (response.status_code, response.url) == (302, f"/instances/{new_id}/")
    instance = Instance.objects.get(pk=new_id)
    assert (instance.group_id, instance.host, instance.port, instance.user, instance.status) == (
        world["alpha"].pk, "db1.example", 3306, "dump", InstanceStatus.INIT)
    assert instance.password == "pw1" and instance.slave_id == Config.current().slave_id  # the first one handed out
    assert AuditLog.objects.filter(action="instance_register", object_id=new_id, actor="carol").count() == 1
    assert b"pw1" not in carol.get(f"/instances/{instance.pk}/edit/").content
    before = db_rows()
    again = carol.post("/instances/add/", {"group": world["alpha"].pk, "host": "db1.example", "port": 3306})
    assert again.status_code == 409 and b"already registered" in again.content
    for bad in ({"host": "bad host!", "port": 3306}, {"host": "h", "port": 70000}, {"host": "h", "port": "x"}):
        response = carol.post("/instances/add/", {"group": world["alpha"].pk, **bad})
        assert response.status_code == 400, bad
    assert db_rows() == before
