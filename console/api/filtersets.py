"""django-filter filter sets of the native API (?field=value on list endpoints)."""
import django_filters

from console.models import AuditLog, Filter, Group, Instance, Member, MqRule, Subscription, Target


class GroupFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Group
        fields = ["name"]


class MemberFilter(django_filters.FilterSet):
    class Meta:
        model = Member
        fields = ["group", "erp", "role"]


class FilterFilter(django_filters.FilterSet):
    class Meta:
        model = Filter
        fields = ["group", "type", "table_name"]


class MqRuleFilter(django_filters.FilterSet):
    class Meta:
        model = MqRule
        fields = ["group", "topic", "order_type"]


class TargetFilter(django_filters.FilterSet):
    class Meta:
        model = Target
        fields = ["group", "name", "kind"]


class InstanceFilter(django_filters.FilterSet):
    class Meta:
        model = Instance
        fields = ["group", "host", "port", "status", "state", "leader"]


class SubscriptionFilter(django_filters.FilterSet):
    class Meta:
        model = Subscription
        fields = ["group", "instance", "target", "name", "state", "phase"]


class AuditLogFilter(django_filters.FilterSet):
    since = django_filters.IsoDateTimeFilter(field_name="time", lookup_expr="gte")

    class Meta:
        model = AuditLog
        fields = ["group", "actor", "action", "object_type", "object_id"]
