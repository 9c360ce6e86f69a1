from django.db import models
from django.utils import timezone

from console.choices import SubscriptionState, SyncPhase

from .base import TimestampedModel
from .groups import Group
from .instances import Instance
from .rules import MqRule
from .targets import Target


class Subscription(TimestampedModel):
    """An instance's changes delivered to a target. A TiCDC changefeed and a CCR job are this object, by name."""

    name = models.CharField(max_length=128, unique=True)
    group = models.ForeignKey(Group, on_delete=models.CASCADE, db_column="group_id", related_name="subscriptions")
    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, db_column="instance_id", related_name="subscriptions")
    target = models.ForeignKey(Target, on_delete=models.PROTECT, db_column="target_id", related_name="subscriptions")
    mq_rule = models.ForeignKey(
        MqRule, null=True, blank=True, on_delete=models.SET_NULL, db_column="mq_rule_id", related_name="subscriptions"
    )
    tables = models.TextField(default="*.*", help_text="comma separated schema.table patterns (* wildcards, ! excludes)")
    field_list = models.TextField(blank=True, default="", help_text="the columns sent, comma separated (Bifrost's FieldList); empty = all")
    filter_query = models.BooleanField(default=False, help_text="do not send DDL and other statements, rows only (Bifrost's FilterQuery)")
    filter_update = models.BooleanField(default=False, help_text="do not send an update that changes none of the columns sent (Bifrost's FilterUpdate)")
    must_be_success = models.BooleanField(default=True, help_text="retry a refused change until accepted instead of skipping it (Bifrost's MustBeSuccess)")
    state = models.CharField(max_length=16, choices=SubscriptionState.choices, default=SubscriptionState.NORMAL)
    phase = models.CharField(max_length=16, choices=SyncPhase.choices, default=SyncPhase.INCREMENTAL)
    options = models.JSONField(default=dict, blank=True, help_text="sink_config, dispatchers, host mapping, …")
    start_ts = models.BigIntegerField(default=0)
    target_ts = models.BigIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    error_wait_data = models.JSONField(null=True, blank=True, help_text="the event that keeps failing")
    error_count = models.PositiveBigIntegerField(default=0)
    skipped_count = models.PositiveBigIntegerField(default=0)
    skip_next = models.BooleanField(default=False, help_text="operator's 'miss': skip the failing event once")
    fullsync_total = models.BigIntegerField(default=0)
    fullsync_done = models.BigIntegerField(default=0)
    fullsync_state = models.JSONField(default=dict, blank=True, help_text="table and last primary key copied")
    fullsync_started = models.DateTimeField(null=True, blank=True)
    fullsync_finished = models.DateTimeField(null=True, blank=True, help_text="when the last full sync copied its last row")
    created_by = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        db_table = "subscriptions"
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def fullsync_progress(self):
        """Rows done / estimated total, percent, rows/s and ETA (s) of the running or last full sync; None if none."""
        if self.fullsync_started is None and not self.fullsync_total:
            return None
        total, done = max(self.fullsync_total, 0), max(self.fullsync_done, 0)
        running = self.phase == "FullSync"
        elapsed = (self._fullsync_end(running) - self.fullsync_started).total_seconds() if self.fullsync_started else 0
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (max(total - done, 0) / rate) if running and rate > 0 else (0.0 if not running else None)
        percent = 100.0 if not running else (min(100.0, 100.0 * done / total) if total else 0.0)
        return {"done": done, "total": total, "percent": round(percent, 1), "rows_per_s": round(rate, 1),
                "eta_s": None if eta is None else round(eta), "running": running}

    def _fullsync_end(self, running):
        """Until when the full sync's rate counts: now while it runs, its finish once done, so the rate stays."""
        if running:
            return timezone.now()
        if self.fullsync_finished and self.fullsync_finished >= self.fullsync_started:
            return self.fullsync_finished
        # Finished before the finish time was recorded: the row's last save is the nearest time known.
        return max(self.update_time or self.fullsync_started, self.fullsync_started)
