"""/workflow/: the approval steps (apply, DBA decision, grant, start dump) as buttons.

Every step is a POST calling one operation of console.domain.instances; its refusal (a DomainError) is
shown as a message with the error's status (409 for a step the state does not allow) and changes nothing.
The DBA's inbox (/workflow/inbox/) lists the requests waiting for a decision across groups (super admins).
"""
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from console.filtersets import InstanceFilterSet
from console.choices import InstanceStatus
from console.forms.operations import DecisionForm, StartDumpForm
from console.domain.errors import DomainError
from console.domain.instances import apply_instance, decide, run_grant, start_dump
from console.models import AuditLog, Instance
from console.permissions import can_admin_group, is_super_admin
from console.tables import WorkflowTable

from .generic import ObjectListView, forbid_on_refusal, get_scoped_object, refusal_status


class WorkflowListView(ObjectListView):
    model = Instance
    table_class = WorkflowTable
    filterset_class = InstanceFilterSet
    title = "Workflow"
    template_name = "console/workflow/list.html"

    def get_queryset(self):
        return super().get_queryset().prefetch_related("group")  # the page's rows first, then their groups


def workflow_detail(request, pk):
    instance = get_scoped_object(Instance, request.user, pk, queryset=Instance.objects.select_related("group"))
    return _detail_page(request, instance)


def _detail_page(request, instance, status=200, decision_form=None, start_form=None):
    return render(request, "console/workflow/detail.html", {
        "instance": instance, "is_admin": can_admin_group(request.user, instance.group_id),
        "is_super_admin": is_super_admin(request.user), "decision_form": decision_form or DecisionForm(),
        "start_form": start_form or StartDumpForm(),
        "history": AuditLog.objects.filter(object_type="Instance", object_id=instance.pk)[:30],
    }, status=status)


def _refused(request, instance, error):
    """Show the workflow page again with why the step was refused (a 403 stays a 403 page)."""
    forbid_on_refusal(error)
    messages.error(request, error.message)
    return _detail_page(request, instance, status=refusal_status(error))


@require_POST
def apply_view(request, pk):
    instance = get_scoped_object(Instance, request.user, pk, queryset=Instance.objects.select_related("group"))
    detail = request.build_absolute_uri(reverse("workflow_detail", args=[instance.pk]))
    callback = request.build_absolute_uri(reverse("workflow_callback"))
    try:
        apply_instance(request.user, instance, callback_url=callback, detail_url=detail)
    except DomainError as exc:
        return _refused(request, instance, exc)
    messages.success(request, f"Applied: request {instance.request_id} waits for the DBA's decision.")
    return redirect("workflow_detail", pk=instance.pk)


CONSEQUENCES = {
    "approve": "It moves to 'unauthorized': its group's admins can then run the grant checks against the source"
               " and start the dump.",
    "refuse": "It moves to 'oppose' with your comment: its group's admins can correct it and apply again.",
}


@require_POST
def decide_view(request, pk):
    """A super admin decides in place of the approval system (demo and sites without one), from the workflow
    page or the inbox: the choice is checked, then confirmed on a page naming the instance and the consequence,
    and only the confirmed POST calls decide."""
    instance = get_scoped_object(Instance, request.user, pk, queryset=Instance.objects.select_related("group"))
    if not is_super_admin(request.user):
        raise PermissionDenied("Only a super admin decides on a request.")
    from_inbox = request.POST.get("next") == "inbox"
    form = DecisionForm(request.POST)
    if not form.is_valid():
        if from_inbox:
            return inbox_page(request, status=400, failed=(instance.pk, form))
        return _detail_page(request, instance, status=400, decision_form=form)
    if instance.status != InstanceStatus.WAIT:
        error = DomainError("state", f"instance {instance} is in state '{instance.status}': no decision is pending")
        return _inbox_refused(request, error) if from_inbox else _refused(request, instance, error)
    choice = form.cleaned_data["decision"]
    if request.POST.get("confirmed") != "yes":
        return render(request, "console/workflow/confirm_decision.html", {
            "instance": instance, "decision": choice, "comment": form.cleaned_data["comment"],
            "consequence": CONSEQUENCES[choice], "from_inbox": from_inbox,
        })
    try:
        decide(request.user, instance, choice == "approve", form.cleaned_data["comment"])
    except DomainError as exc:
        return _inbox_refused(request, exc) if from_inbox else _refused(request, instance, exc)
    messages.success(request, f"Instance {instance} is now {instance.status}.")
    if from_inbox:
        return redirect("workflow_inbox")
    return redirect("workflow_detail", pk=instance.pk)


def _inbox_refused(request, error):
    forbid_on_refusal(error)
    messages.error(request, error.message)
    return inbox_page(request, status=refusal_status(error))


def inbox(request):
    """/workflow/inbox/: the DBA's inbox, every instance waiting for a decision, across groups (super admins)."""
    if not is_super_admin(request.user):
        raise PermissionDenied("Only a super admin decides on requests.")
    return inbox_page(request)


def inbox_page(request, status=200, failed=None):
    """The inbox; `failed` = (instance id, bound DecisionForm) of a row whose decision was not valid."""
    waiting = list(Instance.objects.filter(status=InstanceStatus.WAIT).select_related("group").order_by("update_time"))
    applies = AuditLog.objects.filter(object_type="Instance", action="apply",
                                      object_id__in=[i.pk for i in waiting]).order_by("time", "id")
    last_apply = {entry.object_id: entry for entry in applies}  # the latest apply of each instance wins
    rows = []
    for instance in waiting:
        entry = last_apply.get(instance.pk)
        form = failed[1] if failed and failed[0] == instance.pk else DecisionForm()
        rows.append({"instance": instance, "applicant": entry.actor if entry else "",
                     "since": entry.time if entry else instance.update_time, "form": form})
    rows.sort(key=lambda row: row["since"])
    return render(request, "console/workflow/inbox.html", {"rows": rows}, status=status)


@require_POST
def grant_view(request, pk):
    instance = get_scoped_object(Instance, request.user, pk)
    try:
        report = run_grant(request.user, instance)
    except DomainError as exc:
        return _refused(request, instance, exc)
    if report.ok:
        messages.success(request, f"All source checks passed: {instance} is now agree.")
        return redirect("workflow_detail", pk=instance.pk)
    return render(request, "console/workflow/grant_failed.html", {"instance": instance, "report": report}, status=422)


@require_POST
def start_dump_view(request, pk):
    instance = get_scoped_object(Instance, request.user, pk, queryset=Instance.objects.select_related("group"))
    form = StartDumpForm(request.POST)
    if not form.is_valid():
        return _detail_page(request, instance, status=400, start_form=form)
    try:
        candidates = start_dump(request.user, instance, **form.start_dump_arguments())
    except DomainError as exc:
        forbid_on_refusal(exc)
        if exc.kind == "invalid":  # a position the source does not have: shown on the form's field
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            return _detail_page(request, instance, status=refusal_status(exc), start_form=form)
        return _refused(request, instance, exc)
    follow = " Each subscription created on it copies its tables first." if instance.full_sync_first else ""
    if candidates:
        messages.success(request, f"Dump started at {instance.binlog_file}:{instance.binlog_pos} on"
                                  f" {', '.join(candidates)}.{follow}")
    else:
        messages.warning(request, f"Dump set online at {instance.binlog_file}:{instance.binlog_pos}, but no live"
                                  f" worker is registered yet.{follow}")
    return redirect("workflow_detail", pk=instance.pk)
