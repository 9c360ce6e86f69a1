"""The console in headless Chromium: a new group admin takes the local MariaDB from registration to dump.

Each step saves a screenshot under test-artifacts/console/.
"""
import json
import time
from pathlib import Path

import pytest
import requests
from django.contrib.auth import get_user_model

from console.choices import InstanceStatus
from console.models import Config, Filter, Group, Instance, Member, MqRule
from console.domain.instances import sign_callback

from accounts import PASSWORD
from console_helpers import wait_for

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture
def browser_page(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the test's own ORM reads are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(15000)
        try:
            yield page
        finally:
            browser.close()


def shot(page, name):
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_new_admin_walks_an_instance_from_init_to_dump(live_server, browser_page, source_address):
    page, base = browser_page, live_server.url
    get_user_model().objects.create_user("pia", password=PASSWORD, email="pia@example.com")
    config = Config.current()
    config.callback_secret = "browser-callback-secret"
    config.save()
    host, port, user, password = source_address

    # Sign in.
    page.goto(f"{base}/groups/")
    assert "/login/" in page.url
    page.fill("#id_username", "pia")
    page.fill("#id_password", PASSWORD)
    shot(page, "01-login")
    page.click("#login-submit")
    page.wait_for_url(f"{base}/groups/")
    assert page.inner_text("#whoami").startswith("pia")

    # Create a group: pia becomes its creator.
    page.click("#add-button")
    page.fill("#id_name", "browser-team")
    page.fill("#id_mark", "made in Chromium")
    page.click("#save-button")
    page.wait_for_selector("text=Group browser-team")
    assert "creator" in page.inner_text("h1")
    group = Group.objects.get(name="browser-team")
    assert group.mark == "made in Chromium"
    assert list(Member.objects.filter(group=group).values_list("erp", "role")) == [("pia", "creator")]
    shot(page, "02-group-created")

    # Add a member.
    page.click("#add-member")
    page.fill("#id_erp", "bob")
    page.select_option("#id_role", "admin")
    page.click("#save-button")
    page.wait_for_selector("#invite-link-url")  # bob has no login yet: a one-time set-password link for him
    assert "/accounts/set-password/" in page.input_value("#invite-link-url")
    assert sorted(Member.objects.filter(group=group).values_list("erp", "role")) == [("bob", "admin"), ("pia", "creator")]
    shot(page, "03-member-added")
    page.click("text=Back to the group")
    page.wait_for_selector("td:has-text('bob')")

    # Define a filter and an MQ rule linked to it.
    page.goto(f"{base}/filters/add/")
    page.select_option("#id_group", label="browser-team")
    page.select_option("#id_type", "WHITE")
    page.fill("#id_table_name", r"shop\.orders")
    page.check("input[name=events][value=INSERT]")
    page.check("input[name=events][value=UPDATE]")
    page.fill("#id_fake_cols", "source:tower")
    page.click("#save-button")
    page.wait_for_url(f"{base}/filters/")
    assert "INSERT,UPDATE" in page.inner_text("table")
    flt = Filter.objects.get(group=group)
    assert (flt.type, flt.table_name, flt.events, flt.fake_cols) == ("WHITE", r"shop\.orders", "INSERT,UPDATE", "source:tower")
    shot(page, "04-filter")

    page.goto(f"{base}/mq-rules/add/")
    page.select_option("#id_group", label="browser-team")
    page.fill("#id_topic", "orders-events")
    page.select_option("#id_order_type", "TABLE_ORDER")
    page.check("input[name=linked_filters]")
    page.click("#save-button")
    page.wait_for_url(f"{base}/mq-rules/")
    assert "orders-events" in page.inner_text("table")
    rule = MqRule.objects.get(group=group)
    assert (rule.topic, rule.order_type, list(rule.filters.all())) == ("orders-events", "TABLE_ORDER", [flt])
    shot(page, "05-mq-rule")

    # Register the local MariaDB.
    page.goto(f"{base}/instances/add/")
    page.select_option("#id_group", label="browser-team")
    page.fill("#id_host", host)
    page.fill("#id_port", str(port))
    page.fill("#id_user", user)
    page.fill("#id_password", password)
    page.click("#save-button")
    page.wait_for_selector(f"text=Instance {host}:{port}")
    instance = Instance.objects.get(host=host, port=port)
    assert (instance.group_id, instance.user, instance.status) == (group.pk, user, InstanceStatus.INIT)
    shot(page, "06-instance-registered")

    # Workflow: apply → wait.
    page.goto(f"{base}/workflow/{instance.pk}/")
    page.click("#wf-apply")
    page.wait_for_selector("#instance-status >> text=wait")
    instance.refresh_from_db()
    assert instance.request_id in page.inner_text("#request-id")
    shot(page, "07-applied-wait")

    # The DBA approves: a signed callback, as the approval system would send it.
    body = json.dumps({"approveStatus": "approve", "approveUser": "dba", "comment": "ok", "towerId": instance.pk,
                       "dbsOrderId": instance.request_id}).encode()
    ts = str(int(time.time()))
    answer = requests.post(f"{base}/workflow/callback/", data=body, timeout=10, headers={
        "Content-Type": "application/json", "X-Tower-Timestamp": ts,
        "X-Tower-Signature": sign_callback("browser-callback-secret", ts, body)})
    assert answer.status_code == 200, answer.text
    page.reload()
    page.wait_for_selector("#instance-status >> text=unauthorized")
    shot(page, "08-approved-unauthorized")

    # Grant checks the real server → agree; start dump → dump.
    page.click("#wf-grant")
    page.wait_for_selector("#instance-status >> text=agree")
    shot(page, "09-granted-agree")
    page.click("#wf-start")
    page.wait_for_selector("#instance-status >> text=dump")
    shot(page, "10-dump")
    wait_for(lambda: Instance.objects.get(pk=instance.pk).status == InstanceStatus.DUMP)

    # It is on the monitor page, with its dumped position and a flow chart.
    page.goto(f"{base}/monitor/")
    row = page.inner_text("#monitor-table")
    assert f"{host}:{port}" in row
    instance.refresh_from_db()
    assert f"{instance.binlog_file}:{instance.binlog_pos}" in row
    shot(page, "11-monitor")
    page.click(f"text={host}:{port}")
    page.wait_for_selector("#flow-chart[data-loaded=minute]")
    page.click("#flow-windows button[data-window=hour]")
    page.wait_for_selector("#flow-chart[data-loaded=hour]")
    assert "active" in page.get_attribute("#flow-windows button[data-window=hour]", "class")
    assert "active" not in page.get_attribute("#flow-windows button[data-window=minute]", "class")
    shot(page, "12-monitor-detail")
