"""Every console page renders with real data for each role, and bad input never gives a 500."""
import pytest

from console.choices import InstanceStatus
from console.models import Filter, FlowSample, Instance, MqRule, Target
from django.utils import timezone

from console_helpers import assert_db_changes, audit_row, db_rows, make_instance

PAGES = ["/", "/groups/", "/members/", "/filters/", "/mq-rules/", "/targets/", "/instances/", "/bindings/",
         "/subscriptions/", "/workflow/", "/monitor/", "/audit/"]


@pytest.fixture
def populated(world):
    alpha = world["alpha"]
    instance = make_instance(alpha, port=3399, status=InstanceStatus.DUMP, binlog_file="mysql-bin.000001", binlog_pos=4,
                             last_error="boom", lag_seconds=7, lag_bytes=2048)
    f = Filter(group=alpha, table_name=r"shop\..*")
    f.save()
    rule = MqRule(group=alpha, topic="orders")
    rule.save()
    Target(group=alpha, name="cache", uri="redis://:hunter2@127.0.0.1:6379/0").save()
    now = timezone.now()
    for i in range(3):
        FlowSample.objects.create(instance=instance, time=now - timezone.timedelta(seconds=15 - 5 * i), count=10 * i, byte_size=100 * i)
    return instance


@pytest.mark.parametrize("user", ["carol", "ursula", "oscar", "sam"])
def test_every_page_renders(clients, populated, user):
    client = clients[user]
    for page in PAGES:
        response = client.get(page)
        assert response.status_code == 200, (page, response.status_code)
        assert b"hunter2" not in response.content
    for page in (f"/instances/{populated.pk}/", f"/workflow/{populated.pk}/", f"/monitor/{populated.pk}/",
                 f"/instances/{populated.pk}/operations/", f"/groups/{populated.group_id}/"):
        response = client.get(page)
        assert response.status_code == (404 if user == "oscar" else 200), (page, response.status_code)


def test_list_filters_sort_export_and_search(clients, populated):
    client = clients["carol"]
    assert client.get("/instances/?sort=-lag_seconds&status=dump").status_code == 200
    assert b"3399" in client.get("/instances/?q=127.0.0").content
    assert b"3399" not in client.get("/instances/?status=init").content
    csv = client.get("/instances/?export=csv")
    assert csv["Content-Type"] == "text/csv" and b"3399" in csv.content
    # Garbage in filters and paging gives a page (the filter ignored, the last page), not a 500.
    for query in ("?page=abc", "?page=999", "?sort=nonsense", "?status=bogus", "?group=zzz"):
        assert client.get("/instances/" + query).status_code == 200, query
    # A filter value that does not parse is a form error, not a filter silently dropped.
    assert client.get("/audit/?since=not-a-date").status_code == 400


def test_monitor_flow_json(clients, populated):
    data = clients["carol"].get(f"/monitor/{populated.pk}/flow/?window=minute").json()
    assert data["window"] == "minute" and data["labels"]
    # Samples are cumulative (0, 10, 20 events 5 s apart): the rates add up to 20 events over the window.
    assert sum(data["count"]) * 5 == pytest.approx(20) and max(data["count"]) > 0
    assert sum(data["bytes"]) * 5 == pytest.approx(200)
    assert data["status"]["last_error"] == "boom"
    assert clients["carol"].get(f"/monitor/{populated.pk}/flow/?window=year").status_code == 400
    assert clients["oscar"].get(f"/monitor/{populated.pk}/flow/").status_code == 404


def test_target_uri_masked_and_never_echoed(clients, populated):
    target = Target.objects.get(name="cache")
    page = clients["carol"].get("/targets/").content
    assert b"******" in page and b"hunter2" not in page
    form = clients["carol"].get(f"/targets/{target.pk}/").content
    assert b"hunter2" not in form
    # Blank URI on edit keeps the stored one: saved (and audited, masked) with nothing changed.
    before = db_rows()
    response = clients["carol"].post(f"/targets/{target.pk}/", {"name": "cache", "uri": "", "options": "{}"})
    assert (response.status_code, response.url) == (302, "/targets/")
    changes = assert_db_changes(before, db_rows(), {
        "AuditLog": {"added": [audit_row("carol", "target_update", "Target", target.pk, populated.group_id)]}})
    assert "hunter2" not in str(changes)
    target.refresh_from_db()
    assert target.uri == "redis://:hunter2@127.0.0.1:6379/0"
    before = db_rows()
    bad = clients["carol"].post("/targets/add/", {"group": populated.group_id, "name": "x", "uri": "ftp://h/", "options": "{}"})
    assert bad.status_code == 400 and b"unsupported sink URI scheme" in bad.content
    assert db_rows() == before


def test_monitor_shows_which_decoder_did_the_work(clients, populated):
    Instance.objects.filter(pk=populated.pk).update(decoder_stats={
        "generated_rows": 4200, "fallback_rows": 7, "fallback_events": 1, "fallback_reasons": {"enum size": 1}})
    page = clients["carol"].get(f"/monitor/{populated.pk}/").content.decode()
    assert "4200 by the generated decoders · 7 by the library (fallback: enum size × 1)" in page

