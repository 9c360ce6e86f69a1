"""/instances/: register a source (host:port + dump credentials), see its state and lag, edit, delete."""
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views import View

from console.filtersets import InstanceFilterSet
from console.forms.fields import admin_groups
from console.forms.instances import InstanceEditForm, InstanceRegisterForm
from console.models import AuditLog, Checkpoint, Instance
from console.permissions import can_admin_group
from console.domain.errors import DomainError
from console.domain import instances
from console.tables import InstanceTable

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
        return super().get_queryset().select_related("group")


class InstanceRegisterView(View):
    def render(self, form, status=200):
        return render(self.request, "console/object_form.html", {
            "title": "Register a MySQL/MariaDB instance", "form": form, "list_url_name": "instance_list",
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
        "subscriptions": instance.subscriptions.select_related("target"),
        "checkpoints": Checkpoint.objects.filter(instance=instance).select_related("subscription"),
        "history": AuditLog.objects.filter(object_type="Instance", object_id=instance.pk)[:20],
    })


class InstanceEditView(View):
    def get_object(self, pk):
        instance = get_scoped_object(Instance, self.request.user, pk)
        require_group_admin(self.request.user, instance.group_id, "edit its instances")
        return instance

    def render(self, instance, form, status=200):
        return render(self.request, "console/object_form.html", {
            "title": f"Edit instance {instance}", "form": form, "object": instance, "list_url_name": "instance_list",
            "delete_url_name": "instance_delete",
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
