import json

from django import forms
from django.core.exceptions import ValidationError

from console.models import Target

from .fields import SecretField
from .parsing import ParsingModelForm


class TargetForm(ParsingModelForm):
    """The URI may hold a password: it is write-only here. On edit, blank keeps the stored URI."""

    uri = SecretField(
        label="Sink URI", widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "redis://host:port/0"}),
        help_text="Where changes go, e.g. redis://:password@cache:6379/0, kafka://broker1:9092,broker2:9092/topic, "
                  "amqp://user:password@mq:5672/vhost, mongodb://user:password@mongo:27017/{$SchemaName}, "
                  "clickhouse://default@ch:9000/analytics, or blackhole:// (discards everything; for trials). "
                  "Write-only: a password in it is never shown again.",
    )
    options = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text='Target settings as a JSON object, e.g. for Redis {"mode": "set", "key": '
                  '"{$SchemaName}:{$TableName}:{$id}", "ttl": 3600} (mode "set" stores each row under its key, '
                  '"list" pushes every change onto the key). Names and keys are templates: {$SchemaName} and '
                  "{$TableName} of the change, {$EventType} (insert, update or delete, in lower case) and "
                  "{$<column>}, that column's value in the row (e.g. {$id}). The default Redis key is "
                  "{$SchemaName}-{$TableName}-{$__pk__} (the primary key values joined by -).",
    )

    class Meta:
        model = Target
        fields = ["group", "name", "uri", "options"]

    def __init__(self, *args, groups=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["uri"] = ""  # never echo the stored URI (it may carry credentials)
        # secret-named options are shown masked; saved back unchanged, catalog.update_target keeps the stored ones
        self.initial["options"] = json.dumps(self.instance.display_options or {}) if self.instance.pk else "{}"
        if self.instance.pk:
            del self.fields["group"]
            self.fields["uri"].help_text = f"Stored: {self.instance.display_uri}. Leave blank to keep it."
        else:
            self.fields["uri"].required = True
            if groups is not None:
                self.fields["group"].queryset = groups

    def clean_uri(self):
        uri = (self.cleaned_data.get("uri") or "").strip()
        if not uri and self.instance.pk:
            return self.instance.uri
        return uri

    def clean_options(self):
        raw = (self.cleaned_data.get("options") or "").strip() or "{}"
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ValidationError(f"Not valid JSON: {exc}")
