"""The lease keeper: renews while the dump loop is busy, lets a stalled loop's lease lapse, reports fencing."""
from datetime import timedelta

import pytest
from django.utils import timezone

from console.models import Group, Instance
from workers import lease
from workers.lease import Fenced, LeaseKeeper

from .conftest import wait_for


@pytest.fixture
def leased(transactional_db):
    """An instance whose lease w1 holds, expiring in one second."""
    group = Group.objects.create(name="keeper")
    instance = Instance.objects.create(group=group, host="127.0.0.1", port=3306, user="root", status="dump",
                                       state="ONLINE", binlog_file="mysql-bin.000001", binlog_pos=4)
    assert lease.dispatch(instance.pk, "w1", instance.leader_version)
    version = lease.take(instance.pk, "w1", instance.leader_version)
    Instance.objects.filter(pk=instance.pk).update(lease_expires=timezone.now() + timedelta(seconds=1))
    return instance.pk, version


def expires(pk):
    return Instance.objects.get(pk=pk).lease_expires


def test_renews_while_the_loop_is_inside_a_long_call(leased):
    pk, version = leased
    first = expires(pk)
    keeper = LeaseKeeper(pk, "w1", version, stall_limit=60).start()
    try:  # no beat(): the loop is "waiting for a target"
        wait_for(lambda: expires(pk) > first + timedelta(seconds=3), 10, message="a renewal by the keeper")
        keeper.beat()  # nothing refused: no exception
    finally:
        keeper.stop()
    assert lease.is_live(Instance.objects.get(pk=pk))


def test_a_stalled_loop_lets_the_lease_lapse(leased):
    pk, version = leased
    keeper = LeaseKeeper(pk, "w1", version, stall_limit=0.0).start()
    try:  # the last beat is older than the stall limit from the first tick on: never renewed
        wait_for(lambda: not lease.is_live(Instance.objects.get(pk=pk)), 10, message="the lease to lapse")
    finally:
        keeper.stop()


def test_a_refused_renewal_fences_the_loop(leased):
    pk, version = leased
    Instance.objects.filter(pk=pk).update(leader_version=version + 1)  # another worker took over
    keeper = LeaseKeeper(pk, "w1", version, stall_limit=60).start()
    try:
        wait_for(lambda: keeper.lost, 10, message="the refused renewal")
        with pytest.raises(Fenced):
            keeper.beat()
    finally:
        keeper.stop()
    assert Instance.objects.get(pk=pk).leader_version == version + 1
