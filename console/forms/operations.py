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
    """The DBA's decision on a waiting instance: no default (approve or refuse is chosen), a refusal says why."""

    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("refuse", "Refuse")], widget=forms.RadioSelect,
                                 error_messages={"required": "Choose approve or refuse."})
    comment = forms.CharField(required=False, max_length=2000, label="Comment",
                              help_text="Required to refuse: the applicant reads it.")

    def clean(self):
        data = super().clean()
        data["comment"] = (data.get("comment") or "").strip()
        if data.get("decision") == "refuse" and not data["comment"]:
            self.add_error("comment", "Say why the request is refused.")
        return data


START_NOW, START_POSITION, START_FULL_SYNC = "now", "position", "full_sync"


class StartDumpForm(forms.Form):
    """Where the dump starts (console.domain.instances.start_dump)."""

    start_from = forms.ChoiceField(
        widget=forms.RadioSelect, initial=START_NOW, label="Start",
        choices=[(START_NOW, "From now (the master's current position)"),
                 (START_POSITION, "From a position"),
                 (START_FULL_SYNC, "Full sync then follow (each subscription copies its tables first)")],
        required=False,
    )
    binlog_file = forms.CharField(required=False, max_length=255, label="Binlog file")
    binlog_pos = forms.IntegerField(required=False, min_value=4, label="Position")

    def clean_start_from(self):
        return self.cleaned_data.get("start_from") or START_NOW  # today's behaviour when none is chosen

    def clean(self):
        data = super().clean()
        if data.get("start_from") == START_POSITION:
            data["binlog_file"] = (data.get("binlog_file") or "").strip()
            if not data["binlog_file"]:
                self.add_error("binlog_file", "Give the binlog file to start from.")
            if data.get("binlog_pos") is None and "binlog_pos" not in self.errors:
                self.add_error("binlog_pos", "Give the position (>= 4) to start from.")
        return data

    def start_dump_arguments(self) -> dict:
        data = self.cleaned_data
        position = (data["binlog_file"], data["binlog_pos"]) if data["start_from"] == START_POSITION else None
        return {"position": position, "full_sync": data["start_from"] == START_FULL_SYNC}
