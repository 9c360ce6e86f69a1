"""Control plane at scale: every list page and whole-list endpoint on a fleet of 10,000 dumping instances.

Makes the fleet in bulk (bench/fleet.py) in a fresh metadata DB, the default SQLite file and a database of
the local MariaDB, and prints per path the median of 3 GETs as a super admin, in milliseconds:

    control_plane_instances: 10000
    control_plane_subscriptions: 20000
    control_plane_ms_changefeeds_sqlite: 412.3
    ...

Goals (issue 18): console pages under 200 ms, whole-list endpoints and /metrics under 1 s, on both.
Each database runs in a child process of its own (Django's settings are per process).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tower.services_env import load_into_environ  # noqa: E402

MARIADB_DATABASE = "tower_control_plane_bench"

# name -> (path, how the caller authenticates, goal in ms)
PAGE_GOAL_MS, LIST_GOAL_MS = 200, 1000
PATHS = {
    "changefeeds": ("/api/v1/changefeeds", "token", LIST_GOAL_MS),
    "processors": ("/api/v1/processors", "token", LIST_GOAL_MS),
    "synclist": ("/synclist?format=json", "token", LIST_GOAL_MS),
    "db_list": ("/db/list?format=json", "token", LIST_GOAL_MS),
    "flow_get": ("/flow/get?type=minute", "token", LIST_GOAL_MS),
    "list_jobs": ("/list_jobs", "post", LIST_GOAL_MS),
    "metrics": ("/metrics", "token", LIST_GOAL_MS),
    "monitor": ("/monitor/", "session", PAGE_GOAL_MS),
    "dashboard": ("/", "session", PAGE_GOAL_MS),
    "instances": ("/instances/", "session", PAGE_GOAL_MS),
    "subscriptions": ("/subscriptions/", "session", PAGE_GOAL_MS),
    "api_instances": ("/api/instances/", "token", PAGE_GOAL_MS),
    "api_subscriptions": ("/api/subscriptions/", "token", PAGE_GOAL_MS),
}


def measure(db: str, instances: int, repeat: int, names) -> None:
    """In this process: set up Django on `db`, make the fleet, time every path."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment
    from knox.models import AuthToken

    from bench.fleet import make_fleet
    from console.models import SuperAdmin, Subscription

    setup_test_environment()  # the test client's host is allowed
    call_command("migrate", verbosity=0)
    t0 = time.perf_counter()
    make_fleet(instances)
    print(f"control_plane_fleet_seconds_{db}: {time.perf_counter() - t0:.1f}", flush=True)
    if connection.vendor == "mysql":
        # InnoDB refreshes a table's statistics in the background after 10% of it changed; a table filled in
        # one go is measured as it will be once that has run, not in the seconds before.
        with connection.cursor() as cur:
            cur.execute("ANALYZE TABLE instances, subscriptions, checkpoints, flow_samples, targets, `groups`")
            cur.fetchall()
    user = get_user_model().objects.create_user("bench-root", password="bench-root-pass")
    SuperAdmin.objects.create(erp=user.username)
    token = AuthToken.objects.create(user=user)[1]
    session = Client()
    session.force_login(user)
    machine = Client(HTTP_AUTHORIZATION=f"Token {token}")
    print(f"control_plane_instances: {instances}")
    print(f"control_plane_subscriptions: {Subscription.objects.count()}")
    for name, (path, auth, goal) in PATHS.items():
        if names and name not in names:
            continue
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            if auth == "post":
                response = machine.post(path, "{}", content_type="application/json")
            else:
                response = (session if auth == "session" else machine).get(path)
                if response.streaming:
                    b"".join(response.streaming_content)
            times.append((time.perf_counter() - t) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{path} answered {response.status_code}: {response.content[:300]!r}")
        ms = statistics.median(times)
        print(f"control_plane_ms_{name}_{db}: {ms:.1f}  (goal < {goal} ms{'' if ms < goal else ', MISSED'})",
              flush=True)


def database_url(db: str, workdir: Path) -> str:
    if db == "sqlite":
        return f"sqlite:///{workdir / 'control_plane.db'}"
    import pymysql

    source = os.environ.get("TOWER_SOURCE_URL", "")
    if not source:
        raise SystemExit("TOWER_SOURCE_URL is not set and .run/services.env has none: run `make services`")
    from urllib.parse import urlparse

    url = urlparse(source)
    conn = pymysql.connect(host=url.hostname, port=url.port or 3306, user=url.username or "root",
                           password=url.password or "")
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {MARIADB_DATABASE}")
        cur.execute(f"CREATE DATABASE {MARIADB_DATABASE} CHARACTER SET utf8mb4")
    conn.close()
    credentials = url.username or "root"
    if url.password:
        credentials += f":{url.password}"
    return f"mysql://{credentials}@{url.hostname}:{url.port or 3306}/{MARIADB_DATABASE}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--control-plane-instances", type=int, default=10_000)
    parser.add_argument("--control-plane-repeat", type=int, default=3)
    parser.add_argument("--control-plane-db", choices=("sqlite", "mariadb", "both"), default="both")
    parser.add_argument("--control-plane-paths", default="", help="comma separated names of PATHS (default: all)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()  # make bench passes every script the same arguments
    load_into_environ()
    if args.child:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tower.settings")
        names = [n for n in args.control_plane_paths.split(",") if n]
        measure(args.control_plane_db, args.control_plane_instances, args.control_plane_repeat, names)
        return
    rc = 0
    for db in ("sqlite", "mariadb") if args.control_plane_db == "both" else (args.control_plane_db,):
        with tempfile.TemporaryDirectory(prefix="tower-control-plane-") as workdir:
            env = {**os.environ, "TOWER_DATABASE_URL": database_url(db, Path(workdir)),
                   "TOWER_DATA_DIR": workdir, "TOWER_LOG_LEVEL": "WARNING"}
            rc |= subprocess.call(
                [sys.executable, "-u", __file__, "--child", "--control-plane-db", db,
                 "--control-plane-instances", str(args.control_plane_instances),
                 "--control-plane-repeat", str(args.control_plane_repeat),
                 "--control-plane-paths", args.control_plane_paths], env=env, cwd=ROOT)
    sys.exit(rc)


if __name__ == "__main__":
    main()
