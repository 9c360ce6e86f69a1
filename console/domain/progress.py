"""The progress read model: where a job or an instance is in the binlog, how far behind, how much flowed.

Read from what the engine writes (checkpoints, the instance's master samples, cumulative FlowSample
rows); the console, every API surface and /metrics ask these functions, never the tables directly.
"""
import bisect
from dataclasses import dataclass
from datetime import datetime, timezone as dt_timezone

from django.db.models import F, FilteredRelation, Max, Q, Sum
from django.utils import timezone

from console.choices import FLOW_WINDOWS
from console.models import Checkpoint, FlowSample
from workers import tso
from workers.events import Position


@dataclass
class Progress:
    binlog_file: str = ""
    binlog_pos: int = 0
    gtid_set: str = ""
    binlog_when: int = 0
    queued_file: str = ""
    queued_pos: int = 0
    updated = None  # when the checkpoint was last written

    @property
    def commit_seq(self) -> int:
        return Position(self.binlog_file, self.binlog_pos).commit_seq if self.binlog_file else 0

    @property
    def file_number(self) -> int:
        return Position(self.binlog_file, self.binlog_pos).file_number if self.binlog_file else 0

    @property
    def ts(self) -> int:
        return tso.position_ts(self.binlog_when, self.binlog_pos)

    @property
    def queued_ts(self) -> int:
        """TiCDC's resolved_ts: the queued position (it has no timestamp of its own, so the succeeded one's second)."""
        if self.queued_file == self.binlog_file and self.queued_pos > self.binlog_pos:
            return tso.position_ts(self.binlog_when, self.queued_pos)
        return self.ts


CHECKPOINT_FIELDS = ("binlog_file", "binlog_pos", "gtid_set", "binlog_when", "queued_file", "queued_pos", "update_time")


def with_checkpoints(jobs):
    """`jobs` (a Subscription queryset) with each job's own checkpoint joined in: one query for any number of
    jobs. job_progress, job_status and job_lag read the joined values instead of querying per job.

    A job has at most one checkpoint on its instance (the (instance, subscription) unique constraint), so the
    LEFT JOIN never repeats a job.
    """
    own = FilteredRelation("checkpoints", condition=Q(checkpoints__instance_id=F("instance_id")))
    return jobs.annotate(own_checkpoint=own, **{f"checkpoint_{f}": F(f"own_checkpoint__{f}") for f in CHECKPOINT_FIELDS})


def _job_checkpoint(job):
    """The job's checkpoint fields as a dict (None before its first checkpoint): joined by with_checkpoints, else
    read."""
    if hasattr(job, "checkpoint_update_time"):
        if job.checkpoint_update_time is None:
            return None
        return {f: getattr(job, f"checkpoint_{f}") for f in CHECKPOINT_FIELDS}
    return Checkpoint.objects.filter(subscription_id=job.pk, instance_id=job.instance_id).values(*CHECKPOINT_FIELDS).first()


def checkpoint_time(job):
    """When the job's checkpoint was last written; None before its first one."""
    checkpoint = _job_checkpoint(job)
    return checkpoint["update_time"] if checkpoint else None


def job_progress(job) -> Progress:
    """The job's last succeeded position; before its first checkpoint, the instance's."""
    cp = _job_checkpoint(job)
    if cp is not None and cp["binlog_file"]:
        p = Progress(cp["binlog_file"], cp["binlog_pos"], cp["gtid_set"], cp["binlog_when"], cp["queued_file"],
                     cp["queued_pos"])
        p.updated = cp["update_time"]
        return p
    return instance_progress(job.instance)


def instance_progress(instance) -> Progress:
    """The instance's dumped position. The engine writes it to the instance row and the instance's checkpoint in
    one transaction (workers/checkpoints.commit, like console.domain.instances.set_position), so the row's
    fields are read: no query, whatever the number of instances."""
    p = Progress(instance.binlog_file, instance.binlog_pos, instance.gtid_set, instance.binlog_when)
    p.updated = instance.update_time
    return p


def lag_bytes(instance, progress: Progress) -> int:
    """Bytes between a position and the master's last sampled position (same file), else the instance's lag."""
    if instance.master_file and instance.master_file == progress.binlog_file:
        return max(0, instance.master_pos - progress.binlog_pos)
    return max(0, instance.lag_bytes)


def job_lag(job) -> tuple:
    """How far the job itself is behind its source: (commit sequence, seconds), never the instance's lag.

    From the job's checkpoint (before its first one: the instance's position, where it starts) to the
    source's master position as the engine's status sampler last read it (Instance.master_file / master_pos
    at status_time). The commit sequence is workers.events.Position.commit_seq, so within one binlog file the
    difference is in bytes. The seconds run from the event time of the job's position to that sample; both
    are 0 when the job is not behind, and (0, 0) before the master position or the job's position is known.
    """
    instance = job.instance
    at = job_progress(job)
    if not instance.master_file or not at.binlog_file:
        return 0, 0
    behind = (Position(instance.master_file, instance.master_pos).commit_seq
              - Position(at.binlog_file, at.binlog_pos).commit_seq)
    if behind <= 0:
        return 0, 0
    sampled = instance.status_time or timezone.now()
    return behind, max(0, int(sampled.timestamp()) - at.binlog_when) if at.binlog_when else 0


