"""Supervision has no single point of failure: beat's host and the leading worker die together (SIGKILL), and the
surviving worker, as the fleet's owner, hands itself the instance through the lease compare-and-set."""
import time
from datetime import timedelta

import pytest
from django.db.models import Case, Value, When
from django.utils import timezone

from console.domain import fleet
from console.models import Instance, Wave
from workers.tasks import choose_worker

from .conftest import empty_redis_db, leader, make_instance, make_subscription, wait_for

LEASE_TTL = 3  # seconds, small so that the bound below is tight
MOVE_WITHIN = LEASE_TTL + 10  # seconds from the kill until the survivor leads and delivers
OTHER = {"w1": "w2", "w2": "w1"}


def make_owner(name):
    """`name` is the one owner, in one statement (a worker checking the owner meanwhile never sees none)."""
    Wave.objects.update(is_owner=Case(When(name=name, then=Value(True)), default=Value(False)))


@pytest.mark.slow
@pytest.mark.parametrize("owner_leads", [True, False], ids=["owner-leads", "other-worker-owns"])
def test_beat_and_the_leading_worker_killed_together(workers, source, redis_url, owner_leads):
    s = source.schema
    source.execute(f"CREATE TABLE `{s}`.t (id INT PRIMARY KEY, v INT)")
    instance = make_instance(source, candidates=("w1", "w2"))
    uri, client = empty_redis_db(redis_url, 8)
    make_subscription(instance, uri, tables=f"{s}.t")
    for name in ("w1", "w2"):
        workers.start(name, TOWER_LEASE_TTL=str(LEASE_TTL))
    workers.start_beat()
    first, version = wait_for(lambda: leader(instance.pk), 60, message="a first leader")
    survivor = OTHER[first]
    wait_for(lambda: sorted(fleet.live_worker_names()) == ["w1", "w2"], 30, message="both workers alive")
    # Whichever worker owns the fleet, the other one must take over: the owner dies with the leader, or the
    # owner survives and is the only supervisor left.
    make_owner(first if owner_leads else survivor)
    source.execute(f"INSERT INTO `{s}`.t VALUES (1, 1)")
    wait_for(lambda: client.get(f"{s}-t-1"), 30, message=f"row 1 delivered by {first}")

    killed_at = time.monotonic()
    workers.kill("beat")
    workers.kill(first)
    source.execute(f"INSERT INTO `{s}`.t VALUES (2, 2)")

    def left():
        return max(0.1, MOVE_WITHIN - (time.monotonic() - killed_at))

    moved = wait_for(lambda: leader(instance.pk, version), left(), interval=0.1,
                     message=f"{survivor} to take the lease within {MOVE_WITHIN}s of the kill")
    assert moved[0] == survivor
    wait_for(lambda: client.get(f"{s}-t-2"), left(), interval=0.1,
             message=f"row 2, written after the kill, delivered by {survivor} within {MOVE_WITHIN}s")
    took = time.monotonic() - killed_at
    assert took <= MOVE_WITHIN, took
    assert f"dump of {instance.pk}: leader {survivor} at version {moved[1]}" in workers.log(survivor)

    # Exactly one owner, the survivor, once the killed worker's heartbeat went stale.
    wait_for(lambda: fleet.live_worker_names() == [survivor], 30, message=f"{survivor} alone in the fleet")
    wait_for(lambda: list(Wave.objects.filter(is_owner=True).values_list("name", flat=True)) == [survivor], 10,
             message=f"{survivor} the one owner")
    source.execute(f"INSERT INTO `{s}`.t VALUES (3, 3)")
    wait_for(lambda: client.get(f"{s}-t-3"), 30, message=f"row 3 delivered by {survivor}")
    assert leader(instance.pk) == moved


def test_a_lapsed_lease_goes_to_another_candidate_first():
    """A leader that let its lease lapse stopped renewing it (killed but not yet stale, stuck, or never started
    the dump): the supervisor hands the instance to another live candidate; a released lease or a leader named
    by set_leader (lease cleared) stays with its leader."""
    lapsed = timezone.now() - timedelta(seconds=1)
    live = {"w1", "w2"}
    assert choose_worker(Instance(leader="w1", lease_expires=lapsed, candidates=["w1", "w2"]), live, {}) == "w2"
    assert choose_worker(Instance(leader="w1", lease_expires=None, candidates=["w1", "w2"]), live, {}) == "w1"
    # No other live candidate: the lapsed leader again rather than nobody.
    assert choose_worker(Instance(leader="w1", lease_expires=lapsed, candidates=["w1"]), live, {}) == "w1"
    assert choose_worker(Instance(leader="w1", lease_expires=lapsed, candidates=[]), live, {}) == "w2"
    assert choose_worker(Instance(leader="w1", lease_expires=lapsed, candidates=["w1", "w2"]), {"w1"}, {}) == "w1"


@pytest.mark.django_db
def test_only_the_owner_runs_the_pass():
    """A worker host that is not the owner only checks the owner; one whose owner went stale takes over."""
    from workers.workerhost import supervise_if_owner

    now = timezone.now()
    for name in ("w1", "w2"):
        Wave.objects.create(name=name, ip="127.0.0.1", state="alive", last_heartbeat=now, is_owner=name == "w1")
    assert supervise_if_owner("w2") is None
    assert supervise_if_owner("w1") == []  # the owner's pass: nothing to dispatch
    Wave.objects.filter(name="w1").update(last_heartbeat=now - fleet.WORKER_TTL - timedelta(seconds=1))
    assert supervise_if_owner("w2") == []
    assert list(Wave.objects.filter(is_owner=True).values_list("name", flat=True)) == ["w2"]
