"""API tokens (knox): one `Authorization: Token <key>` for every surface, stored as a digest, refused once expired."""
import importlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone
from knox.models import AuthToken

from accounts import Api

INVALID = "invalid token"

# (surface, method, path, body, the 200's check, the 401 body)
SURFACES = [
    ("native", "get", "/api/groups/", None,
     lambda r: [g["name"] for g in r.json()["results"]] == ["team-a"], {"detail": "Invalid token."}),
    ("ticdc", "get", "/api/v1/changefeeds", None,
     lambda r: [c["id"] for c in r.json()] == ["job-a"], {"error_msg": INVALID, "error_code": "CDC:ErrUnauthorized"}),
    ("ccr", "post", "/version", {}, lambda r: r.json()["success"] is True,
     {"success": False, "error_msg": INVALID}),
    ("bifrost", "get", "/db/list?format=json", None, lambda r: list(r.json()) == ["10.1.0.1:3306"],
     {"status": 0, "msg": INVALID, "data": None}),
    ("manager", "post", "/exist/node/", {"dbInfo": {"host": "10.1.0.1", "port": 3306}},
     lambda r: r.json()["code"] == 1000, {"code": 1401, "message": INVALID}),
    ("metrics", "get", "/metrics", None, lambda r: b"tower_" in r.content, {"error": INVALID}),
]
IDS = [s[0] for s in SURFACES]


def call(client, method, path, body):
    return client.get(path) if method == "get" else getattr(client, method)(path, body)


@pytest.mark.parametrize("surface,method,path,body,ok,_refused", SURFACES, ids=IDS)
def test_a_token_works_on_every_surface(world, surface, method, path, body, ok, _refused):
    response = call(Api(world.alice.token), method, path, body)
    assert response.status_code == 200, response.content
    assert ok(response)


@pytest.mark.parametrize("surface,method,path,body,_ok,refused", SURFACES, ids=IDS)
def test_an_expired_token_is_refused_in_the_surface_shape(world, unchanged, surface, method, path, body, _ok, refused):
    token, key = AuthToken.objects.create(user=world.alice)
    AuthToken.objects.filter(pk=token.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    with unchanged():
        response = call(Api(key), method, path, body)
    assert response.status_code == 401
    assert response.json() == refused
    assert not AuthToken.objects.filter(pk=token.pk).exists()  # knox drops an expired token when it is shown


def test_the_database_holds_no_clear_key(world):
    users = (world.root, world.alice, world.bob, world.carol)
    keys = [u.token for u in users]
    tables = connection.introspection.table_names()
    assert "knox_authtoken" in tables and "authtoken_token" not in tables
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT token_key, digest FROM knox_authtoken WHERE user_id IN ({', '.join(['%s'] * 4)})",
                       [u.pk for u in users])
        stored = cursor.fetchall()
        assert len(stored) == 4
        for table in tables:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            dump = repr(cursor.fetchall())
            assert not [key for key in keys if key in dump], table
    # The clear prefix that knox keeps to find the row is 15 of the key's 64 characters.
    assert sorted(k for k, _ in stored) == sorted(key[:15] for key in keys)


def test_tokens_expire_after_the_configured_ttl(world):
    token = AuthToken.objects.get(user=world.bob)
    assert timedelta(days=90) - timedelta(minutes=5) < token.expiry - timezone.now() <= timedelta(days=90)


def test_the_token_command_creates_lists_and_revokes(world, capsys):
    call_command("token", "create", "bob", "--ttl-hours", "0")
    key = capsys.readouterr().out.strip()
    assert len(key) == 64
    assert AuthToken.objects.get(user=world.bob, token_key=key[:15]).expiry is None
    assert Api(key).get("/api/groups/").status_code == 200

    call_command("token", "list", "bob")
    listed = capsys.readouterr().out
    assert key[:15] in listed and key not in listed

    call_command("token", "revoke", "bob", "--prefix", key[:10])
    assert capsys.readouterr().out.strip() == "revoked 1 token(s) of bob"
    assert Api(key).get("/api/groups/").status_code == 401
    assert Api(world.bob.token).get("/api/groups/").status_code == 200  # bob's other token stays


def test_the_migration_turns_clear_keys_into_knox_tokens(world):
    """console.0006: a DRF authtoken row becomes a knox token with the same key, and its table goes."""
    migration = importlib.import_module("console.migrations.0006_tokens_to_knox")
    key = "0123456789abcdef0123456789abcdef01234567"
    with connection.cursor() as cursor:
        cursor.execute('CREATE TABLE authtoken_token ("key" varchar(40) PRIMARY KEY, user_id integer, created datetime)')
        cursor.execute("INSERT INTO authtoken_token VALUES (%s, %s, %s)", [key, world.carol.pk, "2020-01-02 03:04:05"])
    # The schema editor's DDL, run in the test's transaction (SQLite's own editor refuses to run inside one).
    editor = SimpleNamespace(connection=connection, execute=lambda sql: connection.cursor().execute(sql))
    state = MigrationLoader(connection).project_state(("console", "0006_tokens_to_knox"))

    migration.tokens_to_knox(state.apps, editor)
    assert "authtoken_token" not in connection.introspection.table_names()
    token = AuthToken.objects.get(token_key=key[:15])
    assert token.user == world.carol
    assert token.created.isoformat() == "2020-01-02T03:04:05+00:00"
    assert Api(key).get("/api/groups/").json()["results"][0]["name"] == "team-b"
