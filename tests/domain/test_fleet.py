"""One rule for "this worker is alive" (console.domain.fleet), the same on every surface, and exactly one owner."""
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import Api, make_user
from console.choices import WorkerState
from console.domain import fleet
from console.models import AuditLog, Wave

pytestmark = pytest.mark.django_db


def wave(name, age_seconds, state=WorkerState.ALIVE, owner=False):
    return Wave.objects.create(name=name, ip="10.9.0.1", port=8300, state=state, is_owner=owner,
                               last_heartbeat=timezone.now() - timedelta(seconds=age_seconds))


def test_a_worker_whose_heartbeat_went_stale_is_dead_on_every_surface():
    wave("fresh", 1)
    wave("silent", fleet.WORKER_TTL.total_seconds() + 1)  # killed with SIGKILL: never marked itself dead
    wave("stopped", 1, state=WorkerState.DEAD)
    root = Api(make_user("root", super_admin=True).token)
    assert fleet.live_worker_names() == ["fresh"]
    assert [c["id"] for c in root.get("/api/v1/captures").json()] == ["fresh"]
    assert root.get("/api/v1/health").status_code == 200
    metrics = root.get("/metrics").content.decode()
    assert 'tower_worker_alive{worker="fresh"} 1.0' in metrics
    assert 'tower_worker_alive{worker="silent"} 0.0' in metrics
    assert 'tower_worker_alive{worker="stopped"} 0.0' in metrics

    Wave.objects.filter(name="fresh").update(last_heartbeat=timezone.now() - timedelta(seconds=60))
    unhealthy = root.get("/api/v1/health")
    assert unhealthy.status_code == 503 and unhealthy.json()["error_msg"] == "no live worker"
    assert root.get("/api/v1/captures").json() == []


def test_health_without_any_worker_is_503():
    root = Api(make_user("root", super_admin=True).token)
    assert root.get("/api/v1/health").status_code == 503


def test_a_dead_owner_is_replaced_by_the_longest_registered_live_worker():
    wave("old-owner", 60, owner=True)
    wave("first", 1)
    wave("second", 1)
    assert fleet.elect_owner() == "first"
    assert list(Wave.objects.filter(is_owner=True).values_list("name", flat=True)) == ["first"]
    assert fleet.elect_owner() == "first"  # a live owner stays
    wave("newcomer", 0)
    assert fleet.elect_owner() == "first"
    Wave.objects.filter(name="first").update(state=WorkerState.DEAD)
    assert fleet.elect_owner() == "second"
    assert list(Wave.objects.filter(is_owner=True).values_list("name", flat=True)) == ["second"]


def test_no_live_worker_means_no_owner():
    wave("gone", 60, owner=True)
    assert fleet.elect_owner() is None
    assert not Wave.objects.filter(is_owner=True).exists()


def test_two_owners_left_by_hand_become_one():
    wave("a", 1, owner=True)
    wave("b", 1, owner=True)
    assert fleet.elect_owner() == "a"
    assert list(Wave.objects.filter(is_owner=True).values_list("name", flat=True)) == ["a"]


def test_resign_moves_the_owner_to_another_live_worker_and_is_audited():
    wave("owner", 1, owner=True)
    wave("stale", 60)
    with pytest.raises(fleet.FleetError, match="no other live worker"):
        fleet.resign_owner("root")
    wave("other", 1)
    assert fleet.resign_owner("root") == "other"
    assert list(Wave.objects.filter(is_owner=True).values_list("name", flat=True)) == ["other"]
    record = AuditLog.objects.get(action="owner_resign")
    assert (record.before, record.after) == ({"owner": "owner"}, {"owner": "other"})
