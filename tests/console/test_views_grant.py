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
from console.models import AuditLog, Instance

from console_helpers import make_instance, source_address
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
def no_replication_user(source_url):
    """A user on the shared MariaDB with SELECT only; dropped afterwards."""
    host, port, user, password = source_address(source_url)
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


def test_grant_passes_on_the_local_mariadb(clients, world, source_url):
    host, port, user, password = source_address(source_url)
    instance = _unauthorized_instance(world["alpha"], host, port, user, password)
    assert clients["adam"].post(f"/workflow/{instance.pk}/grant/").status_code == 302
    assert Instance.objects.get(pk=instance.pk).status == InstanceStatus.AGREE


def test_grant_fails_on_a_statement_format_server(clients, world, statement_mariadb):
    instance = _unauthorized_instance(world["alpha"], "127.0.0.1", statement_mariadb, "root", "")
    response = clients["adam"].post(f"/workflow/{instance.pk}/grant/")
    assert response.status_code == 422
    page = response.content.decode()
    assert "binlog_format is STATEMENT, ROW is required" in page
    assert "binlog_row_metadata is MINIMAL, FULL is required" in page
    assert Instance.objects.get(pk=instance.pk).status == InstanceStatus.UNAUTHORIZED
    failed = AuditLog.objects.get(action="grant_failed", object_id=instance.pk)
    assert "binlog_format" in failed.after and "binlog_row_metadata" in failed.after


def test_grant_fails_without_replication_slave(clients, world, source_url, no_replication_user):
    host, port, _, _ = source_address(source_url)
    name, secret = no_replication_user
    instance = _unauthorized_instance(world["alpha"], host, port, name, secret)
    response = clients["carol"].post(f"/workflow/{instance.pk}/grant/")
    assert response.status_code == 422
    page = response.content.decode()
    assert f"&#x27;{name}&#x27; lacks REPLICATION SLAVE" in page
    assert secret not in page
    assert Instance.objects.get(pk=instance.pk).status == InstanceStatus.UNAUTHORIZED


def test_grant_fails_when_unreachable(clients, world):
    instance = _unauthorized_instance(world["alpha"], "127.0.0.1", services.free_port(), "root", "")
    response = clients["carol"].post(f"/workflow/{instance.pk}/grant/")
    assert response.status_code == 422 and "cannot connect" in response.content.decode()
    assert Instance.objects.get(pk=instance.pk).status == InstanceStatus.UNAUTHORIZED
