#!/usr/bin/env python
"""Density: many instances dumping at once on one worker host, their memory and their lag.

    .venv/bin/python bench/bench_density.py [--instances 100] [--rate 20] [--seconds 30] [--prefork-instances 2]

An instance is its source's host:port, so each of --instances instances is one local MariaDB at an address of
its own: by default (--addresses loopback) a private MariaDB the bench starts, listening on 127.0.0.2,
127.0.0.3, ... (MariaDB takes a list of bind addresses; all of 127/8 is this host); with --addresses
forwarders, the shared MariaDB through a local TCP forwarder per instance (bench/tcp_forward.py), whose relaying
of 100 binlog streams costs the host's CPU too. Each has one blackhole subscription to a table of its own
(tower_bench_density.t<n>) and gets --rate rows/s, as one transaction of --rate rows a second, the instances'
transactions spread evenly over the second. Every dump reads the whole binlog (the one server's), and decodes
only its own table's rows.

The worker host is --processes `celery -A tower worker` processes (default: one per core), each with
TOWER_DUMPS_PER_PROCESS=instances/processes: it runs its dumps as threads of its one process
(docs/architecture.md, "Many dumps per process"); TOWER_DUMPS_PER_HOST=--instances. The supervisor spreads the
instances over them. Every dump reads the whole binlog of the one server, so the read work grows with the
square of --instances here, where 100 real sources would each send their own 20 rows/s only.

  density_instances          instances dumping at once on the host (all leading, all delivering)
  density_rss_mb_idle        total RSS of the workers' processes with every dump running, before the load
  density_cpu_percent_idle, density_cpu_percent_load  their CPU use then (100 = one core), and under the load
  density_rss_mb_total       the peak total RSS of the workers' processes under the load (goal: 100 within 3,000)
  density_lag_p50_ms, density_lag_p99_ms  from each transaction's COMMIT on the source to the first moment its
                             instance's subscription checkpoint is at or past its end (polled every 10 ms;
                             goal p99 < 1,000)
  density_prefork_rss_mb_per_dump  beside them: the RSS of one prefork pool process running one dump (the one
                             dump per process deployment, TOWER_DUMPS_PER_PROCESS=1), measured on
                             --prefork-instances instances under the same load per instance

The metadata DB is, by default (--metadata mariadb), a private MariaDB server the bench starts: a host running
100 dumps is a deployment of several worker hosts, whose metadata DB is MySQL (docs/architecture.md). It cannot
be the source server: every dump would then read every other dump's metadata writes in the binlog.
--metadata sqlite uses a private SQLite file. The broker is Redis db 8 (as bench_engine.py).
"""
import argparse
import contextlib
import os
import random
import shutil
import signal
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))



def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--rate", type=int, default=20, help="rows/s per instance")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                        help="worker processes on the host (default: one per core), the instances spread over them")
    parser.add_argument("--prefork-instances", type=int, default=2, help="0: skip the prefork comparison")
    parser.add_argument("--metadata", choices=("mariadb", "sqlite"), default="mariadb",
                        help="the metadata DB: a private MariaDB server the bench starts, or a SQLite file")
    parser.add_argument("--addresses", choices=("loopback", "forwarders"), default="loopback",
                        help="how instances get distinct host:port: loopback addresses of a private source server, "
                             "or TCP forwarders to the shared one")
    parser.add_argument("--keep", action="store_true", help="keep the bench's directory (worker log, metadata DB)")
    return parser.parse_args()


# Before Django is set up (by bench_engine's import): the metadata DB's URL goes into the environment.
ARGS = parse_args()


def start_private_mariadb(prefix, bind="127.0.0.1"):
    """A private MariaDB on a free port, answering; (pid, directory, port)."""
    import tempfile

    sys.path.insert(0, str(ROOT / "scripts"))
    import services

    d = Path(tempfile.mkdtemp(prefix=prefix))
    state = services.start_mariadb(d, bind=bind)
    services.wait_until("mariadb", lambda: services.port_open(state["port"]), state["pid"], Path(state["log"]), 60)
    import pymysql

    deadline = time.monotonic() + 60
    while True:
        try:
            pymysql.connect(host="127.0.0.1", port=state["port"], user="root").close()
            return state["pid"], d, state["port"]
        except pymysql.MySQLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def start_metadata_server():
    """A private MariaDB for the metadata DB; (pid, directory)."""
    import pymysql

    pid, d, port = start_private_mariadb("tower-bench-density-meta-")
    conn = pymysql.connect(host="127.0.0.1", port=port, user="root")
    conn.cursor().execute("CREATE DATABASE tower CHARACTER SET utf8mb4")
    conn.close()
    os.environ["TOWER_DATABASE_URL"] = f"mysql://root@127.0.0.1:{port}/tower"
    return pid, d


