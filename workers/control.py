"""Operations on the engine that the API and the console call. Each one is audited.

The running dump notices every change within about a second (it reloads its
subscriptions and compares checkpoints with what it last wrote):
- `pause(sub)` / `resume(sub)`: stop delivering to one subscription without
  touching the others; on resume the dump rewinds for it and it catches up.
- `miss(sub)`: skip exactly the one event the subscription keeps failing on.
- `set_position(sub, file, pos, gtid)`: where the subscription continues from.
- `move_dump(instance, worker)`: the current leader stops, the supervisor
  starts the dump on `worker`.
"""
from django.db import transaction
from django.utils import timezone

from console.choices import SubscriptionState
from console.models import AuditLog, Checkpoint, Instance, Subscription, TransitionError


class ControlError(Exception):
    """The operation does not apply to the object in its current state (a 4xx for callers)."""


def _snapshot(sub):
    return {"state": sub.state, "skip_next": sub.skip_next, "error": sub.error}


def _set_state(sub, actor, action, state, message=""):
    with transaction.atomic():
        sub = Subscription.objects.select_for_update().get(pk=sub.pk)
        before = _snapshot(sub)
        Subscription.objects.filter(pk=sub.pk).update(state=state, update_time=timezone.now())
        sub.state = state
        if state == SubscriptionState.NORMAL:
            _mark_behind(sub)
        AuditLog.record(actor, action, sub, before=before, after=_snapshot(sub), message=message)
    return sub


def pause(sub, actor, message=""):
    return _set_state(sub, actor, "pause_subscription", SubscriptionState.STOPPED, message)


def resume(sub, actor, message=""):
    return _set_state(sub, actor, "resume_subscription", SubscriptionState.NORMAL, message)


def _mark_behind(sub):
    """Whatever the instance read while the subscription was away is still owed to it (reference 004: queued)."""
    instance = Instance.objects.get(pk=sub.instance_id)
    cp = Checkpoint.objects.filter(instance_id=sub.instance_id, subscription=sub).first()
    if cp is None or not instance.binlog_file:
        return
    if _seq(instance.binlog_file, instance.binlog_pos) > _seq(cp.queued_file, cp.queued_pos):
        Checkpoint.objects.filter(pk=cp.pk).update(
            queued_file=instance.binlog_file, queued_pos=instance.binlog_pos, queued_gtid=instance.gtid_set,
            update_time=timezone.now(),
        )


def _seq(file, pos):
    suffix = (file or "").rsplit(".", 1)[-1]
    return ((int(suffix) if suffix.isdigit() else 0) << 32) | int(pos or 0)


def miss(sub, actor, message=""):
    """Skip the one event this subscription keeps failing on (Bifrost's 'miss')."""
    with transaction.atomic():
        sub = Subscription.objects.select_for_update().get(pk=sub.pk)
        if not sub.error_wait_data:
            raise ControlError(f"subscription '{sub.name}' has no failing event to skip")
        before = _snapshot(sub)
        Subscription.objects.filter(pk=sub.pk).update(skip_next=True, update_time=timezone.now())
        sub.skip_next = True
        AuditLog.record(actor, "miss_event", sub, before={**before, "event": sub.error_wait_data},
                        after=_snapshot(sub), message=message)
    return sub


def set_position(sub, actor, binlog_file="", binlog_pos=4, gtid="", message=""):
    """Continue this subscription from a transaction boundary (file/pos, and the GTID set when the instance uses GTID)."""
    if not binlog_file or int(binlog_pos) < 4:
        raise ControlError("give a binlog file and a position >= 4")
    with transaction.atomic():
        sub = Subscription.objects.select_for_update().get(pk=sub.pk)
        instance = Instance.objects.get(pk=sub.instance_id)
        cp, _ = Checkpoint.objects.get_or_create(instance=instance, subscription=sub)
        before = {"binlog_file": cp.binlog_file, "binlog_pos": cp.binlog_pos, "gtid_set": cp.gtid_set}
        new = _seq(binlog_file, binlog_pos)
        # Behind the instance: mark it behind so a restart also rewinds for it (reference 004).
        queued_at_instance = _seq(instance.binlog_file, instance.binlog_pos) > new
        Checkpoint.objects.filter(pk=cp.pk).update(
            binlog_file=binlog_file, binlog_pos=int(binlog_pos), gtid_set=gtid or "",
            queued_file=instance.binlog_file if queued_at_instance else binlog_file,
            queued_pos=instance.binlog_pos if queued_at_instance else int(binlog_pos),
            queued_gtid=instance.gtid_set if queued_at_instance else (gtid or ""),
            update_time=timezone.now(),
        )
        Subscription.objects.filter(pk=sub.pk).update(error="", error_wait_data=None, skip_next=False,
                                                      update_time=timezone.now())
        AuditLog.record(actor, "set_position", sub, before=before,
                        after={"binlog_file": binlog_file, "binlog_pos": int(binlog_pos), "gtid_set": gtid or ""},
                        message=message)
    return sub


def move_dump(instance, actor, worker):
    """Hand the instance's dump to `worker`: the current leader is fenced within a second."""
    if not worker:
        raise ControlError("name the worker to move the dump to")
    try:
        instance.set_leader(actor, worker)
    except TransitionError as exc:
        raise ControlError(str(exc)) from exc
    return instance
