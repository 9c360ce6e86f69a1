"""Fenced position writes: one metadata transaction per delivered batch.

The instance row is updated only while `leader_version` is still ours; when it
is not, the whole transaction is rolled back and `Fenced` raised, so a zombie
leader can never move a position. A subscription's checkpoint is also
compared with what this dump last wrote: if an operator set its position
meanwhile, our write is skipped and the dump adopts the operator's position.
"""
import functools
import time

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from console.models import Checkpoint, Instance, Subscription
from workers.masking import mask_text

from . import changefeed
from .lease import LEASE_TTL, Fenced
from .prepared import PreparedUpdate

STALL_SHOWN_AFTER = 10.0  # seconds a subscription's write may hang before its error says so


def ensure_rows(instance, subscriptions, version):
    """Create missing checkpoint rows: new subscriptions start where the instance is now."""
    now = timezone.now()
    existing = set(Checkpoint.objects.filter(instance=instance).values_list("subscription_id", flat=True))
    start = dict(binlog_file=instance.binlog_file, binlog_pos=instance.binlog_pos, gtid_set=instance.gtid_set,
                 queued_file=instance.binlog_file, queued_pos=instance.binlog_pos, queued_gtid=instance.gtid_set,
                 binlog_when=instance.binlog_when, leader_version=version)
    for sub_id in [None] + [s.id for s in subscriptions]:
        if sub_id not in existing:
            Checkpoint.objects.get_or_create(instance=instance, subscription_id=sub_id,
                                             defaults={**start, "create_time": now})


def commit(instance_id, worker, version, position, binlog_when, runtimes, fields=None) -> set:
    """Write the instance's dumped position and every changed subscription position, and extend the lease.

    The instance row's UPDATE is the fence (leader and leader_version still ours); it also extends the lease by
    LEASE_TTL, so a dump committing every second needs no renewal of its own (LeaseKeeper.renewed).
    Returns the ids of subscriptions whose checkpoint an operator changed (not written).
    Raises Fenced when `version` is no longer the instance's leader_version.
    """
    now = timezone.now()
    conflicts = set()
    with transaction.atomic():
        if position is not None and not fields:
            fenced = not _statements().instance(
                [now, now + LEASE_TTL, position.binlog_file, position.binlog_pos, position.gtid, binlog_when],
                [instance_id, worker, version])
        else:
            changes = dict(update_time=now, lease_expires=now + LEASE_TTL)
            if position is not None:
                changes.update(binlog_file=position.binlog_file, binlog_pos=position.binlog_pos,
                               gtid_set=position.gtid, binlog_when=binlog_when)
            changes.update(fields or {})
            fenced = not Instance.objects.filter(pk=instance_id, leader=worker, leader_version=version).update(
                **changes)
        if fenced:
            raise Fenced(f"instance {instance_id}: leader_version {version} is no longer current")
        if position is not None:
            _statements().instance_checkpoint(
                [position.binlog_file, position.binlog_pos, position.gtid,
                 position.binlog_file, position.binlog_pos, position.gtid, binlog_when, now],
                [instance_id, version])
        for rt in runtimes:
            # A subscription still writing a batch it was left with (workers.courier) has its positions written
            # too (read together: its thread may move them), its status once its thread is done.
            succeeded, queued, when = rt.positions()
            if succeeded != rt.written or queued != rt.written_queued:
                # update_time is the job's last progress (console.domain.progress.last_progress): a
                # subscription whose target hangs is read past (queued moves) but has not moved.
                moved = succeeded != rt.written
                write = _statements().moved if moved else _statements().read_past
                ok = write(
                    [succeeded.binlog_file, succeeded.binlog_pos, succeeded.gtid, when,
                     queued.binlog_file, queued.binlog_pos, queued.gtid] + ([now] if moved else []),
                    [instance_id, rt.id, version, rt.written.binlog_file, rt.written.binlog_pos])
                if ok:
                    rt.written, rt.written_queued = succeeded, queued
                else:
                    conflicts.add(rt.id)
            if rt.busy:
                if rt.stalled_since is not None and not rt.stall_reported and \
                        time.monotonic() - rt.stalled_since >= STALL_SHOWN_AFTER:
                    _write_stall(rt, now)
            elif rt.status_dirty:
                _write_status(rt, now)
    return conflicts


class _Statements:
    """The commit's UPDATEs, written once (workers.prepared)."""

    def __init__(self):
        position = ["binlog_file", "binlog_pos", "gtid_set"]
        queued = ["queued_file", "queued_pos", "queued_gtid"]
        self.instance = PreparedUpdate(Instance, ["update_time", "lease_expires", *position, "binlog_when"],
                                       ["id", "leader", "leader_version"])
        self.instance_checkpoint = PreparedUpdate(
            Checkpoint, [*position, *queued, "binlog_when", "update_time"],
            ["instance", "subscription__isnull", "leader_version"])
        # a subscription's, compared with what this dump wrote last (an operator's set position wins)
        where = ["instance", "subscription", "leader_version", "binlog_file", "binlog_pos"]
        self.read_past = PreparedUpdate(Checkpoint, [*position, "binlog_when", *queued], where)
        self.moved = PreparedUpdate(Checkpoint, [*position, "binlog_when", *queued, "update_time"], where)


@functools.cache
def _statements():
    return _Statements()


def _write_stall(rt, now):
    """A target that has not answered a write for STALL_SHOWN_AFTER: shown as the subscription's error (the
    other subscriptions go on); rewritten by _write_status once the write ends either way."""
    waited = time.monotonic() - rt.stalled_since
    error = (f"target {mask_text(rt.target_uri or '')} has not answered a write for {waited:.0f} s; the "
             f"instance's other subscriptions go on without this one")
    Subscription.objects.filter(pk=rt.id, state__in=("normal", "error")).update(
        state="error", error=error[:4000], update_time=now)
    rt.stall_reported = True


def _write_status(rt, now):
    changes = dict(update_time=now)
    if rt.failure is not None:
        # Every member of the group sees it: a client library's message may quote a URI or a password.
        changes.update(error=mask_text(rt.failure["error"])[:4000], error_wait_data=rt.failure["event"])
        if rt.failing:
            changes["state"] = "error"
    else:
        changes.update(error="", error_wait_data=None)
    if rt.errors_now:
        changes["error_count"] = F("error_count") + rt.errors_now
    if rt.skipped_now:
        changes["skipped_count"] = F("skipped_count") + rt.skipped_now
    if rt.skip_consumed:
        changes["skip_next"] = False
        rt.skip_consumed = False
    qs = Subscription.objects.filter(pk=rt.id)
    if rt.failure is None or not rt.failing:
        # Leave a paused subscription paused; only a failure or its recovery changes error <-> normal.
        qs.filter(state="error").update(state="normal")
    qs.update(**changes)
    changefeed.write_status(rt, qs)  # TiCDC: state finished at target_ts, audits of ignored transactions
    rt.errors_now = rt.skipped_now = 0
    rt.status_dirty = False
