"""Forms of the subscription page's actions that take input (the others are a bare confirmed POST)."""
import re

from django import forms

from .operations import SetBinlogForm

POSITION, TIME = "position", "time"


class SetPositionForm(forms.Form):
    """Where the subscription continues from: a binlog file and position (with the GTID set there, as the APIs
    take it), or a time the source resolves to the first transaction written at or after it."""

    mode = forms.ChoiceField(choices=[(POSITION, "A binlog file and position"), (TIME, "A point in time")],
                             widget=forms.RadioSelect, initial=POSITION, label="Continue from")
    binlog_file = forms.CharField(required=False, max_length=255, label="Binlog file",
                                  help_text="A file SHOW BINARY LOGS lists, e.g. mysql-bin.000012.")
    binlog_pos = forms.IntegerField(required=False, min_value=4, label="Position",
                                    help_text="Where a transaction starts (SHOW BINLOG EVENTS lists them).")
    gtid_set = forms.CharField(required=False, label="GTID set at that position (optional)",
                               help_text="Recorded with the position: MariaDB 0-1-100 or MySQL uuid:1-100.")
    at = forms.DateTimeField(required=False, label="Time (UTC)", input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S",
                                                                               "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"],
                             widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1}),
                             help_text="The first transaction written at or after this time.")

    clean_gtid_set = SetBinlogForm.clean_gtid_set

    def clean(self):
        data = super().clean()
        if data.get("mode") == TIME:
            if not data.get("at") and "at" not in self.errors:
                self.add_error("at", "Give the time to continue from.")
        elif data.get("mode") == POSITION:
            if not data.get("binlog_file"):
                self.add_error("binlog_file", "Give the binlog file.")
            if not data.get("binlog_pos") and "binlog_pos" not in self.errors:
                self.add_error("binlog_pos", "Give the position (>= 4).")
        return data


ALL, CHOSEN = "all", "chosen"


class FullSyncForm(forms.Form):
    scope = forms.ChoiceField(choices=[(ALL, "Every table of the subscription"), (CHOSEN, "Only these tables")],
                              widget=forms.RadioSelect, initial=ALL, label="Copy")
    tables = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Tables",
                             help_text="schema.table names, one per line or comma separated; each must be one of the "
                                       "subscription's tables.")

    def clean(self):
        data = super().clean()
        names = [t for t in re.split(r"[\s,]+", data.get("tables") or "") if t]
        if data.get("scope") == CHOSEN and not names:
            self.add_error("tables", "Name the tables to copy.")
        data["table_list"] = names if data.get("scope") == CHOSEN else None
        return data
