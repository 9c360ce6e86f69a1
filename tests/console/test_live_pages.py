"""Live console pages: the fragments htmx polls, the monitor's figures, the one date format, the favicon."""
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from types import SimpleNamespace

import pytest
from django.utils import timezone

from console.choices import DumpState, InstanceStatus, SubscriptionState, SyncPhase
from console.domain import progress
from console.models import AuditLog, Checkpoint, Subscription, Target
from workers import snapshot

from console_helpers import make_instance

POLL = 'hx-trigger="every 5s [document.visibilityState === \'visible\']"'
OFFLINE_BADGE = '<span class="badge badge-danger">OFFLINE</span>'
AT = datetime(2026, 12, 1, 21, 3, 41, tzinfo=dt_timezone.utc)


@pytest.fixture
def dumping(world):
    """An ONLINE dumping instance, current with the master's last sample, and one blackhole subscription."""
    sampled = timezone.now()
    instance = make_instance(world["alpha"], port=3401, status=InstanceStatus.DUMP, state=DumpState.ONLINE,
                             binlog_file="mysql-bin.000003", binlog_pos=200000, binlog_when=int(sampled.timestamp()),
                             master_file="mysql-bin.000003", master_pos=200000, status_time=sampled)
    target = Target.objects.create(group=world["alpha"], name="bh", uri="blackhole://")
    job = Subscription.objects.create(name="orders-job", group=world["alpha"], instance=instance, target=target)
    return SimpleNamespace(instance=instance, job=job, sampled=sampled)


def text(response):
    assert response.status_code == 200
    return response.content.decode()


def test_partials_are_the_live_fragments_with_current_figures(clients, dumping):
    client, instance = clients["carol"], dumping.instance
    page = text(client.get(f"/monitor/{instance.pk}/"))
    assert f'hx-get="/monitor/{instance.pk}/?partial=1" {POLL} hx-swap="outerHTML"' in page
    assert "vendor/htmx-2.0.11/htmx.min.js" in page

    fragment = text(client.get(f"/monitor/{instance.pk}/?partial=1"))
    assert fragment.startswith('<div id="monitor-live"') and "<html" not in fragment
    assert '<td id="dumped">mysql-bin.000003:200000 </td>' in fragment
    # The engine commits a new dumped position: the next poll shows it.
    type(instance).objects.filter(pk=instance.pk).update(binlog_pos=250000, master_pos=250000, retry_times=3)
    fragment = text(client.get(f"/monitor/{instance.pk}/?partial=1"))
    assert '<td id="dumped">mysql-bin.000003:250000 </td>' in fragment and '<td id="retries">3</td>' in fragment

    listing = text(client.get(f"/monitor/?group={instance.group_id}&partial=1"))
    assert listing.startswith('<div id="monitor-live"') and "<html" not in listing
    assert f'hx-get="/monitor/?group={instance.group_id}&amp;partial=1"' in listing
    assert "<td>mysql-bin.000003:250000</td>" in listing

    dashboard = text(client.get("/?partial=1"))
    assert dashboard.startswith('<div id="dashboard-live"') and "<html" not in dashboard
    assert f'hx-get="/?partial=1" {POLL}' in dashboard
    assert '<div class="stat">1</div>subscriptions' in dashboard
    Subscription.objects.create(name="second-job", group=instance.group, instance=instance, target=dumping.job.target)
    assert '<div class="stat">2</div>subscriptions' in text(client.get("/?partial=1"))


def test_partials_are_scoped_like_their_pages(clients, dumping):
    assert clients["oscar"].get(f"/monitor/{dumping.instance.pk}/?partial=1").status_code == 404
    assert "orders-job" not in text(clients["oscar"].get("/monitor/?partial=1"))


def test_a_failing_subscription_behind_makes_its_instance_behind(clients, dumping):
    instance, job = dumping.instance, dumping.job
    # The dump is current (its own lag 0) but the job is parked 60 KiB and 12 s back at a change its target refuses.
    Checkpoint.objects.create(instance=instance, subscription=job, binlog_file="mysql-bin.000003",
                              binlog_pos=200000 - 61440, binlog_when=int(dumping.sampled.timestamp()) - 12)
    Subscription.objects.filter(pk=job.pk).update(state=SubscriptionState.ERROR, error="target refuses", error_count=4)

    detail = text(clients["carol"].get(f"/monitor/{instance.pk}/?partial=1"))
    assert '<td id="lag">60.0 KiB · 12 s · 0 events <small class="text-muted">(subscription orders-job)</small></td>' in detail
    # The list and the dashboard rank on what the status sampler stores with each master sample.
    instance.refresh_from_db()
    type(instance).objects.filter(pk=instance.pk).update(**progress.behind_fields(instance))
    listing = text(clients["carol"].get("/monitor/"))
    assert "<td>60.0 KiB</td><td>12 <small" in listing
    dashboard = text(clients["carol"].get("/"))
    assert "<td>12</td><td>60.0 KiB <small" in dashboard
    flow = clients["carol"].get(f"/monitor/{instance.pk}/flow/").json()["status"]
    assert (flow["lag_bytes"], flow["lag_seconds"], flow["lag_subscription"]) == (61440, 12, "orders-job")


def test_an_instance_and_its_subscriptions_caught_up_show_no_lag(clients, dumping):
    Checkpoint.objects.create(instance=dumping.instance, subscription=dumping.job, binlog_file="mysql-bin.000003",
                              binlog_pos=200000, binlog_when=int(dumping.sampled.timestamp()))
    detail = text(clients["carol"].get(f"/monitor/{dumping.instance.pk}/?partial=1"))
    assert '<td id="lag">0 B · 0 s · 0 events</td>' in detail


