"""The progress read model: where a job or an instance is in the binlog, how far behind, how much flowed.

Read from what the engine writes (checkpoints, the instance's master samples, cumulative FlowSample
rows); the console, every API surface and /metrics ask these functions, never the tables directly.
"""
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone as dt_timezone
from functools import lru_cache, reduce
from itertools import accumulate
from operator import or_

from django.db.models import Case, F, FilteredRelation, Max, OuterRef, Q, Subquery, Sum, Value, When, Window
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from console.choices import FLOW_WINDOWS
from console.models import Checkpoint, FlowSample, Instance
from workers import tso
from workers.events import Position


@lru_cache(maxsize=4096)
def _file_number(binlog_file) -> int:
    """workers.events.Position.file_number, once per file name: a fleet's positions share a few files."""
    return Position(binlog_file).file_number


@dataclass
class Progress:
    binlog_file: str = ""
    binlog_pos: int = 0
    gtid_set: str = ""
    binlog_when: int = 0
    queued_file: str = ""
    queued_pos: int = 0

    @property
    def commit_seq(self) -> int:
        return (self.file_number << 32) | self.binlog_pos if self.binlog_file else 0

    @property
    def file_number(self) -> int:
        return _file_number(self.binlog_file) if self.binlog_file else 0

    @property
    def ts(self) -> int:
        return tso.position_ts(self.binlog_when, self.binlog_pos)

    @property
    def queued_ts(self) -> int:
        """TiCDC's resolved_ts: the queued position (it has no timestamp of its own, so the succeeded one's second)."""
        if self.queued_file == self.binlog_file and self.queued_pos > self.binlog_pos:
            return tso.position_ts(self.binlog_when, self.queued_pos)
        return self.ts


POSITION_FIELDS = ("binlog_file", "binlog_pos", "gtid_set", "binlog_when", "queued_file", "queued_pos")


def with_checkpoints(jobs):
    """`jobs` (a Subscription queryset) with each job's own checkpoint joined in: one query for any number of
    jobs. It adds the checkpoint's positions as checkpoint_<field> (POSITION_FIELDS), when it was written
    (checkpoint_update_time) and when the job last moved (last_progress: that write, before the first one the
    job's creation). job_progress, job_lag, last_progress and so subscriptions.job_status read the joined
    values instead of querying per job.

    A job has at most one checkpoint on its instance (the (instance, subscription) unique constraint), so the
    LEFT JOIN never repeats a job.
    """
    own = FilteredRelation("checkpoints", condition=Q(checkpoints__instance_id=F("instance_id")))
    return jobs.annotate(
        own_checkpoint=own, **{f"checkpoint_{f}": F(f"own_checkpoint__{f}") for f in POSITION_FIELDS},
        checkpoint_update_time=F("own_checkpoint__update_time"),
        last_progress=Coalesce("own_checkpoint__update_time", "create_time"),
    )


def _job_checkpoint(job):
    """The job's checkpoint as a Progress, None before its first checkpoint: joined by with_checkpoints (where
    binlog_file is None only then: the column is NOT NULL), else read."""
    if hasattr(job, "checkpoint_binlog_file"):
        if job.checkpoint_binlog_file is None:
            return None
        return Progress(job.checkpoint_binlog_file, job.checkpoint_binlog_pos, job.checkpoint_gtid_set,
                        job.checkpoint_binlog_when, job.checkpoint_queued_file, job.checkpoint_queued_pos)
    row = Checkpoint.objects.filter(subscription_id=job.pk, instance_id=job.instance_id).values_list(
        *POSITION_FIELDS).first()
    return Progress(*row) if row is not None else None


def last_progress(job):
    """When the job last moved: its checkpoint's last write, before its first one the job's creation."""
    if hasattr(job, "last_progress"):
        return job.last_progress
    written = Checkpoint.objects.filter(subscription_id=job.pk, instance_id=job.instance_id).values_list(
        "update_time", flat=True).first()
    return written or job.create_time


def job_progress(job) -> Progress:
    """The job's last succeeded position; before its first checkpoint, the instance's."""
    cp = _job_checkpoint(job)
    if cp is not None and cp.binlog_file:
        return cp
    return instance_progress(job.instance)


def instance_progress(instance) -> Progress:
    """The instance's dumped position. The engine writes it to the instance row and the instance's checkpoint in
    one transaction (workers/checkpoints.commit, like console.domain.instances.set_position), so the row's
    fields are read: no query, whatever the number of instances."""
    return Progress(instance.binlog_file, instance.binlog_pos, instance.gtid_set, instance.binlog_when)


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
    return flow_sum([(instance_id, schema, table, subscription_id)], window, now=now)


