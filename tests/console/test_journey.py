"""A newcomer's journey through the console in headless Chromium, with a real Celery worker delivering rows.

A super admin invites "newbie"; newbie sets a password, registers the local MariaDB, applies; the super admin
approves in the DBA inbox; newbie grants, starts the dump, defines a filter with the column picker, a Redis
target and a subscription; rows written on the source reach Redis; pause, resume and set position act on them.
"""
import json
import time

import pymysql
import pytest
import redis as redis_lib
from playwright.sync_api import expect

import isolation
from celery_workers import Workers
from accounts import PASSWORD, make_user
from browser_helpers import CHROMIUM_ARGS
from console.choices import InstanceStatus
from console.models import Filter, Instance, Subscription
from waiting import wait_for

BROKER_DB, TARGET_DB = 5, 11
WORKER = "jrn1"


@pytest.fixture
def browser(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the test's own ORM reads are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser):
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.set_default_timeout(15000)
    return page


@pytest.fixture
def source(request, source_address):
    """An autocommit root connection and a schema of this test's own on the local MariaDB."""
    host, port, user, password = source_address
    schema = isolation.schema_name("jrn", request.node.name.lower())
    conn = pymysql.connect(host=host, port=port, user=user, password=password, autocommit=True, charset="utf8mb4")

    def execute(sql):
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    execute(f"DROP DATABASE IF EXISTS `{schema}`")
    execute(f"CREATE DATABASE `{schema}`")
    execute(f"CREATE TABLE `{schema}`.orders (id INT PRIMARY KEY, status VARCHAR(16), secret VARCHAR(16))")
    try:
        yield schema, execute
    finally:
        try:
            execute(f"DROP DATABASE IF EXISTS `{schema}`")
        finally:
            conn.close()


@pytest.fixture
def workers(tmp_path, redis_url):
    """A Celery worker and beat on the test database (tests/celery_workers.py, as the engine tests run them),
    started by calling the fixture's value; stopped at the end."""
    broker = isolation.redis_db(redis_url, BROKER_DB)
    redis_lib.Redis.from_url(broker).flushdb()  # no stale tasks from an earlier test
    pool = Workers(tmp_path, broker)

    def start():
        pool.start(WORKER)
        pool.start_beat()

    start.log = lambda: pool.log(WORKER)
    try:
        yield start
    finally:
        pool.stop_all()


def sign_in(page, base, username):
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("#login-submit")
    expect(page.locator("#whoami")).to_contain_text(username)


def dump_applied(log, instance_pk):
    """True once the dump's last description of its subscriptions (logged at start and on every reload that
    changes them) matches the database: a pause is then in force."""
    from workers.dump import describe_subscriptions

    marker = f"instance {instance_pk}: subscriptions: "
    wanted = describe_subscriptions(
        Subscription.objects.filter(instance_id=instance_pk).values_list("name", "state", "tables", "field_list"))
    lines = [line for line in log().splitlines() if marker in line]
    return bool(lines) and lines[-1].split(marker, 1)[1].strip() == wanted


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_newcomer_from_invitation_to_delivered_rows(live_server, browser, source, workers, redis_url, source_address,
                                                   record_property):
    base = live_server.url
    host, port, user, password = source_address
    schema, execute = source
    make_user("boss", super_admin=True)
    target_url = isolation.redis_db(redis_url, TARGET_DB)
    rdb = redis_lib.Redis.from_url(target_url)
    rdb.flushdb()

    # 1. The super admin creates a group and invites newbie as its admin.
    boss = new_page(browser)
    sign_in(boss, base, "boss")
    boss.goto(f"{base}/groups/add/")
    boss.fill("#id_name", "journey-team")
    boss.click("#save-button")
    boss.wait_for_selector("text=Group journey-team")
    boss.click("#add-member")
    boss.fill("#id_erp", "newbie")
    boss.select_option("#id_role", "admin")
    boss.click("#save-button")
    link = boss.input_value("#invite-link-url")
    assert "/accounts/set-password/" in link

    # 2. newbie sets a password through the link and signs in.
    page = new_page(browser)
    page.goto(link if link.startswith("http") else base + link)
    page.fill("#id_new_password1", PASSWORD)
    page.fill("#id_new_password2", PASSWORD)
    page.click("#set-password-submit")
    page.wait_for_load_state()
    sign_in(page, base, "newbie")
    t0 = time.monotonic()

    # 3. newbie registers the MariaDB and applies.
    page.goto(f"{base}/instances/add/")
    page.select_option("#id_group", label="journey-team")
    page.fill("#id_host", host)
    page.fill("#id_port", str(port))
    page.fill("#id_user", user)
    page.fill("#id_password", password)
    page.click("#save-button")
    page.wait_for_selector(f"text=Instance {host}:{port}")
    instance = Instance.objects.get(host=host, port=port)
    page.goto(f"{base}/workflow/{instance.pk}/")
    page.click("#wf-apply")
    expect(page.locator("#instance-status")).to_contain_text("wait")

    # 4. The super admin approves in the DBA inbox.
    boss.goto(f"{base}/workflow/inbox/")
    boss.click(f"#inbox-{instance.pk} button[value=approve]")
    boss.click("#confirm-decision")
    boss.wait_for_url(f"{base}/workflow/inbox/")
    assert Instance.objects.get(pk=instance.pk).status == InstanceStatus.UNAUTHORIZED

    # 5. newbie grants and starts the dump from now, with the worker live so that it is a candidate.
    workers()
    wait_for(lambda: _live_workers() == [WORKER], 60, message="the worker to register itself")
    page.goto(f"{base}/workflow/{instance.pk}/")
    page.click("#wf-grant")
    expect(page.locator("#instance-status")).to_contain_text("agree")
    page.check("input[name=start_from][value=now]")
    page.click("#wf-start")
    expect(page.locator("#instance-status")).to_contain_text("dump")
    assert Instance.objects.get(pk=instance.pk).candidates == [WORKER]

    # 6. A white-list filter with names picked from the instance, a Redis target, a subscription.
    page.goto(f"{base}/filters/add/")
    page.select_option("#id_group", label="journey-team")
    page.fill("#id_name", "orders-only")
    page.select_option("#id_type", "WHITE")
    page.select_option("#id_source", str(instance.pk))
    expect(page.locator(f"#picker-schema option[value='{schema}']")).to_have_count(1)
    page.select_option("#picker-schema", schema)
    expect(page.locator("#picker-table option[value=orders]")).to_have_count(1)
    page.select_option("#picker-table", "orders")
    page.click("button[aria-label^='Use the chosen table']")
    expect(page.locator("#regex-preview")).to_contain_text(f"{schema}.orders")
    for column in ("id", "status"):
        page.select_option("#picker-column", column)
        page.click("button[aria-label^='Add the chosen column to White']")
    assert page.input_value("#id_white_columns") == "id,status"
    page.click("#save-button")
    page.wait_for_url(f"{base}/filters/")
    flt = Filter.objects.get(name="orders-only")
    assert (flt.type, flt.table_name, flt.white_columns) == ("WHITE", rf"{schema}\.orders", "id,status")

    page.goto(f"{base}/targets/add/")
    page.select_option("#id_group", label="journey-team")
    page.fill("#id_name", "cache")
    page.fill("#id_uri", target_url)
    page.click("#save-button")
    page.wait_for_url(f"{base}/targets/")

    page.goto(f"{base}/subscriptions/add/")
    page.select_option("#id_group", label="journey-team")
    page.fill("#id_name", "orders-to-cache")
    page.select_option("#id_instance", str(instance.pk))
    page.select_option("#id_target", label="cache")
    page.fill("#id_tables", f"{schema}.orders")
    page.click("#save-button")
    page.wait_for_load_state()
    job = Subscription.objects.get(name="orders-to-cache")
    wait_for(lambda: dump_applied(workers.log, instance.pk), 60, message="the dump to pick the subscription up")

    # 7. A row written on the source reaches Redis; the subscription page shows its position moving.
    file, pos = execute("SHOW MASTER STATUS")[0][:2]
    page.goto(f"{base}/subscriptions/{job.pk}/")
    before = page.inner_text("#succeeded")
    execute(f"INSERT INTO `{schema}`.orders VALUES (1, 'new', 'x')")
    key1, key2 = f"{schema}-orders-1", f"{schema}-orders-2"
    wait_for(lambda: rdb.get(key1), 30, interval=0.1, message="the first row in Redis")
    t1 = time.monotonic()
    print(f"\njourney: first sign-in to first delivered row: {t1 - t0:.1f} s")
    record_property("journey_seconds", round(t1 - t0, 1))
    assert json.loads(rdb.get(key1))["status"] == "new"
    # No navigation: the page's live fragment polls every few seconds and shows the new position within 10 s.
    url = page.url
    page.wait_for_function("before => document.querySelector('#succeeded').innerText !== before", arg=before,
                           timeout=10000)
    assert page.url == url

    # 8. Pause: a row written meanwhile is held until the resume.
    page.goto(f"{base}/subscriptions/{job.pk}/pause/")
    page.click("#confirm-pause")
    wait_for(lambda: Subscription.objects.get(pk=job.pk).state == "stopped", 10)
    wait_for(lambda: dump_applied(workers.log, instance.pk), 30, message="the dump to apply the pause")
    execute(f"INSERT INTO `{schema}`.orders VALUES (2, 'held', 'y')")
    m_file, m_pos = execute("SHOW MASTER STATUS")[0][:2]

    def dumped_past_row():
        i = Instance.objects.get(pk=instance.pk)
        return (i.binlog_file, i.binlog_pos) >= (m_file, m_pos)

    wait_for(dumped_past_row, 30, message="the dump to pass the held row")
    assert rdb.get(key2) is None
    page.goto(f"{base}/subscriptions/{job.pk}/")
    expect(page.locator("[data-state]").first).to_have_text("stopped")
    page.goto(f"{base}/subscriptions/{job.pk}/resume/")
    page.click("#confirm-resume")
    wait_for(lambda: rdb.get(key2), 30, interval=0.1, message="the held row after the resume")
    assert json.loads(rdb.get(key2))["status"] == "held"

    # Set position back to before the first row: both rows are delivered again.
    rdb.flushdb()
    page.goto(f"{base}/subscriptions/{job.pk}/position/")
    page.check("input[name=mode][value=position]")
    page.fill("#id_binlog_file", file)
    page.fill("#id_binlog_pos", str(pos))
    page.click("#confirm-position")
    page.wait_for_url(f"{base}/subscriptions/{job.pk}/")
    wait_for(lambda: rdb.get(key1) and rdb.get(key2), 30, interval=0.1, message="both rows after set position")


def _live_workers():
    from console.domain.fleet import live_worker_names

    return live_worker_names()
