from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.utils import timezone

from console.choices import DumpState, InstanceStatus
from console.fields import EncryptedTextField
from console.ids import md5_id
from console.permissions import can_admin_group, is_super_admin

from .audit import AuditLog
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
    # Written by the dump: rows its generated decoders decoded ("generated_rows"), rows the library decoded
    # instead ("fallback_rows", "fallback_events", "fallback_reasons": {reason: events}). Cumulative.
    decoder_stats = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "instances"
        ordering = ["host", "port"]
        constraints = [models.UniqueConstraint(fields=["group", "host", "port"], name="instances_group_host_port_uniq")]

    def __str__(self):
        return f"{self.host}:{self.port}"

    def compute_id(self) -> str:
        return md5_id(f"{self.host}:{self.port}")

    # --- approval workflow -------------------------------------------------

    def _snapshot(self):
        return {f: getattr(self, f) for f in AUDITED_FIELDS}

    def _check_admin(self, actor):
        if actor is not None and not isinstance(actor, str) and not can_admin_group(actor, self.group_id):
            raise PermissionDenied("only an admin of this instance's group may do this")

    def _transition(self, action, actor, message="", **changes):
        sources, target = TRANSITIONS[action]
        with transaction.atomic():
            current = type(self).objects.select_for_update().get(pk=self.pk)
            if current.status not in sources:
                allowed = ", ".join(s.value for s in sources)
                raise TransitionError(
                    f"cannot {action.replace('_', ' ')} instance {self} in state '{current.status}'"
                    f" (only from: {allowed})"
                )
            before = current._snapshot()
            self.status = target
            for field, value in changes.items():
                setattr(self, field, value)
            self.save()
            AuditLog.record(actor, action, self, before=before, after=self._snapshot(), message=message)

    def apply(self, actor, request_id, url=""):
        self._check_admin(actor)
        self._transition("apply", actor, request_id=request_id, url=url, comment="")

    def approve(self, actor, comment=""):
        """The DBA side's decision; `actor` names the approver (the callback is authenticated by its signature)."""
        if actor is not None and not isinstance(actor, str) and not is_super_admin(actor):
            raise PermissionDenied("only the DBA callback or a super admin decides on a request")
        self._transition("approve", actor, message=comment, comment=comment)

    def refuse(self, actor, comment=""):
        if actor is not None and not isinstance(actor, str) and not is_super_admin(actor):
            raise PermissionDenied("only the DBA callback or a super admin decides on a request")
        self._transition("refuse", actor, message=comment, comment=comment)

    def grant(self, actor):
        """Called once the source checks passed (workers.source.check_grant)."""
        self._check_admin(actor)
        self._transition("grant", actor)

    def start_dump(self, actor, binlog_file, binlog_pos, gtid_set="", candidates=()):
        self._check_admin(actor)
        if not binlog_file or int(binlog_pos) < 4:
            raise TransitionError("a dump starts from a real binlog position (file and pos >= 4)")
        self._transition(
            "start_dump", actor,
            binlog_file=binlog_file, binlog_pos=int(binlog_pos), gtid_set=gtid_set or "",
            candidates=list(candidates), state=DumpState.ONLINE, retry_times=0, last_error="",
        )

    # --- operations on a dumping instance -----------------------------------

    def _operate(self, action, actor, message="", **changes):
        self._check_admin(actor)
        with transaction.atomic():
            current = type(self).objects.select_for_update().get(pk=self.pk)
            if current.status != InstanceStatus.DUMP:
                raise TransitionError(f"cannot {action.replace('_', ' ')}: instance {self} is not in state 'dump'")
            before = current._snapshot()
            for field, value in changes.items():
                setattr(self, field, value)
            # Keep runtime fields the engine owns as they are in the DB.
            type(self).objects.filter(pk=self.pk).update(**changes, update_time=timezone.now())
            AuditLog.record(actor, action, self, before=before, after={**before, **changes}, message=message)

    def set_online(self, actor):
        self._operate("set_online", actor, state=DumpState.ONLINE)

    def set_offline(self, actor):
        self._operate("set_offline", actor, state=DumpState.OFFLINE)

    def set_binlog(self, actor, binlog_file="", binlog_pos=4, gtid_set=""):
        if not gtid_set and (not binlog_file or int(binlog_pos) < 4):
            raise TransitionError("give a binlog file and a position >= 4, or a GTID set")
        self._operate(
            "set_binlog", actor, binlog_file=binlog_file or "", binlog_pos=int(binlog_pos or 0),
            gtid_set=gtid_set or "", with_gtid=bool(gtid_set),
        )

    def set_leader(self, actor, leader):
        changes = {"leader": leader, "lease_expires": None}
        if self.leader and self.leader != leader:
            changes["pre_leader"] = self.leader
        self._operate("set_leader", actor, **changes)

    def set_candidates(self, actor, candidates):
        self._operate("set_candidates", actor, candidates=[c for c in candidates if c])

    def reset_counter(self, actor):
        self._operate("reset_counter", actor, retry_times=0, kill_times=0, next_start_at=None, last_error="")