def flow_sum(series, window, now=None) -> list:
    """The flow_window of each of many series, summed point by point, in two queries whatever their number.

    `series` is [(instance id, schema, table, subscription id)], each as flow_window takes them (one listed
    twice counts twice); with none, every point is 0. ValueError for an unknown window.
    """
    if window not in FLOW_WINDOWS:
        raise ValueError(f"unknown flow window '{window}': use one of {', '.join(FLOW_WINDOWS)}")
    points, step = FLOW_WINDOWS[window]
    now = now or timezone.now()
    end = int(now.timestamp()) // step * step
    start = end - (points - 1) * step
    # A series' key as its samples store it: a table is a table of a schema.
    keys = Counter((instance_id, schema or "", (table or "") if schema else "", subscription_id)
                   for instance_id, schema, table, subscription_id in series)
    counts, sizes = [0] * points, [0] * points  # what each point adds to the one before
    if keys:
        before, inside = _flow_samples(keys, start, step, points, now)
        for key, times in keys.items():
            value = before.get(key, (0, 0))
            counts[0] += times * value[0]
            sizes[0] += times * value[1]
            for i, sample in sorted(inside.get(key, {}).items()):
                counts[i] += times * (sample[0] - value[0])
                sizes[i] += times * (sample[1] - value[1])
                value = sample
    return [{"time": start + i * step, "count": count, "byte_size": size}
            for i, (count, size) in enumerate(zip(accumulate(counts), accumulate(sizes)))]


def _epoch(seconds):
    return datetime.fromtimestamp(seconds, tz=dt_timezone.utc)


def _flow_samples(keys, start, step, points, now):
    """({key: (count, bytes)} of the latest sample before the window, {key: {point: (count, bytes)}} of the latest
    sample of each point's step inside it), latest by (time, id), for the series `keys`: two queries."""
    key_fields = ("instance_id", "schema_name", "table_name", "subscription_id")
    subscription_ids = {key[3] for key in keys}
    of_subscriptions = Q(subscription_id__in=subscription_ids - {None})
    if None in subscription_ids:
        of_subscriptions |= Q(subscription_id__isnull=True)
    # Every sample of the asked series, and maybe of a few series combining their parts, dropped below.
    candidates = FlowSample.objects.filter(
        of_subscriptions, instance_id__in={key[0] for key in keys}, schema_name__in={key[1] for key in keys},
        table_name__in={key[2] for key in keys},
    )
    # Before the window: per series, the one latest sample (an index seek per instance on flow_instance_time_idx,
    # however long the retention), one correlated subquery per kind of series asked.
    latest = {}
    for n, (schema, table, subscription_id) in enumerate({key[1:] for key in keys}):
        latest[f"latest_{n}"] = Subquery(FlowSample.objects.filter(
            instance_id=OuterRef("pk"), schema_name=schema, table_name=table, subscription_id=subscription_id,
            time__lt=_epoch(start),
        ).order_by("-time", "-id").values("pk")[:1])
    instances = Instance.objects.filter(pk__in={key[0] for key in keys}).annotate(**latest)
    before = {}
    for *key, count, size in FlowSample.objects.filter(
            reduce(or_, (Q(pk__in=instances.values(name)) for name in latest))).values_list(
            *key_fields, "count", "byte_size"):
        before[tuple(key)] = (count, size)
    # Inside the window: the latest sample of each series in each point's step, ranked in SQL.
    step_of = Case(*(When(time__lt=_epoch(start + (i + 1) * step), then=Value(i)) for i in range(points - 1)),
                   default=Value(points - 1))
    inside = {}
    for *key, i, count, size in candidates.filter(time__gte=_epoch(start), time__lte=now).annotate(
            point=step_of,
            rank=Window(RowNumber(), partition_by=[*(F(f) for f in key_fields), step_of],
                        order_by=[F("time").desc(), F("id").desc()]),
    ).filter(rank=1).values_list(*key_fields, "point", "count", "byte_size"):
        inside.setdefault(tuple(key), {})[i] = (count, size)
    return ({key: value for key, value in before.items() if key in keys},
            {key: value for key, value in inside.items() if key in keys})


def table_series(instance_ids, table) -> list:
    """[(instance id, schema)] of every series of a table named without its schema."""
    return list(FlowSample.objects.filter(instance_id__in=instance_ids, table_name=table, subscription__isnull=True)
                .values_list("instance_id", "schema_name").distinct())


def subscription_totals(subscription_ids=None) -> dict:
    """{subscription id: (count, bytes)}: each subscription's latest cumulative sample per (schema, table), summed.

    `subscription_ids` is a queryset of ids (e.g. `scoped_jobs.values("pk")`: a subquery, where a list of
    thousands of ids would be as many parameters, twice), a short list, or None for every subscription. One
    query for any number of subscriptions: the latest sample of each series is its highest id, picked by a
    grouped subquery that the (subscription, schema, table) index answers without reading older samples.
    """
    if isinstance(subscription_ids, (list, tuple, set, frozenset)) and not subscription_ids:
        return {}
    if subscription_ids is None:
        samples = FlowSample.objects.filter(subscription__isnull=False)
    else:
        samples = FlowSample.objects.filter(subscription_id__in=subscription_ids)
    latest = samples.values("subscription_id", "schema_name", "table_name").annotate(last_id=Max("id")).values("last_id")
    return {
        subscription_id: (count or 0, size or 0)
        for subscription_id, count, size in FlowSample.objects.filter(pk__in=latest).values("subscription_id")
        .annotate(count=Sum("count"), size=Sum("byte_size")).values_list("subscription_id", "count", "size")
    }