def loopback_host(n):
    """The address of instance n in --addresses loopback (127.0.0.1 is the bench's own, to load the server)."""
    return f"127.0.{(n + 2) // 256}.{(n + 2) % 256}"


META_SERVER = start_metadata_server() if ARGS.metadata == "mariadb" else None
# --addresses loopback: the source, listening on an address per instance (the prefork comparison uses the first)
SOURCE_SERVER = (start_private_mariadb("tower-bench-density-source-", ",".join(
    ["127.0.0.1"] + [loopback_host(n) for n in range(ARGS.instances)])) if ARGS.addresses == "loopback" else None)

from bench import bench_engine as engine  # noqa: E402  (sets up Django on the bench's private metadata DB)

from django.core.management import call_command  # noqa: E402

from bench.common import group_processes, require_url, rss_bytes  # noqa: E402
from bench.tcp_forward import Forwarders  # noqa: E402
from workers.decoder.testing import connect, settings as conn_settings  # noqa: E402

SCHEMA = "tower_bench_density"
IDLE_SECONDS = 10


def tree_rss_mb(pid):
    """Total RSS of `pid`'s process group (the worker and any pool children), in MB."""
    return sum(rss_bytes(member) for member, _ in group_processes(pid)) / 2**20


def children_rss_mb(pid):
    """RSS of each pool child (a process of the group other than `pid`), in MB."""
    return [rss_bytes(member) / 2**20 for member, _ in group_processes(pid) if member != pid]


def cpu_seconds(pid):
    """CPU time (user + system) used so far by `pid`'s process group."""
    ticks = sum(int(fields[11]) + int(fields[12]) for _, fields in group_processes(pid))  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def make_instances(url, addresses, workers):
    """An ONLINE dump instance per (host, port) at the master's position, each with a blackhole subscription
    to its own table; [(instance id, subscription id, table)]."""
    from console.models import Checkpoint, Group, Instance, Subscription, Target

    s = conn_settings(url)
    cur = connect(url).cursor()
    cur.execute(f"DROP DATABASE IF EXISTS {SCHEMA}")
    cur.execute(f"CREATE DATABASE {SCHEMA}")
    for n in range(len(addresses)):
        cur.execute(f"CREATE TABLE {SCHEMA}.t{n} (id INT PRIMARY KEY, v VARCHAR(32), at DOUBLE)")
    cur.execute("SHOW MASTER STATUS")
    file, pos = cur.fetchone()[:2]
    cur.connection.close()
    group, _ = Group.objects.get_or_create(name="bench-density")
    Subscription.objects.filter(group=group).delete()
    Checkpoint.objects.filter(instance__group=group).delete()
    Instance.objects.filter(group=group).delete()
    Target.objects.filter(group=group).delete()
    out = []
    for n, (host, port) in enumerate(addresses):
        instance = Instance.objects.create(
            group=group, host=host, port=port, user=s["user"], password=s["passwd"], status="dump",
            state="ONLINE", slave_id=random.randint(100_000, 4_000_000_000), candidates=list(workers),
            binlog_file=file, binlog_pos=int(pos),
        )
        target = Target.objects.create(name=f"density-{n}", group=group, uri="blackhole://")
        sub = Subscription.objects.create(name=f"density-{n}", group=group, instance=instance, target=target,
                                          tables=f"{SCHEMA}.t{n}")
        out.append((instance.pk, sub.pk, f"t{n}"))
    return out


def wait_all_dumping(instances, timeout):
    """Until every instance has a live lease and its dump wrote its instance checkpoint (the stream is open)."""
    from django.utils import timezone

    from console.models import Checkpoint, Instance

    ids = [i for i, _, _ in instances]
    deadline = time.monotonic() + timeout
    while True:
        leading = Instance.objects.filter(pk__in=ids, lease_expires__gt=timezone.now(), leader_version__gt=0).count()
        started = Checkpoint.objects.filter(instance_id__in=ids, subscription__isnull=True).count()
        if leading == len(ids) and started == len(ids):
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"only {leading} of {len(ids)} instances lead and {started} dump after {timeout}s; "
                             f"see {engine.TMP}")
        time.sleep(0.2)


