"""/subscriptions/<pk>/: what the page shows of a job, and its actions doing what the APIs' domain calls do."""
from datetime import datetime, timedelta, timezone as dt_timezone

import pymysql
import pytest
from django.utils import timezone
from django.utils.html import escape

from console.choices import FLOW_WINDOWS, SyncPhase
from console.domain import sources, subscriptions as jobs
from console.domain.errors import DomainError
from console.models import AuditLog, Checkpoint, FlowSample, Instance, MqRule, Rule, Subscription, Target

from console_helpers import db_rows

SAMPLED = datetime(2026, 11, 30, 12, 0, 0, tzinfo=dt_timezone.utc)


@pytest.fixture
def source(world, source_address):
    """A dumping instance of alpha on the real local source (set_position checks positions against it)."""
    host, port, user, password = source_address
    return Instance.objects.create(group=world["alpha"], host=host, port=port, user=user, password=password,
                                   slave_id=7301, status="dump", state="ONLINE", binlog_file="mysql-bin.000003",
                                   binlog_pos=9000, master_file="mysql-bin.000003", master_pos=5000,
                                   lag_events=17, status_time=SAMPLED)


@pytest.fixture
def target(world):
    return Target.objects.create(group=world["alpha"], name="orders-bus", uri="blackhole://")


def make_job(name, instance, target, **fields):
    job = Subscription.objects.create(name=name, group=instance.group, instance=instance, target=target,
                                      tables="shop.*", **fields)
    Checkpoint.objects.create(instance=instance, subscription=job, binlog_file="mysql-bin.000003", binlog_pos=1000,
                              gtid_set="0-1-41", binlog_when=int(SAMPLED.timestamp()) - 42,
                              queued_file="mysql-bin.000003", queued_pos=3000, queued_gtid="0-1-45")
    return job


FAILING = {"commit_seq": 12884902888, "seq": 1, "table": "shop.orders"}


