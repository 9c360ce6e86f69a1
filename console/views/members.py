"""/members/: who belongs to which group. Group admins add, remove and switch user <-> admin.

The creator's membership can only be changed by a super admin, so a group
always keeps someone who can administer it.
"""
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import redirect, render
from django.views import View

from console.choices import MemberRole
from console.filtersets import MemberFilterSet
from console.forms.fields import admin_groups
from console.forms.groups import MemberForm, MemberRoleForm
from console.models import Member
from console.permissions import is_super_admin
from console.domain.audit import record_change, snapshot
from console.tables import MemberTable

from .generic import ObjectListView, check_posted_group, get_scoped_object, require_group_admin


class MemberListView(ObjectListView):
    model = Member
    table_class = MemberTable
    filterset_class = MemberFilterSet
    title = "Members"
    add_url_name = "member_add"


def _editable_member(request, pk):
    member = get_scoped_object(Member, request.user, pk)
    require_group_admin(request.user, member.group_id, "change its members")
    if member.role == MemberRole.CREATOR and not is_super_admin(request.user):
        raise PermissionDenied("The creator's membership can only be changed by a super admin.")
    return member


class MemberAddView(View):
    def render(self, form, status=200):
        return render(self.request, "console/object_form.html", {"title": "Add member", "form": form, "list_url_name": "member_list"}, status=status)

    def get(self, request):
        return self.render(MemberForm(groups=admin_groups(request.user), initial={"group": request.GET.get("group")}))

    def post(self, request):
        check_posted_group(request)
        form = MemberForm(request.POST, groups=admin_groups(request.user))
        if not form.is_valid():
            return self.render(form, status=400)
        with transaction.atomic():
            member = form.save()
            record_change(request.user, "member_add", member)
        messages.success(request, f"Added {member.erp} to {member.group} as {member.role}.")
        return redirect("group_detail", pk=member.group_id)


class MemberRoleView(View):
    """POST: switch a member between user and admin."""

    def post(self, request, pk):
        member = _editable_member(request, pk)
        form = MemberRoleForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose user or admin.")
            return redirect("group_detail", pk=member.group_id)
        before = snapshot(member)
        with transaction.atomic():
            member.role = form.cleaned_data["role"]
            member.save()
            record_change(request.user, "member_role", member, before=before)
        messages.success(request, f"{member.erp} is now {member.role} of {member.group}.")
        return redirect("group_detail", pk=member.group_id)


class MemberRemoveView(View):
    def get(self, request, pk):
        member = _editable_member(request, pk)
        return render(request, "console/confirm_delete.html", {"object": member, "kind": "membership", "list_url_name": "member_list"})

    def post(self, request, pk):
        member = _editable_member(request, pk)
        group_id, before = member.group_id, snapshot(member)
        with transaction.atomic():
            record_change(request.user, "member_remove", member, before=before)
            member.delete()
        messages.success(request, f"Removed {before['erp']} from the group.")
        return redirect("group_detail", pk=group_id)
