"""/subscriptions/<pk>/: one subscription's state, error, positions, lag, flow and full sync, and its actions.

Every action is a confirm page (GET: what will happen, in words) and a POST that calls the same
console.domain.subscriptions operation as the APIs, so the checks (only an admin of the subscription's group)
and the audit row are the APIs' own. A plain member sees the page without its actions; their GETs and POSTs of
an action are 403.
"""
import calendar
import json
from dataclasses import dataclass
from datetime import datetime, timezone as dt_timezone
from typing import Callable

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils.html import format_html

from console.choices import FLOW_WINDOWS, FlowWindow
from console.domain import progress, sources, subscriptions as jobs
from console.domain.errors import DomainError
from console.forms.subscriptions import TIME, FullSyncForm, SetPositionForm
from console.models import Checkpoint, Rule, Subscription
from console.permissions import can_admin_group

from .live import render_live
from .generic import forbid_on_refusal, get_scoped_object, refusal_status, require_group_admin


def _job(request, pk):
    return get_scoped_object(Subscription, request.user, pk,
                             queryset=Subscription.objects.select_related("instance", "target", "group", "mq_rule"))


def lag_of(job) -> dict:
    """The job's own lag: binlog bytes and seconds behind its source's last sampled master position."""
    behind, seconds = progress.job_lag(job)
    return {"bytes": progress.lag_bytes(job.instance, progress.job_progress(job)) if behind else 0,
            "seconds": seconds, "behind": behind}


def subscription_rows(subscriptions) -> list:
    """(job, status, lag) for a list of subscriptions, as the subscription page shows them."""
    return [(job, jobs.job_status(job), lag_of(job)) for job in subscriptions]


def subscription_detail(request, pk):
    job = _job(request, pk)
    fullsync_state = job.fullsync_state if isinstance(job.fullsync_state, dict) else {}
    return render_live(request, "console/subscriptions/detail.html", "console/partials/subscription_live.html", {
        "job": job, "status": jobs.job_status(job), "lag": lag_of(job),
        "checkpoint": Checkpoint.objects.filter(subscription=job).first(),
        "failing_event": (json.dumps(job.error_wait_data, indent=2, sort_keys=True, default=str)
                          if job.error_wait_data else ""),
        "fullsync": job.fullsync_progress, "fullsync_state": fullsync_state,
        "binding": Rule.objects.filter(subscription=job).select_related("rule").first(),
        "is_admin": can_admin_group(request.user, job.group_id),
        "windows": [w.value for w in FlowWindow],
    })


def subscription_flow(request, pk):
    """The subscription's own flow (events/s, bytes/s) over a window, in the monitor's JSON shape (flow.js)."""
    job = _job(request, pk)
    window = request.GET.get("window", FlowWindow.MINUTE)
    if window not in FLOW_WINDOWS:
        return JsonResponse({"error": f"window must be one of {', '.join(w.value for w in FlowWindow)}"}, status=400)
    cumulative = progress.flow_window(job.instance_id, window, subscription_id=job.pk)
    labels, count, size = [], [], []
    for p0, p1 in zip(cumulative, cumulative[1:]):
        seconds = max(p1["time"] - p0["time"], 1)
        labels.append(datetime.fromtimestamp(p1["time"], tz=dt_timezone.utc).isoformat())
        count.append(max(p1["count"] - p0["count"], 0) / seconds)
        size.append(max(p1["byte_size"] - p0["byte_size"], 0) / seconds)
    return JsonResponse({"subscription": job.name, "window": window, "labels": labels, "count": count, "bytes": size})


# --- actions ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Action:
    title: str
    button: str
    consequence: Callable  # (job, binding) -> the confirm page's text (safe HTML)
    run: Callable  # (request, job, form) -> the success message
    form_class: type = None
    danger: bool = False


def _failing_event(job):
    return json.dumps(job.error_wait_data, sort_keys=True, default=str) if job.error_wait_data else ""


def _position(request, job, form):
    data = form.cleaned_data
    if data["mode"] == TIME:
        epoch = calendar.timegm(data["at"].replace(tzinfo=None).timetuple())  # the form's time is UTC
        found = sources.position_at_time(job.instance, epoch)
        jobs.set_position(request.user, job, found["file"], found["pos"])
        return (f"Subscription '{job}' continues from {found['file']}:{found['pos']}, the first transaction at or after"
                f" {sources.timezone_text(epoch)} (written {sources.timezone_text(found['when'])}).")
    jobs.set_position(request.user, job, data["binlog_file"], data["binlog_pos"], data["gtid_set"])
    return f"Subscription '{job}' continues from {data['binlog_file']}:{data['binlog_pos']}."


