"""The dump lease on an Instance row: who leads, until when, under which leader_version.

Every takeover increments `leader_version` and stamps the instance's
checkpoints with it in the same transaction, so every later write of an older
leader (conditional on its version) updates nothing: it is fenced.

The supervisor hands an instance to a worker by naming it `leader` with a
short start grace and sending `dump_instance(instance_id, version)`; the worker
takes the lease only if nobody took it since (same version, named leader).
"""
import functools
import logging
import os
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Case, F, Q, When
from django.utils import timezone

from console.models import Checkpoint, Instance

from .prepared import PreparedUpdate

# A dead leader's lease is gone this long after its last renewal (a candidate takes over within TTL + 3 s).
LEASE_TTL = timedelta(seconds=float(os.environ.get("TOWER_LEASE_TTL", "8")))
RENEW_EVERY = 1.0  # seconds
# The keeper renews only while the dump loop showed life this recently. Longer than any sink's own wait
# for an answer (Kafka 30 s, AMQP 60 s by default), so a target that is slow or down does not move the
# instance to another worker; a loop stuck for good still lets the lease lapse.
STALL_LIMIT = float(os.environ.get("TOWER_DUMP_STALL_LIMIT", "120"))

log = logging.getLogger(__name__)
START_GRACE = timedelta(seconds=10)  # a dispatched dump that never started is re-dispatched after this


class Fenced(Exception):
    """This worker no longer holds the instance's lease."""


def is_live(instance, now=None) -> bool:
    now = now or timezone.now()
    return instance.lease_expires is not None and instance.lease_expires > now


def dispatch(instance_id, worker, version) -> bool:
    """Name `worker` the next leader if the lease is still free at `version` (the supervisor's step)."""
    now = timezone.now()
    # A hand-over to another worker remembers the one before (BinLake's preLeader). pre_leader is set first:
    # MySQL evaluates the SET list left to right, so F("leader") after leader= would read the new value.
    pre_leader = Case(When(~Q(leader=worker) & ~Q(leader=""), then=F("leader")), default=F("pre_leader"))
    return bool(
        Instance.objects.filter(pk=instance_id, leader_version=version)
        .filter(Q(lease_expires__isnull=True) | Q(lease_expires__lte=now))
        .update(pre_leader=pre_leader, leader=worker, lease_expires=now + START_GRACE, update_time=now)
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
            leader=worker, pre_leader=instance.leader if not named and instance.leader else instance.pre_leader,
            leader_version=new, lease_expires=now + LEASE_TTL, update_time=now,
        )
        if not updated:
            return None
        Checkpoint.objects.filter(instance_id=instance_id).update(leader_version=new, update_time=now)
    return new


def renew(instance_id, worker, version) -> bool:
    """Extend the lease by LEASE_TTL if `worker` still holds it at `version`."""
    return _renewal()([timezone.now() + LEASE_TTL], [instance_id, worker, version]) > 0


@functools.cache
def _renewal():
    return PreparedUpdate(Instance, ["lease_expires"], ["id", "leader", "leader_version"])


def release(instance_id, worker, version) -> None:
    Instance.objects.filter(pk=instance_id, leader=worker, leader_version=version).update(
        lease_expires=None, update_time=timezone.now()
    )


class LeaseKeeper:
    """Renews a dump's lease every RENEW_EVERY from its own thread.

    The dump loop cannot renew while it waits inside a sink call (a target that stops answering holds it
    until the sink's timeout), and a lease that lapses then hands the instance to another worker for no
    reason. So a thread renews, for as long as the loop calls `beat()` within STALL_LIMIT and the worker
    process that started the dump is still its parent. `beat()` raises Fenced once a renewal was refused.
    The dump's own commits extend the lease too (workers.checkpoints.commit); after one, `renewed()` spares
    the keeper's next renewal.
    """

    def __init__(self, instance_id, worker, version, stall_limit=STALL_LIMIT):
        self.instance_id, self.worker, self.version = instance_id, worker, version
        self.stall_limit = stall_limit
        # A prefork pool process stops its dump once the worker (its parent) is gone. A worker running its dumps
        # as threads is that process itself, and its own parent (a shell, systemd) says nothing about it.
        self.ppid = os.getppid() if settings.CELERY_WORKER_POOL != "threads" else None
        self.last_beat = time.monotonic()
        self.renewed_at = 0.0  # when a commit of the dump last extended the lease
        self.lost = None  # why the lease is gone (refused renewal), raised by beat()
        self.orphaned = False  # the worker process that started the dump is gone: the dump should stop
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{instance_id}", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stopping.set()
        self._thread.join()

    def beat(self):
        self.last_beat = time.monotonic()
        if self.lost is not None:
            raise Fenced(self.lost)

    def renewed(self):
        """The dump's own fenced commit extended the lease (workers.checkpoints.commit): no renewal is due for
        RENEW_EVERY. A dump that commits every second then never writes a renewal of its own."""
        self.renewed_at = time.monotonic()

    def _run(self):
        stalled = False
        try:
            while not self._stopping.wait(RENEW_EVERY):
                if self.ppid is not None and os.getppid() != self.ppid:
                    self.orphaned = True
                    return  # the worker is gone: let the lease lapse
                if time.monotonic() - self.last_beat > self.stall_limit:
                    if not stalled:
                        log.warning("instance %s: dump loop stalled over %.0f s, letting the lease lapse",
                                    self.instance_id, self.stall_limit)
                    stalled = True
                    continue
                stalled = False
                if time.monotonic() - self.renewed_at < RENEW_EVERY:
                    continue
                try:
                    renewed = renew(self.instance_id, self.worker, self.version)
                except Exception:  # noqa: BLE001 - metadata database hiccup: try again next second
                    log.exception("instance %s: lease renewal failed", self.instance_id)
                    close_old_connections()
                    continue
                if not renewed:
                    self.lost = f"instance {self.instance_id}: lease lost (leader_version {self.version})"
                    return
        finally:
            connection.close()  # this thread's own database connection
