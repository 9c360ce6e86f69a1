import re

from django import forms

from console.choices import ALL_EVENTS, EventType
from console.ids import md5_id
from console.models import Filter, MqRule

from .fields import comma_list

COLUMN_RE = re.compile(r"^[A-Za-z0-9_$]+$")


class FilterForm(forms.ModelForm):
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

    def clean_table_name(self):
        value = self.cleaned_data["table_name"].strip()
        try:
            re.compile(value)
        except re.error as exc:
            raise forms.ValidationError(f"Not a valid regular expression: {exc}")
        return value

    def clean_events(self):
        chosen = self.cleaned_data["events"]
        if not chosen or len(chosen) == len(EventType.choices):
            return ALL_EVENTS
        return ",".join(chosen)

    def _columns(self, name):
        columns = comma_list(self.cleaned_data.get(name))
        bad = [c for c in columns if not COLUMN_RE.match(c)]
        if bad:
            raise forms.ValidationError(f"Not column names: {', '.join(bad)}")
        return ",".join(columns)

    def clean_white_columns(self):
        return self._columns("white_columns")

    def clean_black_columns(self):
        return self._columns("black_columns")

    def clean_business_keys(self):
        return self._columns("business_keys")

    def clean_fake_cols(self):
        pairs = []
        for item in comma_list(self.cleaned_data.get("fake_cols")):
            key, sep, value = item.partition(":")
            if not sep or not COLUMN_RE.match(key.strip()):
                raise forms.ValidationError(f"'{item}' is not key:value (key a column name).")
            pairs.append(f"{key.strip()}:{value.strip()}")
        return ",".join(pairs)

    def clean(self):
        data = super().clean()
        group_id = self.instance.group_id if self.instance.pk else (data.get("group").pk if data.get("group") else None)
        if group_id and data.get("type") and data.get("table_name"):
            new_id = md5_id(group_id, data["type"], data["table_name"])
            if Filter.objects.filter(pk=new_id).exclude(pk=self.instance.pk).exists():
                raise forms.ValidationError(f"This group already has a {data['type']} filter for '{data['table_name']}'.")
        return data


class MqRuleForm(forms.ModelForm):
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

    def clean_topic(self):
        topic = self.cleaned_data["topic"].strip()
        if not re.match(r"^[A-Za-z0-9._\-]{1,249}$", topic):
            raise forms.ValidationError("A topic name uses letters, digits, '.', '_' and '-'.")
        return topic

    def clean_paras(self):
        lines = [line.strip() for line in (self.cleaned_data.get("paras") or "").splitlines() if line.strip()]
        bad = [line for line in lines if "=" not in line or not line.split("=", 1)[0].strip()]
        if bad:
            raise forms.ValidationError(f"Write one key=value per line; not: {', '.join(bad)}")
        return "\n".join(lines)

    def clean(self):
        data = super().clean()
        group = self.instance.group if self.instance.pk else data.get("group")
        if group and data.get("topic"):
            new_id = md5_id(data["topic"], group.pk)
            if MqRule.objects.filter(pk=new_id).exclude(pk=self.instance.pk).exists():
                raise forms.ValidationError(f"This group already has a rule for topic '{data['topic']}'.")
        for f in data.get("linked_filters") or ():
            if group and f.group_id != group.pk:
                raise forms.ValidationError(f"Filter '{f}' belongs to another group.")
        return data
