"""The progress read model: where a job or an instance is in the binlog, how far behind, how much flowed.

Read from what the engine writes (checkpoints, the instance's master samples, cumulative FlowSample
rows); the console, every API surface and /metrics ask these functions, never the tables directly.
"""
import bisect
from dataclasses import dataclass
from datetime import datetime, timezone as dt_timezone

from django.db.models import Max, Sum
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


def _from_checkpoint(cp):
    p = Progress(cp.binlog_file, cp.binlog_pos, cp.gtid_set, cp.binlog_when, cp.queued_file, cp.queued_pos)
    p.updated = cp.update_time
    return p


def job_progress(job) -> Progress:
    """The job's last succeeded position; before its first checkpoint, the instance's."""
    cp = Checkpoint.objects.filter(subscription=job).first()
    if cp is not None and cp.binlog_file:
        return _from_checkpoint(cp)
    return instance_progress(job.instance)


def instance_progress(instance) -> Progress:
    """The instance's dumped position: its checkpoint when the engine wrote one, else the instance's own fields."""
    cp = Checkpoint.objects.filter(instance=instance, subscription__isnull=True).first()
    if cp is not None and cp.binlog_file:
        return _from_checkpoint(cp)
    return Progress(instance.binlog_file, instance.binlog_pos, instance.gtid_set, instance.binlog_when)


def lag_bytes(instance, progress: Progress) -> int:
    """Bytes between a position and the master's last sampled position (same file), else the instance's lag."""
    if instance.master_file and instance.master_file == progress.binlog_file:
        return max(0, instance.master_pos - progress.binlog_pos)
    return max(0, instance.lag_bytes)


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
