"""List filters (django-filter). Every choice list is scoped to the user's groups by the view."""
import django_filters
from django.db.models import Q

from console.choices import DumpState, FilterType, InstanceStatus, MemberRole, OrderType, SubscriptionState, TargetKind
from console.models import AuditLog, Filter, Group, Instance, Member, MqRule, Rule, Subscription, Target


class ScopedFilterSet(django_filters.FilterSet):
    """`q` searches `search_fields`; `group` offers only the groups the user sees."""

    q = django_filters.CharFilter(method="search", label="Search")
    search_fields = ()

    def __init__(self, *args, groups=None, **kwargs):
        super().__init__(*args, **kwargs)
        if "group" in self.filters and groups is not None:
            self.filters["group"].queryset = groups

    def search(self, queryset, name, value):
        query = Q()
        for field in self.search_fields:
            query |= Q(**{f"{field}__icontains": value})
        return queryset.filter(query)


class GroupFilterSet(ScopedFilterSet):
    search_fields = ("name", "mark")

    class Meta:
        model = Group
        fields = []


class MemberFilterSet(ScopedFilterSet):
    search_fields = ("erp", "email", "org_name")
    group = django_filters.ModelChoiceFilter(queryset=Group.objects.none(), empty_label="Any group")
    role = django_filters.ChoiceFilter(choices=MemberRole.choices, empty_label="Any role")

    class Meta:
        model = Member
        fields = ["group", "role"]


class FilterFilterSet(ScopedFilterSet):
    search_fields = ("name", "table_name", "events")
    group = django_filters.ModelChoiceFilter(queryset=Group.objects.none(), empty_label="Any group")
    type = django_filters.ChoiceFilter(choices=FilterType.choices, empty_label="Any type")

    class Meta:
        model = Filter
        fields = ["group", "type"]


class MqRuleFilterSet(ScopedFilterSet):
    search_fields = ("name", "topic")
    group = django_filters.ModelChoiceFilter(queryset=Group.objects.none(), empty_label="Any group")
    order_type = django_filters.ChoiceFilter(choices=OrderType.choices, empty_label="Any order")

    class Meta:
        model = MqRule
        fields = ["group", "order_type"]


class TargetFilterSet(ScopedFilterSet):
    search_fields = ("name",)
    group = django_filters.ModelChoiceFilter(queryset=Group.objects.none(), empty_label="Any group")
    kind = django_filters.ChoiceFilter(choices=TargetKind.choices, empty_label="Any kind")

    class Meta:
        model = Target
        fields = ["group", "kind"]


class InstanceFilterSet(ScopedFilterSet):
    search_fields = ("host", "leader", "last_error")
    group = django_filters.ModelChoiceFilter(queryset=Group.objects.none(), empty_label="Any group")
    status = django_filters.ChoiceFilter(choices=InstanceStatus.choices, empty_label="Any status")
    state = django_filters.ChoiceFilter(choices=DumpState.choices, empty_label="Any dump state")

    class Meta:
        model = Instance
        fields = ["group", "status", "state"]


class RuleBindingFilterSet(ScopedFilterSet):
    search_fields = ("instance__host", "rule__topic")
    group = django_filters.ModelChoiceFilter(queryset=Group.objects.none(), empty_label="Any group")

    class Meta:
        model = Rule
        fields = ["group"]


class SubscriptionFilterSet(ScopedFilterSet):
    search_fields = ("name", "tables", "error")
    group = django_filters.ModelChoiceFilter(queryset=Group.objects.none(), empty_label="Any group")
    state = django_filters.ChoiceFilter(choices=SubscriptionState.choices, empty_label="Any state")

    class Meta:
        model = Subscription
        fields = ["group", "state"]


class AuditFilterSet(ScopedFilterSet):
    search_fields = ("object_repr", "message", "object_id")
    group = django_filters.ModelChoiceFilter(queryset=Group.objects.none(), empty_label="Any group")
    actor = django_filters.CharFilter(lookup_expr="icontains")
    action = django_filters.CharFilter(lookup_expr="icontains")
    object_type = django_filters.CharFilter(lookup_expr="iexact", label="Object type")
    since = django_filters.IsoDateTimeFilter(field_name="time", lookup_expr="gte", label="Since (ISO time)")
    until = django_filters.IsoDateTimeFilter(field_name="time", lookup_expr="lte", label="Until (ISO time)")

    class Meta:
        model = AuditLog
        fields = ["group", "actor", "action", "object_type"]
