"""Native REST API serializers. Secrets are write-only; runtime fields the engine owns are read-only."""
from django.core.validators import MaxValueValidator, MinValueValidator
from rest_framework import serializers

from console.models import (
    AuditLog, Checkpoint, Config, Filter, Group, Instance, Member, MqFilterRelation, MqRule, Rule, Subscription,
    Target, Wave,
)
from console.permissions import can_admin_group, visible_group_ids
from workers.masking import mask_options, mask_text

PORT_VALIDATORS = [MinValueValidator(1), MaxValueValidator(65535)]


class GroupScopedField(serializers.PrimaryKeyRelatedField):
    """A foreign key the requesting user can see (so ids of other groups' objects read as 'does not exist')."""

    def __init__(self, group_path="group", **kwargs):
        self.group_path = group_path
        super().__init__(**kwargs)

    def get_queryset(self):
        queryset = super().get_queryset()
        request = self.context.get("request")
        ids = visible_group_ids(request.user if request else None)
        if ids is None:
            return queryset
        if self.group_path == "pk":
            return queryset.filter(pk__in=ids)
        return queryset.filter(**{f"{self.group_path}__in": ids})


class AdminOfGroupMixin:
    """Writes need the caller to admin the group the object belongs to (before and after the change)."""

    def check_group_admin(self, group):
        request = self.context["request"]
        if group is not None and not can_admin_group(request.user, group.pk if hasattr(group, "pk") else group):
            raise serializers.ValidationError({"group": "you are not an admin of this group"})


class GroupSerializer(serializers.ModelSerializer):
    class Meta:
        model = Group
        fields = ["id", "name", "mark", "create_time", "update_time"]
        read_only_fields = ["id", "create_time", "update_time"]


class MemberSerializer(serializers.ModelSerializer):
    """Who may add, change or remove a membership, and which roles are assignable: console.domain.catalog."""

    group = GroupScopedField(group_path="pk", queryset=Group.objects.all())

    class Meta:
        model = Member
        fields = ["id", "erp", "email", "org_name", "group", "role", "create_time", "update_time"]
        read_only_fields = ["id", "create_time", "update_time"]


class FilterSerializer(serializers.ModelSerializer):
    """Parsed here; validated (regex, events, columns) and written by console.domain.catalog."""

    group = GroupScopedField(group_path="pk", queryset=Group.objects.all())

    class Meta:
        model = Filter
        fields = ["id", "name", "group", "type", "table_name", "events", "white_columns", "black_columns",
                  "fake_cols", "business_keys", "create_time", "update_time"]
        read_only_fields = ["id", "create_time", "update_time"]


class MqRuleSerializer(serializers.ModelSerializer):
    """Parsed here; validated and written by console.domain.catalog."""

    group = GroupScopedField(group_path="pk", queryset=Group.objects.all())
    filters = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    target = GroupScopedField(queryset=Target.objects.all(), required=False, allow_null=True,
                              help_text="a kafka or amqp target of the rule's group; null: the configured MQ address")

    class Meta:
        model = MqRule
        fields = ["id", "name", "topic", "group", "with_trx", "producer_class", "paras", "order_type", "filters",
                  "target", "create_time", "update_time"]
        read_only_fields = ["id", "create_time", "update_time"]

    def validate_target(self, target):
        from console.domain.bindings import check_rule_target
        from console.domain.errors import DomainError

        group = self.instance.group_id if self.instance is not None else self.initial_data.get("group")
        try:
            check_rule_target(group, target)
        except DomainError as exc:
            raise serializers.ValidationError(exc.message) from exc
        return target


class MqFilterRelationSerializer(serializers.ModelSerializer):
    """A filter linked to an MQ rule of the same group (console.domain.catalog.link_filter)."""

    mq = GroupScopedField(queryset=MqRule.objects.all())
    filter = GroupScopedField(queryset=Filter.objects.all())

    class Meta:
        model = MqFilterRelation
        fields = ["id", "mq", "filter", "create_time", "update_time"]
        read_only_fields = ["id", "create_time", "update_time"]


class RuleSerializer(serializers.ModelSerializer):
    """A binding: POST `instance` and `rule` (console.domain.bindings.bind checks the rest); `subscription` is the
    one the engine runs for it (/api/subscriptions/<id>/), `group` the instance's."""

    instance = GroupScopedField(queryset=Instance.objects.all())
    rule = GroupScopedField(queryset=MqRule.objects.all())

    class Meta:
        model = Rule
        fields = ["id", "group", "instance", "storage_type", "convert_class", "rule", "subscription", "create_time",
                  "update_time"]
        read_only_fields = ["id", "group", "subscription", "create_time", "update_time"]
        # bind() tells an existing binding apart (409), with the rest of its checks.
        validators = []


