"""/filters/ and /mq-rules/: which events pass, and where they go."""
from django.contrib import messages

from console.domain import catalog
from console.domain.sources import tables_matched_by_no_filter
from console.filtersets import FilterFilterSet, MqRuleFilterSet
from console.forms.rules import FilterForm, MqRuleForm
from console.models import Filter, MqRule
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

    def write(self, form, flt):
        values = form.values()
        if flt._state.adding:
            return catalog.create_filter(self.request.user, values.pop("group"), **values)
        return catalog.update_filter(self.request.user, flt, **values)

    def after_save(self, flt):
        misses = tables_matched_by_no_filter(flt)
        if misses:
            messages.warning(self.request, f"Filter '{flt}' matches no table on {', '.join(misses)}: check its regex.")


class FilterDeleteView(ObjectDeleteView):
    model = Filter
    list_url_name = "filter_list"

    def remove(self, flt):
        catalog.delete_filter(self.request.user, flt)


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

    def write(self, form, rule):
        values, filters = form.values(), form.cleaned_data.get("linked_filters") or ()
        if rule._state.adding:
            return catalog.create_mq_rule(self.request.user, values.pop("group"), filters=filters, **values)
        return catalog.update_mq_rule(self.request.user, rule, filters=filters, **values)


class MqRuleDeleteView(ObjectDeleteView):
    model = MqRule
    list_url_name = "mq_rule_list"

    def remove(self, rule):
        catalog.delete_mq_rule(self.request.user, rule)
