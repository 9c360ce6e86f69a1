"""/instances/: register a source (host:port + dump credentials), see its state and lag, edit, delete."""
import functools

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View
from django.views.decorators.http import require_GET, require_POST

from console.filtersets import InstanceFilterSet
from console.forms.fields import admin_groups
from console.forms.instances import InstanceEditForm, InstanceRegisterForm
from console.models import AuditLog, Checkpoint, Instance
from console.permissions import can_admin_group
from console.auth.redirects import wants_json
from console.domain.errors import DomainError
from console.domain import instances, progress, sources
from console.tables import InstanceTable

from .subscriptions import subscription_rows
from .generic import (
    ObjectDeleteView, ObjectListView, check_posted_group, domain_refusal, forbid_on_refusal, get_scoped_object,
    refusal_status, require_group_admin,
)


class InstanceListView(ObjectListView):
    model = Instance
    table_class = InstanceTable
    filterset_class = InstanceFilterSet
    title = "Instances"
    add_url_name = "instance_add"

    def get_queryset(self):
        return super().get_queryset().prefetch_related("group")  # the page's rows first, then their groups


class InstanceRegisterView(View):
    def render(self, form, status=200, report=None):
        return render(self.request, "console/object_form.html", {
            "title": "Register a MySQL/MariaDB instance", "form": form, "list_url_name": "instance_list",
            "form_tools": "console/instances/_test_connection.html", "test_url": reverse("instance_test_connection"),
            "report": report,
        }, status=status)

    def get(self, request):
        return self.render(InstanceRegisterForm(groups=admin_groups(request.user), initial={"group": request.GET.get("group")}))

    def post(self, request):
        check_posted_group(request)
        form = InstanceRegisterForm(request.POST, groups=admin_groups(request.user))
        if form.is_valid():
            data = form.cleaned_data
            try:
                instance = instances.register_instance(
                    request.user, data["group"], data["host"], data["port"], data["user"], data["password"], data["slave_id"],
                )
            except DomainError as exc:
                forbid_on_refusal(exc)
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
                return self.render(form, status=refusal_status(exc))
            else:
                messages.success(request, f"Registered {instance}. Next: apply for approval on the workflow page.")
                return redirect("instance_detail", pk=instance.pk)
        return self.render(form, status=400)


def instance_detail(request, pk):
    instance = get_scoped_object(Instance, request.user, pk, queryset=Instance.objects.select_related("group"))
    return render(request, "console/instances/detail.html", {
        "instance": instance,
        "is_admin": can_admin_group(request.user, instance.group_id),
        "bindings": instance.rules.select_related("rule"),
        "subscriptions": subscription_rows(progress.with_checkpoints(
            instance.subscriptions.select_related("target", "instance"))),
        "checkpoints": Checkpoint.objects.filter(instance=instance).select_related("subscription"),
        "history": AuditLog.objects.filter(object_type="Instance", object_id=instance.pk)[:20],
    })


class InstanceEditView(View):
    def get_object(self, pk):
        instance = get_scoped_object(Instance, self.request.user, pk)
        require_group_admin(self.request.user, instance.group_id, "edit its instances")
        return instance

    def render(self, instance, form, status=200, report=None):
        return render(self.request, "console/object_form.html", {
            "title": f"Edit instance {instance}", "form": form, "object": instance, "list_url_name": "instance_list",
            "delete_url_name": "instance_delete", "form_tools": "console/instances/_test_connection.html",
            "test_url": reverse("instance_edit_test_connection", args=[instance.pk]), "report": report,
        }, status=status)

    def get(self, request, pk):
        instance = self.get_object(pk)
        return self.render(instance, InstanceEditForm(instance=instance))

    def post(self, request, pk):
        instance = self.get_object(pk)
        form = InstanceEditForm(request.POST, instance=instance)
        if form.is_valid():
            try:
                instances.update_instance(request.user, instance, **form.cleaned_data)
            except DomainError as exc:
                forbid_on_refusal(exc)
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, f"Saved instance {instance}.")
                return redirect("instance_detail", pk=instance.pk)
        return self.render(instance, form, status=400)


class InstanceDeleteView(ObjectDeleteView):
    model = Instance
    list_url_name = "instance_list"

    def refuse_reason(self, instance):
        return domain_refusal(instances.check_delete_instance, self.request.user, instance)

    def remove(self, instance):
        instances.delete_instance(self.request.user, instance)


# --- form helpers: test a connection, the source's schema and a table regex's matches, for pickers ---------

def _report_json(report):
    return {"ok": report.ok, "checks": [{"name": c.name, "ok": c.ok, "reason": c.reason} for c in report.checks]}


def _test_answer(request, form, respond, test):
    """Run `test()` (a GrantReport): JSON for the page's script, else `respond(form, ...)`: the form page again
    with the result."""
    try:
        report = test()
    except DomainError as exc:
        forbid_on_refusal(exc)
        if wants_json(request):
            return JsonResponse({"ok": False, "error": exc.message}, status=refusal_status(exc))
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return respond(form, status=refusal_status(exc))
    if wants_json(request):
        return JsonResponse(_report_json(report))
    return respond(form, report=report)


@require_POST
def test_connection(request):
    """The register form's "Test connection": the values typed, checked as `grant` checks them, nothing saved."""
    check_posted_group(request)
    view = InstanceRegisterView(request=request)
    form = InstanceRegisterForm(request.POST, groups=admin_groups(request.user))
    form.is_valid()  # the test reads what was typed; a field error still shows next to its field
    data = form.cleaned_data
    group = data.get("group")
    if group is None and not admin_groups(request.user).exists():
        forbid_on_refusal(DomainError("forbidden", "Only an admin of a group may test a connection to a source."))
    return _test_answer(request, form, view.render, lambda: sources.test_connection(
        request.user, data.get("host") or request.POST.get("host", ""), data.get("port") or request.POST.get("port"),
        data.get("user", ""), data.get("password", ""), group=group))


@require_POST
def test_edit_connection(request, pk):
    """The edit form's "Test connection": the instance's address with the user/password typed (blank: stored)."""
    view = InstanceEditView(request=request)
    instance = view.get_object(pk)
    form = InstanceEditForm(request.POST, instance=instance)
    form.is_valid()
    data = form.cleaned_data
    respond = functools.partial(view.render, instance)
    return _test_answer(request, form, respond, lambda: sources.test_connection(
        request.user, instance.host, instance.port, data.get("user", ""), data.get("password", ""), instance=instance))


def _json_answer(ask):
    """The answer, or the refusal as JSON (the picker shows it): who may ask was settled by the scoped lookup,
    so a `forbidden` here is Tower declining to send credentials to that source."""
    try:
        return JsonResponse(ask())
    except DomainError as exc:
        return JsonResponse({"error": exc.message}, status=refusal_status(exc))


@require_GET
def schema_json(request, pk):
    """Schemas of the source, or a schema's tables and their columns (?schema=): for the pickers."""
    instance = get_scoped_object(Instance, request.user, pk)
    return _json_answer(lambda: sources.list_schema(request.user, instance, request.GET.get("schema", "")))


@require_GET
def tables_matching_json(request, pk):
    """The source's tables a filter's table regex (?pattern=) matches: the filter form's live preview."""
    instance = get_scoped_object(Instance, request.user, pk)
    return _json_answer(lambda: sources.preview_table_regex(request.user, instance, request.GET.get("pattern", "")))
