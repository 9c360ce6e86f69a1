#!/usr/bin/env python
"""Engine benchmark, workers included: library decode vs Tower's real dump path, and lag at a steady rate.

    .venv/bin/python bench/bench_engine.py [--changes 210000] [--repeat 3] [--lag-seconds 10] [--lag-rate 5000]

One run, one binlog: loads the mixed 9-column table (bench/common.py: bigint,
int, varchar, decimal, datetime, json, text, double, tinyint) with --changes
row changes (a third each inserts, updates, deletes, as multi-row statements of
1,000 rows: one transaction per statement, autocommit), then measures on that
same binlog range:

  decode_rows_per_s_library  python-mysql-replication reading `.rows` (decode time only)
  decode_rows_per_s_tower    workers.decoder.fast_rows on the same events (decode time only)
  decode_speedup             tower / library
  e2e_blackhole_rows_per_s   a real `celery -A tower worker` process running workers.dump_instance for an
                             instance with one blackhole subscription: leases, the binlog stream, subscription
                             delivery and fenced checkpoint commits. Timed from the dump's start (its
                             instance checkpoint row is created just before the stream opens) until the
                             subscription's committed checkpoint reaches the end of the loaded range (the
                             update_time of that commit); both stamps are written by the worker.
  e2e_blackhole_fieldlist_rows_per_s  the same with FieldList qty,price (only those and the key are decoded)
  e2e_redis_rows_per_s       the same with one Redis subscription (set mode, pipelined MULTI/EXEC per batch)
  e2e_vs_library_ratio       e2e_blackhole / decode library
  lag_p50_ms, lag_p99_ms     at a steady --lag-rate rows/s (100-row transactions every 20 ms) through the same
                             worker: from each transaction's COMMIT on the source to the first moment the
                             subscription's committed checkpoint is at or past its end (polled every 2 ms)
  isolation_healthy_lag_p99_ms  the same lag for a Redis subscription at --isolation-rate rows/s (2,000) while
                             a sibling subscription of the same instance writes to a Kafka "broker" that accepts
                             connections and never answers (HungServer); measured once the dump went on
                             without the sibling (TOWER_TARGET_STALL_SECONDS after its first write). Goal < 100
  failover_seconds           two workers that may both dump the instance and a real `celery beat`: the leading
                             worker is killed with SIGKILL (its whole process group, as a host dying), a row is
                             committed at once, and the figure is the time from the kill until the subscription's
                             committed checkpoint is past that row (polled every 10 ms), i.e. until the candidate
                             took the lease and delivered. Bounded by the lease TTL (TOWER_LEASE_TTL, printed as
                             failover_lease_ttl_s) + the supervisor's 3 s period + the dump's start; median of
                             --failover-runs kills (failover_runs), alternating which worker dies
  failover_takeover_seconds  from the kill until the other worker holds the lease (part of failover_seconds)

The Tower decoder, the library decoder and the blackhole dump each run --repeat
times over the same binlog range, in rounds (one of each per round); each
figure is the median of its runs, and the runs are printed too (`*_runs`): on a
shared 2-core machine one run can be 20% off either way.

The metadata DB is a private SQLite file (the default deployment), the broker
Redis db 8 and the Redis target Redis db 9 of TOWER_REDIS_URL.
"""
import argparse
import gc
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tower.services_env import read_services_env  # noqa: E402

BROKER_DB = 8
TARGET_DB = 9
TMP = Path(tempfile.mkdtemp(prefix="tower-bench-"))
WORKER = f"bench-{os.getpid()}"
os.environ["DJANGO_SETTINGS_MODULE"] = "tower.settings"
os.environ["TOWER_DATA_DIR"] = str(TMP)
os.environ.setdefault("TOWER_DATABASE_URL", f"sqlite:///{TMP / 'bench.db'}")  # bench_density.py may set its own


def _redis_base():
    url = os.environ.get("TOWER_REDIS_URL") or read_services_env().get("TOWER_REDIS_URL")
    return (url or "redis://127.0.0.1:6379/0").rsplit("/", 1)[0]


def redis_db(db):
    return f"{_redis_base()}/{db}"


# The bench process dispatches through the same private broker db the bench worker consumes.
os.environ["TOWER_BROKER_URL"] = redis_db(BROKER_DB)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from bench.bench_decode import decode_library, decode_tower  # noqa: E402
from bench.common import load_mixed, read_row_events, require_url, timed  # noqa: E402
from workers.decoder.testing import connect, settings as conn_settings  # noqa: E402


