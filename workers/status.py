"""Master status vs dumped position: lag in bytes, events (transactions) and seconds, stored on the Instance
with how far its furthest subscription is behind (console.domain.progress.behind_fields)."""
import time

from django.utils import timezone

from console.domain import progress
from console.models import Instance

from .source import binary_logs, connect_instance, master_status


def _gtid_seqs(text: str) -> dict:
    """MariaDB 'd-s-n,…' -> {domain: n}; MySQL 'uuid:1-n,…' -> {uuid: n}."""
    out = {}
    for item in filter(None, (s.strip() for s in (text or "").replace("\n", "").split(","))):
        if ":" in item:
            uuid, _, ranges = item.partition(":")
            last = ranges.split(":")[-1].split("-")[-1]
            if last.isdigit():
                out[uuid] = int(last)
        else:
            parts = item.split("-")
            if len(parts) == 3 and parts[2].isdigit():
                out[parts[0]] = int(parts[2])
    return out


def lag_bytes(dumped_file, dumped_pos, master_file, master_pos, logs) -> int:
    if not dumped_file:
        return 0
    if dumped_file == master_file:
        return max(0, master_pos - dumped_pos)
    sizes = dict(logs)
    names = [name for name, _ in logs]
    if dumped_file not in sizes or master_file not in sizes:
        return 0
    total = max(0, sizes[dumped_file] - dumped_pos)
    for name in names[names.index(dumped_file) + 1:names.index(master_file)]:
        total += sizes[name]
    return total + master_pos


def lag_events(dumped_gtid, master_gtid) -> int:
    dumped, master = _gtid_seqs(dumped_gtid), _gtid_seqs(master_gtid)
    return sum(max(0, n - dumped.get(domain, 0)) for domain, n in master.items()) if dumped else 0


def sample(instance) -> dict:
    """Ask the source where its binlog ends and store the lag, fenced by the leader_version read."""
    conn = connect_instance(instance, read_timeout=10)
    try:
        master = master_status(conn)
        logs = binary_logs(conn)
    finally:
        conn.close()
    behind_bytes = lag_bytes(instance.binlog_file, instance.binlog_pos, master["file"], master["pos"], logs)
    behind_events = lag_events(instance.gtid_set, master["gtid"])
    seconds = 0
    if (behind_bytes or behind_events) and instance.binlog_when:
        seconds = max(0, int(time.time()) - int(instance.binlog_when))
    values = dict(
        master_file=master["file"], master_pos=master["pos"], master_gtid=master["gtid"],
        lag_bytes=behind_bytes, lag_events=behind_events, lag_seconds=seconds, status_time=timezone.now(),
    )
    for field, value in values.items():
        setattr(instance, field, value)
    values.update(progress.behind_fields(instance))  # with the subscriptions: how the monitor ranks it
    Instance.objects.filter(pk=instance.pk, leader_version=instance.leader_version).update(**values)
    return values
