"""Who is asking: a Tower user, BinLake's manager (trusted with every group), or a trusted system party.

Every domain operation takes a Caller, so one permission rule serves the console, the native API, the
compatibility APIs, the DBA callback and management commands alike.
"""
from dataclasses import dataclass
from typing import Optional

from console.permissions import can_admin_group, can_view_group, is_super_admin, scope_to_user

MANAGER_ACTOR = "manager"


@dataclass
class Caller:
    user: Optional[object] = None  # Django user; None for the manager token and system parties
    is_manager: bool = False
    # A trusted party that is not a person: the signed DBA callback ("dbs:<approver>"), a management command.
    system: str = ""

    @property
    def actor(self):
        """What AuditLog and the Instance methods get: the user, or the party's name (trusted)."""
        if self.is_manager:
            return MANAGER_ACTOR
        return self.system or self.user

    @property
    def is_super(self) -> bool:
        return self.is_manager or bool(self.system) or is_super_admin(self.user)

    def can_view(self, group_id) -> bool:
        return self.is_manager or bool(self.system) or can_view_group(self.user, group_id)

    def can_admin(self, group_id) -> bool:
        return self.is_manager or bool(self.system) or can_admin_group(self.user, group_id)

    def scope(self, queryset, group_field="group"):
        if self.is_manager or self.system:
            return queryset
        return scope_to_user(queryset, self.user, group_field)


def as_caller(who) -> Caller:
    """A Caller for a user, a Caller (as is), the manager's name or a system party's name."""
    if isinstance(who, Caller):
        return who
    if who is None:
        return Caller(system="system")
    if isinstance(who, str):
        return Caller(is_manager=True) if who == MANAGER_ACTOR else Caller(system=who)
    return Caller(user=who)