class TargetSerializer(serializers.ModelSerializer):
    """Parsed here; the URI is checked and the target written by console.domain.catalog."""

    group = GroupScopedField(group_path="pk", queryset=Group.objects.all())
    uri = serializers.CharField(write_only=True, help_text="sink URI; may carry credentials, never returned")
    display_uri = serializers.CharField(read_only=True, help_text="the URI with its password masked")

    class Meta:
        model = Target
        fields = ["id", "name", "group", "kind", "uri", "display_uri", "options", "create_time", "update_time"]
        read_only_fields = ["id", "kind", "create_time", "update_time"]

    def validate_options(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("options must be an object")
        return value

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["options"] = instance.display_options  # secret-named options are write-only, like the URI
        return data


INSTANCE_RUNTIME_FIELDS = [
    "status", "state", "comment", "request_id", "url", "slave_uuid", "meta_version", "with_gtid", "binlog_file",
    "binlog_pos", "gtid_set", "binlog_when", "transaction_id", "leader", "pre_leader", "leader_version",
    "lease_expires", "candidates", "retry_times", "kill_times", "next_start_at", "last_error", "master_file",
    "master_pos", "master_gtid", "lag_bytes", "lag_events", "lag_seconds", "status_time", "decoder_stats",
]


class InstanceSerializer(AdminOfGroupMixin, serializers.ModelSerializer):
    group = GroupScopedField(group_path="pk", queryset=Group.objects.all())
    port = serializers.IntegerField(validators=PORT_VALIDATORS, default=3306)
    password = serializers.CharField(write_only=True, required=False, allow_blank=True, style={"input_type": "password"})
    slave_id = serializers.IntegerField(required=False, min_value=1, max_value=2**32 - 1,
                                        help_text="server_id the dump connects with; handed out when not given")

    class Meta:
        model = Instance
        fields = ["id", "group", "slave_id", "host", "port", "user", "password", *INSTANCE_RUNTIME_FIELDS,
                  "create_time", "update_time"]
        read_only_fields = ["id", *INSTANCE_RUNTIME_FIELDS, "create_time", "update_time"]
        validators = []  # an address taken is the domain's refusal (409), as on every surface

    # Checked by console.domain.instances (register_instance, update_instance) as on every surface: who may
    # (403), its address (400), an address taken (409), host:port and group fixed once registered (400).


class SubscriptionSerializer(serializers.ModelSerializer):
    """Parses a subscription; console.domain.subscriptions checks it (SubscriptionViewSet), as on every surface:
    group and admin, instance state, start_ts / target_ts, table rules, what may change while it runs."""

    instance = GroupScopedField(queryset=Instance.objects.all())
    target = GroupScopedField(queryset=Target.objects.all())
    mq_rule = GroupScopedField(queryset=MqRule.objects.all(), required=False, allow_null=True)
    fullsync_progress = serializers.JSONField(read_only=True, help_text="done, total, percent, rows_per_s, eta_s, running")

    class Meta:
        model = Subscription
        fields = ["id", "name", "group", "instance", "target", "mq_rule", "tables", "field_list", "filter_query",
                  "filter_update", "must_be_success", "state", "phase", "options", "start_ts", "target_ts", "error",
                  "error_wait_data", "error_count", "skipped_count", "skip_next", "fullsync_total", "fullsync_done",
                  "fullsync_state", "fullsync_started", "fullsync_progress", "created_by", "create_time", "update_time"]
        read_only_fields = ["id", "group", "state", "phase", "error", "error_wait_data", "error_count",
                            "skipped_count", "skip_next", "fullsync_total", "fullsync_done", "fullsync_state",
                            "fullsync_started", "created_by", "create_time", "update_time"]
        # A taken name is the domain's 409, as on TiCDC and CCR.
        extra_kwargs = {"name": {"validators": []}, "start_ts": {"min_value": 0}, "target_ts": {"min_value": 0}}

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["options"], data["error"] = mask_options(data.get("options")), mask_text(data.get("error"))
        return data


class AuditLogSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditLog
        fields = ["id", "time", "actor", "action", "object_type", "object_id", "object_repr", "group", "before",
                  "after", "message"]
        read_only_fields = fields


class CheckpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = Checkpoint
        fields = ["id", "instance", "subscription", "binlog_file", "binlog_pos", "gtid_set", "binlog_when",
                  "queued_file", "queued_pos", "queued_gtid", "leader_version", "create_time", "update_time"]
        read_only_fields = fields


class WaveSerializer(serializers.ModelSerializer):
    class Meta:
        model = Wave
        fields = ["id", "ip", "name", "port", "state", "last_heartbeat", "is_owner", "dump_slots", "host_dump_slots",
                  "create_time", "update_time"]
        read_only_fields = fields


class ConfigSerializer(serializers.ModelSerializer):
    dbs_token = serializers.CharField(write_only=True, required=False, allow_blank=True)
    callback_secret = serializers.CharField(write_only=True, required=False, allow_blank=True)
    dump_password = serializers.CharField(write_only=True, required=False, allow_blank=True)
    manager_token = serializers.CharField(write_only=True, required=False, allow_blank=True)

    class Meta:
        model = Config
        fields = ["keyword", "mark", "slave_id", "slave_uuid", "dbs_api", "dbs_token", "callback_secret", "mq_addr",
                  "dump_user", "dump_password", "manager_token", "retry_latch", "create_time", "update_time"]
        read_only_fields = ["keyword", "create_time", "update_time"]


# Request bodies of the instance and subscription actions.

class SetBinlogSerializer(serializers.Serializer):
    binlog_file = serializers.CharField(required=False, allow_blank=True, default="", max_length=255)
    binlog_pos = serializers.IntegerField(required=False, default=4, min_value=0, max_value=2**63 - 1)
    gtid_set = serializers.CharField(required=False, allow_blank=True, default="")


class SetLeaderSerializer(serializers.Serializer):
    leader = serializers.CharField(max_length=255)


class ResnapshotTableSerializer(serializers.Serializer):
    schema = serializers.CharField(max_length=64)
    table = serializers.CharField(max_length=64)


class SetCandidatesSerializer(serializers.Serializer):
    candidates = serializers.ListField(child=serializers.CharField(max_length=255), allow_empty=True)


class SkipEventSerializer(serializers.Serializer):
    commit_seq = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
