"""scripts/services.py: idempotent start, and a clear failure (with the log tail) instead of a hang."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import services  # noqa: E402


def test_starting_twice_does_not_start_a_second_copy(redis_url):
    before = json.loads((ROOT / ".run" / "services.json").read_text())["redis"]
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "services.py"), "up", "redis"],
                            capture_output=True, text=True, timeout=60)
    after = json.loads((ROOT / ".run" / "services.json").read_text())["redis"]
    assert result.returncode == 0 and "already running" in result.stdout
    assert (after["pid"], after["port"]) == (before["pid"], before["port"])


def test_a_server_that_exits_fails_with_its_log_tail(tmp_path):
    log = tmp_path / "broken.log"
    pid = services.spawn(["redis-server", "--port", "not-a-port"], log)
    with pytest.raises(services.ServiceError) as err:
        services.wait_until("redis", lambda: False, pid, log, timeout=20)
    message = str(err.value)
    assert "exited during start-up" in message and "not-a-port" in message


def test_a_server_that_never_answers_fails_at_the_deadline(tmp_path):
    log = tmp_path / "silent.log"
    log.write_text("still starting...\n")
    pid = services.spawn([sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "silent.out")
    try:
        with pytest.raises(services.ServiceError, match="did not answer within the deadline"):
            services.wait_until("silent", lambda: False, pid, log, timeout=1)
    finally:
        services.stop_one("silent", {"pid": pid})
    assert not services.alive(pid)
