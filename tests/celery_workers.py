"""Celery worker and beat subprocesses of the real `tower` app on the test database, for tests that need the
engine running: the engine tests and the console's journey."""
import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]


def test_database_url() -> str:
    """The URL of the test database this run made (SQLite file or MySQL database), for the engine's processes."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    credentials = quote(db["USER"], safe="") + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
    return f"mysql://{credentials}@{db['HOST']}:{db['PORT'] or 3306}/{db['NAME']}"


class Workers:
    """Celery worker and beat subprocesses on the test database."""

    active = None  # the running test's pool (a test runs one): wait_for_dump_reload reads its workers' logs

    def __init__(self, tmp_path, broker_url):
        Workers.active = self
        self.tmp = tmp_path
        self.procs = {}
        self.env = {
            **os.environ,
            "TOWER_DATABASE_URL": test_database_url(),
            "TOWER_BROKER_URL": broker_url,
            "TOWER_DATA_DIR": str(settings.DATA_DIR),
            "TOWER_WORKER_CONCURRENCY": "3",
            "PYTHONPATH": str(ROOT),
            "TOWER_LOG_LEVEL": "INFO",
        }
        self.celery = str(Path(sys.executable).parent / "celery")

    def start(self, name, **extra_env):
        log = open(self.tmp / f"{name}.log", "ab")
        proc = subprocess.Popen(
            [self.celery, "-A", "tower", "worker", "-n", f"{name}@%h", "-l", "INFO", "--without-gossip",
             "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env={**self.env, "TOWER_WORKER_NAME": name, **extra_env}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def start_beat(self):
        log = open(self.tmp / "beat.log", "ab")
        self.procs["beat"] = subprocess.Popen(
            [self.celery, "-A", "tower", "beat", "-l", "INFO", "-s", str(self.tmp / "beat-schedule"),
             "--pidfile="],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def kill(self, name):
        """SIGKILL the worker and its pool children: the host died."""
        proc = self.procs.pop(name)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)

    def stop_all(self):
        for name in list(self.procs):
            proc = self.procs.pop(name)
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            except ProcessLookupError:
                pass

    def log(self, name):
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""
