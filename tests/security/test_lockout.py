"""One lockout (django-axes, in the database) for every way of presenting a password: the console's /login/,
/admin/login/ and HTTP Basic on the Bifrost API; every sign-in, failed sign-in and refusal is audited."""
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from console.domain import sources
from console.domain.errors import DomainError
from console.models import AuditLog, Instance

from accounts import PASSWORD, Api

WRONG = "not-the-pass-0"
LOCKED = "Too many failed sign-ins for this account. Try again in 15 minutes."


@pytest.fixture(autouse=True)
def clean_cache():
    cache.clear()  # the once-per-window audit of Basic sign-ins is kept there
    yield
    cache.clear()


@pytest.fixture
def staff(world):
    """root-admin may also use /admin/."""
    world.root.is_staff = True
    world.root.save()
    return world.root


def console_login(username, password):
    return Client().post("/login/", {"username": username, "password": password})


def admin_login(username, password):
    return Client().post("/admin/login/", {"username": username, "password": password, "next": "/admin/"})


def basic(username, password):
    return Api(basic=(username, password)).get("/db/list", {"format": "json"})


def assert_locked_everywhere(username):
    """The right password is refused on every password path, each in its own shape."""
    response = console_login(username, PASSWORD)
    assert response.status_code == 429 and LOCKED in response.content.decode()
    assert "_auth_user_id" not in response.client.session
    response = admin_login(username, PASSWORD)
    assert (response.status_code, response.content.decode()) == (429, LOCKED)
    response = basic(username, PASSWORD)
    assert response.status_code == 401 and response["WWW-Authenticate"] == 'Basic realm="tower"'
    assert response.json() == {"status": 0, "msg": LOCKED, "data": None}


def test_the_defaults_come_from_the_environment(settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.AXES_COOLOFF_TIME == timedelta(minutes=15)
    assert settings.AXES_LOCKOUT_PARAMETERS == ["username"]
    assert settings.AXES_HANDLER == "axes.handlers.database.AxesDatabaseHandler"


def test_failures_on_the_console_lock_admin_and_basic_too(staff):
    for _ in range(4):
        assert console_login("root-admin", WRONG).status_code == 401
    response = console_login("root-admin", WRONG)
    assert response.status_code == 429 and LOCKED in response.content.decode()
    assert_locked_everywhere("root-admin")
    # Another account is not locked by them.
    assert basic("bob", PASSWORD).status_code == 200

    call_command("axes_reset_username", "root-admin")
    assert console_login("root-admin", PASSWORD)["Location"] == "/"
    assert admin_login("root-admin", PASSWORD)["Location"] == "/admin/"
    assert basic("root-admin", PASSWORD).status_code == 200


def test_failures_over_basic_lock_the_console(world):
    for _ in range(4):
        response = basic("bob", WRONG)
        assert response.status_code == 401
        assert response.json() == {"status": 0, "msg": "invalid username or password", "data": None}
    assert basic("bob", WRONG).json()["msg"] == LOCKED
    assert_locked_everywhere("bob")


def test_failures_add_up_across_surfaces(staff):
    assert console_login("root-admin", WRONG).status_code == 401
    assert console_login("root-admin", WRONG).status_code == 401
    assert admin_login("root-admin", WRONG).status_code == 200  # the admin's form, redisplayed with its error
    assert admin_login("root-admin", WRONG).status_code == 200
    assert basic("root-admin", PASSWORD).status_code == 200  # four failures: not yet locked
    # A Basic success signs nobody in (no session), so it leaves the count as it is: this is the fifth failure.
    assert basic("root-admin", WRONG).json()["msg"] == LOCKED
    assert_locked_everywhere("root-admin")


def test_a_lock_ends_after_the_cool_off(world):
    for _ in range(5):
        console_login("carol", WRONG)
    assert console_login("carol", PASSWORD).status_code == 429
    # Attempts while locked do not extend the lock: it ends one cool-off after the locking failure.
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=15, seconds=1))
    assert console_login("carol", PASSWORD)["Location"] == "/"
    assert not AccessAttempt.objects.filter(username="carol").exists()  # a success forgets the failures


def test_sign_ins_are_audited_without_passwords(staff):
    console_login("bob", WRONG)
    basic("bob", WRONG)
    admin_login("bob", WRONG)
    assert console_login("bob", PASSWORD).status_code == 302
    assert basic("bob", PASSWORD).status_code == 200
    assert basic("bob", PASSWORD).status_code == 200  # a polling script: one row per window, not per request
    assert admin_login("root-admin", PASSWORD).status_code == 302
    for _ in range(5):
        console_login("carol", WRONG)
    rows = list(AuditLog.objects.filter(action__in=("login", "login_failed")).order_by("id")
                .values_list("actor", "action", "message"))
    assert rows == [
        ("bob", "login_failed", "console from 127.0.0.1"),
        ("bob", "login_failed", "basic from 127.0.0.1"),
        ("bob", "login_failed", "admin from 127.0.0.1"),
        ("bob", "login", "console from 127.0.0.1"),
        ("bob", "login", "basic from 127.0.0.1"),
        ("root-admin", "login", "admin from 127.0.0.1"),
        ("carol", "login_failed", "console from 127.0.0.1"),
        ("carol", "login_failed", "console from 127.0.0.1"),
        ("carol", "login_failed", "console from 127.0.0.1"),
        ("carol", "login_failed", "console from 127.0.0.1"),
        ("carol", "login_failed", "console from 127.0.0.1: locked out"),
    ]
    stored = [str(row) for row in AuditLog.objects.values()] + [str(row) for row in AccessAttempt.objects.values()]
    assert not [row for row in stored if PASSWORD in row or WRONG in row]


def test_refusals_are_audited(world, api):
    response = api(basic=("bob", PASSWORD)).post(f"/table/toserver/deal?ToServerID={world.job_a.pk}")
    assert response.status_code == 403
    denied = AuditLog.objects.get(action="denied")
    assert (denied.actor, denied.message) == (
        "bob", f"POST /table/toserver/deal?ToServerID={world.job_a.pk} from 127.0.0.1")
    assert api(token=world.bob.token).get("/api/config/").status_code == 403
    assert list(AuditLog.objects.filter(action="denied").order_by("id").values_list("actor", "message"))[1:] == [
        ("bob", "GET /api/config/ from 127.0.0.1")]


def test_each_use_of_stored_source_credentials_is_audited(world, source_address):
    host, port, user, password = source_address
    reachable = Instance.objects.create(group=world.group_a, host=host, port=port, user=user, password=password,
                                        slave_id=3101)
    assert sources.master_status(reachable)["file"]
    closed = Instance.objects.create(group=world.group_a, host="127.0.0.1", port=1, user="u", password="p",
                                     slave_id=3102)
    with pytest.raises(DomainError):
        sources.binary_logs(closed)
    rows = list(AuditLog.objects.filter(action="source_connect").order_by("id")
                .values_list("actor", "object_id", "message"))
    assert rows == [("system", str(reachable.pk), "master_status: connected"),
                    ("system", str(closed.pk), "binary_logs: cannot connect")]
