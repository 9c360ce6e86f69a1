"""Fenced position writes: one metadata transaction per delivered batch.

The instance row is updated only while `leader_version` is still ours; when it
is not, the whole transaction is rolled back and `Fenced` raised, so a zombie
leader can never move a position. A subscription's checkpoint is also
compared with what this dump last wrote: if an operator set its position
meanwhile, our write is skipped and the dump adopts the operator's position.
"""
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from console.models import Checkpoint, Instance, Subscription
from workers.masking import mask_text

from . import changefeed
from .lease import Fenced


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
    """Write the instance's dumped position and every changed subscription position.

    Returns the ids of subscriptions whose checkpoint an operator changed (not written).
    Raises Fenced when `version` is no longer the instance's leader_version.
    """
    now = timezone.now()
    conflicts = set()
    with transaction.atomic():
        changes = dict(update_time=now)
        if position is not None:
            changes.update(binlog_file=position.binlog_file, binlog_pos=position.binlog_pos,
                           gtid_set=position.gtid, binlog_when=binlog_when)
        changes.update(fields or {})
        if not Instance.objects.filter(pk=instance_id, leader=worker, leader_version=version).update(**changes):
            raise Fenced(f"instance {instance_id}: leader_version {version} is no longer current")
        if position is not None:
            Checkpoint.objects.filter(instance_id=instance_id, subscription__isnull=True, leader_version=version).update(
                binlog_file=position.binlog_file, binlog_pos=position.binlog_pos, gtid_set=position.gtid,
                queued_file=position.binlog_file, queued_pos=position.binlog_pos, queued_gtid=position.gtid,
                binlog_when=binlog_when, update_time=now,
            )
        for rt in runtimes:
            if rt.succeeded != rt.written or rt.queued != rt.written_queued:
                ok = Checkpoint.objects.filter(
                    instance_id=instance_id, subscription_id=rt.id, leader_version=version,
                    binlog_file=rt.written.binlog_file, binlog_pos=rt.written.binlog_pos,
                ).update(
                    binlog_file=rt.succeeded.binlog_file, binlog_pos=rt.succeeded.binlog_pos,
                    gtid_set=rt.succeeded.gtid, binlog_when=rt.binlog_when,
                    queued_file=rt.queued.binlog_file, queued_pos=rt.queued.binlog_pos, queued_gtid=rt.queued.gtid,
                    update_time=now,
                )
                if ok:
                    rt.written, rt.written_queued = rt.succeeded, rt.queued
                else:
                    conflicts.add(rt.id)
            if rt.status_dirty:
                _write_status(rt, now)
    return conflicts


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