def _fullsync(request, job, form):
    tables = form.cleaned_data["table_list"]
    jobs.force_fullsync(request.user, job, tables=tables)
    return f"Subscription '{job}' copies {', '.join(tables) if tables else 'all its tables'} again."


def _delete(request, job, form):
    jobs.delete_subscription(request.user, job)
    return f"Deleted subscription '{job}'."


def _binding_note(binding):
    if binding is None:
        return ""
    return format_html(" Its binding to MQ rule <b>{}</b> goes with it.", binding.rule.topic)


ACTIONS = {
    "pause": Action(
        "Pause", "Pause deliveries",
        lambda job, binding: format_html(
            "Deliveries of <b>{}</b> to <b>{}</b> stop until you resume it; the other subscriptions of {} go on. "
            "What {} writes meanwhile is delivered after the resume.", job, job.target, job.instance, job.instance),
        lambda request, job, form: f"Paused subscription '{jobs.pause_job(request.user, job)}'."),
    "resume": Action(
        "Resume", "Resume deliveries",
        lambda job, binding: format_html(
            "<b>{}</b> delivers to <b>{}</b> again, starting with what {} wrote while it was stopped.",
            job, job.target, job.instance),
        lambda request, job, form: f"Resumed subscription '{jobs.resume_job(request.user, job)}'."),
    "miss": Action(
        "Skip the failing event", "Skip the event",
        lambda job, binding: format_html(
            "The event <b>{}</b> keeps failing on (<code>{}</code>) is skipped once: it is never delivered to "
            "<b>{}</b>, and delivery goes on with the next event.", job, _failing_event(job) or "none", job.target),
        lambda request, job, form: f"Subscription '{jobs.miss(request.user, job)}' skips its failing event once.",
        danger=True),
    "position": Action(
        "Set the position", "Set the position",
        lambda job, binding: format_html(
            "<b>{}</b> continues from the position you give: the changes after it are delivered to <b>{}</b> again "
            "(even those delivered already), those before it are never delivered. Its error and failing event are "
            "cleared. The other subscriptions of {} keep their positions.", job, job.target, job.instance),
        _position, form_class=SetPositionForm, danger=True),
    "fullsync": Action(
        "Full sync", "Start the full sync",
        lambda job, binding: format_html(
            "<b>{}</b> copies the current rows of the chosen tables to <b>{}</b> again from scratch, while it keeps "
            "streaming (rows are written as inserts at the copy's position; targets upsert by key).", job, job.target),
        _fullsync, form_class=FullSyncForm),
    "delete": Action(
        "Delete", "Delete the subscription",
        lambda job, binding: format_html(
            "<b>{}</b> is deleted: nothing more is delivered to <b>{}</b> and its position is lost.{} "
            "The other subscriptions of {} go on. This cannot be undone.",
            job, job.target, _binding_note(binding), job.instance),
        _delete, danger=True),
}


def _initial(name, job, checkpoint):
    if name == "position" and checkpoint is not None:
        return {"binlog_file": checkpoint.binlog_file, "binlog_pos": checkpoint.binlog_pos or None}
    if name == "fullsync":
        return {"tables": "\n".join((job.fullsync_state or {}).get("tables") or [])}
    return None


def _confirm_page(request, name, job, form=None, status=200):
    action = ACTIONS[name]
    binding = Rule.objects.filter(subscription=job).select_related("rule").first()
    return render(request, "console/subscriptions/confirm.html", {
        "job": job, "action": action, "name": name, "form": form, "url_name": f"subscription_{name}",
        "consequence": action.consequence(job, binding),
    }, status=status)


def subscription_action(request, pk, action):
    job = _job(request, pk)
    require_group_admin(request.user, job.group_id, f"{ACTIONS[action].title.lower()} this subscription")
    spec = ACTIONS[action]
    if request.method != "POST":
        checkpoint = Checkpoint.objects.filter(subscription=job).first()
        form = spec.form_class(initial=_initial(action, job, checkpoint)) if spec.form_class else None
        return _confirm_page(request, action, job, form)
    form = spec.form_class(request.POST) if spec.form_class else None
    if form is not None and not form.is_valid():
        return _confirm_page(request, action, job, form, status=400)
    try:
        message = spec.run(request, job, form)
    except DomainError as exc:
        forbid_on_refusal(exc)
        if form is not None:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.error(request, exc.message)
        return _confirm_page(request, action, job, form, status=refusal_status(exc))
    messages.success(request, message)
    if action == "delete":
        return redirect("subscription_list")
    return redirect("subscription_detail", pk=job.pk)
