"""Every console page, as a super admin with real data: no serious or critical axe-core violation (on a desktop
and on a 375 px wide phone screen), and no sideways scrolling on the phone."""
import pytest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from console.choices import InstanceStatus, MemberRole, SyncPhase
from console.models import AuditLog, Checkpoint, Filter, FlowSample, MqRule, Rule, Subscription, Target

from accounts import PASSWORD, make_user
from browser_helpers import CHROMIUM_ARGS, axe_violations, horizontal_overflow
from console_helpers import make_instance

PHONE_WIDTH = 375


@pytest.fixture
def seeded(world):
    alpha = world["alpha"]
    instance = make_instance(alpha, port=3399, status=InstanceStatus.DUMP, binlog_file="mysql-bin.000007",
                             binlog_pos=4711, master_file="mysql-bin.000007", master_pos=9000,
                             last_error="source went away", lag_seconds=7, lag_bytes=4289)
    Checkpoint.objects.create(instance=instance, binlog_file="mysql-bin.000007", binlog_pos=4711)
    flt = Filter(group=alpha, name="orders only", table_name=r"shop\.orders")
    flt.save()
    target = Target.objects.create(group=alpha, name="orders-kafka", uri="kafka://127.0.0.1:9092/orders")
    rule = MqRule(group=alpha, topic="orders", target=target)
    rule.save()
    rule.filters.add(flt)
    subscription = Subscription.objects.create(name="orders-to-kafka", group=alpha, instance=instance, target=target,
                                               mq_rule=rule, created_by="carol", phase=SyncPhase.FULL_SYNC,
                                               fullsync_total=1000, fullsync_done=400,
                                               fullsync_started=timezone.now() - timezone.timedelta(seconds=60))
    Checkpoint.objects.create(instance=instance, subscription=subscription, binlog_file="mysql-bin.000007",
                              binlog_pos=4000, queued_file="mysql-bin.000007", queued_pos=4500)
    Rule.objects.create(group=alpha, instance=instance, rule=rule, subscription=subscription)
    for action in ("instance_register", "subscription_create", "filter_update"):
        AuditLog.objects.create(actor="carol", action=action, object_type="Instance", object_id=instance.pk,
                                object_repr=str(instance), group=alpha, before={"port": 3306}, after={"port": 3399})
    now = timezone.now()
    for i in range(6):
        FlowSample.objects.create(instance=instance, time=now - timezone.timedelta(seconds=30 - 5 * i),
                                  count=100 * i, byte_size=2048 * i)
    return {"group": alpha, "instance": instance, "filter": flt, "rule": rule, "target": target,
            "subscription": subscription, "binding": Rule.objects.get(subscription=subscription)}


def console_pages(seeded):
    """(name, path) of every page the console shows a super admin, from console/urls.py's names."""
    g, i, s = seeded["group"].pk, seeded["instance"].pk, seeded["subscription"].pk
    pages = [
        ("dashboard", "/"),
        ("group_list", "/groups/"), ("group_add", "/groups/add/"), ("group_detail", f"/groups/{g}/"),
        ("group_edit", f"/groups/{g}/edit/"),
        ("member_list", "/members/"), ("member_add", "/members/add/"),
        ("filter_list", "/filters/"), ("filter_add", "/filters/add/"), ("filter_edit", f"/filters/{seeded['filter'].pk}/"),
        ("mq_rule_list", "/mq-rules/"), ("mq_rule_add", "/mq-rules/add/"),
        ("mq_rule_edit", f"/mq-rules/{seeded['rule'].pk}/"),
        ("target_list", "/targets/"), ("target_add", "/targets/add/"), ("target_edit", f"/targets/{seeded['target'].pk}/"),
        ("instance_list", "/instances/"), ("instance_add", "/instances/add/"), ("instance_detail", f"/instances/{i}/"),
        ("instance_edit", f"/instances/{i}/edit/"), ("instance_operations", f"/instances/{i}/operations/"),
        ("binding_list", "/bindings/"), ("binding_add", "/bindings/add/"),
        ("subscription_list", "/subscriptions/"), ("subscription_add", "/subscriptions/add/"),
        ("workflow_list", "/workflow/"), ("workflow_detail", f"/workflow/{i}/"),
        ("monitor", "/monitor/"), ("monitor_detail", f"/monitor/{i}/"),
        ("audit", "/audit/"), ("config", "/config/"),
        ("404", "/instances/no-such-instance/"),
    ]
    # Pages that come and go with the console's features: those its URLconf has.
    audit_row = AuditLog.objects.filter(group=seeded["group"]).first().pk
    optional = [("subscription_edit", [s]), ("subscription_detail", [s]), ("subscription_pause", [s]),
                ("subscription_position", [s]), ("account_list", []), ("workflow_inbox", []),
                ("audit_detail", [audit_row])]
    for name, args in optional:
        try:
            pages.append((name, reverse(name, args=args)))
        except NoReverseMatch:
            pass
    return pages


