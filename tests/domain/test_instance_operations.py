"""console.domain.instances: who may take each workflow step and operation, and one audit record per step.

The transition table itself (which state a step may start from) is the model's and is tested in
tests/models/test_models.py; the steps that talk to a source (grant, start dump) are tested against the real
MariaDB in tests/console/test_views_grant.py and tests/api/test_create_znodes.py.
"""
import pytest
from django.contrib.auth.models import User

from console.choices import DumpState, InstanceStatus, MemberRole
from console.domain import instances
from console.domain.errors import DomainError
from console.models import AuditLog, Group, Instance, Member, SuperAdmin

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    group = Group.objects.create(name="payments")
    boss, member, dba = (User.objects.create_user(name) for name in ("boss", "mallory", "dba"))
    Member.objects.create(erp="boss", group=group, role=MemberRole.CREATOR)
    Member.objects.create(erp="mallory", group=group, role=MemberRole.USER)
    SuperAdmin.objects.create(erp="dba")
    instance = Instance.objects.create(group=group, host="10.0.0.1", port=3306)
    return type("World", (), {"group": group, "boss": boss, "member": member, "dba": dba, "instance": instance})


def actions(instance):
    return list(AuditLog.objects.filter(object_id=instance.pk).order_by("id").values_list("actor", "action"))


def test_apply_and_decide_are_one_audited_step_each(world):
    instances.apply_instance(world.boss, world.instance)
    instances.decide(world.dba, world.instance, False, "no")
    instances.apply_instance(world.boss, world.instance)  # refused requests may be made again
    instances.decide("dbs:alice", world.instance, True, "ok")  # the signed callback is a system caller
    world.instance.refresh_from_db()
    assert (world.instance.status, world.instance.comment) == (InstanceStatus.UNAUTHORIZED, "ok")
    assert actions(world.instance) == [("boss", "apply"), ("dba", "refuse"), ("boss", "apply"),
                                       ("dbs:alice", "approve")]


def test_a_plain_member_takes_no_step_and_a_group_admin_does_not_decide(world):
    with pytest.raises(DomainError) as refused:
        instances.apply_instance(world.member, world.instance)
    assert refused.value.kind == "forbidden"
    instances.apply_instance(world.boss, world.instance)
    with pytest.raises(DomainError) as refused:
        instances.decide(world.boss, world.instance, True)
    assert refused.value.kind == "forbidden"
    assert Instance.objects.get(pk=world.instance.pk).status == InstanceStatus.WAIT
    assert actions(world.instance) == [("boss", "apply")]


def test_a_step_the_state_does_not_allow_is_a_state_error_and_changes_nothing(world):
    with pytest.raises(DomainError) as refused:
        instances.decide(world.dba, world.instance, True)
    assert (refused.value.kind, refused.value.status) == ("state", 409)
    assert "in state 'init'" in refused.value.message
    assert Instance.objects.get(pk=world.instance.pk).status == InstanceStatus.INIT
    assert actions(world.instance) == []


def test_operations_only_on_a_dumping_instance_each_audited(world):
    with pytest.raises(DomainError) as refused:
        instances.set_offline(world.boss, world.instance)
    assert refused.value.kind == "state"
    Instance.objects.filter(pk=world.instance.pk).update(status=InstanceStatus.DUMP, state=DumpState.ONLINE,
                                                        leader="w1", retry_times=3, last_error="boom")
    world.instance.refresh_from_db()
    instances.set_offline(world.boss, world.instance)
    instances.set_candidates(world.boss, world.instance, ["w3", ""])
    instances.set_leader(world.boss, world.instance, "w3")
    instances.reset_counter(world.boss, world.instance)
    with pytest.raises(DomainError) as refused:
        instances.set_leader(world.member, world.instance, "w4")
    assert refused.value.kind == "forbidden"
    world.instance.refresh_from_db()
    assert (world.instance.state, world.instance.candidates, world.instance.leader, world.instance.pre_leader,
            world.instance.retry_times, world.instance.last_error) == (DumpState.OFFLINE, ["w3"], "w3", "w1", 0, "")
    assert [action for _, action in actions(world.instance)] == [
        "set_offline", "set_candidates", "set_leader", "reset_counter"]
