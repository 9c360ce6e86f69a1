"""/metrics with the metadata DB on MySQL: the ages, lease flags and decoder counts it asks the database for
are SQL of each vendor (console/api/compat/metrics.py), so the MySQL one runs here on the local MariaDB, in a
child process with a database of its own (Django's settings are per process)."""
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pymysql
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, sys
from datetime import timedelta
import django
django.setup()
from django.core.management import call_command
from django.utils import timezone
call_command("migrate", verbosity=0)
from bench.fleet import make_fleet
from console.api.compat.metrics import exposition
from console.domain.caller import Caller
from console.models import Checkpoint, Instance, Wave

make_fleet(4)
now = timezone.now()
first = Instance.objects.order_by("host").first()
Instance.objects.filter(pk=first.pk).update(decoder_stats={
    "generated_rows": 2 ** 40, "fallback_rows": 7, "fallback_reasons": {"bit": 3, 'enum "e"': 4}})
Checkpoint.objects.filter(instance=first, subscription__isnull=True).update(update_time=now - timedelta(seconds=90.25))
Wave.objects.update(last_heartbeat=now - timedelta(seconds=2.5))
ages = {f"{i.host}:{i.port}": (now - c.update_time).total_seconds()
        for i in Instance.objects.all() for c in Checkpoint.objects.filter(instance=i, subscription__isnull=True)}
print(json.dumps({"first": f"{first.host}:{first.port}", "ages": ages, "text": exposition(Caller(system="test"), now)}))
"""


@pytest.fixture
def mysql_metadata_url(source_address):
    host, port, user, password = source_address
    name = f"tower_metrics_{uuid.uuid4().hex[:12]}"
    conn = pymysql.connect(host=host, port=port, user=user, password=password, autocommit=True)
    conn.cursor().execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    credentials = f"{user}:{password}" if password else user
    try:
        yield f"mysql://{credentials}@{host}:{port}/{name}"
    finally:
        conn.cursor().execute(f"DROP DATABASE {name}")
        conn.close()


class Parsed:
    def __init__(self, text):
        self.families = list(text_string_to_metric_families(text))

    def collect(self):
        return self.families


def test_metrics_on_a_mysql_metadata_db(mysql_metadata_url, tmp_path):
    env = {**os.environ, "TOWER_DATABASE_URL": mysql_metadata_url, "TOWER_DATA_DIR": str(tmp_path),
           "DJANGO_SETTINGS_MODULE": "tower.settings", "TOWER_LOG_LEVEL": "WARNING"}
    child = subprocess.run([sys.executable, "-c", CHILD], env=env, cwd=ROOT, capture_output=True, text=True,
                           timeout=300)
    assert child.returncode == 0, child.stderr[-3000:]
    out = json.loads(child.stdout.strip().splitlines()[-1])
    text = out["text"]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Parsed(text))
    assert text == generate_latest(registry).decode()

    values = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            values[(s.name, tuple(sorted(s.labels.items())))] = s.value

    def of(name, address):
        """{labels: value} of one metric for one instance."""
        return {labels: v for (n, labels), v in values.items() if n == name and ("instance", address) in labels}

    assert len(out["ages"]) == 4
    for address, age in out["ages"].items():
        assert list(of("tower_instance_checkpoint_age_seconds", address).values()) == [pytest.approx(age, abs=1e-6)]
    first = out["first"]
    assert list(of("tower_instance_checkpoint_age_seconds", first).values()) == [pytest.approx(90.25, abs=1e-6)]
    decoded = {dict(labels)["decoder"]: v for labels, v in of("tower_instance_decoded_rows_total", first).items()}
    assert decoded == {"generated": 2 ** 40, "library": 7}
    reasons = {dict(labels)["reason"]: v
               for labels, v in of("tower_instance_decoder_fallback_events_total", first).items()}
    assert reasons == {"bit": 3, 'enum "e"': 4}
    leaders = [v for (n, _), v in values.items() if n == "tower_instance_leader"]
    assert len(leaders) == 4 and set(leaders) <= {0.0, 1.0}
    heartbeats = [v for (n, _), v in values.items() if n == "tower_worker_heartbeat_age_seconds"]
    assert heartbeats and all(v == pytest.approx(2.5, abs=1e-6) for v in heartbeats)
    sub_ages = [v for (n, _), v in values.items() if n == "tower_subscription_checkpoint_age_seconds"]
    assert len(sub_ages) == 8 and all(v >= 0 for v in sub_ages)