def load(url, instances, seconds, rate, rss_of):
    """Write --rate rows/s to each instance's table for `seconds`; (lags in ms, peak RSS MB, rows written)."""
    seen = {sub: [] for _, sub, _ in instances}  # subscription -> [(perf_counter, file no, pos)] as it moved
    stop = threading.Event()

    def poll():
        from django.db import connection

        from console.models import Checkpoint

        last = {}
        # the query's SQL once: compiled through the ORM 100 times a second, it was the bench's own load on the
        # host it measures
        sql, params = Checkpoint.objects.filter(subscription__isnull=False).values_list(
            "subscription_id", "binlog_file", "binlog_pos").query.sql_with_params()
        cursor = connection.cursor()
        while not stop.is_set():
            now = time.perf_counter()
            cursor.execute(sql, params)
            for sub, file, pos in cursor.fetchall():
                if sub in seen and file and last.get(sub) != (file, pos):
                    last[sub] = (file, pos)
                    seen[sub].append((now, int(file.rsplit(".", 1)[1]), int(pos)))
            time.sleep(0.01)
        connection.close()

    peak = [0.0]

    def sample_rss():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_of())
            stop.wait(0.5)

    threads = [threading.Thread(target=poll, daemon=True), threading.Thread(target=sample_rss, daemon=True)]
    for t in threads:
        t.start()
    conn = connect(url)
    cur = conn.cursor()
    committed = []  # (perf_counter at COMMIT, subscription, file no, end pos of the master after it)
    n = len(instances)
    step = 1.0 / n  # one transaction of `rate` rows per instance per second, spread over the second
    next_at = time.perf_counter()
    ends = next_at + seconds
    key = 0
    k = 0
    while next_at < ends:
        _, sub, table = instances[k % n]
        cur.executemany(f"INSERT INTO {SCHEMA}.{table} VALUES (%s, %s, %s)",
                        [(key + j, "x", time.time()) for j in range(rate)])
        at = time.perf_counter()
        cur.execute("SHOW MASTER STATUS")
        f, p = cur.fetchone()[:2]
        committed.append((at, sub, int(f.rsplit(".", 1)[1]), int(p)))
        key += rate
        k += 1
        next_at += step
        time.sleep(max(0.0, next_at - time.perf_counter()))
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline and any(
            not seen[sub] or seen[sub][-1][1:] < (f, p) for _, sub, f, p in committed[-n:]):
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join(timeout=5)
    conn.close()
    lags = []
    missing = 0
    for at, sub, f, p in committed:
        moved = next((when for when, mf, mp in seen[sub] if (mf, mp) >= (f, p)), None)
        if moved is None:
            missing += 1
        else:
            lags.append((moved - at) * 1000)
            if os.environ.get("DENSITY_LAGS_FILE"):
                with open(os.environ["DENSITY_LAGS_FILE"], "a") as out:
                    out.write(f"{at - committed[0][0]:.3f} {sub} {(moved - at) * 1000:.1f}\n")
    if missing:
        print(f"density_transactions_not_delivered_in_time: {missing}")
    return sorted(lags), peak[0], key


def percentile(values, q):
    return values[min(len(values) - 1, int(len(values) * q))] if values else float("nan")


@contextlib.contextmanager
def instance_addresses(url, count):
    """A distinct (host, port) for each of `count` instances, all reaching the source at `url`."""
    if ARGS.addresses == "loopback":
        yield [(loopback_host(n), conn_settings(url)["port"]) for n in range(count)]
        return
    with Forwarders(conn_settings(url)["host"], conn_settings(url)["port"], count) as ports:
        yield [("127.0.0.1", port) for port in ports]


