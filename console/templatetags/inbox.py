"""The DBA inbox's count for the navigation bar (super admins see it on every page)."""
from django import template

from console.choices import InstanceStatus
from console.models import Instance

register = template.Library()


@register.simple_tag
def pending_decisions():
    """How many instances wait for the DBA's decision, across groups."""
    return Instance.objects.filter(status=InstanceStatus.WAIT).count()