def at_or_past(file, pos, end):
    return (int(file.rsplit(".", 1)[1]), int(pos)) >= (int(end[0].rsplit(".", 1)[1]), int(end[1]))


# --- decode, both ways, same events ------------------------------------------------------------


def decode_rate(url, start, end, decode):
    """(rows, rows/s) of `decode` over freshly read events (each decoder consumes its events)."""
    gc.collect()
    _, events = timed(read_row_events, url, start, end)
    seconds, rows = timed(decode, events)
    return rows, rows / seconds


def runs(rates):
    return ", ".join(f"{r:.0f}" for r in rates)


# --- a real worker -----------------------------------------------------------------------------


class Worker:
    def __init__(self, name=WORKER, flush_broker=True, **extra_env):
        import redis

        if flush_broker:
            redis.Redis.from_url(redis_db(BROKER_DB)).flushdb()
        self.name = name
        self.log = open(TMP / f"{name}.log", "ab")
        env = {**os.environ, "TOWER_BROKER_URL": redis_db(BROKER_DB), "TOWER_WORKER_NAME": name,
               "TOWER_WORKER_CONCURRENCY": "2", "PYTHONPATH": str(ROOT), "TOWER_LOG_LEVEL": "WARNING", **extra_env}
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "celery"), "-A", "tower", "worker", "-n", f"{name}@%h",
             "-l", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        from console.domain.fleet import live_worker_names

        deadline = time.monotonic() + 60
        while name not in live_worker_names():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the bench worker {name} did not start; see {TMP / f'{name}.log'}")
            time.sleep(0.2)

    def kill(self):
        """SIGKILL the worker and its pool: the host died."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass


def make_instance(url):
    """The bench's instance on the source (an instance's id is md5(host:port): one per source)."""
    from console.models import Group, Instance

    s = conn_settings(url)
    group, _ = Group.objects.get_or_create(name="bench")
    return Instance.objects.create(
        group=group, host=s["host"], port=s["port"], user=s["user"], password=s["passwd"], status="dump",
        state="OFFLINE", slave_id=random.randint(100_000, 4_000_000_000), candidates=[WORKER],
    )


def start_dump(instance, start, target_uri, name, field_list="", siblings=()):
    """Dump `instance` from `start` into one new subscription to `target_uri` (and one more per URI of
    `siblings`), handed to the bench worker."""
    from console.models import Checkpoint, Instance, Subscription, Target
    from workers.tasks import supervise

    Subscription.objects.filter(instance=instance).delete()
    Checkpoint.objects.filter(instance=instance).delete()
    Instance.objects.filter(pk=instance.pk).update(
        binlog_file=start[0], binlog_pos=start[1], gtid_set="", state="ONLINE", retry_times=0, next_start_at=None)
    target = Target.objects.create(name=f"{name}-target", group=instance.group, uri=target_uri)
    sub = Subscription.objects.create(name=name, group=instance.group, instance=instance, target=target, tables="*.*",
                                      field_list=field_list)
    for n, uri in enumerate(siblings):
        other = Target.objects.create(name=f"{name}-sibling-{n}", group=instance.group, uri=uri)
        Subscription.objects.create(name=f"{name}-sibling-{n}", group=instance.group, instance=instance,
                                    target=other, tables="*.*")
    supervise()  # the worker, as the fleet's owner, may have dispatched it already: either will do
    if not Instance.objects.filter(pk=instance.pk, lease_expires__isnull=False).exists():
        raise SystemExit("the supervisor did not dispatch the bench instance")
    return sub


def stop_dump(instance, timeout=30):
    """Offline; wait until the dump flushed and released its lease."""
    from console.models import Instance

    Instance.objects.filter(pk=instance.pk).update(state="OFFLINE")
    deadline = time.monotonic() + timeout
    while Instance.objects.filter(pk=instance.pk, lease_expires__isnull=False).exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"the dump did not stop; see {TMP / 'worker.log'}")
        time.sleep(0.1)


def e2e(instance, start, end, target_uri, name, rows, timeout=600, field_list=""):
    """rows/s of a real dump from `start` until the subscription's committed checkpoint reaches `end`."""
    from console.models import Checkpoint

    sub = start_dump(instance, start, target_uri, name, field_list)
    deadline = time.monotonic() + timeout
    try:
        while True:
            done = Checkpoint.objects.filter(instance=instance, subscription=sub).first()
            if done is not None and done.binlog_file and at_or_past(done.binlog_file, done.binlog_pos, end):
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"{name}: the dump did not reach {end} in {timeout}s; see {TMP / 'worker.log'}")
            time.sleep(0.05)
        began = Checkpoint.objects.get(instance=instance, subscription__isnull=True).create_time
        seconds = (done.update_time - began).total_seconds()
    finally:
        stop_dump(instance)
    return rows / seconds, seconds


