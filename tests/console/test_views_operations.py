"""Operations on a dumping instance through the views, against the local MariaDB's real binlog list."""
import pymysql
import pytest

from console.choices import InstanceStatus
from console.models import AuditLog, Instance, Wave

from console_helpers import make_instance, source_address


@pytest.fixture
def dumping(world, source_url):
    host, port, user, password = source_address(source_url)
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
    adam, pk = clients["adam"], dumping.pk
    last_log = _binlogs(dumping)[-1]
    assert adam.post(f"/instances/{pk}/offline/").status_code == 302
    assert Instance.objects.get(pk=pk).state == "OFFLINE"
    assert adam.post(f"/instances/{pk}/online/").status_code == 302
    assert Instance.objects.get(pk=pk).state == "ONLINE"
    assert adam.post(f"/instances/{pk}/binlog/", {"binlog_file": last_log, "binlog_pos": 4}).status_code == 302
    inst = Instance.objects.get(pk=pk)
    assert (inst.binlog_file, inst.binlog_pos, inst.gtid_set) == (last_log, 4, "")
    assert adam.post(f"/instances/{pk}/binlog/", {"gtid_set": "0-1-100"}).status_code == 302
    inst = Instance.objects.get(pk=pk)
    assert inst.gtid_set == "0-1-100" and inst.with_gtid
    assert adam.post(f"/instances/{pk}/candidates/", {"candidates": ["w1", "w2"]}).status_code == 302
    assert Instance.objects.get(pk=pk).candidates == ["w1", "w2"]
    assert adam.post(f"/instances/{pk}/leader/", {"leader": "w2"}).status_code == 302
    assert Instance.objects.get(pk=pk).leader == "w2"
    assert adam.post(f"/instances/{pk}/reset-counter/").status_code == 302
    assert Instance.objects.get(pk=pk).retry_times == 0
    actions = set(AuditLog.objects.filter(object_id=pk, actor="adam").values_list("action", flat=True))
    assert {"set_offline", "set_online", "set_binlog", "set_candidates", "set_leader", "reset_counter"} <= actions


def test_bad_operation_input_is_refused_and_changes_nothing(clients, dumping):
    adam, pk = clients["adam"], dumping.pk
    for data in ({"binlog_file": "mysql-bin.999999", "binlog_pos": 4}, {"binlog_file": _binlogs(dumping)[0], "binlog_pos": 1},
                 {}, {"gtid_set": "garbage"}):
        assert adam.post(f"/instances/{pk}/binlog/", data).status_code == 400, data
    assert adam.post(f"/instances/{pk}/leader/", {"leader": "not-a-worker"}).status_code == 400
    assert adam.post(f"/instances/{pk}/candidates/", {}).status_code == 400
    inst = Instance.objects.get(pk=pk)
    assert (inst.binlog_file, inst.binlog_pos, inst.leader) == ("mysql-bin.000001", 4, "")
    assert adam.get(f"/instances/{pk}/offline/").status_code == 405


def test_operations_need_state_dump(clients, world):
    instance = make_instance(world["alpha"], port=3700)
    response = clients["adam"].post(f"/instances/{instance.pk}/offline/")
    assert response.status_code == 409 and "not in state" in response.content.decode()
