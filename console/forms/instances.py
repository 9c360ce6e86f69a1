import re

from django import forms

from console.models import Instance

from .fields import SecretField

HOST_RE = re.compile(r"^[A-Za-z0-9.\-:\[\]]{1,255}$")


class InstanceRegisterForm(forms.Form):
    group = forms.ModelChoiceField(queryset=None)
    host = forms.CharField(max_length=255, help_text="The MySQL/MariaDB server's host name or IP address, e.g. "
                                                     "db-orders.internal or 10.0.3.14.")
    port = forms.IntegerField(min_value=1, max_value=65535, initial=3306)
    user = forms.CharField(max_length=64, required=False,
                           help_text="The account Tower reads the binlog with (it needs REPLICATION SLAVE and "
                                     "REPLICATION CLIENT). Blank = the DBAs' shared dump account, used only "
                                     "once they approve this instance.")
    password = SecretField(help_text="Write-only: never shown again.")
    slave_id = forms.IntegerField(min_value=1, max_value=4294967295, required=False, label="server_id",
                                  help_text="The replica id Tower connects with; unique among the server's replicas. "
                                            "Blank = the next free one.")

    def __init__(self, *args, groups=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["group"].queryset = groups

    def clean_host(self):
        host = self.cleaned_data["host"].strip()
        if not HOST_RE.match(host):
            raise forms.ValidationError("Not a host name or IP address.")
        return host



class InstanceEditForm(forms.ModelForm):
    password = SecretField(help_text="Write-only; leave blank to keep the stored password.")
    field_order = ["user", "password", "slave_id"]

    class Meta:
        model = Instance
        fields = ["user", "password", "slave_id"]
        labels = {"slave_id": "server_id"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["password"] = ""

