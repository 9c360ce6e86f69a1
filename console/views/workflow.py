"""/workflow/: the approval steps (apply, DBA decision, grant, start dump) as buttons.

Every step is a POST calling one operation of console.domain.instances; its refusal (a DomainError) is
shown as a message with the error's status (409 for a step the state does not allow) and changes nothing.
"""
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from console.filtersets import InstanceFilterSet
from console.forms.operations import DecisionForm
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
        return super().get_queryset().select_related("group")


def workflow_detail(request, pk):
    instance = get_scoped_object(Instance, request.user, pk, queryset=Instance.objects.select_related("group"))
    return render(request, "console/workflow/detail.html", {
        "instance": instance, "is_admin": can_admin_group(request.user, instance.group_id),
        "is_super_admin": is_super_admin(request.user), "decision_form": DecisionForm(),
        "history": AuditLog.objects.filter(object_type="Instance", object_id=instance.pk)[:30],
    })


def _refused(request, instance, error):
    """Show the workflow page again with why the step was refused (a 403 stays a 403 page)."""
    forbid_on_refusal(error)
    messages.error(request, error.message)
    response = workflow_detail(request, instance.pk)
    response.status_code = refusal_status(error)
    return response


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


@require_POST
def decide_view(request, pk):
    """A super admin decides in place of the approval system (demo and sites without one)."""
    instance = get_scoped_object(Instance, request.user, pk)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _refused(request, instance, DomainError("invalid", "Choose approve or refuse."))
    try:
        decide(request.user, instance, form.cleaned_data["decision"] == "approve", form.cleaned_data["comment"])
    except DomainError as exc:
        return _refused(request, instance, exc)
    messages.success(request, f"Instance {instance} is now {instance.status}.")
    return redirect("workflow_detail", pk=instance.pk)


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
    instance = get_scoped_object(Instance, request.user, pk)
    try:
        candidates = start_dump(request.user, instance)
    except DomainError as exc:
        return _refused(request, instance, exc)
    if candidates:
        messages.success(request, f"Dump started at {instance.binlog_file}:{instance.binlog_pos} on {', '.join(candidates)}.")
    else:
        messages.warning(request, f"Dump set online at {instance.binlog_file}:{instance.binlog_pos}, but no live worker is registered yet.")
    return redirect("workflow_detail", pk=instance.pk)
