"""/members/: who belongs to which group. Group admins add, remove and switch user <-> admin.

The rules (the creator's membership is changed only by a super admin, 'creator' is never assigned) are
console.domain.catalog's.
"""
from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views import View

from console.domain import accounts, catalog
from console.domain.errors import DomainError
from console.filtersets import MemberFilterSet
from console.forms.fields import admin_groups
from console.forms.groups import MemberForm
from console.models import Member
from console.tables import MemberTable

from .generic import ObjectListView, check_posted_group, forbid_on_refusal, get_scoped_object, refusal_status
from .groups import group_detail


class MemberListView(ObjectListView):
    model = Member
    table_class = MemberTable
    filterset_class = MemberFilterSet
    title = "Members"
    add_url_name = "member_add"


class MemberAddView(View):
    def render(self, form, status=200):
        return render(self.request, "console/object_form.html", {"title": "Add member", "form": form, "list_url_name": "member_list"}, status=status)

    def get(self, request):
        return self.render(MemberForm(groups=admin_groups(request.user), initial={"group": request.GET.get("group")}))

    def post(self, request):
        check_posted_group(request)
        form = MemberForm(request.POST, groups=admin_groups(request.user))
        if form.is_valid():
            values = form.values()
            try:
                member, link = accounts.invite_member(request.user, values.pop("group"), **values)
            except DomainError as exc:
                forbid_on_refusal(exc)
                form.add_domain_error(exc)
            else:
                # Held server-side for the one page that shows it (as Django's own reset view holds its token),
                # never in a URL; the page drops it once shown.
                request.session[INVITE_SESSION_KEY] = {"member": member.pk, "link": link or ""}
                return redirect("member_invited", pk=member.pk)
        return self.render(form, status=400)


INVITE_SESSION_KEY = "tower_member_invite"


def member_invited(request, pk):
    """After adding a member: how they sign in (SSO, the set-password link shown this once, or their password)."""
    member = get_scoped_object(Member, request.user, pk, queryset=Member.objects.select_related("group"))
    held = request.session.get(INVITE_SESSION_KEY) or {}
    if held.get("member") == member.pk:
        del request.session[INVITE_SESSION_KEY]
    link = held.get("link") if held.get("member") == member.pk else None
    return render(request, "console/members/invited.html", {
        "member": member, "link": request.build_absolute_uri(link) if link else "", "shown": link is not None,
        "sso": accounts.sso_signs_in(), "expires_hours": settings.PASSWORD_RESET_TIMEOUT // 3600,
    })


def _refused(request, member, error):
    """The group's page again with why (a 403 stays a 403 page)."""
    forbid_on_refusal(error)
    messages.error(request, error.message)
    response = group_detail(request, member.group_id)
    response.status_code = refusal_status(error)
    return response


class MemberRoleView(View):
    """POST: switch a member between user and admin."""

    def post(self, request, pk):
        member = get_scoped_object(Member, request.user, pk)
        try:
            catalog.change_member_role(request.user, member, request.POST.get("role"))
        except DomainError as exc:
            return _refused(request, member, exc)
        messages.success(request, f"{member.erp} is now {member.role} of {member.group}.")
        return redirect("group_detail", pk=member.group_id)


class MemberRemoveView(View):
    def get(self, request, pk):
        member = get_scoped_object(Member, request.user, pk)
        try:
            catalog.check_change_member(request.user, member)
        except DomainError as exc:
            forbid_on_refusal(exc)
        return render(request, "console/confirm_delete.html", {"object": member, "kind": "membership", "list_url_name": "member_list"})

    def post(self, request, pk):
        member = get_scoped_object(Member, request.user, pk)
        erp, group_id = member.erp, member.group_id
        try:
            catalog.remove_member(request.user, member)
        except DomainError as exc:
            return _refused(request, member, exc)
        messages.success(request, f"Removed {erp} from the group.")
        return redirect("group_detail", pk=group_id)
