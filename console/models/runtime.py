"""What the engine writes while it runs: positions, flow counters, worker hosts."""
from django.db import models

from console.choices import WorkerState

from .base import TimestampedModel


class Checkpoint(TimestampedModel):
    """A position. subscription=None is the instance's; else one subscription's queued and succeeded positions.

    Every write is conditional on `leader_version` (fencing): a leader whose
    version is no longer current updates nothing.
    """

    instance = models.ForeignKey("Instance", on_delete=models.CASCADE, db_column="instance_id", related_name="checkpoints")
    subscription = models.ForeignKey(
        "Subscription", null=True, blank=True, on_delete=models.CASCADE, db_column="subscription_id",
        related_name="checkpoints",
    )
    binlog_file = models.CharField(max_length=255, blank=True, default="", help_text="last succeeded")
    binlog_pos = models.PositiveBigIntegerField(default=0)
    gtid_set = models.TextField(blank=True, default="")
    binlog_when = models.BigIntegerField(default=0, help_text="event timestamp (s) at the succeeded position")
    queued_file = models.CharField(max_length=255, blank=True, default="")
    queued_pos = models.PositiveBigIntegerField(default=0)
    queued_gtid = models.TextField(blank=True, default="")
    leader_version = models.PositiveBigIntegerField(default=0)

    class Meta:
        db_table = "checkpoints"
        constraints = [
            models.UniqueConstraint(fields=["instance", "subscription"], name="checkpoints_instance_sub_uniq")
        ]

    def __str__(self):
        return f"{self.instance_id}/{self.subscription_id or '-'} {self.binlog_file}:{self.binlog_pos}"


class FlowSample(models.Model):
    """Cumulative Count/ByteSize at a moment, per instance, schema, table and subscription (Bifrost's flow)."""

    time = models.DateTimeField(db_index=True)
    instance = models.ForeignKey("Instance", on_delete=models.CASCADE, db_column="instance_id", related_name="+")
    subscription = models.ForeignKey(
        "Subscription", null=True, blank=True, on_delete=models.CASCADE, db_column="subscription_id", related_name="+"
    )
    schema_name = models.CharField(max_length=64, blank=True, default="")
    table_name = models.CharField(max_length=64, blank=True, default="")
    count = models.PositiveBigIntegerField(default=0)
    byte_size = models.PositiveBigIntegerField(default=0)

    class Meta:
        db_table = "flow_samples"
        indexes = [
            models.Index(fields=["instance", "time"], name="flow_instance_time_idx"),
            # Each series' latest sample (progress.subscription_totals) is a MAX(id) per group of this index.
            models.Index(fields=["subscription", "schema_name", "table_name"], name="flow_subscription_series_idx"),
        ]


class Wave(TimestampedModel):
    """A worker host (BinLake's `waves`): registers itself and heartbeats."""

    ip = models.CharField(max_length=64)
    name = models.CharField(max_length=255, unique=True, help_text="Celery node name; its queue is tower.dump.<name>")
    port = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=8, choices=WorkerState.choices, default=WorkerState.ALIVE)
    last_heartbeat = models.DateTimeField(null=True, blank=True)
    is_owner = models.BooleanField(default=False, help_text="runs the supervisor (TiCDC's owner)")
    dump_slots = models.PositiveIntegerField(default=0, help_text="most dumps the supervisor gives it (0: unknown, no cap)")
    host_dump_slots = models.PositiveIntegerField(
        default=0, help_text="most dumps for all the workers at its ip together (0: no cap)")

    class Meta:
        db_table = "waves"
        ordering = ["name"]

    def __str__(self):
        return self.name


class SchemaVersion(models.Model):
    """A table's columns from a binlog position on, for sources whose row events do not name their columns
    (workers/schema_history.py). `commit_seq` orders positions as workers.events.Position does."""

    instance = models.ForeignKey("Instance", on_delete=models.CASCADE, related_name="schema_versions")
    schema_name = models.CharField(max_length=64)
    table_name = models.CharField(max_length=64)
    binlog_file = models.CharField(max_length=255)
    binlog_pos = models.PositiveBigIntegerField()
    commit_seq = models.PositiveBigIntegerField(help_text="(file number << 32) | position")
    columns = models.JSONField(default=list, help_text="[{name, type, unsigned, values}] in table order")
    primary_key = models.JSONField(default=list)
    charset = models.CharField(max_length=64, blank=True, default="",
                               help_text="the table's default charset (a schema's marker row: the schema's)")
    dropped = models.BooleanField(default=False)
    refused = models.TextField(blank=True, default="", help_text="why the history stopped following this table")
    statement = models.TextField(blank=True, default="", help_text="the DDL that made this version; '' for a snapshot")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "schema_versions"
        ordering = ["instance", "schema_name", "table_name", "commit_seq"]
        constraints = [
            models.UniqueConstraint(fields=["instance", "schema_name", "table_name", "commit_seq"],
                                    name="schema_versions_position_uniq")
        ]

    def __str__(self):
        return f"{self.instance_id} {self.schema_name}.{self.table_name} @ {self.binlog_file}:{self.binlog_pos}"
