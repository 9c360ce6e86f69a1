"""Fixtures of the HTTP API tests: users with roles in two groups, their tokens, a dumping instance, a job."""

import pytest

from console.choices import DumpState, InstanceStatus, MemberRole, WorkerState
from console.domain.audit import ACCESS_ACTIONS
from console.models import (
    AuditLog, Checkpoint, Config, Filter, Group, Instance, Member, MqRule, SchemaVersion, Subscription, Target, Wave,
)

from accounts import Api, make_user
from manager_meta import MANAGER_TOKEN


@pytest.fixture
def world(db):
    """Groups A and B; root (super admin), alice (admin of A), bob (plain user of A), carol (admin of B)."""

    class World:
        pass

    w = World()
    w.group_a = Group.objects.create(name="team-a")
    w.group_b = Group.objects.create(name="team-b")
    w.root = make_user("root-admin", super_admin=True)
    w.alice = make_user("alice", w.group_a, MemberRole.ADMIN)
    w.bob = make_user("bob", w.group_a, MemberRole.USER)
    w.carol = make_user("carol", w.group_b, MemberRole.ADMIN)
    w.instance_a = Instance.objects.create(
        group=w.group_a, host="10.1.0.1", port=3306, user="dump", password="dump-pw", slave_id=1001,
        status=InstanceStatus.DUMP, state=DumpState.ONLINE, binlog_file="mysql-bin.000003", binlog_pos=1200,
        candidates=["wave-1"], leader="wave-1",
    )
    w.instance_b = Instance.objects.create(
        group=w.group_b, host="10.2.0.1", port=3306, user="dump", password="dump-pw", slave_id=1002,
        status=InstanceStatus.DUMP, state=DumpState.ONLINE, binlog_file="mysql-bin.000001", binlog_pos=4,
    )
    w.target_a = Target.objects.create(group=w.group_a, name="redis-a", uri="redis://:topsecret@127.0.0.1:6379/0")
    w.job_a = Subscription.objects.create(
        name="job-a", group=w.group_a, instance=w.instance_a, target=w.target_a, tables="shop.orders,shop.users",
    )
    w.target_b = Target.objects.create(group=w.group_b, name="hole-b", uri="blackhole://")
    w.job_b = Subscription.objects.create(name="job-b", group=w.group_b, instance=w.instance_b, target=w.target_b)
    return w


@pytest.fixture
def api():
    return Api


def db_state():
    """Everything an API call could change, to assert a refused call changed nothing."""
    models = (Group, Member, Filter, MqRule, Target, Instance, Subscription, Checkpoint, Wave, Config, AuditLog,
              SchemaVersion)
    state = {}
    for model in models:
        rows = model.objects.order_by("pk")
        if model is AuditLog:  # sign-ins, refusals and source connections are records of access, not changes
            rows = rows.exclude(action__in=ACCESS_ACTIONS)
        rows = list(rows.values())
        for row in rows:
            row.pop("update_time", None)
        state[model.__name__] = rows
    return state


@pytest.fixture
def unchanged():
    """with unchanged(): ...  asserts the block left the metadata DB as it found it."""
    import contextlib

    @contextlib.contextmanager
    def check():
        before = db_state()
        yield
        assert db_state() == before

    return check


@pytest.fixture
def waves(db):
    from django.utils import timezone

    now = timezone.now()
    return [
        Wave.objects.create(name="wave-1", ip="10.9.0.1", port=8300, state=WorkerState.ALIVE, last_heartbeat=now,
                            is_owner=True),
        Wave.objects.create(name="wave-2", ip="10.9.0.2", port=8300, state=WorkerState.ALIVE, last_heartbeat=now),
        Wave.objects.create(name="wave-dead", ip="10.9.0.3", port=8300, state=WorkerState.DEAD),
    ]


@pytest.fixture
def manager_token(db):
    """BinLake's manager token, configured (Config.manager_token)."""
    config = Config.current()
    config.manager_token = MANAGER_TOKEN
    config.save()
    return MANAGER_TOKEN
