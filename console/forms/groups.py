import re

from django import forms

from console.choices import MemberRole
from console.models import Group, Member

NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


class GroupForm(forms.ModelForm):
    class Meta:
        model = Group
        fields = ["name", "mark"]
        labels = {"mark": "Description"}

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not NAME_RE.match(name):
            raise forms.ValidationError("Use letters, digits, '_', '.', '-' (at most 64).")
        return name


class MemberForm(forms.ModelForm):
    """Add a member: the group is chosen among those the user administers; 'creator' is never assignable."""

    role = forms.ChoiceField(choices=[(MemberRole.USER, "user"), (MemberRole.ADMIN, "admin")])

    class Meta:
        model = Member
        fields = ["group", "erp", "email", "org_name", "role"]
        labels = {"erp": "Username (erp)", "org_name": "Organisation"}

    def __init__(self, *args, groups=None, **kwargs):
        super().__init__(*args, **kwargs)
        if groups is not None:
            self.fields["group"].queryset = groups

    def clean_erp(self):
        erp = self.cleaned_data["erp"].strip()
        if not NAME_RE.match(erp):
            raise forms.ValidationError("Not a valid username.")
        return erp

    def clean(self):
        data = super().clean()
        if data.get("group") and data.get("erp") and Member.objects.filter(group=data["group"], erp=data["erp"]).exists():
            raise forms.ValidationError(f"{data['erp']} is already a member of {data['group']}.")
        return data


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=[(MemberRole.USER, "user"), (MemberRole.ADMIN, "admin")])
