"""/groups/: list, create (creator = you), edit, delete, and a group's page with its members."""
from django.contrib import messages
from django.db.models import Count
from django.shortcuts import redirect, render
from django.views import View

from console.domain import catalog
from console.domain.errors import DomainError
from console.filtersets import GroupFilterSet
from console.forms.groups import GroupForm
from console.models import AuditLog, Group
from console.permissions import can_admin_group, group_role
from console.tables import GroupTable, MemberTable

from .generic import (
    ObjectDeleteView, ObjectListView, domain_refusal, forbid_on_refusal, get_scoped_object, require_group_admin,
)


class GroupListView(ObjectListView):
    model = Group
    table_class = GroupTable
    filterset_class = GroupFilterSet
    title = "Groups"
    group_field = "pk"

    def get_queryset(self):
        return super().get_queryset().annotate(
            member_count=Count("members", distinct=True), instance_count=Count("instances", distinct=True)
        )

    def extra_context(self):
        return {"add_url_name": "group_add"}  # anyone may create a group


class GroupCreateView(View):
    def render(self, form, status=200):
        return render(self.request, "console/object_form.html", {"title": "Add group", "form": form, "list_url_name": "group_list"}, status=status)

    def get(self, request):
        return self.render(GroupForm())

    def post(self, request):
        form = GroupForm(request.POST)
        if form.is_valid():
            try:
                group = catalog.create_group(request.user, **form.values())
            except DomainError as exc:
                forbid_on_refusal(exc)
                form.add_domain_error(exc)
            else:
                messages.success(request, f"Created group '{group}'; you are its creator.")
                return redirect("group_detail", pk=group.pk)
        return self.render(form, status=400)


class GroupEditView(View):
    def get_object(self, pk):
        group = get_scoped_object(Group, self.request.user, pk, group_field="pk")
        require_group_admin(self.request.user, group.pk, "edit it")
        return group

    def render(self, group, form, status=200):
        return render(self.request, "console/object_form.html", {"title": f"Edit group {group}", "form": form, "list_url_name": "group_list"}, status=status)

    def get(self, request, pk):
        group = self.get_object(pk)
        return self.render(group, GroupForm(instance=group))

    def post(self, request, pk):
        group = self.get_object(pk)
        data = request.POST.copy()
        data.setdefault("name", group.name)  # a post that only changes the description keeps the name
        form = GroupForm(data, instance=group)
        if form.is_valid():
            try:
                group = catalog.update_group(request.user, group, **form.values())
            except DomainError as exc:
                forbid_on_refusal(exc)
                form.add_domain_error(exc)
            else:
                messages.success(request, f"Saved group '{group}'.")
                return redirect("group_detail", pk=group.pk)
        return self.render(group, form, status=400)


class GroupDeleteView(ObjectDeleteView):
    model = Group
    list_url_name = "group_list"

    def get_object(self, pk):
        group = get_scoped_object(Group, self.request.user, pk, group_field="pk")
        self.reason = domain_refusal(catalog.check_delete_group, self.request.user, group)  # 403 if not allowed
        return group

    def refuse_reason(self, group):
        return self.reason

    def remove(self, group):
        catalog.delete_group(self.request.user, group)


def group_detail(request, pk):
    group = get_scoped_object(Group, request.user, pk, group_field="pk")
    members = MemberTable(group.members.all(), exclude=("group",))
    members.request = request
    return render(request, "console/groups/detail.html", {
        "group": group, "members": members, "role": group_role(request.user, group.pk),
        "is_admin": can_admin_group(request.user, group.pk),
        "counts": {
            "instances": group.instances.count(), "filters": group.filters.count(), "MQ rules": group.mq_rules.count(),
            "targets": group.targets.count(), "subscriptions": group.subscriptions.count(),
        },
        "recent": AuditLog.objects.filter(group_id=group.pk)[:10],
    })
