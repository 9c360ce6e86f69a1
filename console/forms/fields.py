"""Form helpers shared by several forms."""
from django import forms

from console.models import Group
from console.permissions import is_super_admin, visible_group_ids
from console.choices import GROUP_ADMIN_ROLES


def admin_groups(user):
    """Groups the user may create objects in."""
    if is_super_admin(user):
        return Group.objects.all()
    from console.models import Member

    ids = Member.objects.filter(erp=user.username, role__in=GROUP_ADMIN_ROLES).values_list("group_id", flat=True)
    return Group.objects.filter(pk__in=list(ids))


def visible_groups(user):
    ids = visible_group_ids(user)
    return Group.objects.all() if ids is None else Group.objects.filter(pk__in=ids)


def comma_list(value):
    return [item.strip() for item in (value or "").split(",") if item.strip()]


class SecretField(forms.CharField):
    """Write-only: never rendered back; blank on an edit form means 'keep the stored value'."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("strip", False)
        kwargs.setdefault("widget", forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}))
        super().__init__(*args, **kwargs)
