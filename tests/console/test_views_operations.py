"""Operations on a dumping instance through the views, against the local MariaDB's real binlog list."""
import pymysql
import pytest

from console.choices import InstanceStatus
from console.models import Wave

from console_helpers import assert_db_changes, audit_row, db_rows, make_instance


@pytest.fixture
def dumping(world, source_address):
    host, port, user, password = source_address
    Wave.objects.create(ip="10.0.0.1", name="w1")
    Wave.objects.create(ip="10.0.0.2", name="w2")
    return make_instance(world["alpha"], host=host, port=port, user=user, password=password, status=InstanceStatus.DUMP,
                         state="ONLINE", binlog_file="mysql-bin.000001", binlog_pos=4, retry_times=7)


def _binlogs(instance):
    conn = pymysql.connect(host=instance.host, port=instance.port, user=instance.user, password=instance.password)
    with conn.cursor() as cur:
        cur.execute("SHOW BINARY LOGS")
        names = [r[0] for r in cur.fetchall()]
    conn.close()
    return names


def test_operations_page_lists_binary_logs(clients, dumping):
    page = clients["adam"].get(f"/instances/{dumping.pk}/operations/").content.decode()
    for name in _binlogs(dumping):
        assert f'value="{name}"' in page


def test_each_operation_changes_the_instance_and_is_audited(clients, dumping):
    adam, pk, group = clients["adam"], dumping.pk, dumping.group_id
    operations = f"/instances/{pk}/operations/"
    last_log = _binlogs(dumping)[-1]

    def step(path, data, action, **fields):
        """POST one operation: back to the operations page, exactly `fields` changed on the instance, audited."""
        before = db_rows()
        response = adam.post(f"/instances/{pk}/{path}/", data)
        assert (response.status_code, response.url) == (302, operations), (path, response.status_code)
        assert_db_changes(before, db_rows(), {
            "Instance": {"changed": {pk: fields}},
            "AuditLog": {"added": [audit_row("adam", action, "Instance", pk, group)]},
        })

    step("offline", {}, "set_offline", state=("ONLINE", "OFFLINE"))
    step("online", {}, "set_online", state=("OFFLINE", "ONLINE"))
    moved_file = {"binlog_file": ("mysql-bin.000001", last_log)} if last_log != "mysql-bin.000001" else {}
    step("binlog", {"binlog_file": last_log, "binlog_pos": 256}, "set_binlog", binlog_pos=(4, 256), **moved_file)
    step("binlog", {"gtid_set": "0-1-100"}, "set_binlog", binlog_file=(last_log, ""), binlog_pos=(256, 4),
         gtid_set=("", "0-1-100"), with_gtid=(False, True))
    step("candidates", {"candidates": ["w1", "w2"]}, "set_candidates", candidates=([], ["w1", "w2"]))
    step("leader", {"leader": "w2"}, "set_leader", leader=("", "w2"))
    step("reset-counter", {}, "reset_counter", retry_times=(7, 0))


def test_bad_operation_input_is_refused_and_changes_nothing(clients, dumping):
    adam, pk = clients["adam"], dumping.pk
    before = db_rows()
    for data in ({"binlog_file": "mysql-bin.999999", "binlog_pos": 4}, {"binlog_file": _binlogs(dumping)[0], "binlog_pos": 1},
                 {}, {"gtid_set": "garbage"}):
        assert adam.post(f"/instances/{pk}/binlog/", data).status_code == 400, data
    assert adam.post(f"/instances/{pk}/leader/", {"leader": "not-a-worker"}).status_code == 400
    assert adam.post(f"/instances/{pk}/candidates/", {}).status_code == 400
    assert adam.get(f"/instances/{pk}/offline/").status_code == 405
    assert db_rows() == before


def test_operations_need_state_dump(clients, world):
    instance = make_instance(world["alpha"], port=3700)
    before = db_rows()
    response = clients["adam"].post(f"/instances/{instance.pk}/offline/")
    assert response.status_code == 409 and "not in state" in response.content.decode()
    assert db_rows() == before


def test_a_position_the_server_does_not_have_is_refused_with_its_reason(clients, dumping):
    adam, pk = clients["adam"], dumping.pk
    last_log = _binlogs(dumping)[-1]
    before = db_rows()
    for pos, says in ((999999999, f"position 999999999 is outside {last_log}: give a position from 4 to"),
                      (5, f"no event starts at {last_log}:5")):
        response = adam.post(f"/instances/{pk}/binlog/", {"binlog_file": last_log, "binlog_pos": pos})
        assert response.status_code == 400
        assert says in response.content.decode()
    assert db_rows() == before


def test_a_refused_table_is_shown_and_re_snapshot(clients, dumping):
    """The schema history's refused statements are listed with a Re-snapshot button that takes the source's
    columns now (console.domain.schema_history)."""
    import isolation
    from console.models import AuditLog, SchemaVersion

    schema = isolation.schema_name("con", "resnapshot")
    conn = pymysql.connect(host=dumping.host, port=dumping.port, user=dumping.user, password=dumping.password,
                           autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{schema}`")
        cur.execute(f"CREATE DATABASE `{schema}`")
        cur.execute(f"CREATE TABLE `{schema}`.t (id INT PRIMARY KEY, s SET('a', 'b'))")
    try:
        SchemaVersion.objects.create(
            instance=dumping, schema_name=schema, table_name="t", binlog_file="mysql-bin.000001", binlog_pos=700,
            commit_seq=(1 << 32) | 700, refused="not understood", statement="ALTER TABLE t CONVERT TO CHARACTER SET x")
        page = clients["adam"].get(f"/instances/{dumping.pk}/operations/").content.decode()
        assert "Schema history stopped" in page and "CONVERT TO CHARACTER SET x" in page
        response = clients["adam"].post(f"/instances/{dumping.pk}/resnapshot-table/", {"schema": schema, "table": "t"})
        assert (response.status_code, response.url) == (302, f"/instances/{dumping.pk}/operations/")
        version = SchemaVersion.objects.get(instance=dumping, schema_name=schema)
        assert version.refused == "" and [c["name"] for c in version.columns] == ["id", "s"]
        assert AuditLog.objects.filter(action="resnapshot_table", object_id=dumping.pk).exists()
        page = clients["adam"].get(f"/instances/{dumping.pk}/operations/").content.decode()
        assert "Schema history stopped" not in page
        again = clients["adam"].post(f"/instances/{dumping.pk}/resnapshot-table/", {"schema": schema, "table": "t"})
        assert again.status_code == 409 and "nothing to re-snapshot" in again.content.decode()
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{schema}`")
        conn.close()
