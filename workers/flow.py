"""Bifrost's flow windows from cumulative FlowSample rows.

`flow_window(instance_id, window, schema=None, table=None, subscription_id=None)`
returns the window's points oldest first, each
`{"time": <epoch seconds>, "count": <cumulative>, "byte_size": <cumulative>}`:
the latest sample at or before each point's time (0 before the first sample).
Windows (console.choices.FLOW_WINDOWS): minute 12×5 s, tenminute 120×5 s,
hour 120×30 s, eighthour 96×5 min, day 144×10 min.

Keys: instance totals (no schema/table/subscription), a schema (schema only),
a table (schema and table), a subscription (subscription_id only).
"""
import bisect
from datetime import datetime, timedelta, timezone as dt_timezone

from django.utils import timezone

from console.choices import FLOW_WINDOWS
from console.models import FlowSample

KEEP = timedelta(days=1, hours=1)


def flow_window(instance_id, window, schema=None, table=None, subscription_id=None, now=None) -> list:
    if window not in FLOW_WINDOWS:
        raise ValueError(f"unknown flow window '{window}': use one of {', '.join(FLOW_WINDOWS)}")
    points, step = FLOW_WINDOWS[window]
    now = now or timezone.now()
    end = int(now.timestamp()) // step * step
    start = end - (points - 1) * step
    samples = FlowSample.objects.filter(
        instance_id=instance_id, subscription_id=subscription_id, schema_name=schema or "",
        table_name=table or "" if schema else "",
        time__lte=now,
    )
    # The last sample before the window carries the cumulative value into its first point.
    before = samples.filter(time__lt=datetime.fromtimestamp(start, tz=dt_timezone.utc)).order_by("-time").first()
    inside = list(samples.filter(time__gte=datetime.fromtimestamp(start, tz=dt_timezone.utc))
                  .order_by("time").values_list("time", "count", "byte_size"))
    times = [t.timestamp() for t, _, _ in inside]
    out = []
    for i in range(points):
        at = start + i * step
        k = bisect.bisect_right(times, at + step - 1e-6) - 1  # latest sample within or before this point
        if k >= 0:
            _, count, size = inside[k]
        elif before is not None:
            count, size = before.count, before.byte_size
        else:
            count, size = 0, 0
        out.append({"time": at, "count": count, "byte_size": size})
    return out


def prune(now=None) -> int:
    """Drop samples older than the longest window."""
    now = now or timezone.now()
    return FlowSample.objects.filter(time__lt=now - KEEP).delete()[0]
