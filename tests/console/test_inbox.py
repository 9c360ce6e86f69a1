"""The DBA inbox (/workflow/inbox/): pending requests of every group for super admins, decided through
console.domain.instances.decide after a confirmation naming the instance and the consequence."""
import pytest

from console.choices import InstanceStatus
from console.domain.instances import decide
from console.models import AuditLog, Instance

from console_helpers import assert_db_changes, audit_row, db_rows, make_instance


@pytest.fixture
def pending(world, clients):
    """One instance waiting in alpha (applied by carol), one in beta (applied by oscar), one in alpha still init."""
    alpha = make_instance(world["alpha"], host="10.9.0.1", port=3306)
    beta = make_instance(world["beta"], host="10.9.0.2", port=3307)
    idle = make_instance(world["alpha"], host="10.9.0.3", port=3308)
    for client, instance in ((clients["carol"], alpha), (clients["oscar"], beta)):
        response = client.post(f"/workflow/{instance.pk}/apply/")
        assert response.status_code == 302
    return {"alpha": alpha, "beta": beta, "idle": idle}


def test_super_admin_sees_the_pending_requests_of_every_group(clients, pending):
    response = clients["sam"].get("/workflow/inbox/")
    assert response.status_code == 200
    page = response.content.decode()
    rows = response.context["rows"]
    assert [(r["instance"].pk, r["instance"].group.name, r["applicant"]) for r in rows] == [
        (pending["alpha"].pk, "alpha", "carol"), (pending["beta"].pk, "beta", "oscar")]
    assert "10.9.0.1:3306" in page and "10.9.0.2:3307" in page and "10.9.0.3:3308" not in page
    apply_time = AuditLog.objects.get(action="apply", object_id=pending["alpha"].pk).time
    assert rows[0]["since"] == apply_time


def test_the_nav_shows_the_inbox_with_its_count_to_super_admins_only(clients, pending):
    page = clients["sam"].get("/workflow/").content.decode()
    assert 'id="nav-inbox" href="/workflow/inbox/"' in page
    assert '<span class="badge badge-warning" id="inbox-badge">2</span>' in page
    assert 'id="nav-inbox"' not in clients["adam"].get("/workflow/").content.decode()


@pytest.mark.parametrize("user", ["adam", "carol", "oscar", "ursula"])
def test_anyone_but_a_super_admin_gets_403(clients, pending, user):
    assert clients[user].get("/workflow/inbox/").status_code == 403


def test_a_decision_is_confirmed_first_naming_the_instance_and_the_consequence(clients, pending):
    instance = pending["beta"]
    before = db_rows()
    response = clients["sam"].post(f"/workflow/{instance.pk}/decide/", {"decision": "approve", "next": "inbox"})
    assert response.status_code == 200
    assert db_rows() == before  # nothing decided yet
    page = response.content.decode()
    assert "Approve instance 10.9.0.2:3307?" in page
    assert "It moves to &#x27;unauthorized&#x27;" in page
    assert 'name="confirmed" value="yes"' in page and 'name="next" value="inbox"' in page


@pytest.mark.parametrize("choice, comment, action, status", [
    ("approve", "", "approve", InstanceStatus.UNAUTHORIZED),
    ("refuse", "no binlog on prod-critical DBs", "refuse", InstanceStatus.OPPOSE),
])
def test_the_inbox_decides_and_audits_like_the_domain(clients, world, pending, choice, comment, action, status):
    instance, twin = pending["alpha"], pending["beta"]
    before = db_rows()
    response = clients["sam"].post(f"/workflow/{instance.pk}/decide/",
                                   {"decision": choice, "comment": comment, "next": "inbox", "confirmed": "yes"})
    assert (response.status_code, response.url) == (302, "/workflow/inbox/")
    assert_db_changes(before, db_rows(), {
        "Instance": {"changed": {instance.pk: {"status": ("wait", status.value)} | (
            {"comment": ("", comment)} if comment else {})}},
        "AuditLog": {"added": [audit_row("sam", action, "Instance", instance.pk, world["alpha"].pk)]},
    })
    # The same decision made through the domain writes the same audit record.
    decide(world["users"]["sam"], Instance.objects.get(pk=twin.pk), choice == "approve", comment)
    page_row, domain_row = (AuditLog.objects.filter(action=action, object_id=i.pk).get() for i in (instance, twin))
    assert (page_row.actor, page_row.before["status"], page_row.after["status"], page_row.message) == (
        domain_row.actor, domain_row.before["status"], domain_row.after["status"], domain_row.message)
    assert [r["instance"].pk for r in clients["sam"].get("/workflow/inbox/").context["rows"]] == []


@pytest.mark.parametrize("comment", ["", "   "])
def test_refusing_without_a_comment_is_400_and_changes_nothing(clients, pending, comment):
    instance = pending["alpha"]
    before = db_rows()
    response = clients["sam"].post(f"/workflow/{instance.pk}/decide/",
                                   {"decision": "refuse", "comment": comment, "next": "inbox", "confirmed": "yes"})
    assert response.status_code == 400
    assert db_rows() == before
    assert "Say why the request is refused." in response.content.decode()
    assert Instance.objects.get(pk=instance.pk).status == InstanceStatus.WAIT


def test_the_workflow_page_has_no_default_decision(clients, pending):
    instance = pending["alpha"]
    page = clients["sam"].get(f"/workflow/{instance.pk}/").content.decode()
    assert 'value="approve"' in page and 'value="refuse"' in page and "checked" not in page.split('id="decide-form"')[1]
    before = db_rows()
    response = clients["sam"].post(f"/workflow/{instance.pk}/decide/", {"comment": "ok", "confirmed": "yes"})
    assert response.status_code == 400
    assert "Choose approve or refuse." in response.content.decode()
    response = clients["sam"].post(f"/workflow/{instance.pk}/decide/", {"decision": "refuse", "confirmed": "yes"})
    assert response.status_code == 400
    assert "Say why the request is refused." in response.content.decode()
    assert db_rows() == before


def test_a_group_admin_cannot_decide_even_confirmed(clients, pending):
    before = db_rows()
    response = clients["adam"].post(f"/workflow/{pending['alpha'].pk}/decide/",
                                    {"decision": "approve", "confirmed": "yes", "next": "inbox"})
    assert response.status_code == 403
    assert db_rows() == before
