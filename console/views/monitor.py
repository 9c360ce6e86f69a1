"""/monitor/: master vs dumped position, lag, retries, leader, last error; flow charts per window.

The list and the detail are live pages: their figures are fragments htmx polls with ?partial=1
(console.views.live), and the chart re-reads /monitor/<id>/flow/ on a timer (static/console/flow.js).
"""
from dataclasses import dataclass
from datetime import datetime
from datetime import timezone as dt_timezone

from django.core.paginator import Paginator
from django.http import JsonResponse

from console.choices import FLOW_WINDOWS, FlowWindow, InstanceStatus
from console.domain import progress
from console.models import Instance, Subscription
from workers.events import Position

from .generic import PER_PAGE, get_scoped_object, scoped
from .live import render_live


@dataclass
class MasterPosition:
    text: str
    stale_since: datetime | None = None  # the time of a master sample older than the dumped position


def master_position(instance) -> MasterPosition:
    """The master's position as the status sampler last read it. The dump moves between two samples, so a sample
    can be behind the dumped position: the master is then at least there, and the sample is marked stale."""
    if not instance.master_file:
        return MasterPosition("-")
    sampled = f"{instance.master_file}:{instance.master_pos} {instance.master_gtid}".strip()
    if instance.binlog_file and (Position(instance.master_file, instance.master_pos).commit_seq
                                 < Position(instance.binlog_file, instance.binlog_pos).commit_seq):
        return MasterPosition(f"{instance.binlog_file}:{instance.binlog_pos}", instance.status_time)
    return MasterPosition(sampled)


def monitor_list(request):
    """Every dumping instance, furthest behind first, a page at a time; the subscriptions of the page's instances.

    Ranked by the figures the status sampler stored with its last master sample (progress.behind_fields), so
    the page costs the same few queries with ten instances or ten thousand."""
    instances = (scoped(Instance, request.user).filter(status=InstanceStatus.DUMP).select_related("group")
                 .order_by("-behind_seconds", "-behind_bytes", "host", "port"))
    group, host = request.GET.get("group", ""), request.GET.get("q", "").strip()
    if group:
        instances = instances.filter(group_id=group)
    if host:
        instances = instances.filter(host__icontains=host)
    page = Paginator(instances, PER_PAGE).get_page(request.GET.get("page"))
    subscriptions = list(progress.with_checkpoints(
        scoped(Subscription, request.user).filter(instance__in=[i.pk for i in page])
        .select_related("instance", "target")).order_by("instance__host", "name"))
    return render_live(request, "console/monitor/list.html", "console/partials/monitor_list.html", {
        "rows": [(i, progress.stored_behind(i), master_position(i)) for i in page], "page": page,
        "subscriptions": subscriptions, "q": host, "group": group,
    })


def _behind(instance):
    """An instance's figures now: from its subscriptions' checkpoints, one query whatever their number."""
    jobs = progress.with_checkpoints(instance.subscriptions.select_related("instance"))
    return progress.instance_behind(instance, jobs)


def monitor_detail(request, pk):
    instance = get_scoped_object(Instance, request.user, pk, queryset=Instance.objects.select_related("group"))
    subscriptions = list(progress.with_checkpoints(instance.subscriptions.select_related("target", "instance")))
    return render_live(request, "console/monitor/detail.html", "console/partials/monitor_status.html", {
        "instance": instance, "windows": FlowWindow.choices, "subscriptions": subscriptions,
        "behind": progress.instance_behind(instance, subscriptions), "master": master_position(instance),
    })


def flow_points(instance, window):
    """[(time iso, events/s, bytes/s)] over one window: the differences between the window's cumulative points."""
    cumulative = [
        (datetime.fromtimestamp(p["time"], tz=dt_timezone.utc), p["count"], p["byte_size"])
        for p in progress.flow_window(instance.pk, window)
    ]
    result = []
    for (t0, c0, b0), (t1, c1, b1) in zip(cumulative, cumulative[1:]):
        seconds = max((t1 - t0).total_seconds(), 1)
        result.append((t1.isoformat(), max(c1 - c0, 0) / seconds, max(b1 - b0, 0) / seconds))
    return result


def monitor_flow(request, pk):
    instance = get_scoped_object(Instance, request.user, pk)
    window = request.GET.get("window", FlowWindow.MINUTE)
    if window not in FLOW_WINDOWS:
        return JsonResponse({"error": f"window must be one of {', '.join(w.value for w in FlowWindow)}"}, status=400)
    points = flow_points(instance, window)
    behind, master = _behind(instance), master_position(instance)
    return JsonResponse({
        "instance": str(instance), "window": window,
        "labels": [p[0] for p in points], "count": [p[1] for p in points], "bytes": [p[2] for p in points],
        "status": {
            "master": master.text, "master_stale_since": master.stale_since.isoformat() if master.stale_since else None,
            "dumped": f"{instance.binlog_file}:{instance.binlog_pos}",
            "lag_bytes": behind.bytes, "lag_seconds": behind.seconds, "lag_subscription": behind.subscription,
            "retry_times": instance.retry_times, "leader": instance.leader, "last_error": instance.last_error,
        },
    })
