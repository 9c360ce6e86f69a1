from django import forms

from console.models import Instance, MqRule, Rule, Subscription, Target


class RuleBindingForm(forms.ModelForm):
    """Bind an instance to an MQ rule of the same group (BinLake's `rule` row)."""

    class Meta:
        model = Rule
        fields = ["instance", "rule", "storage_type", "convert_class"]
        labels = {"rule": "MQ rule"}

    def __init__(self, *args, groups=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["instance"].queryset = Instance.objects.filter(group__in=groups).select_related("group")
        self.fields["rule"].queryset = MqRule.objects.filter(group__in=groups).select_related("group")
        self.fields["instance"].label_from_instance = lambda o: f"{o} ({o.group})"
        self.fields["rule"].label_from_instance = lambda o: f"{o.topic} ({o.group})"

    def clean(self):
        data = super().clean()
        instance, rule = data.get("instance"), data.get("rule")
        if instance and rule:
            if instance.group_id != rule.group_id:
                raise forms.ValidationError("The instance and the MQ rule must belong to the same group.")
            if Rule.objects.filter(instance=instance, rule=rule).exists():
                raise forms.ValidationError("This instance is already bound to this rule.")
        return data


class SubscriptionForm(forms.ModelForm):
    class Meta:
        model = Subscription
        fields = ["group", "name", "instance", "target", "mq_rule", "tables", "field_list",
                  "filter_query", "filter_update", "must_be_success"]
        widgets = {"tables": forms.TextInput(), "field_list": forms.TextInput()}

    def __init__(self, *args, groups=None, **kwargs):
        super().__init__(*args, **kwargs)
        scope = [self.instance.group_id] if self.instance.pk else groups
        if self.instance.pk:
            del self.fields["group"]
        else:
            self.fields["group"].queryset = groups
        self.fields["instance"].queryset = Instance.objects.filter(group__in=scope)
        self.fields["target"].queryset = Target.objects.filter(group__in=scope)
        self.fields["mq_rule"].queryset = MqRule.objects.filter(group__in=scope)

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name or not all(c.isalnum() or c in "-_." for c in name):
            raise forms.ValidationError("Use letters, digits, '-', '_' and '.'.")
        return name

    def clean(self):
        data = super().clean()
        group_id = self.instance.group_id if self.instance.pk else (data["group"].pk if data.get("group") else None)
        for field in ("instance", "target", "mq_rule"):
            obj = data.get(field)
            if obj is not None and group_id and obj.group_id != group_id:
                self.add_error(field, "Belongs to another group.")
        return data
