from django import forms

from console.choices import ALL_EVENTS, EventType
from console.models import Filter, MqRule

from .fields import comma_list
from .parsing import ParsingModelForm


class FilterForm(ParsingModelForm):
    events = forms.MultipleChoiceField(
        choices=EventType.choices, required=False, widget=forms.CheckboxSelectMultiple,
        help_text="None ticked = all events.",
    )

    class Meta:
        model = Filter
        fields = ["group", "name", "type", "table_name", "events", "white_columns", "black_columns", "fake_cols", "business_keys"]
        labels = {"table_name": "Table regex (schema.table)", "fake_cols": "Fake columns"}
        help_texts = {
            "white_columns": "Comma separated columns to keep (empty = all).",
            "black_columns": "Comma separated columns to drop.",
            "business_keys": "Comma separated columns used as the message key.",
        }
        widgets = {"white_columns": forms.TextInput(), "black_columns": forms.TextInput(), "fake_cols": forms.TextInput()}

    def __init__(self, *args, groups=None, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            del self.fields["group"]  # the group is part of the id; fixed once created
            self.initial["events"] = [] if self.instance.events == ALL_EVENTS else comma_list(self.instance.events)
        elif groups is not None:
            self.fields["group"].queryset = groups


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
