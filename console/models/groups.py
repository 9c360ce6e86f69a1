from django.db import models

from console.choices import MemberRole

from .base import Md5IdModel


class Group(Md5IdModel):
    """A team: owns instances, filters, MQ rules, targets and subscriptions."""

    id_fields = ("name",)

    name = models.CharField(max_length=64, unique=True)
    mark = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        db_table = "groups"
        ordering = ["name"]

    def __str__(self):
        return self.name


class Member(Md5IdModel):
    """BinLake's `users`: one row per (erp, group). The login is Django's user with username = erp."""

    id_fields = ("erp", "group_id")

    erp = models.CharField(max_length=64)
    email = models.CharField(max_length=128, blank=True, default="")
    org_name = models.CharField(max_length=128, blank=True, default="")
    group = models.ForeignKey(Group, on_delete=models.CASCADE, db_column="group_id", related_name="members")
    role = models.CharField(max_length=16, choices=MemberRole.choices, default=MemberRole.USER)

    class Meta:
        db_table = "users"
        ordering = ["group__name", "erp"]
        constraints = [models.UniqueConstraint(fields=["erp", "group"], name="users_erp_group_uniq")]

    def __str__(self):
        return f"{self.erp}@{self.group_id} ({self.role})"


class SuperAdmin(models.Model):
    """Managed only from the backend (Django admin, `manage.py superadmin`)."""

    erp = models.CharField(max_length=64, primary_key=True)

    class Meta:
        db_table = "super_admin"
        ordering = ["erp"]

    def __str__(self):
        return self.erp
