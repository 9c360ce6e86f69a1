"""Workers killed with SIGKILL leave the fleet: captures, owner and health follow, with real worker processes."""
import pytest

from accounts import Api, make_user
from console.domain import fleet

from .conftest import wait_for


def captures(api):
    return {c["id"]: c["is_owner"] for c in api.get("/api/v1/captures").json()}


@pytest.mark.slow
def test_a_killed_owner_is_replaced_and_the_last_kill_makes_the_cluster_unhealthy(workers):
    api = Api(make_user("root", super_admin=True).token)
    workers.start("w1")
    workers.start("w2")
    workers.start_beat()
    wait_for(lambda: sorted(captures(api)) == ["w1", "w2"] and sum(captures(api).values()) == 1, 60,
             message="two live captures, one of them the owner")
    owner = next(name for name, is_owner in captures(api).items() if is_owner)
    survivor = {"w1": "w2", "w2": "w1"}[owner]
    assert api.get("/api/v1/health").status_code == 200

    workers.kill(owner)
    wait_for(lambda: captures(api) == {survivor: True}, 60, message=f"{survivor} alone, and the owner")
    assert api.get("/api/v1/health").status_code == 200

    workers.kill(survivor)
    wait_for(lambda: api.get("/api/v1/health").status_code == 503, 60, message="health to turn 503")
    assert captures(api) == {} and fleet.live_worker_names() == []
