"""Who may do what. Views, the API and model transitions all ask here."""
from django.db.models import QuerySet

from console.choices import GROUP_ADMIN_ROLES


def is_super_admin(user) -> bool:
    from console.models import SuperAdmin

    if user is None or not getattr(user, "is_authenticated", False):
        return False
    cached = getattr(user, "_tower_super_admin", None)
    if cached is None:
        cached = SuperAdmin.objects.filter(erp=user.username).exists()
        user._tower_super_admin = cached
    return cached


def group_role(user, group_id):
    from console.models import Member

    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return Member.objects.filter(erp=user.username, group_id=group_id).values_list("role", flat=True).first()


def admin_group_ids(user) -> list:
    """Ids of the groups `user` administers as a member (super admins administer every group besides)."""
    from console.models import Member

    if user is None or not getattr(user, "is_authenticated", False):
        return []
    return list(Member.objects.filter(erp=user.username, role__in=GROUP_ADMIN_ROLES).values_list("group_id", flat=True))


def can_view_group(user, group_id) -> bool:
    return is_super_admin(user) or group_role(user, group_id) is not None


def can_admin_group(user, group_id) -> bool:
    return is_super_admin(user) or group_role(user, group_id) in GROUP_ADMIN_ROLES


def visible_group_ids(user):
    """Ids of the groups the user belongs to; None means every group (super admin)."""
    from console.models import Member

    if is_super_admin(user):
        return None
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    return list(Member.objects.filter(erp=user.username).values_list("group_id", flat=True))


def scope_to_user(queryset: QuerySet, user, group_field: str = "group") -> QuerySet:
    ids = visible_group_ids(user)
    if ids is None:
        return queryset
    return queryset.filter(**{f"{group_field}__in": ids})
