"""/monitor/: master vs dumped position, lag, retries, leader, last error; flow charts per window."""
from datetime import datetime
from datetime import timezone as dt_timezone

from django.http import JsonResponse
from django.shortcuts import render

from console.choices import FLOW_WINDOWS, FlowWindow, InstanceStatus
from console.domain import progress
from console.models import Instance, Subscription

from .generic import get_scoped_object, scoped


def monitor_list(request):
    instances = scoped(Instance, request.user).filter(status=InstanceStatus.DUMP).select_related("group")
    group = request.GET.get("group")
    if group:
        instances = instances.filter(group_id=group)
    return render(request, "console/monitor/list.html", {
        "instances": instances.order_by("-lag_seconds", "host"),
        "subscriptions": scoped(Subscription, request.user).filter(instance__in=instances).select_related("instance", "target"),
    })


def monitor_detail(request, pk):
    instance = get_scoped_object(Instance, request.user, pk, queryset=Instance.objects.select_related("group"))
    return render(request, "console/monitor/detail.html", {
        "instance": instance, "windows": [w.value for w in FlowWindow],
        "subscriptions": instance.subscriptions.select_related("target"),
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
    return JsonResponse({
        "instance": str(instance), "window": window,
        "labels": [p[0] for p in points], "count": [p[1] for p in points], "bytes": [p[2] for p in points],
        "status": {
            "master": f"{instance.master_file}:{instance.master_pos}", "dumped": f"{instance.binlog_file}:{instance.binlog_pos}",
            "lag_bytes": instance.lag_bytes, "lag_seconds": instance.lag_seconds, "retry_times": instance.retry_times,
            "leader": instance.leader, "last_error": instance.last_error,
        },
    })
