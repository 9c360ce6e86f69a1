"""/: instances by state, lag leaders, recent errors (all scoped to the user's groups); the figures are live."""
from django.db.models import Count

from console.choices import InstanceStatus
from console.domain import progress
from console.models import AuditLog, Filter, Group, Instance, MqRule, Subscription, Target
from console.permissions import visible_group_ids

from .generic import scoped
from .live import render_live


def dashboard(request):
    user = request.user
    instances = scoped(Instance, user)
    by_status = dict(instances.values_list("status").annotate(n=Count("id")))
    group_ids = visible_group_ids(user)
    audit = AuditLog.objects.all() if group_ids is None else AuditLog.objects.filter(group_id__in=group_ids)
    # An instance is as far behind as its furthest subscription: ranked on what the status sampler stored with
    # its last sample (console.domain.progress.behind_fields), in SQL, at any number of instances.
    leaders = (instances.filter(status=InstanceStatus.DUMP).select_related("group")
               .order_by("-behind_seconds", "-behind_bytes", "host", "port")[:10])
    return render_live(request, "console/dashboard.html", "console/partials/dashboard_live.html", {
        "by_status": [(s.value, by_status.get(s.value, 0)) for s in InstanceStatus],
        "lag_leaders": [(i, progress.stored_behind(i)) for i in leaders],
        "instance_errors": instances.exclude(last_error="").select_related("group").order_by("-status_time")[:10],
        "subscription_errors": scoped(Subscription, user).exclude(error="").select_related("instance")[:10],
        "counts": {
            "groups": Group.objects.count() if group_ids is None else len(set(group_ids)),
            "instances": instances.count(), "filters": scoped(Filter, user).count(),
            "MQ rules": scoped(MqRule, user).count(), "targets": scoped(Target, user).count(),
            "subscriptions": scoped(Subscription, user).count(),
        },
        "recent": audit.filter(action__in=("apply", "approve", "refuse", "grant", "start_dump", "grant_failed"))[:10],
    })
