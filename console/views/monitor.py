"""/monitor/: master vs dumped position, lag, retries, leader, last error; flow charts per window."""
import importlib
from datetime import timedelta

from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone

from console.choices import FLOW_WINDOWS, FlowWindow, InstanceStatus
from console.models import FlowSample, Instance, Subscription

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
    """[(time iso, events/s, bytes/s)] for one window: from workers.flow when the engine offers it, else FlowSample."""
    try:
        flow = importlib.import_module("workers.flow")
    except ImportError:
        flow = None
    if flow is not None and hasattr(flow, "flow_window"):
        try:
            return _normalise(flow.flow_window(instance, window))
        except Exception:  # the engine's helper changed shape: fall back to the samples
            pass
    points, step = FLOW_WINDOWS[window]
    since = timezone.now() - timedelta(seconds=points * step)
    samples = (
        FlowSample.objects.filter(instance=instance, subscription__isnull=True, time__gte=since)
        .order_by("time").values_list("time", "count", "byte_size")
    )
    # Samples are cumulative per (schema, table): sum per timestamp, then difference consecutive totals.
    totals = {}
    for time, count, size in samples:
        c, b = totals.get(time, (0, 0))
        totals[time] = (c + count, b + size)
    result, previous = [], None
    for time in sorted(totals):
        if previous is not None:
            seconds = max((time - previous[0]).total_seconds(), 1)
            result.append((time.isoformat(), max(totals[time][0] - previous[1][0], 0) / seconds,
                           max(totals[time][1] - previous[1][1], 0) / seconds))
        previous = (time, totals[time])
    return result


def _normalise(points):
    out = []
    for p in points or ():
        if isinstance(p, dict):
            t = p.get("time") or p.get("Time")
            out.append((t.isoformat() if hasattr(t, "isoformat") else str(t),
                        p.get("count", p.get("Count", 0)), p.get("byte_size", p.get("ByteSize", 0))))
        else:
            t = p[0]
            out.append((t.isoformat() if hasattr(t, "isoformat") else str(t), p[1], p[2] if len(p) > 2 else 0))
    return out


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
