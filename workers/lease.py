"""The dump lease on an Instance row: who leads, until when, under which leader_version.

Every takeover increments `leader_version` and stamps the instance's
checkpoints with it in the same transaction, so every later write of an older
leader (conditional on its version) updates nothing: it is fenced.

The supervisor hands an instance to a worker by naming it `leader` with a
short start grace and sending `dump_instance(instance_id, version)`; the worker
takes the lease only if nobody took it since (same version, named leader).
"""
import os
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from console.models import Checkpoint, Instance

# A dead leader's lease is gone this long after its last renewal (a candidate takes over within TTL + 3 s).
LEASE_TTL = timedelta(seconds=float(os.environ.get("TOWER_LEASE_TTL", "8")))
RENEW_EVERY = 1.0  # seconds
START_GRACE = timedelta(seconds=10)  # a dispatched dump that never started is re-dispatched after this


class Fenced(Exception):
    """This worker no longer holds the instance's lease."""


def is_live(instance, now=None) -> bool:
    now = now or timezone.now()
    return instance.lease_expires is not None and instance.lease_expires > now


def dispatch(instance_id, worker, version) -> bool:
    """Name `worker` the next leader if the lease is still free at `version` (the supervisor's step)."""
    now = timezone.now()
    return bool(
        Instance.objects.filter(pk=instance_id, leader_version=version)
        .filter(Q(lease_expires__isnull=True) | Q(lease_expires__lte=now))
        .update(leader=worker, lease_expires=now + START_GRACE, update_time=now)
    )


def take(instance_id, worker, version) -> int | None:
    """Take the lease dispatched to `worker` at `version`; returns the new leader_version or None."""
    now = timezone.now()
    with transaction.atomic():
        instance = Instance.objects.select_for_update().filter(pk=instance_id).first()
        if instance is None or instance.leader_version != version:
            return None
        named = instance.leader == worker
        if not named and is_live(instance, now):
            return None
        new = version + 1
        updated = Instance.objects.filter(pk=instance_id, leader_version=version).update(
            leader=worker, pre_leader=instance.leader if not named else instance.pre_leader,
            leader_version=new, lease_expires=now + LEASE_TTL, update_time=now,
        )
        if not updated:
            return None
        Checkpoint.objects.filter(instance_id=instance_id).update(leader_version=new, update_time=now)
    return new


def renew(instance_id, worker, version) -> bool:
    now = timezone.now()
    return bool(
        Instance.objects.filter(pk=instance_id, leader=worker, leader_version=version)
        .update(lease_expires=now + LEASE_TTL)
    )


def release(instance_id, worker, version) -> None:
    Instance.objects.filter(pk=instance_id, leader=worker, leader_version=version).update(
        lease_expires=None, update_time=timezone.now()
    )
