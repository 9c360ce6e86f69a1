"""Celery tasks of the engine (autodiscovered by the `tower` app).

- `workers.supervise` (beat, every 3 s): hands every online `dump` instance
  without a live lease to a live worker's own queue `tower.dump.<name>`. The
  fleet's owner runs the same pass from its own host every 3 s too
  (workers.workerhost), so supervision does not depend on beat being alive.
- `workers.dump_instance` (long-running, on that queue): takes the lease and
  runs the dump loop until offline, fenced or failed.
- `workers.sample_status` (beat, every 5 s): master status and lag of dumping instances.
- `workers.heartbeat`: refreshes the executing worker in `waves` (workers also
  heartbeat from a thread started at worker_ready, see workers.workerhost).
"""
import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from console.choices import DumpState, InstanceStatus
from console.domain import fleet
from console.models import Config, Instance

from . import lease, workerhost
from .dump import Dump
from .masking import mask_text
from .flow import prune

log = logging.getLogger(__name__)

BACKOFF_CAP = 60  # seconds between failed starts at most


def backoff_seconds(retry_times: int) -> int:
    return min(2 ** max(0, retry_times), BACKOFF_CAP)


def choose_worker(instance, live, load) -> str | None:
    """The named leader when it is alive and did not let its lease lapse, else the least loaded live candidate,
    else any live worker."""
    if not live:
        return None
    # A lease that lapsed (rather than was released, or cleared by set_leader) means its holder stopped renewing
    # it: killed, with a heartbeat not yet stale for WORKER_TTL, or stuck, or never started a dispatched dump.
    # Handing it back would cost a START_GRACE before the next try, so another live candidate goes first.
    lapsed = instance.leader if instance.lease_expires is not None else None
    if instance.leader in live and lapsed is None:
        # The last or operator-named leader (set_leader); after a crash it is not alive any more.
        return instance.leader
    candidates = [c for c in (instance.candidates or []) if c in live]
    pool = [c for c in candidates if c != lapsed] or candidates or sorted(live - {lapsed}) or sorted(live)
    return min(pool, key=lambda name: (load.get(name, 0), pool.index(name)))


def with_room(workers, load) -> set:
    """Names of the workers that may take one more dump: under their own dump_slots, and their machine (the
    workers sharing an ip) under its host_dump_slots. `workers`: (name, ip, dump_slots, host_dump_slots) rows;
    0 slots means no cap."""
    on_host = {}
    host_cap = {}
    for name, ip, _slots, host_slots in workers:
        on_host[ip] = on_host.get(ip, 0) + load.get(name, 0)
        if host_slots:
            host_cap[ip] = min(host_cap.get(ip, host_slots), host_slots)
    return {name for name, ip, slots, _host_slots in workers
            if (not slots or load.get(name, 0) < slots) and (ip not in host_cap or on_host[ip] < host_cap[ip])}


def dispatchable(now=None):
    now = now or timezone.now()
    latch = Config.current().retry_latch
    return (
        Instance.objects.filter(status=InstanceStatus.DUMP, state=DumpState.ONLINE, retry_times__lte=latch)
        .filter(Q(lease_expires__isnull=True) | Q(lease_expires__lte=now))
        .filter(Q(next_start_at__isnull=True) | Q(next_start_at__lte=now))
    )


@shared_task(name="workers.supervise", ignore_result=True)
def supervise():
    now = timezone.now()
    fleet.ensure_owner(now)  # a dead owner is replaced here too, not only by the worker hosts
    return hand_out(now)


def hand_out(now=None) -> list:
    """One supervisor pass: dispatch every instance that needs a leader; the (instance id, worker) pairs sent.

    Run by the owner's host and by beat's `workers.supervise`, possibly at the same time or by an owner that
    was just replaced: harmless, because only lease.dispatch (a compare-and-set on the lease) grants an
    instance, and a second pass finds it taken.
    """
    now = now or timezone.now()
    workers = list(fleet.live_workers(now).values_list("name", "ip", "dump_slots", "host_dump_slots"))
    load = dict(
        Instance.objects.filter(lease_expires__gt=now).values_list("leader").annotate(n=Count("id")).values_list("leader", "n")
    )
    sent = []
    full = 0
    for instance in dispatchable(now):
        worker = choose_worker(instance, with_room(workers, load), load)
        if worker is None:
            full += bool(workers)
            continue
        if lease.dispatch(instance.pk, worker, instance.leader_version):
            dump_instance.apply_async(args=(instance.pk, instance.leader_version), queue=workerhost.dump_queue(worker))
            load[worker] = load.get(worker, 0) + 1
            sent.append((instance.pk, worker))
    if full:
        log.warning("%s instance(s) wait for a worker: every live worker has its TOWER_DUMP_SLOTS dumps, or its "
                    "machine its TOWER_DUMPS_PER_HOST", full)
    return sent


@shared_task(name="workers.dump_instance", ignore_result=True, acks_late=False)
def dump_instance(instance_id, version):
    worker = settings.WORKER_NAME
    mine = lease.take(instance_id, worker, version)
    if mine is None:
        log.info("dump of %s at version %s: lease not mine (taken or moved)", instance_id, version)
        return "not taken"
    log.info("dump of %s: leader %s at version %s", instance_id, worker, mine)
    try:
        Dump(instance_id, worker, mine).run()
        return "stopped"
    except lease.Fenced as exc:
        log.warning("dump of %s fenced: %s", instance_id, exc)
        return "fenced"
    except Exception as exc:  # noqa: BLE001 - every failure is a failed start/run, counted and retried
        log.exception("dump of %s failed", instance_id)
        record_failure(instance_id, worker, mine, exc)
        return "failed"
    finally:
        lease.release(instance_id, worker, mine)


def record_failure(instance_id, worker, version, exc):
    instance = Instance.objects.filter(pk=instance_id, leader_version=version).first()
    if instance is None:
        return
    retry = instance.retry_times + 1
    Instance.objects.filter(pk=instance_id, leader_version=version).update(
        retry_times=retry, last_error=mask_text(f"{type(exc).__name__}: {exc}")[:4000],
        next_start_at=timezone.now() + timedelta(seconds=backoff_seconds(retry)), update_time=timezone.now(),
    )


@shared_task(name="workers.sample_status", ignore_result=True)
def sample_status():
    from .status import sample

    done = 0
    for instance in Instance.objects.filter(status=InstanceStatus.DUMP).exclude(binlog_file=""):
        try:
            sample(instance)
            done += 1
        except Exception as exc:  # noqa: BLE001 - one unreachable source must not stop the others
            log.warning("status of %s: %s", instance, exc)
    prune()
    return done


@shared_task(name="workers.heartbeat", ignore_result=True)
def heartbeat():
    workerhost.heartbeat()
