"""Form helpers: "Test connection" for a source and a target (nothing saved), the schema/table/column pickers'
JSON, the table regex preview, validation marks, list filter labels, empty-list hints, Add forms for
someone who administers no group."""
import socket

import pymysql
import pytest

from accounts import client_for
from console.domain import sources
from console.domain.audit import ACCESS_ACTIONS
from console.models import AuditLog, Group, Instance, Member, Target

JSON = {"HTTP_ACCEPT": "application/json", "HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}
SCHEMA = "tower_pickers"


def state():
    """What a test button could change in the metadata DB (records of access aside)."""
    return (list(Instance.objects.values()), list(Target.objects.values()), list(Group.objects.values()),
            list(Member.objects.values()), list(AuditLog.objects.exclude(action__in=ACCESS_ACTIONS).values()))


def closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def source_schema(source_address):
    host, port, user, password = source_address
    conn = pymysql.connect(host=host, port=port, user=user, password=password, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {SCHEMA}")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.orders (id INT PRIMARY KEY, amount INT, status TEXT)")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.orders_01 (id INT PRIMARY KEY)")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.users (id INT PRIMARY KEY, name TEXT)")
    yield
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE {SCHEMA}")
    conn.close()


@pytest.fixture
def instance(world, source_address):
    host, port, user, password = source_address
    return Instance.objects.create(group=world["alpha"], host=host, port=port, user=user, password=password,
                                   status="dump")


# --- test connection: source ----------------------------------------------------------------------------

def register_values(world, source_address, **changes):
    host, port, user, password = source_address
    return {"group": world["alpha"].pk, "host": host, "port": port, "user": user, "password": password, **changes}


def test_source_test_connection_ok_changes_nothing(clients, world, source_address):
    before = state()
    response = clients["adam"].post("/instances/test-connection/", register_values(world, source_address), **JSON)
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert [c["name"] for c in checks] == ["reachable", "log_bin", "binlog_format", "binlog_row_image",
                                           "binlog_row_metadata", "replication_slave", "replication_client"]
    assert checks[0] == {"name": "reachable", "ok": True, "reason": ""}
    assert {"name": "binlog_format", "ok": True, "reason": ""} in checks
    assert state() == before


def test_source_test_connection_closed_port_is_a_clear_failure(clients, world, source_address):
    port = closed_port()
    before = state()
    response = clients["adam"].post("/instances/test-connection/",
                                    register_values(world, source_address, host="127.0.0.1", port=port), **JSON)
    assert response.status_code == 200
    user = source_address[2]
    assert response.json() == {"ok": False, "checks": [{
        "name": "reachable", "ok": False,
        "reason": f"cannot connect as '{user}' to 127.0.0.1:{port}: cannot connect to 127.0.0.1:{port}"}]}
    assert state() == before


def test_source_test_connection_without_script_renders_the_form(clients, world, source_address):
    response = clients["adam"].post("/instances/test-connection/", register_values(world, source_address))
    assert response.status_code == 200
    assert b'id="test-connection-report"' in response.content
    assert b'data-check="reachable"' in response.content and b"OK: reachable" in response.content
    assert not Instance.objects.exists()


def test_source_test_connection_never_sends_the_global_account(clients, world, source_address):
    before = state()
    response = clients["adam"].post("/instances/test-connection/", register_values(world, source_address, user=""),
                                    **JSON)
    assert response.status_code == 400
    assert response.json()["error"].startswith("Give the dump user to test: the global dump account is used only")
    assert state() == before


def test_source_test_connection_refused_to_a_plain_member(clients, world, source_address):
    response = clients["ursula"].post("/instances/test-connection/", register_values(world, source_address), **JSON)
    assert response.status_code == 403
    assert clients["oscar"].post("/instances/test-connection/", register_values(world, source_address),
                                 **JSON).status_code == 404


def test_edit_page_test_uses_the_stored_password_and_audits_it(clients, world, instance):
    response = clients["adam"].post(f"/instances/{instance.pk}/test-connection/",
                                    {"user": instance.user, "password": "", "slave_id": instance.slave_id}, **JSON)
    assert response.status_code == 200 and response.json()["checks"][0]["ok"] is True
    record = AuditLog.objects.get(action="source_connect")
    assert record.message == "test_connection: connected"
    assert clients["ursula"].post(f"/instances/{instance.pk}/test-connection/", {}, **JSON).status_code == 403


# --- test connection: target ----------------------------------------------------------------------------

def target_values(world, uri, options="{}"):
    return {"group": world["alpha"].pk, "name": "t", "uri": uri, "options": options}


def test_target_test_redis_ok(clients, world, redis_url):
    before = state()
    response = clients["adam"].post("/targets/test/", target_values(world, redis_url), **JSON)
    assert response.status_code == 200
    assert response.json() == {"ok": True, "message": "PING answered"}
    assert state() == before


def test_target_test_closed_port_and_refused_option(clients, world, redis_url):
    port = closed_port()
    response = clients["adam"].post("/targets/test/", target_values(world, f"redis://127.0.0.1:{port}/0"), **JSON)
    assert response.status_code == 409
    assert response.json()["ok"] is False and response.json()["message"].startswith("cannot reach the target: ")
    refused = clients["adam"].post("/targets/test/", target_values(world, redis_url, '{"evil": 1}'), **JSON)
    assert refused.status_code == 400
    assert refused.json() == {"ok": False, "message": refused.json()["message"]}
    assert "option 'evil' is not allowed for a redis target" in refused.json()["message"]
    assert clients["ursula"].post("/targets/test/", target_values(world, redis_url), **JSON).status_code == 403
    assert not Target.objects.exists()


