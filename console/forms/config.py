from django import forms

from console.domain.config import SECRET_FIELDS
from console.models import Config

from .fields import SecretField
from .parsing import ParsingModelForm


class ConfigForm(ParsingModelForm):
    """Secrets are write-only: blank keeps the stored value, the 'clear' box empties it."""

    dbs_token = SecretField(label="DBS token")
    callback_secret = SecretField(label="Callback HMAC secret")
    dump_password = SecretField(label="Dump password")
    manager_token = SecretField(label="Manager token")
    clear_secrets = forms.MultipleChoiceField(
        choices=[(f, f) for f in SECRET_FIELDS], required=False, widget=forms.CheckboxSelectMultiple,
        label="Clear these secrets",
    )

    class Meta:
        model = Config
        fields = ["mark", "slave_id", "slave_uuid", "dbs_api", "dbs_token", "callback_secret", "mq_addr",
                  "dump_user", "dump_password", "manager_token", "retry_latch"]
        labels = {"dbs_api": "Approval system URL", "mq_addr": "MQ address", "slave_id": "First server_id"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in SECRET_FIELDS:
            self.initial[name] = ""
            stored = getattr(self.instance, name)
            self.fields[name].help_text = "set (write-only)" if stored else "not set"

    def clean(self):
        data = super().clean()
        cleared = set(data.get("clear_secrets") or ())
        for name in SECRET_FIELDS:
            if name in cleared:
                data[name] = ""
            elif not data.get(name):
                data[name] = getattr(self.instance, name)
        return data
