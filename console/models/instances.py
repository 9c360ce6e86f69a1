from django.db import models
from django.utils import timezone

from console.choices import DumpState, InstanceStatus
from console.fields import EncryptedTextField
from console.ids import md5_id

from .base import Md5IdModel
from .groups import Group


class TransitionError(Exception):
    """An instance was asked to move to a state it cannot reach from where it is."""


# Approval workflow (console.domain.instances): action -> (states it may start from, state it ends in).
TRANSITIONS = {
    "apply": ((InstanceStatus.INIT, InstanceStatus.OPPOSE), InstanceStatus.WAIT),
    "approve": ((InstanceStatus.WAIT,), InstanceStatus.UNAUTHORIZED),
    "refuse": ((InstanceStatus.WAIT,), InstanceStatus.OPPOSE),
    "grant": ((InstanceStatus.UNAUTHORIZED,), InstanceStatus.AGREE),
    "start_dump": ((InstanceStatus.AGREE,), InstanceStatus.DUMP),
}

# Fields shown in audit before/after snapshots; never the password.
AUDITED_FIELDS = (
    "status", "state", "comment", "request_id", "url", "binlog_file", "binlog_pos", "gtid_set",
    "leader", "leader_version", "candidates", "retry_times", "kill_times",
)


class Instance(Md5IdModel):
    """A MySQL/MariaDB source whose binlog a group subscribes to."""

    id_fields = ()  # md5("host:port"), see compute_id

    group = models.ForeignKey(Group, on_delete=models.PROTECT, db_column="group_id", related_name="instances")
    slave_id = models.PositiveIntegerField(default=0, help_text="server_id the dump connects with")
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField(default=3306)
    status = models.CharField(max_length=16, choices=InstanceStatus.choices, default=InstanceStatus.INIT)
    user = models.CharField(max_length=64, blank=True, default="")
    password = EncryptedTextField(blank=True, default="")
    request_id = models.CharField(max_length=64, blank=True, default="")
    url = models.CharField(max_length=512, blank=True, default="")

    # Tower's additions: approval comment, dump control (BinLake's DbInfo/BinlogInfo/Counter/Candidate).
    comment = models.TextField(blank=True, default="")
    state = models.CharField(max_length=8, choices=DumpState.choices, default=DumpState.OFFLINE)
    slave_uuid = models.CharField(max_length=64, blank=True, default="")
    meta_version = models.PositiveIntegerField(default=0)
    with_gtid = models.BooleanField(default=False)
    binlog_file = models.CharField(max_length=255, blank=True, default="", help_text="dumped position")
    binlog_pos = models.PositiveBigIntegerField(default=0)
    gtid_set = models.TextField(blank=True, default="")
    binlog_when = models.BigIntegerField(default=0, help_text="event timestamp (s) of the dumped position")
    transaction_id = models.BigIntegerField(default=0, help_text="BinLake's transactionId (a long)")
    leader = models.CharField(max_length=255, blank=True, default="")
    pre_leader = models.CharField(max_length=255, blank=True, default="")
    leader_version = models.PositiveBigIntegerField(default=0)
    lease_expires = models.DateTimeField(null=True, blank=True)
    candidates = models.JSONField(default=list, blank=True)
    retry_times = models.PositiveIntegerField(default=0)
    kill_times = models.PositiveIntegerField(default=0)
    next_start_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    master_file = models.CharField(max_length=255, blank=True, default="")
    master_pos = models.PositiveBigIntegerField(default=0)
    master_gtid = models.TextField(blank=True, default="")
    lag_bytes = models.BigIntegerField(default=0)
    lag_events = models.BigIntegerField(default=0)
    lag_seconds = models.BigIntegerField(default=0)
    status_time = models.DateTimeField(null=True, blank=True)
    # As of the master sample: the dump's lag, or its furthest subscription's when larger
    # (console.domain.progress.behind_fields), so that the monitor and the dashboard rank in SQL.
    behind_bytes = models.BigIntegerField(default=0)
    behind_seconds = models.BigIntegerField(default=0)
    behind_subscription = models.CharField(max_length=128, blank=True, default="")
    # Written by the dump: rows its generated decoders decoded ("generated_rows"), rows the library decoded
    # instead ("fallback_rows", "fallback_events", "fallback_reasons": {reason: events}). Cumulative.
    decoder_stats = models.JSONField(default=dict, blank=True)
    # Set when the dump was started with "full sync then follow": each subscription created on the instance
    # copies its tables first, then follows the binlog (console.domain.subscriptions.create_subscription).
    full_sync_first = models.BooleanField(default=False)

    class Meta:
        db_table = "instances"
        ordering = ["host", "port"]
        constraints = [models.UniqueConstraint(fields=["group", "host", "port"], name="instances_group_host_port_uniq")]

    def __str__(self):
        return f"{self.host}:{self.port}"

    def compute_id(self) -> str:
        return md5_id(f"{self.host}:{self.port}")

    # --- state: the transition table; who may move it, and the audit, are console.domain.instances' ---

    def state_snapshot(self) -> dict:
        """The workflow and dump-control fields, as audit records keep them (never the password)."""
        return {f: getattr(self, f) for f in AUDITED_FIELDS}

    def transition(self, action, **changes) -> dict:
        """Take workflow step `action` (TRANSITIONS) with `changes`; returns the state before. Locks the row, so
        call it inside a transaction; refuses a step the current state does not allow (TransitionError)."""
        sources, target = TRANSITIONS[action]
        current = type(self).objects.select_for_update().get(pk=self.pk)
        if current.status not in sources:
            allowed = ", ".join(s.value for s in sources)
            raise TransitionError(
                f"cannot {action.replace('_', ' ')} instance {self} in state '{current.status}' (only from: {allowed})"
            )
        before = current.state_snapshot()
        self.status = target
        for field, value in changes.items():
            setattr(self, field, value)
        self.save()
        return before

    def change_while_dumping(self, action, **changes) -> dict:
        """Change dump-control fields of an instance in `dump` (TransitionError otherwise); returns the state
        before. Only the given fields are written: the engine's runtime fields stay as the database has them."""
        current = type(self).objects.select_for_update().get(pk=self.pk)
        if current.status != InstanceStatus.DUMP:
            raise TransitionError(f"cannot {action.replace('_', ' ')}: instance {self} is not in state 'dump'")
        before = current.state_snapshot()
        for field, value in changes.items():
            setattr(self, field, value)
        type(self).objects.filter(pk=self.pk).update(**changes, update_time=timezone.now())
        return before
