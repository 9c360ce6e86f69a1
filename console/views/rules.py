"""/filters/ and /mq-rules/: which events pass, and where they go."""
from django.contrib import messages

from console.filtersets import FilterFilterSet, MqRuleFilterSet
from console.forms.rules import FilterForm, MqRuleForm
from console.models import Filter, MqFilterRelation, MqRule
from console.domain.sources import tables_matched_by_no_filter
from console.tables import FilterTable, MqRuleTable

from .generic import ObjectDeleteView, ObjectEditView, ObjectListView


class FilterListView(ObjectListView):
    model = Filter
    table_class = FilterTable
    filterset_class = FilterFilterSet
    title = "Filters"
    add_url_name = "filter_add"


class FilterEditView(ObjectEditView):
    model = Filter
    form_class = FilterForm
    title = "filter"
    list_url_name = "filter_list"
    delete_url_name = "filter_delete"

    def after_save(self, flt):
        misses = tables_matched_by_no_filter(flt)
        if misses:
            messages.warning(self.request, f"Filter '{flt}' matches no table on {', '.join(misses)}: check its regex.")


class FilterDeleteView(ObjectDeleteView):
    model = Filter
    list_url_name = "filter_list"


class MqRuleListView(ObjectListView):
    model = MqRule
    table_class = MqRuleTable
    filterset_class = MqRuleFilterSet
    title = "MQ rules"
    add_url_name = "mq_rule_add"

    def get_queryset(self):
        return super().get_queryset().prefetch_related("filters")


class MqRuleEditView(ObjectEditView):
    model = MqRule
    form_class = MqRuleForm
    title = "MQ rule"
    list_url_name = "mq_rule_list"
    delete_url_name = "mq_rule_delete"

    def save(self, form):
        rule = form.save()
        # The relation's id is md5(mq_id + filter_id), computed in save(): create rows one by one.
        wanted = {f.pk for f in form.cleaned_data.get("linked_filters") or ()}
        MqFilterRelation.objects.filter(mq=rule).exclude(filter_id__in=wanted).delete()
        have = set(MqFilterRelation.objects.filter(mq=rule).values_list("filter_id", flat=True))
        for filter_id in wanted - have:
            MqFilterRelation(mq=rule, filter_id=filter_id).save()
        return rule


class MqRuleDeleteView(ObjectDeleteView):
    model = MqRule
    list_url_name = "mq_rule_list"