# --- lag at a steady rate ----------------------------------------------------------------------


def fresh_table(url, schema, columns):
    """A cursor on the source after creating an empty `schema`.t with `columns`."""
    cur = connect(url).cursor()
    cur.execute(f"CREATE DATABASE IF NOT EXISTS {schema}")
    cur.execute(f"DROP TABLE IF EXISTS {schema}.t")
    cur.execute(f"CREATE TABLE {schema}.t ({columns})")
    return cur


def lag(url, instance, seconds, rate, target_uri="blackhole://", siblings=(), settle=1.0, name="bench-lag"):
    """(p50, p99 ms, transactions measured, rows sent) of the subscription to `target_uri` at `rate` rows/s:
    from each COMMIT on the source to its checkpoint reaching it (the target has the rows)."""
    from console.models import Checkpoint

    cur = fresh_table(url, "tower_bench_lag", "id INT PRIMARY KEY, v VARCHAR(32)")
    cur.execute("SHOW MASTER STATUS")
    file, pos = cur.fetchone()[:2]
    sub = start_dump(instance, (file, int(pos)), target_uri, name, siblings=siblings)
    # Wait until the dump runs (its instance checkpoint exists), so start-up is not counted as lag.
    deadline = time.monotonic() + 30
    while not Checkpoint.objects.filter(instance=instance, subscription__isnull=True).exists():
        if time.monotonic() > deadline:
            raise SystemExit("lag: the dump did not start")
        time.sleep(0.05)
    cur.execute("INSERT INTO tower_bench_lag.t VALUES (-1, 'warm-up')")  # the siblings get a first write too
    time.sleep(settle)

    seen = []  # (perf_counter, file number, pos) each time the committed checkpoint moved
    stop = threading.Event()

    def poll():
        db = sqlite3.connect(settings.DATABASES["default"]["NAME"], timeout=5)
        last = None
        while not stop.is_set():
            row = db.execute("SELECT binlog_file, binlog_pos FROM checkpoints WHERE subscription_id = ?",
                             (sub.pk,)).fetchone()
            if row and row != last and row[0]:
                seen.append((time.perf_counter(), int(row[0].rsplit(".", 1)[1]), int(row[1])))
                last = row
            time.sleep(0.002)
        db.close()

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    per_tick, tick = rate // 50, 0.02
    committed = []  # (perf_counter at COMMIT, file number, end pos of the master after it)
    i = 0
    t_end = time.perf_counter() + seconds
    next_tick = time.perf_counter()
    while time.perf_counter() < t_end:
        cur.executemany("INSERT INTO tower_bench_lag.t VALUES (%s, %s)", [(i + k, "x") for k in range(per_tick)])
        at = time.perf_counter()
        cur.execute("SHOW MASTER STATUS")
        f, p = cur.fetchone()[:2]
        committed.append((at, int(f.rsplit(".", 1)[1]), int(p)))
        i += per_tick
        next_tick += tick
        time.sleep(max(0.0, next_tick - time.perf_counter()))
    deadline = time.perf_counter() + 30
    while time.perf_counter() < deadline and (not seen or seen[-1][1:] < committed[-1][1:]):
        time.sleep(0.05)
    stop.set()
    poller.join(timeout=5)
    stop_dump(instance)
    cur.execute("DROP DATABASE tower_bench_lag")
    cur.connection.close()
    lags = []
    k = 0
    for at, f, p in committed:
        while k < len(seen) and seen[k][1:] < (f, p):
            k += 1
        if k == len(seen):
            break
        lags.append((seen[k][0] - at) * 1000)
    lags.sort()
    if not lags:
        return None, None, 0, i
    return lags[len(lags) // 2], lags[min(len(lags) - 1, int(len(lags) * 0.99))], len(lags), i


class HungServer:
    """A TCP server that accepts connections and never answers (a target that hangs), on a free local port."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)  # read nothing, answer nothing

    def close(self):
        self.sock.close()
        for conn in self.held:
            conn.close()


def isolation(url, instance, seconds, rate):
    """Lag of a healthy Redis subscription while its sibling's target (Kafka) accepts connections and never
    answers: the sibling's writes hang in its own thread (workers.courier) and the healthy one goes on."""
    hung = HungServer()
    try:
        # Measured once the dump went on without the sibling (TOWER_TARGET_STALL_SECONDS after its first write).
        return lag(url, instance, seconds, rate, target_uri=redis_db(TARGET_DB),
                   siblings=[f"kafka://127.0.0.1:{hung.port}/bench-hung"], settle=settings.TOWER_TARGET_STALL_SECONDS + 2,
                   name="bench-isolation")
    finally:
        hung.close()


# --- failover after a worker dies ---------------------------------------------------------------


class Beat:
    """`celery -A tower beat`: runs the supervisor every 3 s, which hands a lapsed lease to a live candidate."""

    def __init__(self):
        self.log = open(TMP / "beat.log", "ab")
        env = {**os.environ, "TOWER_BROKER_URL": redis_db(BROKER_DB), "PYTHONPATH": str(ROOT), "TOWER_LOG_LEVEL": "WARNING"}
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "celery"), "-A", "tower", "beat", "-l", "WARNING",
             "-s", str(TMP / "beat-schedule"), "--pidfile="],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def stop(self):
        Worker.stop(self)