def test_a_master_sample_older_than_the_dumped_position_is_marked_stale(clients, dumping):
    instance = dumping.instance
    type(instance).objects.filter(pk=instance.pk).update(master_pos=150000, status_time=AT)
    detail = text(clients["carol"].get(f"/monitor/{instance.pk}/?partial=1"))
    assert ('<td id="master">mysql-bin.000003:200000 <small class="text-muted">(at least: the master sample of '
            '2026-12-01 21:03:41 UTC is older than the dumped position)</small></td>') in detail
    listing = text(clients["carol"].get("/monitor/?partial=1"))
    assert "<td>mysql-bin.000003:200000 <small" in listing and "(stale sample)" in listing
    # A sample ahead of the dump is shown as it is.
    type(instance).objects.filter(pk=instance.pk).update(master_pos=210000)
    detail = text(clients["carol"].get(f"/monitor/{instance.pk}/?partial=1"))
    assert '<td id="master">mysql-bin.000003:210000</td>' in detail


def test_offline_is_a_badge(clients, dumping):
    instance = dumping.instance
    type(instance).objects.filter(pk=instance.pk).update(state=DumpState.OFFLINE)
    assert OFFLINE_BADGE in text(clients["carol"].get(f"/monitor/{instance.pk}/"))
    assert OFFLINE_BADGE in text(clients["carol"].get("/monitor/"))
    assert OFFLINE_BADGE in text(clients["carol"].get("/"))
    type(instance).objects.filter(pk=instance.pk).update(state=DumpState.ONLINE)
    page = text(clients["carol"].get(f"/monitor/{instance.pk}/"))
    assert OFFLINE_BADGE not in page and '<span class="badge badge-success">ONLINE</span>' in page


def test_flow_windows_are_labelled_for_people(clients, dumping):
    page = text(clients["carol"].get(f"/monitor/{dumping.instance.pk}/"))
    assert 'data-window="tenminute">10 minutes</button>' in page
    assert 'data-window="eighthour">8 hours</button>' in page
    assert ">tenminute<" not in page and ">eighthour<" not in page


def test_a_finished_full_sync_keeps_its_rate(clients, dumping):
    job = dumping.job
    started = timezone.now() - timedelta(seconds=100)
    Subscription.objects.filter(pk=job.pk).update(phase=SyncPhase.FULL_SYNC, fullsync_started=started,
                                                  fullsync_total=5000, fullsync_done=4000)
    # The engine saves the last chunk: the sync is finished and its finish time recorded.
    snapshot.saver(job.pk)(SimpleNamespace(state={"tables": []}, rows_done=5000, total=5000, finished=True))
    job.refresh_from_db()
    assert job.phase == SyncPhase.INCREMENTAL and job.fullsync_finished is not None
    # 5000 rows between the start and the finish, 50 s apart: 100 rows/s however long ago that was.
    Subscription.objects.filter(pk=job.pk).update(fullsync_finished=started + timedelta(seconds=50))
    job.refresh_from_db()
    assert job.fullsync_progress == {"done": 5000, "total": 5000, "percent": 100.0, "rows_per_s": 100.0,
                                     "eta_s": 0, "running": False}
    fragment = text(clients["carol"].get(f"/monitor/{dumping.instance.pk}/?partial=1"))
    assert "5000 / 5000 rows, 100.0 rows/s</small>" in fragment
    assert 'aria-label="Full sync of orders-job"' in fragment


def test_a_running_full_sync_shows_live_in_the_monitor(clients, dumping):
    Subscription.objects.filter(pk=dumping.job.pk).update(
        phase=SyncPhase.FULL_SYNC, fullsync_started=timezone.now() - timedelta(seconds=10),
        fullsync_total=1000, fullsync_done=250)
    fragment = text(clients["carol"].get(f"/monitor/{dumping.instance.pk}/?partial=1"))
    assert 'class="progress-bar progress-bar-striped progress-bar-animated"' in fragment
    assert 'aria-valuenow="25.0"' in fragment and "250 / 1000 rows" in fragment
    Subscription.objects.filter(pk=dumping.job.pk).update(fullsync_done=600)
    fragment = text(clients["carol"].get(f"/monitor/{dumping.instance.pk}/?partial=1"))
    assert 'aria-valuenow="60.0"' in fragment and "600 / 1000 rows" in fragment


def test_favicon_is_answered(client, clients):
    response = client.get("/favicon.ico")  # signed out: browsers ask before anyone signs in
    assert (response.status_code, response["Location"]) == (302, "/static/favicon.svg")
    page = text(clients["carol"].get("/"))
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page


def test_one_date_format_with_the_zone(clients, dumping, settings):
    Target.objects.filter(pk=dumping.job.target_id).update(update_time=AT)
    AuditLog.objects.create(actor="carol", action="apply", object_type="Instance", object_repr="db1",
                            group=dumping.instance.group)
    AuditLog.objects.filter(action="apply").update(time=AT)
    type(dumping.instance).objects.filter(pk=dumping.instance.pk).update(status_time=AT)
    client = clients["carol"]
    assert "2026-12-01 21:03:41 UTC" in text(client.get("/targets/"))
    assert "2026-12-01 21:03:41 UTC" in text(client.get("/audit/"))
    assert "2026-12-01 21:03:41 UTC <b>carol</b> apply db1" in text(client.get("/"))
    assert '<td id="sampled">2026-12-01 21:03:41 UTC</td>' in text(client.get(f"/monitor/{dumping.instance.pk}/"))
    # In the server's time zone, named.
    settings.TIME_ZONE = "Asia/Shanghai"
    assert "2026-12-02 05:03:41 CST" in text(client.get("/targets/"))
    assert '<td id="sampled">2026-12-02 05:03:41 CST</td>' in text(client.get(f"/monitor/{dumping.instance.pk}/"))
