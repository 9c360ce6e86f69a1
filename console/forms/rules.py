from django import forms

from console.choices import ALL_EVENTS, EventType
from console.models import Filter, Instance, MqRule

from . import pickers
from .fields import comma_list
from .parsing import ParsingModelForm


# What each event type is, for people who do not know Bifrost/BinLake's names for them.
EVENT_LABELS = {
    EventType.ERASE: "ERASE (DROP TABLE)", EventType.QUERY: "QUERY (other statements)",
    EventType.CINDEX: "CINDEX (CREATE INDEX)", EventType.DINDEX: "DINDEX (DROP INDEX)",
}


class FilterForm(ParsingModelForm):
    events = forms.MultipleChoiceField(
        choices=[(value, EVENT_LABELS.get(value, label)) for value, label in EventType.choices], required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Which changes pass the filter. None ticked = all of them. INSERT, UPDATE and DELETE are row "
                  "changes; the others are DDL statements.",
    )
    source = forms.ModelChoiceField(
        queryset=Instance.objects.none(), required=False, label="Pick names from instance",
        help_text="Optional, not saved: choose one of your instances to pick schemas, tables and columns from its "
                  "server and to see which of its tables the table regex matches.",
    )

    field_order = ["group", "name", "type", "source", "table_name"]

    class Meta:
        model = Filter
        fields = ["group", "name", "type", "table_name", "events", "white_columns", "black_columns", "fake_cols", "business_keys"]
        labels = {"table_name": "Table regex (schema.table)", "fake_cols": "Fake columns"}
        help_texts = {
            "type": "WHITE: changes of matching tables pass; BLACK: they are dropped.",
            "table_name": r"A regular expression over schema.table, matched whole, e.g. shop\.orders or "
                          r"shop\.orders_\d+ (sharded tables) or .*\..* (everything).",
            "white_columns": "Comma separated columns to keep, e.g. id,status,amount (empty = all).",
            "black_columns": "Comma separated columns to drop, e.g. password,token.",
            "fake_cols": "Constant columns added to every row, as name:value pairs, e.g. region:eu,source:shop.",
            "business_keys": "Comma separated columns that make the message key (keeps one row's changes in order), "
                             "e.g. order_id.",
        }
        widgets = {"white_columns": forms.TextInput(), "black_columns": forms.TextInput(), "fake_cols": forms.TextInput()}

    def __init__(self, *args, groups=None, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            del self.fields["group"]  # the group is part of the id; fixed once created
            self.initial["events"] = [] if self.instance.events == ALL_EVENTS else comma_list(self.instance.events)
            scope = [self.instance.group_id]
        else:
            if groups is not None:
                self.fields["group"].queryset = groups
            scope = self.fields["group"].queryset
        self.fields["source"].queryset = Instance.objects.filter(group__in=scope).select_related("group")
        self.fields["source"].label_from_instance = lambda o: f"{o} ({o.group})"
        pickers.hook(self, "source", table_name="table-regex", white_columns="columns", black_columns="columns",
                     business_keys="columns")


class MqRuleForm(ParsingModelForm):
    linked_filters = forms.ModelMultipleChoiceField(
        queryset=Filter.objects.none(), required=False, widget=forms.CheckboxSelectMultiple, label="Filters",
    )

    class Meta:
        model = MqRule
        fields = ["group", "name", "topic", "order_type", "with_trx", "producer_class", "paras"]
        labels = {"with_trx": "With transaction markers", "paras": "Producer parameters"}
        widgets = {"paras": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, groups=None, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            del self.fields["group"]
            self.fields["linked_filters"].queryset = Filter.objects.filter(group_id=self.instance.group_id)
            self.initial["linked_filters"] = list(self.instance.filters.values_list("pk", flat=True))
        else:
            if groups is not None:
                self.fields["group"].queryset = groups
            self.fields["linked_filters"].queryset = Filter.objects.filter(group__in=self.fields["group"].queryset)
