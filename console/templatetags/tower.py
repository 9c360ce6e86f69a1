"""Small template helpers for the console pages."""
from django import template

from console.permissions import can_admin_group, is_super_admin
from console.tables import status_badge

register = template.Library()


@register.filter
def super_admin(user):
    return is_super_admin(user)


@register.filter
def admin_of(user, group_id):
    return can_admin_group(user, group_id)


@register.filter
def badge(status):
    return status_badge(status)


@register.filter
def bytes_human(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return value
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
