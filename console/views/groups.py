"""/groups/: list, create (creator = you), edit, delete, and a group's page with its members."""
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count
from django.shortcuts import redirect, render
from django.views import View

from console.choices import MemberRole
from console.filtersets import GroupFilterSet
from console.forms.groups import GroupForm
from console.models import AuditLog, Group, Member
from console.permissions import can_admin_group, group_role, is_super_admin
from console.domain.audit import record_change, snapshot
from console.tables import GroupTable, MemberTable

from .generic import ObjectDeleteView, ObjectListView, get_scoped_object, require_group_admin


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
    def get(self, request):
        return render(request, "console/object_form.html", {"title": "Add group", "form": GroupForm(), "list_url_name": "group_list"})

    def post(self, request):
        form = GroupForm(request.POST)
        if not form.is_valid():
            return render(request, "console/object_form.html", {"title": "Add group", "form": form, "list_url_name": "group_list"}, status=400)
        with transaction.atomic():
            group = form.save()
            creator = Member.objects.create(
                erp=request.user.username, email=request.user.email, group=group, role=MemberRole.CREATOR,
            )
            record_change(request.user, "group_create", group, group_id=group.pk)
            record_change(request.user, "member_add", creator)
        messages.success(request, f"Created group '{group}'; you are its creator.")
        return redirect("group_detail", pk=group.pk)


class GroupEditView(View):
    def get_object(self, pk):
        group = get_scoped_object(Group, self.request.user, pk, group_field="pk")
        require_group_admin(self.request.user, group.pk, "edit it")
        return group

    def get(self, request, pk):
        group = self.get_object(pk)
        return render(request, "console/object_form.html", {"title": f"Edit group {group}", "form": GroupForm(instance=group), "list_url_name": "group_list"})

    def post(self, request, pk):
        group = self.get_object(pk)
        before = snapshot(group)
        data = request.POST.copy()
        data.setdefault("name", group.name)  # a post that only changes the description keeps the name
        form = GroupForm(data, instance=group)
        if not form.is_valid():
            return render(request, "console/object_form.html", {"title": f"Edit group {group}", "form": form, "list_url_name": "group_list"}, status=400)
        with transaction.atomic():
            # A new name re-keys the group (id = md5(name)); its members, rules, instances and audit rows follow.
            group = form.save()
            record_change(request.user, "group_update", group, before=before, group_id=group.pk)
        messages.success(request, f"Saved group '{group}'.")
        return redirect("group_detail", pk=group.pk)


class GroupDeleteView(ObjectDeleteView):
    model = Group
    list_url_name = "group_list"

    def get_object(self, pk):
        group = get_scoped_object(Group, self.request.user, pk, group_field="pk")
        if not (is_super_admin(self.request.user) or group_role(self.request.user, group.pk) == MemberRole.CREATOR):
            raise PermissionDenied("Only the group's creator or a super admin may delete a group.")
        return group

    def refuse_reason(self, group):
        if group.instances.exists():
            return f"Group '{group}' still has {group.instances.count()} instance(s): delete or move them first."
        return None


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
