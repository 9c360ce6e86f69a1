from django import forms

from console.choices import MemberRole
from console.models import Group, Member

from .parsing import ParsingModelForm


class GroupForm(ParsingModelForm):
    class Meta:
        model = Group
        fields = ["name", "mark"]
        labels = {"mark": "Description"}


class MemberForm(ParsingModelForm):
    """Add a member: the group is chosen among those the user administers; 'creator' is never offered."""

    role = forms.ChoiceField(choices=[(MemberRole.USER, "user"), (MemberRole.ADMIN, "admin")])

    class Meta:
        model = Member
        fields = ["group", "erp", "email", "org_name", "role"]
        labels = {"erp": "Username (erp)", "org_name": "Organisation"}

    def __init__(self, *args, groups=None, **kwargs):
        super().__init__(*args, **kwargs)
        if groups is not None:
            self.fields["group"].queryset = groups