def _poll(condition, timeout, what, interval=0.01):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"failover: {what} did not happen in {timeout}s; see the logs in {TMP}")
        time.sleep(interval)


def failover(url, instance, main_worker, kills):
    """Seconds from SIGKILL of the leading worker to (the other worker holding the lease, delivery resumed)."""
    from django.utils import timezone

    from console.models import Checkpoint, Instance

    cur = fresh_table(url, "tower_bench_failover", "id INT PRIMARY KEY")
    other = Worker(f"{WORKER}-b", flush_broker=False)
    pool = {main_worker.name: main_worker, other.name: other}
    Instance.objects.filter(pk=instance.pk).update(candidates=list(pool))
    cur.execute("SHOW MASTER STATUS")
    file, pos = cur.fetchone()[:2]
    version = Instance.objects.values_list("leader_version", flat=True).get(pk=instance.pk)
    sub = start_dump(instance, (file, int(pos)), "blackhole://", "bench-failover")
    beat = Beat()

    def holder(after_version, not_by=None):
        """(leader, version) once a worker other than `not_by` took the lease after `after_version`.
        (A dispatch names the next leader without a new version; taking the lease increments it.)"""
        i = Instance.objects.get(pk=instance.pk)
        live = i.lease_expires is not None and i.lease_expires > timezone.now() and i.leader_version > after_version
        return (i.leader, i.leader_version) if live and i.leader != not_by else None

    def delivered(end):
        cp = Checkpoint.objects.filter(instance=instance, subscription=sub).first()
        return cp is not None and bool(cp.binlog_file) and at_or_past(cp.binlog_file, cp.binlog_pos, end)

    def commit_row(i):
        cur.execute("INSERT INTO tower_bench_failover.t VALUES (%s)", (i,))
        cur.execute("SHOW MASTER STATUS")
        f, p = cur.fetchone()[:2]
        return f, int(p)

    totals, takeovers = [], []
    try:
        leader = _poll(lambda: holder(version), 60, "a first leader")
        first = commit_row(0)
        _poll(lambda: delivered(first), 60, "a first delivery")
        for k in range(1, kills + 1):
            name, version = leader
            pool[name].kill()
            killed = time.perf_counter()
            end = commit_row(k)
            leader = _poll(lambda: holder(version, not_by=name), 120, "the takeover")
            takeovers.append(time.perf_counter() - killed)
            _poll(lambda: delivered(end), 120, "delivery by the new leader")
            totals.append(time.perf_counter() - killed)
            back = Worker(name, flush_broker=False)  # the host comes back, a candidate again
            if name == main_worker.name:  # main() stops its worker at the end: the one running now
                main_worker.proc, main_worker.log = back.proc, back.log
            else:
                pool[name] = back
    finally:
        beat.stop()
        stop_dump(instance, timeout=60)
        for name, worker in pool.items():
            if name != main_worker.name:
                worker.stop()
        cur.execute("DROP DATABASE tower_bench_failover")
        cur.connection.close()
    return totals, takeovers


