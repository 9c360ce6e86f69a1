"""`make demo` run again after the servers came back on new ports: the demo follows them."""
import pytest
from django.core.management import call_command

from console.choices import DumpState
from console.domain.audit import ACCESS_ACTIONS
from console.models import AuditLog, Instance, Subscription

from private_servers import PrivateServer

pytestmark = pytest.mark.django_db


def test_a_second_run_moves_the_demo_to_the_servers_of_now(tmp_path, settings, monkeypatch, source_url, redis_url):
    settings.DATA_DIR = tmp_path  # the demo admin's password file
    earlier = PrivateServer("mariadb", tmp_path / "mariadb").start()
    try:
        monkeypatch.setenv("TOWER_SOURCE_URL", f"mysql://root@127.0.0.1:{earlier.port}/")
        monkeypatch.setenv("TOWER_REDIS_URL", "redis://127.0.0.1:1/0")
        call_command("demo_setup")
    finally:
        earlier.stop()
    monkeypatch.setenv("TOWER_SOURCE_URL", source_url)
    monkeypatch.setenv("TOWER_REDIS_URL", redis_url)
    call_command("demo_setup")

    sub = Subscription.objects.get(name="demo-orders-to-redis")
    now = Instance.objects.get(port=int(source_url.rsplit(":", 1)[1].strip("/")))
    assert sub.instance == now and now.state == DumpState.ONLINE
    assert Instance.objects.get(port=earlier.port).state == DumpState.OFFLINE
    assert sub.target.uri.startswith(redis_url.rsplit("/", 1)[0] + "/1?")
    assert sub.created_by == "admin"
    # The demo goes through the product's own workflow, each step audited like a person's.
    changes = AuditLog.objects.filter(object_id=now.pk).exclude(action__in=ACCESS_ACTIONS).order_by("id")
    steps = list(changes.values_list("actor", "action"))
    assert steps == [("admin", "instance_register"), ("admin", "apply"), ("make demo", "approve"),
                     ("admin", "grant"), ("admin", "start_dump")]
