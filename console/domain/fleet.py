"""The fleet of worker hosts (`waves`): one rule for "alive", and exactly one live owner.

A worker is alive while its heartbeat (every second, workers.workerhost) is younger than WORKER_TTL and it
has not marked itself dead at shutdown. The supervisor handing out dumps, dump candidates, move table,
TiCDC captures and health and the metrics all ask here, so a worker killed with SIGKILL drops out of every
surface at the same moment.

The owner (TiCDC's word; the worker whose `is_owner` is set) is kept to exactly one live worker: the current
one while it lives, else the longest-registered live worker. Every worker host checks it every supervisor
period (workers.workerhost) and the owner runs the supervisor, so a dead owner is replaced within one period of
its heartbeat going stale.
"""
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from console.choices import WorkerState
from console.models import AuditLog, Wave

WORKER_TTL = timedelta(seconds=6)


class FleetError(Exception):
    """The fleet cannot do what was asked; the message says why and is safe to show."""


def live_workers(now=None):
    """The live workers (a queryset)."""
    now = now or timezone.now()
    return Wave.objects.filter(state=WorkerState.ALIVE, last_heartbeat__gte=now - WORKER_TTL)


def live_worker_names(now=None) -> list:
    """Names of the live workers, longest registered first."""
    return list(live_workers(now).order_by("create_time", "name").values_list("name", flat=True))


def is_alive(name, now=None) -> bool:
    return live_workers(now).filter(name=name).exists()


def elect_owner(now=None):
    """Make sure exactly one live worker is the owner; its name (None: no worker is alive)."""
    with transaction.atomic():
        live = live_workers(now).select_for_update().order_by("create_time", "name")
        owner = live.filter(is_owner=True).first() or live.first()
        _make_owner(owner)
        return owner.name if owner else None


def ensure_owner(now=None):
    """elect_owner, but only reading while there is exactly one owner and it is alive (the usual case): every
    worker asks every few seconds, and a write transaction each time would queue on SQLite's one write lock."""
    owners = list(Wave.objects.filter(is_owner=True).values_list("name", flat=True)[:2])
    if len(owners) == 1 and is_alive(owners[0], now):
        return owners[0]
    return elect_owner(now)


def resign_owner(actor):
    """Hand the ownership to another live worker (the one heard from last); its name."""
    with transaction.atomic():
        live = live_workers().select_for_update()
        owner = live.filter(is_owner=True).first()
        others = live.order_by("-last_heartbeat", "name")
        if owner is not None:
            others = others.exclude(pk=owner.pk)
        successor = others.first()
        if successor is None:
            raise FleetError("no other live worker can become the owner")
        _make_owner(successor)
        AuditLog.record(actor, "owner_resign", successor,
                        before={"owner": owner.name if owner else ""}, after={"owner": successor.name})
    return successor.name


def _make_owner(wave):
    """`wave` (None: nobody) is the only owner."""
    others = Wave.objects.filter(is_owner=True)
    if wave is not None:
        others = others.exclude(pk=wave.pk)
        if not wave.is_owner:
            Wave.objects.filter(pk=wave.pk).update(is_owner=True)
    others.update(is_owner=False)
