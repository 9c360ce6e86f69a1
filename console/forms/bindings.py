from django import forms

from console.models import Group, Instance, MqRule, Rule, Target

from . import pickers


class RuleBindingForm(forms.ModelForm):
    """Bind an instance to an MQ rule of the same group (BinLake's `rule` row); console.domain.bindings.bind
    checks the rest (same group, the rule's destination, not bound yet)."""

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

    def validate_unique(self):
        """bind() tells an existing binding apart (409), with the rest of its checks."""


class SubscriptionForm(forms.Form):
    """A subscription's settings. The form only parses them: console.domain.subscriptions checks them, the
    same way for every surface (group, instance state, start_ts / target_ts, table rules, edits while running).

    On an edit the job's name, instance and start_ts are shown but fixed, like on every other surface."""

    FIXED = ("name", "instance", "start_ts")
    EDITABLE = ("target", "mq_rule", "tables", "field_list", "filter_query", "filter_update", "must_be_success",
                "target_ts")

    group = forms.ModelChoiceField(queryset=Group.objects.none())
    name = forms.CharField(max_length=128, help_text="Letters, digits, '_', '-' and '.', e.g. orders-to-cache. "
                                                     "Also its id on the TiCDC and Doris CCR APIs.")
    instance = forms.ModelChoiceField(queryset=Instance.objects.none())
    target = forms.ModelChoiceField(queryset=Target.objects.none())
    mq_rule = forms.ModelChoiceField(queryset=MqRule.objects.none(), required=False, label="MQ rule")
    tables = forms.CharField(initial="*.*", help_text="Comma separated schema.table patterns: * is a wildcard, ! "
                                                             "excludes, e.g. shop.orders,shop.order_*,!shop.order_tmp.")
    field_list = forms.CharField(required=False, help_text="The columns sent, comma separated, e.g. id,status,amount. "
                                                                 "Empty = all columns.")
    filter_query = forms.BooleanField(required=False, help_text="Do not send DDL and other statements "
                                                                       "(CREATE, ALTER, DROP, ...): rows only.")
    filter_update = forms.BooleanField(required=False, help_text="Do not send an update that changes none of "
                                                                        "the columns sent.")
    must_be_success = forms.BooleanField(required=False, initial=True,
                                         help_text="Retry a change the target refuses until it is "
                                                   "accepted (the subscription waits), instead of skipping it.")
    start_ts = forms.IntegerField(required=False, initial=0, label="Start ts",
                                  help_text="Where to start, as a TiCDC timestamp (0 = from now); not "
                                            "older than the instance's position.")
    target_ts = forms.IntegerField(required=False, initial=0, label="Target ts",
                                   help_text="Where to stop, as a TiCDC timestamp (0 = never).")

    def __init__(self, *args, instance=None, groups=None, **kwargs):
        job = instance if instance is not None and instance.pk else None
        if job is not None:
            kwargs.setdefault("initial", {
                name: getattr(job, name) for name in (*self.FIXED, *self.EDITABLE)})
        super().__init__(*args, **kwargs)
        scope = [job.group_id] if job is not None else groups
        self.fields["instance"].queryset = Instance.objects.filter(group__in=scope)
        self.fields["target"].queryset = Target.objects.filter(group__in=scope)
        self.fields["mq_rule"].queryset = MqRule.objects.filter(group__in=scope)
        if job is not None:
            del self.fields["group"]
            for name in self.FIXED:
                self.fields[name].disabled = True
        else:
            self.fields["group"].queryset = groups
        pickers.hook(self, "instance", tables="tables", field_list="columns")

    def clean_start_ts(self):
        return self.cleaned_data["start_ts"] or 0

    def clean_target_ts(self):
        return self.cleaned_data["target_ts"] or 0

    def changes(self) -> dict:
        """The editable settings as posted (console.domain.subscriptions.update_subscription sorts out what changed)."""
        return {name: self.cleaned_data[name] for name in self.EDITABLE}
