"""Where a job or an instance is in the binlog, read from the checkpoints the engine writes.

Used by every surface that reports progress (TiCDC checkpoint_tso, CCR
job_progress, Bifrost BinlogPosition, manager /slave/status, /metrics).
"""
from dataclasses import dataclass

from workers import tso
from console.models import Checkpoint
from workers.events import Position


@dataclass
class Progress:
    binlog_file: str = ""
    binlog_pos: int = 0
    gtid_set: str = ""
    binlog_when: int = 0
    queued_file: str = ""
    queued_pos: int = 0
    updated = None  # when the checkpoint was last written

    @property
    def commit_seq(self) -> int:
        return Position(self.binlog_file, self.binlog_pos).commit_seq if self.binlog_file else 0

    @property
    def file_number(self) -> int:
        return Position(self.binlog_file, self.binlog_pos).file_number if self.binlog_file else 0

    @property
    def ts(self) -> int:
        return tso.position_ts(self.binlog_when, self.binlog_pos)

    @property
    def queued_ts(self) -> int:
        """TiCDC's resolved_ts: the queued position (it has no timestamp of its own, so the succeeded one's second)."""
        if self.queued_file == self.binlog_file and self.queued_pos > self.binlog_pos:
            return tso.position_ts(self.binlog_when, self.queued_pos)
        return self.ts


def _from_checkpoint(cp):
    p = Progress(cp.binlog_file, cp.binlog_pos, cp.gtid_set, cp.binlog_when, cp.queued_file, cp.queued_pos)
    p.updated = cp.update_time
    return p


def job_progress(job) -> Progress:
    """The job's last succeeded position; before its first checkpoint, the instance's."""
    cp = Checkpoint.objects.filter(subscription=job).first()
    if cp is not None and cp.binlog_file:
        return _from_checkpoint(cp)
    return instance_progress(job.instance)


def instance_progress(instance) -> Progress:
    """The instance's dumped position: its checkpoint when the engine wrote one, else the instance's own fields."""
    cp = Checkpoint.objects.filter(instance=instance, subscription__isnull=True).first()
    if cp is not None and cp.binlog_file:
        return _from_checkpoint(cp)
    p = Progress(instance.binlog_file, instance.binlog_pos, instance.gtid_set, instance.binlog_when)
    return p


def lag_bytes(instance, progress: Progress) -> int:
    """Bytes between a position and the master's last sampled position (same file), else the instance's lag."""
    if instance.master_file and instance.master_file == progress.binlog_file:
        return max(0, instance.master_pos - progress.binlog_pos)
    return max(0, instance.lag_bytes)
