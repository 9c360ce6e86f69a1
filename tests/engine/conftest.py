"""Engine tests: real MariaDB, real Redis, real `celery -A tower worker` processes.

Workers read the pytest-django test database (a SQLite file, hence
transactional_db) and a broker on a Redis db of our own (BROKER_DB).
"""
import random
import threading
import time
from urllib.parse import urlsplit

import pymysql
import pytest
import redis as redis_lib
from waiting import wait_for  # noqa: F401  (re-exported to this package's tests)

import isolation
from celery_workers import Workers

BROKER_DB = 5


class Source:
    """The shared MariaDB, through one autocommit connection, in a schema of the test's own."""

    def __init__(self, url, schema):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.schema = schema
        self.conn = pymysql.connect(host=self.host, port=self.port, user="root", autocommit=True, charset="utf8mb4")
        self.execute(f"DROP DATABASE IF EXISTS `{schema}`")
        self.execute(f"CREATE DATABASE `{schema}`")

    def execute(self, sql, args=None):
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()

    def executemany(self, sql, rows):
        with self.conn.cursor() as cur:
            cur.executemany(sql, rows)

    def master(self):
        file, pos = self.execute("SHOW MASTER STATUS")[0][:2]
        gtid = self.execute("SELECT @@GLOBAL.gtid_binlog_pos")[0][0]
        return file, int(pos), gtid

    def rows(self, table, key="id"):
        with self.conn.cursor(pymysql.cursors.DictCursor) as cur:
            cur.execute(f"SELECT * FROM `{self.schema}`.`{table}` ORDER BY `{key}`")
            return cur.fetchall()

    def close(self):
        try:
            self.execute(f"DROP DATABASE IF EXISTS `{self.schema}`")
        finally:
            self.conn.close()


def wait_for_dump_reload(instance, timeout=20):
    """Return once the dump of `instance` applies its subscriptions as the database has them now.

    The dump logs what it applies of its subscriptions (name, state, tables, FieldList) when it starts and
    whenever a reload (every RELOAD_EVERY) changes it (workers.dump.describe_subscriptions): this waits until
    the last such line in the log of the instance's leader describes the subscriptions read from the database
    (a change the dump already applied before the call returns at once). The leader is one of this test's
    workers (Workers.active).
    """
    from console.models import Instance, Subscription
    from workers.dump import describe_subscriptions

    marker = f"instance {instance.pk}: subscriptions: "

    seen = {}

    def applied():
        leader = Instance.objects.filter(pk=instance.pk).values_list("leader", flat=True).first()
        seen["wanted"] = describe_subscriptions(
            Subscription.objects.filter(instance_id=instance.pk).values_list("name", "state", "tables", "field_list"))
        lines = [line for line in Workers.active.log(leader).splitlines() if marker in line] if leader else []
        seen["applied"] = lines[-1].split(marker, 1)[1].strip() if lines else None
        return seen["applied"] == seen["wanted"]

    try:
        wait_for(applied, timeout, interval=0.1, message=f"the dump of {instance.pk} to apply its subscriptions")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: it applies {seen.get('applied')!r}, the database has {seen.get('wanted')!r}") from None


def leader(instance_id, after_version=0):
    """(worker, leader_version) of the live lease taken after `after_version`, else None."""
    from django.utils import timezone

    from console.models import Instance

    i = Instance.objects.get(pk=instance_id)
    live = i.lease_expires is not None and i.lease_expires > timezone.now() and i.leader_version > after_version
    return (i.leader, i.leader_version) if live else None


def caught_up(source, instance):
    """A predicate: the instance's committed position reached the master position read now."""
    file, pos, _ = source.master()

    def check():
        instance.refresh_from_db()
        return (instance.binlog_file, instance.binlog_pos) >= (file, pos)

    check.target = f"{file}:{pos}"
    return check


def wait_caught_up(instance, source, timeout=90):
    """Until the instance's committed position reaches the master's current one (every sink acknowledged)."""
    check = caught_up(source, instance)
    wait_for(check, timeout, message=f"the dump to commit {check.target}")


class Workload(threading.Thread):
    """Transactions written on the source by a thread of their own, while the test kills workers: `write(cur,
    round)` writes one transaction per round, committed and then paced by `pause` seconds so that
    transactions keep coming across kills and takeovers. `done` is set when it ends; `failures` holds what
    went wrong."""

    def __init__(self, source, rounds, write, pause):
        super().__init__(daemon=True)
        self.source, self.rounds, self.write, self.pause = source, rounds, write, pause
        self.done, self.failures = threading.Event(), []

    def run(self):
        conn = pymysql.connect(host=self.source.host, port=self.source.port, user="root", autocommit=False,
                               charset="utf8mb4")
        try:
            with conn.cursor() as cur:
                for n in self.rounds:
                    self.write(cur, n)
                    conn.commit()
                    time.sleep(self.pause)  # pacing, not waiting: keep transactions coming across the kills
        except Exception as exc:  # noqa: BLE001 - reported by finished()
            self.failures.append(exc)
        finally:
            conn.close()
            self.done.set()

    def finished(self, timeout):
        """Wait for the last round; assert every round was written."""
        self.join(timeout)
        assert self.done.is_set() and not self.failures, self.failures


def redis_db_url(redis_url, db):
    return isolation.redis_db(redis_url, db)


def empty_redis_db(redis_url, db):
    """(url, client) of database `db` of the shared Redis, emptied: a test's target."""
    url = redis_db_url(redis_url, db)
    client = redis_lib.Redis.from_url(url)
    client.flushdb()
    return url, client


@pytest.fixture
def broker_url(redis_url):
    url = redis_db_url(redis_url, BROKER_DB)
    redis_lib.Redis.from_url(url).flushdb()  # no stale tasks from an earlier test
    return url


@pytest.fixture
def workers(transactional_db, tmp_path, broker_url):
    pool = Workers(tmp_path, broker_url)
    yield pool
    pool.stop_all()


@pytest.fixture
def source(request, source_url):
    schema = isolation.schema_name("eng", request.node.name.replace("[", "_").replace("]", "").lower())
    src = Source(source_url, schema)
    yield src
    src.close()


def make_instance(source, candidates=("w1",), gtid=False, url=None, port=None):
    """A `dump`, ONLINE instance on `source` (at `port` instead of the source's own: a forwarder to it) starting
    at the master's current position."""
    from console.models import Group, Instance

    group, _ = Group.objects.get_or_create(name="engine")
    file, pos, gtid_set = source.master()
    return Instance.objects.create(
        group=group, host=source.host, port=port or source.port, user="root", password="", status="dump", state="ONLINE",
        slave_id=random.randint(100000, 4000000000), binlog_file=file, binlog_pos=pos, gtid_set=gtid_set,
        with_gtid=gtid, candidates=list(candidates),
    )


def make_subscription(instance, uri, name="sub", tables="*.*", **fields):
    from console.models import Subscription, Target

    target = Target.objects.create(name=f"{name}-target", group=instance.group, uri=uri)
    return Subscription.objects.create(name=name, group=instance.group, instance=instance, target=target,
                                       tables=tables, **fields)


def redis_state(client, prefix):
    import json

    out = {}
    for key in client.scan_iter(match=f"{prefix}*", count=5000):
        out[key.decode()] = json.loads(client.get(key))
    return out
