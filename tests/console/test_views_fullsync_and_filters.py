"""Full-sync progress shows as a progress bar; a filter matching no table of the group's sources is flagged."""
from datetime import timedelta
from urllib.parse import urlsplit

import pymysql
from django.utils import timezone

from console.choices import SyncPhase
from console.models import Filter, Instance, Subscription, Target


def make_subscription(world, **fields):
    instance = Instance.objects.create(group=world["alpha"], host="10.9.9.9", port=3306, status="dump")
    target = Target.objects.create(group=world["alpha"], name="bh", uri="blackhole://")
    return Subscription.objects.create(name="job", group=world["alpha"], instance=instance, target=target, **fields)


def test_progress_of_a_running_full_sync(clients, world):
    sub = make_subscription(world, phase=SyncPhase.FULL_SYNC, fullsync_total=1000, fullsync_done=250,
                            fullsync_started=timezone.now() - timedelta(seconds=10))
    p = sub.fullsync_progress
    assert (p["percent"], p["running"]) == (25.0, True)
    assert 20 <= p["rows_per_s"] <= 25 and 25 <= p["eta_s"] <= 40
    page = clients["adam"].get("/subscriptions/")
    assert page.status_code == 200
    assert b'class="progress-bar progress-bar-striped' in page.content and b"250 / 1000 rows" in page.content


def test_no_full_sync_and_a_finished_one(world):
    assert make_subscription(world).fullsync_progress is None
    sub = Subscription.objects.get(name="job")
    sub.fullsync_total, sub.fullsync_done, sub.fullsync_started = 10, 10, timezone.now() - timedelta(seconds=2)
    assert sub.fullsync_progress["percent"] == 100.0 and sub.fullsync_progress["eta_s"] == 0


def test_filter_matching_no_table_is_flagged(clients, world, source_url):
    u = urlsplit(source_url)
    conn = pymysql.connect(host=u.hostname, port=u.port, user="root", autocommit=True)
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS flagdb")
        cur.execute("CREATE TABLE IF NOT EXISTS flagdb.orders (id INT PRIMARY KEY)")
    try:
        Instance.objects.create(group=world["alpha"], host=u.hostname, port=u.port, user="root", status="dump")
        alpha = world["alpha"].pk
        hit = clients["adam"].post("/filters/add/", {"group": alpha, "type": "WHITE", "table_name": r"flagdb\.orders",
                                                     "events": ["INSERT"]}, follow=True)
        assert hit.redirect_chain == [("/filters/", 302)] and hit.status_code == 200
        assert b"matches no table" not in hit.content
        miss = clients["adam"].post("/filters/add/", {"group": alpha, "type": "WHITE", "table_name": r"flagdb\.nothing",
                                                      "events": ["INSERT"]}, follow=True)
        assert miss.redirect_chain == [("/filters/", 302)] and miss.status_code == 200
        assert f"matches no table on {u.hostname}:{u.port}".encode() in miss.content
        # Flagged, not refused: both filters are saved as posted.
        saved = Filter.objects.filter(group_id=alpha).order_by("table_name").values_list("type", "table_name", "events")
        assert list(saved) == [("WHITE", r"flagdb\.nothing", "INSERT"), ("WHITE", r"flagdb\.orders", "INSERT")]
    finally:
        with conn.cursor() as cur:
            cur.execute("DROP DATABASE flagdb")
        conn.close()