def run(url, count, rate, seconds, processes, threads=True):
    """`count` instances on one host of `processes` workers: each runs its dumps as threads of its one process
    (threads=True, TOWER_DUMPS_PER_PROCESS), or one per prefork pool process; (figures dict, pool children RSS)."""
    per_process = -(-count // processes)
    names = [f"{engine.WORKER}-{count}-{n}" for n in range(processes)]
    env = ({"TOWER_DUMPS_PER_PROCESS": str(per_process), "TOWER_DUMPS_PER_HOST": str(count)} if threads
           else {"TOWER_WORKER_CONCURRENCY": str(per_process)})
    with instance_addresses(url, count) as addresses:
        instances = make_instances(url, addresses, names)
        workers = []
        try:
            for n, name in enumerate(names):
                workers.append(engine.Worker(name=name, flush_broker=n == 0, **env))
            pids = [w.proc.pid for w in workers]

            def rss():
                return sum(tree_rss_mb(pid) for pid in pids)

            def cpu():
                return sum(cpu_seconds(pid) for pid in pids)

            wait_all_dumping(instances, timeout=120 + count)
            figures = {"idle_rss": rss()}
            cpu_before, began = cpu(), time.monotonic()
            time.sleep(IDLE_SECONDS)  # measuring the idle cost: nothing to wait for
            figures["idle_cpu"] = (cpu() - cpu_before) / (time.monotonic() - began) * 100
            cpu_before, began = cpu(), time.monotonic()
            figures["lags"], figures["peak_rss"], figures["rows"] = load(url, instances, seconds, rate, rss)
            figures["load_cpu"] = (cpu() - cpu_before) / (time.monotonic() - began) * 100
            children = [c for pid in pids for c in children_rss_mb(pid)]
        finally:
            from console.models import Instance

            Instance.objects.filter(pk__in=[i for i, _, _ in instances]).update(state="OFFLINE")
            for worker in workers:
                worker.stop()
    return figures, children


def main():
    args = ARGS
    url = f"mysql://root@127.0.0.1:{SOURCE_SERVER[2]}/" if SOURCE_SERVER is not None else require_url()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    call_command("migrate", verbosity=0)
    try:
        f, _ = run(url, args.instances, args.rate, args.seconds, args.processes)
        per_process = -(-args.instances // args.processes)
        lags = f["lags"]
        print(f"density_instances: {args.instances}  ({args.processes} worker process(es) on this host, "
              f"TOWER_DUMPS_PER_PROCESS={per_process}, TOWER_DUMPS_PER_HOST={args.instances}; "
              f"metadata DB: {args.metadata}; addresses: {args.addresses})")
        print(f"density_rows_per_s: {f['rows'] / args.seconds:.0f}  ({args.rate} rows/s per instance, one "
              f"transaction a second each; every dump reads all of the one server's binlog)")
        print(f"density_rss_mb_idle: {f['idle_rss']:.0f}")
        print(f"density_cpu_percent_idle: {f['idle_cpu']:.0f}  (100 = one core; every dump running, no load)")
        print(f"density_cpu_percent_load: {f['load_cpu']:.0f}")
        print(f"density_rss_mb_total: {f['peak_rss']:.0f}  (goal: 100 instances within 3000)")
        print(f"density_rss_mb_per_instance: {f['peak_rss'] / args.instances:.1f}")
        print(f"density_lag_p50_ms: {percentile(lags, 0.5):.1f}")
        print(f"density_lag_p99_ms: {percentile(lags, 0.99):.1f}  (goal < 1000; {len(lags)} transactions)",
              flush=True)
        if args.prefork_instances > 0:
            _, children = run(url, args.prefork_instances, args.rate, min(args.seconds, 10), 1, threads=False)
            dumping = sorted(children)[-args.prefork_instances:]  # the pool processes holding a dump
            print(f"density_prefork_rss_mb_per_dump: {statistics.mean(dumping):.0f}  (TOWER_DUMPS_PER_PROCESS=1: "
                  f"a pool process per dump; pool processes: {', '.join(f'{c:.0f}' for c in sorted(children))})")
    finally:
        cur = connect(url).cursor()
        cur.execute(f"DROP DATABASE IF EXISTS {SCHEMA}")
        cur.connection.close()
        for server in (META_SERVER, SOURCE_SERVER):
            if server is not None:
                os.kill(server[0], signal.SIGTERM)
                if not args.keep:
                    shutil.rmtree(server[1], ignore_errors=True)
        if args.keep:
            print(f"bench_dir: {engine.TMP}")
        else:
            shutil.rmtree(engine.TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