@dataclass
class Behind:
    """How far an instance is behind its source: its dump's lag, or its most-behind subscription's when larger."""

    bytes: int
    seconds: int
    events: int
    subscription: str = ""  # the subscription the figures come from; "" when they are the dump's own


def instance_behind(instance, jobs) -> Behind:
    """An instance is as far behind as the furthest of its subscriptions `jobs`: the dump may be current while a
    failing job sits at an old position. Read `jobs` through with_checkpoints to spare a query per job."""
    behind = Behind(max(instance.lag_bytes, 0), max(instance.lag_seconds, 0), max(instance.lag_events, 0))
    for job in jobs:
        seq, seconds = job_lag(job)
        if not seq:
            continue
        size = lag_bytes(instance, job_progress(job))
        if (size, seconds) > (behind.bytes, behind.seconds):
            behind = Behind(max(size, behind.bytes), max(seconds, behind.seconds), behind.events, str(job))
    return behind


def behind_fields(instance) -> dict:
    """Instance.behind_* as of the instance's master sample: what the status sampler stores with each sample so
    that the monitor and the dashboard rank every instance in SQL (one query at any fleet size)."""
    behind = instance_behind(instance, with_checkpoints(instance.subscriptions.all()))
    return {"behind_bytes": behind.bytes, "behind_seconds": behind.seconds,
            "behind_subscription": behind.subscription[:128]}


def stored_behind(instance) -> Behind:
    """The figures behind_fields stored at the last status sample."""
    return Behind(instance.behind_bytes, instance.behind_seconds, max(instance.lag_events, 0),
                  instance.behind_subscription)


# --- flow -----------------------------------------------------------------------------------------------------
#
# The engine writes cumulative FlowSample rows, one series per key: instance totals (no schema, table or
# subscription), a schema (schema only), a table (schema and table), a subscription (subscription only).


def flow_window(instance_id, window, schema=None, table=None, subscription_id=None, now=None) -> list:
    """One series over a window (console.choices.FLOW_WINDOWS), oldest first.

    Each point is {"time": <epoch seconds>, "count": <cumulative>, "byte_size": <cumulative>}: the latest
    sample at or before the point's step (0 before the first sample). ValueError for an unknown window.
    """
    if window not in FLOW_WINDOWS:
        raise ValueError(f"unknown flow window '{window}': use one of {', '.join(FLOW_WINDOWS)}")
    points, step = FLOW_WINDOWS[window]
    now = now or timezone.now()
    end = int(now.timestamp()) // step * step
    start = end - (points - 1) * step
    samples = FlowSample.objects.filter(
        instance_id=instance_id, subscription_id=subscription_id, schema_name=schema or "",
        table_name=(table or "") if schema else "", time__lte=now,
    )
    start_time = datetime.fromtimestamp(start, tz=dt_timezone.utc)
    # The last sample before the window carries the cumulative value into its first point.
    before = samples.filter(time__lt=start_time).order_by("-time", "-id").values_list("count", "byte_size").first()
    inside = list(samples.filter(time__gte=start_time).order_by("time", "id").values_list("time", "count", "byte_size"))
    times = [t.timestamp() for t, _, _ in inside]
    out = []
    for i in range(points):
        at = start + i * step
        k = bisect.bisect_left(times, at + step) - 1  # the latest sample before the next point
        count, size = inside[k][1:] if k >= 0 else (before or (0, 0))
        out.append({"time": at, "count": count, "byte_size": size})
    return out


def table_series(instance_ids, table) -> list:
    """[(instance id, schema)] of every series of a table named without its schema."""
    return list(FlowSample.objects.filter(instance_id__in=instance_ids, table_name=table, subscription__isnull=True)
                .values_list("instance_id", "schema_name").distinct())


def subscription_totals(subscription_ids) -> dict:
    """{subscription id: (count, bytes)}: each subscription's latest cumulative sample."""
    if not subscription_ids:
        return {}
    latest = (FlowSample.objects.filter(subscription_id__in=subscription_ids)
              .values("subscription_id", "schema_name", "table_name").annotate(last_id=Max("id")))
    ids = [row["last_id"] for row in latest]
    return {
        row["subscription_id"]: (row["count"] or 0, row["size"] or 0)
        for row in FlowSample.objects.filter(pk__in=ids).values("subscription_id").annotate(
            count=Sum("count"), size=Sum("byte_size"))
    }