FIELD_LIST = "qty,price"  # with the primary key: 3 of the bench table's 9 columns


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=210_000)
    parser.add_argument("--lag-seconds", type=float, default=10)
    parser.add_argument("--lag-rate", type=int, default=5000)
    parser.add_argument("--isolation-rate", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3,
                        help="decode and blackhole runs over the same binlog; their medians are reported")
    parser.add_argument("--skip-lag", action="store_true")
    parser.add_argument("--failover-runs", type=int, default=3, help="workers killed for failover_seconds (0: skip)")
    parser.add_argument("--keep", action="store_true", help=f"keep {TMP} (worker log, metadata DB)")
    args = parser.parse_args()
    url = require_url()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally: stop the worker
    call_command("migrate", verbosity=0)
    import redis

    target = redis.Redis.from_url(redis_db(TARGET_DB))
    target.flushdb()
    t0 = time.perf_counter()
    start, end = load_mixed(url, changes=args.changes)
    print(f"load_seconds: {time.perf_counter() - t0:.1f}", flush=True)
    print("bench_table: tower_bench.mixed, 9 columns; transactions of 1000 row changes (one multi-row statement each)")
    worker = Worker()
    instance = make_instance(url)
    try:
        # Each round measures the three on the same binlog within a few seconds of each other, so a slower or
        # faster spell of the machine weighs on all of them, not on one.
        lib_runs, tower_runs, bh_runs = [], [], []
        for i in range(args.repeat):
            rows, rate = decode_rate(url, start, end, decode_tower)
            tower_runs.append(rate)
            n_lib, rate = decode_rate(url, start, end, decode_library)
            lib_runs.append(rate)
            if n_lib != rows:
                raise SystemExit(f"row count mismatch: tower {rows} != library {n_lib}")
            rate, seconds = e2e(instance, start, end, "blackhole://", f"bench-blackhole-{i}", rows)
            bh_runs.append(rate)
        lib, tower, bh = statistics.median(lib_runs), statistics.median(tower_runs), statistics.median(bh_runs)
        print(f"row_changes: {rows}")
        print(f"fast_decoder: {'on' if settings.TOWER_FAST_DECODER else 'off'}")
        print(f"decode_library_runs: {runs(lib_runs)}")
        print(f"decode_tower_runs: {runs(tower_runs)}")
        print(f"decode_rows_per_s_library: {lib:.0f}")
        print(f"decode_rows_per_s_tower: {tower:.0f}")
        print(f"decode_speedup: {tower / lib:.2f}")
        print(f"e2e_blackhole_runs: {runs(bh_runs)}")
        print(f"e2e_blackhole_seconds: {rows / bh:.2f}")
        print(f"e2e_blackhole_rows_per_s: {bh:.0f}", flush=True)
        fl, _ = e2e(instance, start, end, "blackhole://", "bench-fieldlist", rows, field_list=FIELD_LIST)
        print(f"e2e_blackhole_fieldlist_rows_per_s: {fl:.0f}  (FieldList {FIELD_LIST}: the other 6 columns not decoded)",
              flush=True)
        rd, rd_s = e2e(instance, start, end, redis_db(TARGET_DB), "bench-redis", rows)
        print(f"e2e_redis_seconds: {rd_s:.2f}")
        print(f"e2e_redis_rows_per_s: {rd:.0f}")
        print(f"e2e_vs_library_ratio: {bh / lib:.2f}", flush=True)
        if not args.skip_lag:
            p50, p99, n, sent = lag(url, instance, args.lag_seconds, args.lag_rate)
            print(f"lag_rows_sent: {sent}")
            print(f"lag_transactions_measured: {n}")
            print(f"lag_p50_ms: {p50:.1f}" if p50 is not None else "lag_p50_ms: n/a")
            print(f"lag_p99_ms: {p99:.1f}" if p99 is not None else "lag_p99_ms: n/a", flush=True)
            p50, p99, n, sent = isolation(url, instance, args.lag_seconds, args.isolation_rate)
            print(f"isolation_rows_sent: {sent}  (a Redis subscription at {args.isolation_rate} rows/s; its "
                  f"sibling's Kafka target accepts connections and never answers)")
            print(f"isolation_healthy_lag_p50_ms: {p50:.1f}" if p50 is not None else "isolation_healthy_lag_p50_ms: n/a")
            print(f"isolation_healthy_lag_p99_ms: {p99:.1f}  (goal < 100)" if p99 is not None
                  else "isolation_healthy_lag_p99_ms: n/a", flush=True)
        if args.failover_runs > 0:
            from workers.lease import LEASE_TTL

            totals, takeovers = failover(url, instance, worker, args.failover_runs)
            print(f"failover_lease_ttl_s: {LEASE_TTL.total_seconds():g}")
            print(f"failover_runs: {', '.join(f'{t:.2f}' for t in totals)}")
            print(f"failover_takeover_seconds: {statistics.median(takeovers):.2f}")
            print(f"failover_seconds: {statistics.median(totals):.2f}", flush=True)
    finally:
        worker.stop()
        target.flushdb()
        if args.keep:
            print(f"bench_dir: {TMP}")
        else:
            shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
