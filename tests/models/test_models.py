import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction

from console.choices import DumpState, InstanceStatus, MemberRole
from console.ids import md5_id
from console.models import (
    TRANSITIONS, AuditLog, Config, Filter, Group, Instance, Member, MqFilterRelation, MqRule, Target, TransitionError,
)

pytestmark = pytest.mark.django_db


def test_md5_id_matches_binlake_for_known_inputs():
    import hashlib

    assert md5_id("payments") == hashlib.md5(b"payments").hexdigest()
    assert md5_id("10.0.0.1:3306") == hashlib.md5(b"10.0.0.1:3306").hexdigest()
    assert md5_id("alice", "abc") == hashlib.md5(b"aliceabc").hexdigest()


def test_every_binlake_table_keys_rows_by_md5_of_its_inputs():
    group = Group.objects.create(name="payments")
    assert group.id == md5_id("payments")
    member = Member.objects.create(erp="alice", group=group)
    assert member.id == md5_id("alice", group.id)
    flt = Filter.objects.create(group=group, type="WHITE", table_name=r"db\..*")
    assert flt.id == md5_id(group.id, "WHITE", r"db\..*")
    rule = MqRule.objects.create(group=group, topic="orders")
    assert rule.id == md5_id("orders", group.id)
    rel = MqFilterRelation.objects.create(mq=rule, filter=flt)
    assert rel.id == md5_id(rule.id, flt.id)
    inst = Instance.objects.create(group=group, host="10.0.0.1", port=3306)
    assert inst.id == md5_id("10.0.0.1:3306")


def test_changing_an_input_rekeys_the_row_and_its_children():
    group = Group.objects.create(name="payments")
    Member.objects.create(erp="alice", group=group)
    inst = Instance.objects.create(group=group, host="10.0.0.1", port=3306)
    group.name = "billing"
    group.save()
    assert list(Group.objects.values_list("id", flat=True)) == [md5_id("billing")]
    moved = Member.objects.get(erp="alice")
    assert moved.group_id == md5_id("billing")
    assert moved.id == md5_id("alice", md5_id("billing"))
    assert Instance.objects.get(pk=inst.pk).group_id == md5_id("billing")
    inst = Instance.objects.get(pk=inst.pk)
    inst.port = 3307
    inst.save()
    assert list(Instance.objects.values_list("id", flat=True)) == [md5_id("10.0.0.1:3307")]


@pytest.mark.parametrize(
    "make_duplicate",
    [
        lambda g: Group.objects.create(name="payments"),
        lambda g: Member.objects.bulk_create([Member(id="x", erp="alice", group=g)]),
        lambda g: Filter.objects.bulk_create([Filter(id="x", group=g, type="WHITE", table_name="a\\.b")]),
        lambda g: MqRule.objects.bulk_create([MqRule(id="x", group=g, topic="orders")]),
        lambda g: Instance.objects.bulk_create([Instance(id="x", group=g, host="h", port=1)]),
    ],
    ids=["group-name", "member-erp-group", "filter-group-type-table", "mq-rule-topic-group", "instance-group-host-port"],
)
def test_unique_constraints_reject_duplicates(make_duplicate):
    group = Group.objects.create(name="payments")
    Member.objects.create(erp="alice", group=group)
    Filter.objects.create(group=group, type="WHITE", table_name="a\\.b")
    MqRule.objects.create(group=group, topic="orders")
    Instance.objects.create(group=group, host="h", port=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_duplicate(group)


def test_secrets_are_encrypted_at_rest():
    group = Group.objects.create(name="payments")
    inst = Instance.objects.create(group=group, host="h", port=1, user="dump", password="s3cret-pass")
    Target.objects.create(group=group, name="t", uri="amqp://u:hunter2@127.0.0.1:5672/%2F")
    cfg = Config.current()
    cfg.manager_token = "tok-123"
    cfg.save()
    with connection.cursor() as cur:
        cur.execute("SELECT password FROM instances WHERE id=%s", [inst.id])
        stored = cur.fetchone()[0]
        cur.execute("SELECT uri FROM targets")
        stored_uri = cur.fetchone()[0]
        cur.execute("SELECT manager_token FROM config")
        stored_token = cur.fetchone()[0]
    for raw, plain in ((stored, "s3cret-pass"), (stored_uri, "hunter2"), (stored_token, "tok-123")):
        assert plain not in raw and raw.startswith("fernet:")
    assert Instance.objects.get(pk=inst.pk).password == "s3cret-pass"
    assert Target.objects.get().display_uri == "amqp://u:******@127.0.0.1:5672/%2F"


@pytest.fixture
def admin_user():
    user = User.objects.create_user("boss")
    return user


@pytest.fixture
def instance(admin_user):
    group = Group.objects.create(name="payments")
    Member.objects.create(erp="boss", group=group, role=MemberRole.CREATOR)
    return Instance.objects.create(group=group, host="10.0.0.1", port=3306)


def walk(instance, to):
    """Take the instance to state `to` through the model's transition table (pure state, nothing audited)."""
    path = {
        "wait": [("apply", dict(request_id="r1"))],
        "unauthorized": [("apply", dict(request_id="r1")), ("approve", {})],
        "oppose": [("apply", dict(request_id="r1")), ("refuse", dict(comment="no"))],
        "agree": [("apply", dict(request_id="r1")), ("approve", {}), ("grant", {})],
        "dump": [("apply", dict(request_id="r1")), ("approve", {}), ("grant", {}),
                 ("start_dump", dict(binlog_file="mysql-bin.000001", binlog_pos=4))],
    }
    for action, changes in path.get(to, []):
        with transaction.atomic():
            instance.transition(action, **changes)


ACTION_ARGS = {
    "apply": dict(request_id="r2"), "approve": {}, "refuse": dict(comment="x"), "grant": {},
    "start_dump": dict(binlog_file="mysql-bin.000001", binlog_pos=4),
}


@pytest.mark.parametrize("start", [s.value for s in InstanceStatus])
@pytest.mark.parametrize("action", list(TRANSITIONS))
def test_every_transition_legal_or_refused_without_change(instance, start, action):
    walk(instance, start)
    instance.refresh_from_db()
    assert instance.status == start
    sources, target = TRANSITIONS[action]
    if start in sources:
        with transaction.atomic():
            before = instance.transition(action, **ACTION_ARGS[action])
        assert before["status"] == start
        assert Instance.objects.get(pk=instance.pk).status == target
    else:
        with pytest.raises(TransitionError, match=f"in state '{start}'"), transaction.atomic():
            instance.transition(action, **ACTION_ARGS[action])
        assert Instance.objects.get(pk=instance.pk).status == start
    assert not AuditLog.objects.exists()  # the model keeps state; the domain audits


def test_changes_while_dumping_only_in_dump_and_only_the_given_fields(instance):
    with pytest.raises(TransitionError, match="not in state 'dump'"), transaction.atomic():
        instance.change_while_dumping("set_offline", state=DumpState.OFFLINE)
    walk(instance, "dump")
    Instance.objects.filter(pk=instance.pk).update(binlog_pos=999)  # the engine moved on meanwhile
    with transaction.atomic():
        instance.change_while_dumping("set_offline", state=DumpState.OFFLINE)
    instance.refresh_from_db()
    assert (instance.state, instance.binlog_pos) == (DumpState.OFFLINE, 999)
