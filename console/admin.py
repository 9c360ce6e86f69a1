"""Django admin for every model. Secrets are write-only: lists and forms never show them."""
from django import forms
from django.contrib import admin

from console import models


class SecretFieldsForm(forms.ModelForm):
    """Renders secret fields as empty password inputs; leaving one empty keeps the stored value."""

    secret_fields: tuple = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.secret_fields:
            if name in self.fields:
                self.fields[name] = forms.CharField(
                    required=False, widget=forms.PasswordInput(render_value=False),
                    help_text="stored encrypted; leave empty to keep the current value",
                )

    def clean(self):
        cleaned = super().clean()
        for name in self.secret_fields:
            if not cleaned.get(name) and self.instance.pk:
                cleaned[name] = getattr(self.instance, name)
        return cleaned


def secret_form(*names):
    return type("SecretForm", (SecretFieldsForm,), {"secret_fields": names})


@admin.register(models.Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "mark", "create_time")
    search_fields = ("name",)


@admin.register(models.Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ("erp", "group", "role", "email", "org_name")
    list_filter = ("role", "group")
    search_fields = ("erp", "email")


@admin.register(models.SuperAdmin)
class SuperAdminAdmin(admin.ModelAdmin):
    list_display = ("erp",)


@admin.register(models.Filter)
class FilterAdmin(admin.ModelAdmin):
    list_display = ("name", "group", "type", "table_name", "events")
    list_filter = ("type", "group")


@admin.register(models.MqRule)
class MqRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "topic", "group", "order_type", "with_trx")
    list_filter = ("order_type", "group")


@admin.register(models.MqFilterRelation)
class MqFilterRelationAdmin(admin.ModelAdmin):
    list_display = ("mq", "filter")


@admin.register(models.Rule)
class RuleAdmin(admin.ModelAdmin):
    list_display = ("instance", "rule", "group", "storage_type")


@admin.register(models.Instance)
class InstanceAdmin(admin.ModelAdmin):
    form = secret_form("password")
    list_display = ("__str__", "group", "status", "state", "leader", "leader_version", "retry_times", "lag_seconds")
    readonly_fields = ("behind_bytes", "behind_seconds", "behind_subscription")  # the status sampler's read model
    list_filter = ("status", "state", "group")
    search_fields = ("host",)


@admin.register(models.Target)
class TargetAdmin(admin.ModelAdmin):
    form = secret_form("uri")
    list_display = ("name", "group", "kind", "display_uri")
    list_filter = ("kind", "group")


@admin.register(models.Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("name", "group", "instance", "target", "state", "phase", "error_count", "skipped_count")
    list_filter = ("state", "phase", "group")
    search_fields = ("name",)


@admin.register(models.Checkpoint)
class CheckpointAdmin(admin.ModelAdmin):
    list_display = ("instance", "subscription", "binlog_file", "binlog_pos", "queued_file", "queued_pos", "leader_version")


@admin.register(models.FlowSample)
class FlowSampleAdmin(admin.ModelAdmin):
    list_display = ("time", "instance", "subscription", "schema_name", "table_name", "count", "byte_size")


@admin.register(models.SchemaVersion)
class SchemaVersionAdmin(admin.ModelAdmin):
    list_display = ("instance", "schema_name", "table_name", "binlog_file", "binlog_pos", "dropped", "refused")
    list_filter = ("dropped",)


@admin.register(models.Wave)
class WaveAdmin(admin.ModelAdmin):
    list_display = ("name", "ip", "state", "last_heartbeat", "is_owner")


@admin.register(models.Config)
class ConfigAdmin(admin.ModelAdmin):
    form = secret_form("dbs_token", "callback_secret", "dump_password", "manager_token")
    list_display = ("keyword", "mark", "dbs_api", "dump_user", "retry_latch")


@admin.register(models.AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    list_display = ("time", "actor", "action", "object_type", "object_repr", "group")
    list_filter = ("action", "object_type")
    search_fields = ("actor", "object_id", "object_repr")

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(models.OIDCIdentity)
class OIDCIdentityAdmin(admin.ModelAdmin):
    """Which local user an OIDC subject signs in as: removing a row unlinks it (the user stays)."""

    list_display = ("sub", "user", "created")
    search_fields = ("sub", "user__username")
    readonly_fields = ("sub", "user", "created")

    def has_add_permission(self, request):
        return False  # only the OIDC backend links an identity, to a user it created