def test_page_shows_state_error_failing_event_positions_and_lag(clients, source, target):
    job = make_job("orders", source, target, state="error", error="kafka: message too large",
                   error_wait_data=FAILING, error_count=7)
    Checkpoint.objects.filter(subscription=job).update(update_time=timezone.now() - timedelta(minutes=5))
    page = clients["ursula"].get(f"/subscriptions/{job.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-state="error"' in html
    assert "kafka: message too large" in html
    assert "&quot;commit_seq&quot;: 12884902888" in html and "&quot;table&quot;: &quot;shop.orders&quot;" in html
    assert "<code>mysql-bin.000003:1000</code> GTID <code>0-1-41</code>" in html  # succeeded
    assert "<code>mysql-bin.000003:3000</code> GTID <code>0-1-45</code>" in html  # queued
    # 5000 - 1000 bytes behind the sampled master, 42 s between the position's event and the sample
    assert '<td id="lag">3.9 KiB · 42 s <small class="text-muted">(the instance: 17 events)</small></td>' in html
    assert f'data-url="/subscriptions/{job.pk}/flow/"' in html
    # the instance page lists it the same way, linking here
    instance_page = clients["ursula"].get(f"/instances/{source.pk}/").content.decode()
    assert f'<a href="/subscriptions/{job.pk}/">orders</a>' in instance_page
    assert 'data-state="error"' in instance_page and "3.9 KiB · 42 s" in instance_page


def test_the_live_fragment_is_the_state_and_positions_alone(clients, source, target):
    """What the page polls every few seconds (htmx, ?partial=1): its figures as of now, without the page."""
    job = make_job("orders", source, target)
    html = clients["ursula"].get(f"/subscriptions/{job.pk}/").content.decode()
    assert 'id="subscription-live"' in html and 'hx-trigger="every' in html
    Checkpoint.objects.filter(subscription=job).update(binlog_file="mysql-bin.000004", binlog_pos=777)
    fragment = clients["ursula"].get(f"/subscriptions/{job.pk}/?partial=1").content.decode()
    assert fragment.startswith('<div id="subscription-live"') and "<html" not in fragment
    assert "<code>mysql-bin.000004:777</code>" in fragment
    assert clients["oscar"].get(f"/subscriptions/{job.pk}/?partial=1").status_code == 404  # scoped like the page


def test_a_bindings_subscription_links_to_its_mq_rule(clients, world, source, target):
    job = make_job("rule-orders", source, target)
    rule = MqRule.objects.create(group=world["alpha"], topic="orders", target=target)
    Rule.objects.create(group=world["alpha"], instance=source, rule=rule, subscription=job)
    html = clients["adam"].get(f"/subscriptions/{job.pk}/").content.decode()
    assert f'<a href="/mq-rules/{rule.pk}/" id="binding-link">orders</a>' in html
    confirm = clients["adam"].get(f"/subscriptions/{job.pk}/delete/").content.decode()
    assert "Its binding to MQ rule <b>orders</b> goes with it." in confirm


def test_links_lead_to_the_page_and_the_edit_form_moved(clients, source, target):
    job = make_job("orders", source, target, error="boom")
    assert f'href="/subscriptions/{job.pk}/"' in clients["adam"].get("/subscriptions/").content.decode()
    assert f'href="/subscriptions/{job.pk}/"' in clients["adam"].get("/").content.decode()
    edit = clients["adam"].get(f"/subscriptions/{job.pk}/edit/")
    assert edit.status_code == 200 and b'name="tables"' in edit.content


def test_flow_is_the_subscriptions_own_series(clients, source, target):
    job = make_job("orders", source, target)
    now = timezone.now()
    FlowSample.objects.create(instance=source, subscription=job, time=now - timedelta(hours=2), count=100,
                              byte_size=1000)
    FlowSample.objects.create(instance=source, time=now - timedelta(hours=2), count=999999, byte_size=999999)
    flow = clients["ursula"].get(f"/subscriptions/{job.pk}/flow/?window=minute").json()
    points, _step = FLOW_WINDOWS["minute"]
    assert len(flow["labels"]) == points - 1
    assert flow["count"] == [0.0] * (points - 1)  # a constant cumulative count: nothing flowed in the window
    assert clients["ursula"].get(f"/subscriptions/{job.pk}/flow/?window=year").status_code == 400


def state_of(job_id):
    """What an action may change: the job's row and its checkpoint (None once deleted)."""
    job = Subscription.objects.filter(pk=job_id).values(
        "state", "phase", "skip_next", "error", "error_wait_data", "fullsync_state", "fullsync_total",
        "fullsync_done", "fullsync_started").first()
    cp = Checkpoint.objects.filter(subscription_id=job_id).values(
        "binlog_file", "binlog_pos", "gtid_set", "queued_file", "queued_pos", "queued_gtid").first()
    return job, cp


def audit_of(job_id):
    """The audit rows of the job's actions, without the job's own name."""
    def plain(value):
        return {k: v for k, v in value.items() if k != "name"} if isinstance(value, dict) else value

    return [(a.actor, a.action, plain(a.before), plain(a.after), a.message)
            for a in AuditLog.objects.filter(object_type="Subscription", object_id=str(job_id)).order_by("id")]


# action -> (fields the two jobs start with, the domain call, the page's POST body)
ACTIONS = {
    "pause": ({}, lambda user, job: jobs.pause_job(user, job), {}),
    "resume": ({"state": "stopped"}, lambda user, job: jobs.resume_job(user, job), {}),
    "miss": ({"state": "error", "error": "boom", "error_wait_data": FAILING}, lambda user, job: jobs.miss(user, job), {}),
    "position": ({"error": "boom", "error_wait_data": FAILING},
                 lambda user, job: jobs.set_position(user, job, first_log(job.instance), 4, "0-1-7"),
                 lambda job: {"mode": "position", "binlog_file": first_log(job.instance), "binlog_pos": 4,
                              "gtid_set": "0-1-7"}),
    "fullsync": ({"phase": SyncPhase.INCREMENTAL, "fullsync_done": 10, "fullsync_total": 10},
                 lambda user, job: jobs.force_fullsync(user, job), {"scope": "all", "tables": ""}),
    "fullsync-tables": ({}, lambda user, job: jobs.force_fullsync(user, job, tables=["shop.orders", "shop.items"]),
                        {"scope": "chosen", "tables": "shop.orders\nshop.items"}),
    "delete": ({}, lambda user, job: jobs.delete_subscription(user, job), {}),
}
AUDITED = {"pause": "pause_subscription", "resume": "resume_subscription", "miss": "miss_event",
           "position": "set_position", "fullsync": "force_fullsync", "fullsync-tables": "force_fullsync",
           "delete": "delete_subscription"}


def first_log(instance):
    return sources.binary_log_names(instance)[0]


@pytest.mark.parametrize("action", list(ACTIONS))
def test_each_action_through_the_page_does_what_the_domain_call_does(clients, world, source, target, action):
    fields, domain_call, body = ACTIONS[action]
    by_domain, by_page = make_job("by-domain", source, target, **fields), make_job("by-page", source, target, **fields)
    domain_call(world["users"]["adam"], by_domain)
    url = f"/subscriptions/{by_page.pk}/{action.split('-')[0]}/"
    confirm = clients["adam"].get(url)
    assert confirm.status_code == 200 and b'id="consequence"' in confirm.content
    response = clients["adam"].post(url, body(by_page) if callable(body) else body)
    assert response.status_code == 302, response.content.decode()[-2000:]
    assert response["Location"] == ("/subscriptions/" if action == "delete" else f"/subscriptions/{by_page.pk}/")
    assert state_of(by_page.pk) == state_of(by_domain.pk)
    page_audit, domain_audit = audit_of(by_page.pk), audit_of(by_domain.pk)
    assert page_audit == domain_audit
    assert [(actor, name) for actor, name, *_ in page_audit] == [("adam", AUDITED[action])]


def test_pause_says_what_stops_and_what_goes_on(clients, source, target):
    job = make_job("orders", source, target)
    html = clients["adam"].get(f"/subscriptions/{job.pk}/pause/").content.decode()
    assert (f"Deliveries of <b>orders</b> to <b>orders-bus</b> stop until you resume it; the other subscriptions of"
            f" {source} go on.") in html


def test_a_plain_member_sees_no_actions_and_their_posts_change_nothing(clients, source, target):
    job = make_job("orders", source, target, state="error", error="boom", error_wait_data=FAILING)
    page = clients["ursula"].get(f"/subscriptions/{job.pk}/")
    assert page.status_code == 200
    assert b'id="job-actions"' not in page.content and b"/pause/" not in page.content
    assert b"/edit/" not in page.content
    before = db_rows()
    for action, (_fields, _call, body) in ACTIONS.items():
        url = f"/subscriptions/{job.pk}/{action.split('-')[0]}/"
        assert clients["ursula"].get(url).status_code == 403
        assert clients["ursula"].post(url, body(job) if callable(body) else body).status_code == 403
    assert db_rows() == before
    assert clients["oscar"].get(f"/subscriptions/{job.pk}/").status_code == 404  # another group's


def test_set_position_to_a_file_the_source_lacks_is_a_400_with_the_domains_message(clients, world, source, target):
    job = make_job("orders", source, target)
    before = db_rows()
    response = clients["adam"].post(f"/subscriptions/{job.pk}/position/",
                                    {"mode": "position", "binlog_file": "mysql-bin.999999", "binlog_pos": 4})
    assert response.status_code == 400
    with pytest.raises(DomainError) as refusal:
        jobs.set_position(world["users"]["adam"], job, "mysql-bin.999999", 4)
    assert refusal.value.message.startswith("binlog file 'mysql-bin.999999' is not on ")
    assert escape(refusal.value.message) in response.content.decode()
    assert db_rows() == before


def test_full_sync_of_a_table_outside_the_job_is_refused(clients, source, target):
    job = make_job("orders", source, target)
    before = db_rows()
    response = clients["adam"].post(f"/subscriptions/{job.pk}/fullsync/", {"scope": "chosen", "tables": "hr.salaries"})
    assert response.status_code == 400
    assert "hr.salaries is not one of the job&#x27;s tables (shop.*)" in response.content.decode()
    assert db_rows() == before


def source_now(source):
    conn = pymysql.connect(host=source.host, port=source.port, user=source.user, password=source.password,
                           autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT UNIX_TIMESTAMP()")
            now = int(cur.fetchone()[0])
            cur.execute("CREATE DATABASE IF NOT EXISTS subpage")
            cur.execute("CREATE TABLE IF NOT EXISTS subpage.t (id INT PRIMARY KEY AUTO_INCREMENT, v INT)")
            cur.execute("INSERT INTO subpage.t (v) VALUES (1)")
            return now
    finally:
        conn.close()


def test_a_time_is_resolved_to_the_first_transaction_at_or_after_it(clients, source, target):
    job = make_job("orders", source, target)
    when = source_now(source)  # a transaction is written at or after this second
    found = sources.position_at_time(source, when)
    assert found["when"] >= when and found["file"] in sources.binary_log_names(source)
    conn = pymysql.connect(host=source.host, port=source.port, user=source.user, password=source.password)
    with conn.cursor() as cur:
        cur.execute("SHOW BINLOG EVENTS IN %s FROM %s LIMIT 1", (found["file"], found["pos"]))
        assert cur.fetchone()[2] in ("Gtid", "Query")  # a transaction's first event
    conn.close()
    at = datetime.fromtimestamp(when, tz=dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    response = clients["adam"].post(f"/subscriptions/{job.pk}/position/", {"mode": "time", "at": at})
    assert response.status_code == 302
    cp = Checkpoint.objects.get(subscription=job)
    assert (cp.binlog_file, cp.binlog_pos) == (found["file"], found["pos"])  # nothing else was written in between
    assert AuditLog.objects.filter(action="set_position", object_id=str(job.pk), actor="adam").count() == 1


def test_a_time_with_nothing_written_at_or_after_it_is_refused(clients, source, target):
    job = make_job("orders", source, target)
    before = db_rows()
    response = clients["adam"].post(f"/subscriptions/{job.pk}/position/", {"mode": "time", "at": "2099-01-01T00:00"})
    assert response.status_code == 400
    assert (f"nothing was written to the binary logs of {source} at or after 2099-01-01 00:00:00 UTC"
            in response.content.decode())
    with pytest.raises(DomainError) as refusal:
        sources.position_at_time(source, 0)
    assert "began at" in refusal.value.message and "no longer on the server" in refusal.value.message
    assert db_rows() == before
