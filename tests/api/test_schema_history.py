"""POST /api/instances/<id>/resnapshot_table/: the way on after the schema history refused a statement."""
import pymysql
import pytest

import isolation
from console.choices import DumpState, InstanceStatus
from console.models import AuditLog, Instance, SchemaVersion


@pytest.fixture
def refused(world, source_address):
    """An instance of group A on the real source, whose history refused a statement on `schema`.t."""
    host, port, user, password = source_address
    schema = isolation.schema_name("api", "resnapshot")
    conn = pymysql.connect(host=host, port=port, user=user, password=password, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{schema}`")
        cur.execute(f"CREATE DATABASE `{schema}`")
        cur.execute(f"CREATE TABLE `{schema}`.t (id BIGINT UNSIGNED PRIMARY KEY, e ENUM('x', 'y'), v TEXT)")
    instance = Instance.objects.create(
        group=world.group_a, host=host, port=port, user=user, password=password, slave_id=4242,
        status=InstanceStatus.DUMP, state=DumpState.ONLINE, binlog_file="mysql-bin.000001", binlog_pos=4)
    SchemaVersion.objects.create(
        instance=instance, schema_name=schema, table_name="t", binlog_file="mysql-bin.000001", binlog_pos=900,
        commit_seq=(1 << 32) | 900, refused="the schema history does not understand this statement",
        statement="ALTER TABLE t CONVERT TO CHARACTER SET latin1")
    yield instance, schema
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{schema}`")
    conn.close()


def test_resnapshot_replaces_the_refused_version(world, api, refused):
    instance, schema = refused
    response = api(world.alice.token).post(f"/api/instances/{instance.pk}/resnapshot_table/",
                                           {"schema": schema, "table": "t"})
    assert response.status_code == 200, response.content
    version = SchemaVersion.objects.get(instance=instance, schema_name=schema, table_name="t")
    assert version.refused == "" and version.commit_seq == (1 << 32) | 900
    assert version.columns == [{"name": "id", "type": "bigint", "unsigned": True, "values": None, "charset": None},
                               {"name": "e", "type": "enum", "unsigned": False, "values": ["x", "y"],
                                "charset": "utf8mb4"},
                               {"name": "v", "type": "text", "unsigned": False, "values": None, "charset": "utf8mb4"}]
    assert version.primary_key == ["id"]
    audit = AuditLog.objects.get(action="resnapshot_table", object_id=instance.pk)
    assert "CONVERT TO" not in str(audit.after) and audit.after["columns"] == ["id", "e", "v"]


def test_refused_calls_change_nothing(world, api, refused, unchanged):
    instance, schema = refused
    url = f"/api/instances/{instance.pk}/resnapshot_table/"
    with unchanged():
        assert api(world.bob.token).post(url, {"schema": schema, "table": "t"}).status_code == 403
        assert api(world.carol.token).post(url, {"schema": schema, "table": "t"}).status_code == 404
        assert api(world.alice.token).post(url, {"schema": schema}).status_code == 400
        nothing = api(world.alice.token).post(url, {"schema": schema, "table": "other"})
        assert nothing.status_code == 409 and "nothing to re-snapshot" in nothing.json()["detail"]
