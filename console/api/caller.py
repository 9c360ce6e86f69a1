"""The party behind an API request: a Tower user, or BinLake's manager (trusted with every group)."""
from dataclasses import dataclass
from typing import Optional

from console.permissions import can_admin_group, can_view_group, is_super_admin, scope_to_user

MANAGER_ACTOR = "manager"


@dataclass
class Caller:
    user: Optional[object] = None  # Django user; None for the manager token
    is_manager: bool = False

    @property
    def actor(self):
        """What AuditLog and the Instance methods get: the user, or the string 'manager' (trusted)."""
        return MANAGER_ACTOR if self.is_manager else self.user

    @property
    def is_super(self) -> bool:
        return self.is_manager or is_super_admin(self.user)

    def can_view(self, group_id) -> bool:
        return self.is_manager or can_view_group(self.user, group_id)

    def can_admin(self, group_id) -> bool:
        return self.is_manager or can_admin_group(self.user, group_id)

    def scope(self, queryset, group_field="group"):
        return queryset if self.is_manager else scope_to_user(queryset, self.user, group_field)
