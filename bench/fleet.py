"""A fleet of dumping instances made in bulk in the metadata DB, as the engine would have left it.

Shared by bench/bench_control_plane.py (10,000 instances) and the query-count tests
(tests/control_plane/), which compare the queries of every page and endpoint at two sizes. Each instance is
in `dump` with a live leader, a master sample, its own checkpoint and flow samples; each of its
subscriptions has a checkpoint and flow samples too, and the states a fleet really has are mixed in (a
stopped job, a job its target refuses, a source that keeps failing), so every branch of the read models runs.
"""
from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from console.ids import md5_id

BATCH = 500


def make_fleet(instances: int, subscriptions_per_instance: int = 2, groups=None, prefix: str = "fleet",
               worker: str = "fleet-worker@bench") -> dict:
    """Create `instances` instances over `groups`: a number of new groups (default one per 100 instances, at
    least 2) or a list of existing Group rows, to grow a fleet made before.

    Returns {"groups": [Group], "worker": the Wave's name}. Instance hosts are `<prefix>-<n>.example`, so two
    fleets with different prefixes can live in one database.
    """
    from console.models import Checkpoint, FlowSample, Group, Instance, Subscription, Target, Wave

    now = timezone.now()
    with transaction.atomic():
        if isinstance(groups, (list, tuple)):
            group_rows = list(groups)
        else:
            group_rows = [Group(id=md5_id(f"{prefix}-g{g}"), name=f"{prefix}-g{g}")
                          for g in range(groups or max(2, instances // 100))]
            Group.objects.bulk_create(group_rows, batch_size=BATCH)
        groups = len(group_rows)
        targets = [Target(name=f"{prefix}-redis-{g}", group=group, kind="redis",
                          uri=f"redis://127.0.0.1:6399/{g % 16}", options={}) for g, group in enumerate(group_rows)]
        Target.objects.bulk_create(targets, batch_size=BATCH)
        Wave.objects.update_or_create(name=worker, defaults={"ip": "127.0.0.1", "port": 0, "last_heartbeat": now,
                                                             "is_owner": True})
        lease = now + timedelta(seconds=30)
        instance_rows = []
        for n in range(instances):
            host = f"{prefix}-{n}.example"
            failing = n % 50 == 7  # a source that keeps failing: its jobs show `error` past the grace
            instance_rows.append(Instance(
                id=md5_id(f"{host}:3306"), group=group_rows[n % groups], host=host, port=3306, status="dump",
                state="ONLINE", slave_id=100_000 + n, binlog_file="mysql-bin.000003", binlog_pos=4_000 + n,
                binlog_when=int(now.timestamp()) - n % 90, leader=worker, leader_version=1, lease_expires=lease,
                candidates=[worker], master_file="mysql-bin.000003", master_pos=9_000 + 3 * n,
                lag_bytes=n % 700, lag_seconds=n % 90, status_time=now,
                retry_times=3 if failing else 0, last_error="connection refused" if failing else "",
                decoder_stats={"generated_rows": n, "fallback_rows": 0, "fallback_reasons": {}},
            ))
        Instance.objects.bulk_create(instance_rows, batch_size=BATCH)
        jobs = []
        for n, instance in enumerate(instance_rows):
            for k in range(subscriptions_per_instance):
                index = n * subscriptions_per_instance + k
                state = ("stopped" if index % 23 == 5 else "error" if index % 31 == 3 else "normal")
                jobs.append(Subscription(
                    name=f"{prefix}-job-{index}", group=instance.group, instance=instance,
                    target=targets[n % groups], tables=f"db{k}.t{k},db{k}.u{k}", state=state,
                    error="target refuses the change" if state == "error" else "",
                ))
        Subscription.objects.bulk_create(jobs, batch_size=BATCH)
        jobs = list(Subscription.objects.filter(name__startswith=f"{prefix}-job-").only("pk", "instance_id"))
        old = now - timedelta(minutes=5)  # older than the error grace
        checkpoints = [Checkpoint(instance=i, binlog_file=i.binlog_file, binlog_pos=i.binlog_pos,
                                  binlog_when=i.binlog_when) for i in instance_rows]
        checkpoints += [Checkpoint(instance_id=j.instance_id, subscription_id=j.pk, binlog_file="mysql-bin.000003",
                                   binlog_pos=3_000 + j.pk % 1000, binlog_when=int(old.timestamp()),
                                   queued_file="mysql-bin.000003", queued_pos=3_500 + j.pk % 1000) for j in jobs]
        Checkpoint.objects.bulk_create(checkpoints, batch_size=BATCH)
        Checkpoint.objects.filter(instance__host__startswith=f"{prefix}-").update(update_time=old)
        samples = []
        for i in instance_rows:
            for minutes, count in ((3, 100), (1, 250)):
                at = now - timedelta(minutes=minutes)
                samples.append(FlowSample(time=at, instance=i, count=count, byte_size=count * 40))
                samples.append(FlowSample(time=at, instance=i, schema_name="db0", table_name="t0", count=count,
                                          byte_size=count * 40))
        for j in jobs:
            samples.append(FlowSample(time=now - timedelta(minutes=1), instance_id=j.instance_id,
                                      subscription_id=j.pk, count=50, byte_size=2_000))
        FlowSample.objects.bulk_create(samples, batch_size=BATCH)
    return {"groups": group_rows, "worker": worker}