def test_target_test_without_script_renders_the_form(clients, world, redis_url):
    response = clients["adam"].post("/targets/test/", target_values(world, redis_url))
    assert response.status_code == 200
    assert b'id="test-target-ok"' in response.content and b"OK: PING answered" in response.content


# --- pickers: schema.json and the table regex preview ------------------------------------------------------

def test_schema_json_lists_schemas_tables_and_columns(clients, world, instance, source_schema):
    schemas = clients["ursula"].get(f"/instances/{instance.pk}/schema.json")
    assert schemas.status_code == 200
    assert SCHEMA in schemas.json()["schemas"] and "mysql" not in schemas.json()["schemas"]
    tables = clients["ursula"].get(f"/instances/{instance.pk}/schema.json", {"schema": SCHEMA})
    assert tables.json() == {"schema": SCHEMA, "truncated": False, "tables": {
        "orders": ["id", "amount", "status"], "orders_01": ["id"], "users": ["id", "name"]}}


def test_schema_json_is_bounded(clients, world, instance, source_schema, monkeypatch):
    monkeypatch.setattr(sources, "SCHEMA_LIST_LIMIT", 2)
    tables = clients["adam"].get(f"/instances/{instance.pk}/schema.json", {"schema": SCHEMA}).json()
    assert tables == {"schema": SCHEMA, "truncated": True, "tables": {"orders": ["id", "amount"], "orders_01": []}}


def test_schema_json_only_for_the_group(clients, world, instance):
    assert clients["oscar"].get(f"/instances/{instance.pk}/schema.json").status_code == 404
    assert clients["sam"].get(f"/instances/{instance.pk}/schema.json").status_code == 200


def test_regex_preview(clients, world, instance, source_schema):
    url = f"/instances/{instance.pk}/tables-matching.json"
    response = clients["ursula"].get(url, {"pattern": rf"{SCHEMA}\.orders.*"})
    assert response.status_code == 200
    assert response.json() == {"matched": [f"{SCHEMA}.orders", f"{SCHEMA}.orders_01"], "truncated": False}
    bad = clients["ursula"].get(url, {"pattern": r"(?=x).*"})
    assert bad.status_code == 400 and "RE2" in bad.json()["error"]
    long = clients["ursula"].get(url, {"pattern": "a" * 1001})
    assert long.json() == {"error": "A table regex has at most 1000 characters."} and long.status_code == 400
    assert clients["oscar"].get(url, {"pattern": ".*"}).status_code == 404


def test_filter_form_offers_the_pickers(clients, world, instance):
    page = clients["adam"].get("/filters/add/").content.decode()
    assert 'data-picker-source=""' in page and 'data-schema-url="/instances/__pk__/schema.json"' in page
    assert 'data-picker="table-regex"' in page and 'data-picker="columns"' in page
    assert "console/pickers.js" in page
    subscription = clients["adam"].get("/subscriptions/add/").content.decode()
    assert 'name="instance" data-picker-source=""' in subscription
    assert 'data-picker="columns"' in subscription and 'data-picker="tables"' in subscription


# --- validation marks, filter labels, empty lists, Add forms ---------------------------------------------

def test_no_valid_ticks_after_an_error(clients, world):
    response = clients["adam"].post("/instances/add/", {"group": world["alpha"].pk, "host": "bad host!", "port": 3306})
    assert response.status_code == 400
    page = response.content.decode()
    assert "is-invalid" in page
    assert "is-valid" not in page.replace("is-invalid", "")


def test_list_filters_say_any(clients, world):
    page = clients["adam"].get("/members/").content.decode()
    assert "---------" not in page
    assert ">Any group</option>" in page and ">Any role</option>" in page


def test_empty_list_says_what_it_is_for_and_the_next_step(clients, world):
    page = clients["adam"].get("/instances/").content.decode()
    assert 'id="empty-list"' in page and "An instance is a MySQL/MariaDB server whose binlog Tower reads." in page
    assert 'id="empty-add" href="/instances/add/"' in page
    plain = clients["ursula"].get("/targets/").content.decode()
    assert "A target is where changes are delivered" in plain and 'id="empty-add"' not in plain
    assert "Only a group admin may add here" in plain
    filtered = clients["adam"].get("/instances/", {"q": "nothing"}).content.decode()
    assert "Nothing matches these filters." in filtered


def test_add_form_for_someone_who_administers_no_group(clients, world):
    page = clients["ursula"].get("/instances/add/").content.decode()
    assert 'id="no-admin-group"' in page and 'name="host"' not in page
    binding = clients["ursula"].get("/bindings/add/").content.decode()  # no group field: the instance's group
    assert 'id="no-admin-group"' in binding and 'name="rule"' not in binding
    assert 'name="rule"' in clients["adam"].get("/bindings/add/").content.decode()
    admin_page = clients["adam"].get("/members/add/").content.decode()
    assert f'<option value="{world["alpha"].pk}">alpha</option>' in admin_page
    assert f'<option value="{world["beta"].pk}">' not in admin_page


def test_new_users_dashboard_shows_the_path(clients, world, instance):
    page = client_for("nobody").get("/").content.decode()
    assert 'id="getting-started"' in page
    for link in ('href="/groups/add/"', 'href="/instances/add/"', 'href="/workflow/"', 'href="/subscriptions/add/"'):
        assert link in page
    assert 'id="getting-started"' not in clients["adam"].get("/").content.decode()
