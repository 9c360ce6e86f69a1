"""grant runs the real source checks: passes on the shared MariaDB, fails with reasons on a STATEMENT-format
server without column names in its row events (a private mariadbd) and for a dump account without REPLICATION
SLAVE."""
import shutil
import tempfile
import uuid
from pathlib import Path

import pymysql
import pytest

from console.choices import InstanceStatus
from console.models import AuditLog

from console_helpers import assert_db_changes, audit_row, db_rows, make_instance
from private_servers import PrivateServer, services


@pytest.fixture(scope="module")
def statement_mariadb():
    """A private mariadbd (never the shared one) switched to binlog_format=STATEMENT, binlog_row_metadata=MINIMAL."""
    root = Path(tempfile.mkdtemp(prefix="tower-console-mariadb-"))
    server = PrivateServer("mariadb", root).start()
    try:
        conn = pymysql.connect(host="127.0.0.1", port=server.port, user="root")
        with conn.cursor() as cur:
            cur.execute("SET GLOBAL binlog_format = 'STATEMENT'")
            cur.execute("SET GLOBAL binlog_row_metadata = 'MINIMAL'")
        conn.close()
        yield server.port
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def no_replication_user(source_address):
    """A user on the shared MariaDB with SELECT only; dropped afterwards."""
    host, port, user, password = source_address
    name, secret = f"tw_norepl_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    conn = pymysql.connect(host=host, port=port, user=user, password=password, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE USER '{name}'@'%%' IDENTIFIED BY %s", (secret,))
        cur.execute(f"GRANT SELECT ON *.* TO '{name}'@'%'")
    try:
        yield name, secret
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{name}'@'%'")
        conn.close()


def _unauthorized_instance(group, host, port, user, password):
    return make_instance(group, host=host, port=port, user=user, password=password, status=InstanceStatus.UNAUTHORIZED)


def _grant_failed(client, instance, actor):
    """POST grant on a source that fails its checks: 422, the instance unchanged, the failure audited. The page."""
    before = db_rows()
    response = client.post(f"/workflow/{instance.pk}/grant/")
    assert response.status_code == 422
    assert_db_changes(before, db_rows(), {
        "AuditLog": {"added": [audit_row(actor, "grant_failed", "Instance", instance.pk, instance.group_id)]}})
    return response.content.decode()


def test_grant_passes_on_the_local_mariadb(clients, world, source_address):
    host, port, user, password = source_address
    instance = _unauthorized_instance(world["alpha"], host, port, user, password)
    before = db_rows()
    response = clients["adam"].post(f"/workflow/{instance.pk}/grant/")
    assert (response.status_code, response.url) == (302, f"/workflow/{instance.pk}/")
    assert_db_changes(before, db_rows(), {
        "Instance": {"changed": {instance.pk: {"status": ("unauthorized", "agree")}}},
        "AuditLog": {"added": [audit_row("adam", "grant", "Instance", instance.pk, instance.group_id)]},
    })
    # the grant says which mode the instance dumps in
    assert AuditLog.objects.get(action="grant", object_id=instance.pk).message == \
        "binlog_row_metadata is FULL: row events name their columns"


def test_grant_fails_on_a_statement_format_server(clients, world, statement_mariadb):
    instance = _unauthorized_instance(world["alpha"], "127.0.0.1", statement_mariadb, "root", "")
    page = _grant_failed(clients["adam"], instance, "adam")
    assert "binlog_format is STATEMENT, ROW is required" in page
    # MINIMAL row metadata passes: the page says the rows are named from the schema history
    assert "binlog_row_metadata is MINIMAL" in page and "schema history" in page
    failed = AuditLog.objects.get(action="grant_failed", object_id=instance.pk)
    assert "binlog_format" in failed.after and "binlog_row_metadata" not in failed.after


def test_grant_fails_without_replication_slave(clients, world, source_address, no_replication_user):
    host, port, _, _ = source_address
    name, secret = no_replication_user
    instance = _unauthorized_instance(world["alpha"], host, port, name, secret)
    page = _grant_failed(clients["carol"], instance, "carol")
    assert f"&#x27;{name}&#x27; lacks REPLICATION SLAVE" in page
    assert secret not in page


def test_grant_fails_when_unreachable(clients, world):
    instance = _unauthorized_instance(world["alpha"], "127.0.0.1", services.free_port(), "root", "")
    assert "cannot connect" in _grant_failed(clients["carol"], instance, "carol")
