"""Every page and endpoint runs the same number of queries for 10 instances as for 200 (issue 18).

Each test makes a fleet of 10 dumping instances with 2 subscriptions each (bench/fleet.py: checkpoints, flow
samples, failing sources and targets mixed in), counts the queries of one GET (after a first one that warms
sessions and caches), grows the same groups to 200 instances (the new ones with 4 subscriptions each) and counts again. A super admin sees the whole
fleet; a group admin half of it, so scoping must not cost a query per row either.
"""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import Api, client_for, make_user
from bench.fleet import make_fleet
from console.choices import MemberRole
from console.models import Group, Instance

# name -> (path, who asks: "session" = the console, "token" = an API token, "post" = a JSON POST with the token)
PATHS = {
    "dashboard": ("/", "session"),
    "monitor": ("/monitor/", "session"),
    "monitor_page_2": ("/monitor/?page=2", "session"),
    "monitor_detail": ("/monitor/{instance}/", "session"),
    "monitor_flow": ("/monitor/{instance}/flow/", "session"),
    "instance_detail": ("/instances/{instance}/", "session"),
    "instances": ("/instances/", "session"),
    "subscriptions": ("/subscriptions/", "session"),
    "groups": ("/groups/", "session"),
    "targets": ("/targets/", "session"),
    "workflow": ("/workflow/", "session"),
    "workflow_inbox": ("/workflow/inbox/", "session"),
    "bindings": ("/bindings/", "session"),
    "members": ("/members/", "session"),
    "audit": ("/audit/", "session"),
    "api_instances": ("/api/instances/", "token"),
    "api_subscriptions": ("/api/subscriptions/", "token"),
    "api_checkpoints": ("/api/checkpoints/", "token"),
    "changefeeds": ("/api/v1/changefeeds", "token"),
    "changefeeds_all": ("/api/v1/changefeeds?state=all", "token"),
    "processors": ("/api/v1/processors", "token"),
    "captures": ("/api/v1/captures", "token"),
    "db_list": ("/db/list?format=json", "token"),
    "synclist": ("/synclist?format=json", "token"),
    "flow_get": ("/flow/get?type=minute", "token"),
    "list_jobs": ("/list_jobs", "post"),
    "metrics": ("/metrics", "token"),
}


@pytest.fixture
def fleet(db):
    """Two groups, root (super admin) and alice (admin of the first group), and a way to grow the fleet."""
    groups = [Group.objects.create(name=f"cp-team-{n}") for n in range(2)]
    users = {"root": make_user("cp-root", super_admin=True), "alice": make_user("cp-alice", groups[0], MemberRole.ADMIN)}
    grown = {"n": 0}

    def grow_to(total):
        # Each growth sorts before the last (cpa- < cpb-), so the pages of the grown fleet show new rows.
        # Its instances have more subscriptions too, so a detail page has more rows.
        make_fleet(total - grown["n"], groups=groups, prefix="cpa" if grown["n"] else "cpb",
                   subscriptions_per_instance=4 if grown["n"] else 2)
        grown["n"] = total

    return groups, users, grow_to


def count_queries(path, how, user):
    # A detail page: the first instance of the first group (the grown fleet's has more subscriptions).
    path = path.format(instance=Instance.objects.filter(group__name="cp-team-0").order_by("host").first().pk
                       if "{instance}" in path else "")
    caller = client_for(user.username) if how == "session" else Api(user.token)
    ask = (lambda: caller.post(path, {})) if how == "post" else (lambda: caller.get(path))
    ask()  # sessions, tokens, caches: what the first request of a client pays once
    with CaptureQueriesContext(connection) as queries:
        response = ask()
        body = b"".join(response.streaming_content) if response.streaming else response.content
    assert response.status_code == 200, (path, response.status_code, body[:300])
    return [q["sql"] for q in queries.captured_queries], body


SUPER_ADMIN_ONLY = {"workflow_inbox"}


@pytest.mark.parametrize("name,who", [(name, who) for name in PATHS for who in ("root", "alice")
                                      if who == "root" or name not in SUPER_ADMIN_ONLY])
def test_queries_do_not_grow_with_the_fleet(fleet, name, who):
    path, how = PATHS[name]
    _, users, grow_to = fleet
    grow_to(10)
    small, small_body = count_queries(path, how, users[who])
    grow_to(200)
    large, large_body = count_queries(path, how, users[who])
    assert len(small) == len(large), "\n".join(["10 instances:", *small, "", "200 instances:", *large])
    assert len(large_body) >= len(small_body)  # the answer covers the grown fleet (or the same page of it)
