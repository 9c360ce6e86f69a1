"""Adding a member gives them a way in: an SSO identity, or a local account with a one-time set-password link;
super admins manage accounts at /accounts/ without Django's admin."""
import re
from datetime import datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.test import Client, override_settings

from accounts import client_for
from console.models import AuditLog, Member

NEW_PASSWORD = "a-Long-new-passw0rd!"


def invite(client, group, erp="newbie", email="newbie@example.com"):
    response = client.post("/members/add/", {"group": group.pk, "erp": erp, "email": email, "role": "user"},
                           follow=True)
    assert response.status_code == 200, response.content[:500]
    assert response.redirect_chain == [(f"/members/{Member.objects.get(erp=erp, group=group).pk}/invited/", 302)]
    return response


def link_path(response):
    match = re.search(r'value="http://testserver(/accounts/set-password/[^"]+)"', response.content.decode())
    assert match, "no set-password link on the page"
    return match.group(1)


def set_password(path, password=NEW_PASSWORD):
    client = Client()
    page = client.get(path, follow=True)
    form_url = page.redirect_chain[-1][0] if page.redirect_chain else path
    response = client.post(form_url, {"new_password1": password, "new_password2": password})
    return client, page, response


def test_invite_link_set_password_sign_in(clients, world):
    response = invite(clients["adam"], world["alpha"])
    user = get_user_model().objects.get(username="newbie")
    assert not user.has_usable_password()
    assert Member.objects.filter(erp="newbie", group=world["alpha"], role="user").count() == 1
    path = link_path(response)

    assert Client().post("/login/", {"username": "newbie", "password": NEW_PASSWORD}).status_code == 401
    _client, page, done = set_password(path)
    assert page.status_code == 200 and b'id="set-password-submit"' in page.content
    assert done.status_code == 302 and done["Location"] == "/login/"

    signed_in = Client()
    assert signed_in.post("/login/", {"username": "newbie", "password": NEW_PASSWORD}).status_code == 302
    assert b'id="whoami">newbie' in signed_in.get("/").content


def test_link_is_single_use(clients, world):
    path = link_path(invite(clients["adam"], world["alpha"]))
    set_password(path)
    again = Client().get(path, follow=True)
    assert b'id="invalid-link"' in again.content
    assert b'id="set-password-submit"' not in again.content


def test_link_expires(clients, world, monkeypatch):
    path = link_path(invite(clients["adam"], world["alpha"]))
    later = datetime.now() + timedelta(hours=72, minutes=1)  # the link lives PASSWORD_RESET_TIMEOUT (72 h)
    monkeypatch.setattr(default_token_generator, "_now", lambda: later)
    _client, page, response = set_password(path)
    assert b'id="invalid-link"' in page.content
    assert not get_user_model().objects.get(username="newbie").has_usable_password()


def test_invite_link_is_shown_once(clients, world):
    response = invite(clients["adam"], world["alpha"])
    link_path(response)
    again = clients["adam"].get(response.redirect_chain[-1][0])
    assert again.status_code == 200
    assert b'id="invite-gone"' in again.content and b"/accounts/set-password/" not in again.content


def test_invite_audited_without_token(clients, world):
    path = link_path(invite(clients["adam"], world["alpha"]))
    token = path.rstrip("/").rsplit("/", 1)[-1]
    records = AuditLog.objects.filter(action="member_invite")
    assert records.count() == 1
    record = records.get()
    assert (record.actor, record.object_type) == ("adam", "Member")
    assert record.message == "newbie: local account created, set-password link issued"
    for row in AuditLog.objects.all():
        assert token not in f"{row.message} {row.before} {row.after}"


def test_existing_password_is_not_reset_by_a_group_admin(clients, world):
    response = invite(clients["adam"], world["alpha"], erp="oscar")
    assert b'id="invite-existing"' in response.content
    assert b"/accounts/set-password/" not in response.content
    assert client_for("oscar").get("/").status_code == 200


@override_settings(TOWER_SSO_VERIFY_URL="http://sso.invalid/verify")
def test_with_sso_the_member_signs_in_through_it(clients, world):
    response = invite(clients["adam"], world["alpha"])
    assert b'id="invite-sso"' in response.content
    assert b"/accounts/set-password/" not in response.content
    assert not get_user_model().objects.filter(username="newbie").exists()
    assert AuditLog.objects.get(action="member_invite").message == "newbie signs in through single sign-on"


def test_plain_member_cannot_invite(clients, world):
    response = clients["ursula"].post("/members/add/", {"group": world["alpha"].pk, "erp": "newbie", "role": "user"})
    assert response.status_code == 403
    assert not get_user_model().objects.filter(username="newbie").exists()


@pytest.mark.parametrize("name", ["carol", "adam", "ursula", "oscar"])
def test_accounts_page_is_super_admin_only(clients, world, name):
    assert clients[name].get("/accounts/").status_code == 403
    response = clients[name].post("/accounts/", {"user": world["users"]["ursula"].pk, "action": "deactivate"})
    assert response.status_code == 403
    assert get_user_model().objects.get(username="ursula").is_active is True


def test_super_admin_deactivates_reactivates_and_issues_link(clients, world):
    ursula = world["users"]["ursula"]
    page = clients["sam"].get("/accounts/")
    assert page.status_code == 200 and b"<td>ursula</td>" in page.content

    assert clients["sam"].post("/accounts/", {"user": ursula.pk, "action": "deactivate"}).status_code == 302
    assert Client().post("/login/", {"username": "ursula", "password": "s3cret-pass"}).status_code == 401
    assert clients["sam"].post("/accounts/", {"user": ursula.pk, "action": "reactivate"}).status_code == 302
    assert client_for("ursula").get("/").status_code == 200

    response = clients["sam"].post("/accounts/", {"user": ursula.pk, "action": "link"})
    assert response.status_code == 200
    match = re.search(r'value="http://testserver(/accounts/set-password/[^"]+)"', response.content.decode())
    set_password(match.group(1))
    assert Client().post("/login/", {"username": "ursula", "password": NEW_PASSWORD}).status_code == 302
    actions = list(AuditLog.objects.filter(action__startswith="account_").order_by("pk").values_list("action", "actor"))
    assert actions == [("account_deactivate", "sam"), ("account_reactivate", "sam"), ("account_password_link", "sam")]


def test_super_admin_cannot_deactivate_self(clients, world):
    response = clients["sam"].post("/accounts/", {"user": world["users"]["sam"].pk, "action": "deactivate"})
    assert response.status_code == 400
    assert get_user_model().objects.get(username="sam").is_active is True