def sign_in(page, base, username):
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{base}/")


def problems(page, url):
    """Axe's serious/critical violations at desktop and at phone width, and the sideways overflow on the phone."""
    page.set_viewport_size({"width": 1280, "height": 900})
    response = page.goto(url)
    found = {"status": response.status} if response.status not in (200, 403, 404) else {}
    violations = axe_violations(page)
    if violations:
        found["axe"] = violations
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 800})
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => done()))")  # the page's resize handlers ran
    overflow = horizontal_overflow(page)
    if overflow > 0:
        found["overflow_px"] = overflow
    violations = axe_violations(page)
    if violations:
        found["phone_axe"] = violations
    return found


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_every_page_is_accessible_and_fits_a_phone(live_server, seeded, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    base = live_server.url
    make_user("pat", group=seeded["group"], role=MemberRole.USER)  # a plain member: sees the 403 page
    report, menu = {}, {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            anonymous = browser.new_page()
            anonymous.set_default_timeout(15000)
            report["login"] = problems(anonymous, f"{base}/login/")

            member = browser.new_page()
            member.set_default_timeout(15000)
            sign_in(member, base, "pat")
            report["403"] = problems(member, f"{base}/config/")
            assert member.locator("#reason").count() == 1, "the 403 page was not shown"

            admin = browser.new_page()
            admin.set_default_timeout(15000)
            sign_in(admin, base, "sam")
            for name, path in console_pages(seeded):
                report[name] = problems(admin, base + path)
                menu[name] = admin.locator('#nav [aria-current="page"]').all_inner_texts()

            # Keyboard users: the first Tab reaches the skip link, which moves focus past the menu to the page.
            admin.set_viewport_size({"width": 1280, "height": 900})
            admin.goto(f"{base}/instances/")
            admin.keyboard.press("Tab")
            skip = admin.evaluate("[document.activeElement.textContent, document.activeElement.getAttribute('href')]")
            admin.keyboard.press("Enter")
            focused = admin.evaluate("document.activeElement.id")
            # On a phone the menu is one named button; opened, it has no violations either.
            admin.set_viewport_size({"width": PHONE_WIDTH, "height": 800})
            admin.goto(f"{base}/")
            admin.click("button.navbar-toggler")
            admin.locator("#nav.show").wait_for()
            phone_menu = axe_violations(admin)
            report["dashboard (phone, menu open)"] = {"axe": phone_menu} if phone_menu else {}
        finally:
            browser.close()
    failing = {name: found for name, found in report.items() if found}
    assert failing == {}
    assert (skip, focused) == (["Skip to content", "#content"], "content")
    # The menu marks the section the page is in (aria-current="page"), detail and edit pages included.
    assert {name: menu[name] for name in ("group_detail", "instance_operations", "subscription_edit", "monitor_detail",
                                          "audit", "config")} == {
        "group_detail": ["Groups"], "instance_operations": ["Instances"], "subscription_edit": ["Subscriptions"],
        "monitor_detail": ["Monitor"], "audit": ["Audit"], "config": ["Config"]}
