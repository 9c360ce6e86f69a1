"""Forms for operations on a dumping instance (console.domain.instances)."""
from django import forms


class SetBinlogForm(forms.Form):
    binlog_file = forms.ChoiceField(required=False, label="Binlog file", help_text="From SHOW BINARY LOGS.")
    binlog_pos = forms.IntegerField(required=False, min_value=4, initial=4, label="Position")
    gtid_set = forms.CharField(required=False, label="or a GTID set", widget=forms.TextInput())

    def __init__(self, *args, files=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["binlog_file"].choices = [("", "---")] + [(f, f) for f in files]

    def clean_gtid_set(self):
        value = (self.cleaned_data.get("gtid_set") or "").strip()
        if value and not all(part.strip() and (part.count("-") >= 2 or ":" in part) for part in value.split(",")):
            raise forms.ValidationError("Not a GTID set (MariaDB 0-1-100 or MySQL uuid:1-100).")
        return value

    def clean(self):
        data = super().clean()
        if not data.get("gtid_set") and not data.get("binlog_file"):
            raise forms.ValidationError("Choose a binlog file and position, or give a GTID set.")
        if data.get("binlog_file") and not data.get("binlog_pos"):
            self.add_error("binlog_pos", "A position (>= 4) is required with a file.")
        return data


class SetLeaderForm(forms.Form):
    leader = forms.ChoiceField()

    def __init__(self, *args, workers=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["leader"].choices = [(w, w) for w in workers]


class SetCandidatesForm(forms.Form):
    candidates = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, workers=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["candidates"].choices = [(w, w) for w in workers]


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "approve"), ("refuse", "refuse")])
    comment = forms.CharField(required=False, max_length=2000)
