"""Live pages in headless Chromium: the monitor and the dashboard follow what the engine writes, without a reload,
and stop polling while the tab is hidden.

The engine is simulated by writing what it writes (workers/checkpoints.commit: the instance's dumped position and
its checkpoint; workers/dump._write_flow: cumulative FlowSample rows; workers/status: the master sample and lag).
"""
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from console.choices import DumpState, InstanceStatus
from console.models import Checkpoint, FlowSample, Instance, Subscription, Target

from accounts import client_for
from browser_helpers import CHROMIUM_ARGS
from console_helpers import make_instance

WITHIN = 10_000  # ms: two poll intervals


@pytest.fixture
def signed_in_page(monkeypatch, live_server, world):
    # Playwright's sync API runs an event loop in this thread; the test's own ORM writes are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    session = client_for("carol").cookies[settings.SESSION_COOKIE_NAME].value
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}])
        page = context.new_page()
        page.set_default_timeout(15000)
        try:
            yield page
        finally:
            browser.close()


def commit_position(instance, pos):
    """What workers.checkpoints.commit writes for a new dumped position."""
    now = timezone.now()
    Instance.objects.filter(pk=instance.pk).update(binlog_pos=pos, binlog_when=int(now.timestamp()), update_time=now)
    Checkpoint.objects.filter(instance=instance, subscription__isnull=True).update(binlog_pos=pos, update_time=now)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_monitor_and_dashboard_follow_the_engine_and_pause_while_hidden(live_server, signed_in_page, world):
    from playwright.sync_api import expect

    page, base = signed_in_page, live_server.url
    now = timezone.now()
    instance = make_instance(world["alpha"], port=3402, status=InstanceStatus.DUMP, state=DumpState.ONLINE,
                             binlog_file="mysql-bin.000001", binlog_pos=1000, binlog_when=int(now.timestamp()),
                             master_file="mysql-bin.000001", master_pos=1000, status_time=now)
    Checkpoint.objects.create(instance=instance, binlog_file="mysql-bin.000001", binlog_pos=1000)
    target = Target.objects.create(group=world["alpha"], name="bh", uri="blackhole://")
    Subscription.objects.create(name="live-job", group=world["alpha"], instance=instance, target=target)
    FlowSample.objects.create(instance=instance, time=now - timedelta(seconds=30), count=0, byte_size=0)

    # The monitor detail: the dumped position and the chart follow the engine's writes.
    page.goto(f"{base}/monitor/{instance.pk}/")
    expect(page.locator("#dumped")).to_have_text("mysql-bin.000001:1000")
    page.wait_for_function("document.getElementById('flow-chart').dataset.total === '0'")
    page.evaluate("window.notReloaded = true")
    commit_position(instance, 5000)
    FlowSample.objects.create(instance=instance, time=timezone.now(), count=100, byte_size=4000)
    expect(page.locator("#dumped")).to_have_text("mysql-bin.000001:5000", timeout=WITHIN)
    page.wait_for_function("Number(document.getElementById('flow-chart').dataset.total) > 0", timeout=WITHIN)
    assert page.evaluate("window.notReloaded") is True

    # Hidden tab: neither the fragment nor the chart's data is asked for during a whole interval.
    asked = []
    page.on("request", lambda r: asked.append(r.url) if "partial=1" in r.url or "/flow/" in r.url else None)
    page.evaluate("""() => {
        Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});
        Object.defineProperty(document, 'hidden', {value: true, configurable: true});
        document.dispatchEvent(new Event('visibilitychange'));
        window.hiddenSince = Date.now();
    }""")
    asked.clear()  # a poll already in flight when the tab was hidden does not count
    # The requirement is a time bound: one poll interval (5 s) and a margin pass with the tab hidden.
    page.wait_for_function("Date.now() - window.hiddenSince > 6500", timeout=WITHIN, polling=250)
    assert asked == []
    # Shown again: polling resumes.
    with page.expect_request(lambda r: "partial=1" in r.url, timeout=WITHIN):
        page.evaluate("""() => {
            Object.defineProperty(document, 'visibilityState', {value: 'visible', configurable: true});
            Object.defineProperty(document, 'hidden', {value: false, configurable: true});
            document.dispatchEvent(new Event('visibilitychange'));
        }""")

    # The dashboard: the lag leaders follow the status sampler's lag.
    page.goto(f"{base}/")
    leader = page.locator("#lag-leaders tbody tr").first
    expect(leader).to_contain_text("127.0.0.1:3402")
    expect(leader.locator("td").nth(3)).to_have_text("0")
    page.evaluate("window.notReloaded = true")
    Instance.objects.filter(pk=instance.pk).update(master_pos=9000, lag_bytes=4000, lag_seconds=42,
                                                   behind_bytes=4000, behind_seconds=42, status_time=timezone.now())
    expect(leader.locator("td").nth(3)).to_have_text("42", timeout=WITHIN)
    expect(leader.locator("td").nth(4)).to_have_text("3.9 KiB")
    assert page.evaluate("window.notReloaded") is True
