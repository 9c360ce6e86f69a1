"""OIDC identity comes from verified claims only: `sub` links to a user the backend created; an unverified or
disallowed e-mail and `preferred_username` never pick an account. No IdP can run here: the token exchange and
signature check are mocked, the rest of Django's authenticate() path is real."""
from unittest import mock

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.test import RequestFactory
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from console.auth.oidc import TowerOIDCBackend
from console.models import AuditLog, OIDCIdentity, SuperAdmin
from console.permissions import is_super_admin

from accounts import make_user

ATTACKER = {"sub": "x", "email": "root@attacker.example", "email_verified": False, "preferred_username": "root"}
User = get_user_model()


@pytest.fixture
def oidc(settings, db):
    settings.OIDC_RP_CLIENT_ID = "tower"
    settings.OIDC_RP_CLIENT_SECRET = "not-used-the-token-check-is-mocked"
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = "http://idp.invalid/authorize"
    settings.OIDC_OP_TOKEN_ENDPOINT = "http://idp.invalid/token"
    settings.OIDC_OP_USER_ENDPOINT = "http://idp.invalid/userinfo"
    settings.OIDC_RP_SIGN_ALGO = "HS256"
    settings.TOWER_OIDC_ALLOWED_DOMAINS = []
    return settings


@pytest.fixture
def root(db):
    """A local super admin named root."""
    return make_user("root", super_admin=True)


def sign_in(claims, id_token_sub=None):
    """Django's authenticate() on an OIDC callback whose id token (subject `id_token_sub`) and userinfo (`claims`)
    the provider would have answered."""
    request = RequestFactory().get("/oidc/callback/", {"code": "c", "state": "s"})
    request.session = {}
    payload = {"sub": claims.get("sub") if id_token_sub is None else id_token_sub, "nonce": "n"}
    with mock.patch.object(TowerOIDCBackend, "get_token", return_value={"id_token": "i", "access_token": "a"}), \
            mock.patch.object(TowerOIDCBackend, "verify_token", return_value=payload), \
            mock.patch.object(OIDCAuthenticationBackend, "get_userinfo", return_value=dict(claims)):
        return authenticate(request, nonce="n")


def test_unverified_email_and_preferred_username_pick_no_account(oidc, root):
    user = sign_in(ATTACKER)
    assert (user.username, user.email, user.first_name) == ("oidc-x", "", "root")
    assert user.pk != root.pk and not is_super_admin(user) and not user.is_superuser and not user.is_staff
    assert not user.has_usable_password()
    assert OIDCIdentity.objects.get(sub="x").user == user
    assert not OIDCIdentity.objects.filter(user=root).exists()
    assert list(SuperAdmin.objects.values_list("erp", flat=True)) == ["root"]
    # The same subject comes back to the same user.
    assert sign_in(ATTACKER).pk == user.pk
    assert User.objects.filter(username__in=("root", "oidc-x")).count() == 2


def test_backend_methods_on_the_attackers_claims(oidc, root):
    backend = TowerOIDCBackend()
    assert backend.verify_claims(ATTACKER) is True  # a subject is all it takes without a domain list
    assert list(backend.filter_users_by_claims(ATTACKER)) == []  # root is not linked to any subject
    user = backend.create_user(ATTACKER)
    assert user.username == "oidc-x" and user.email == "" and not is_super_admin(user)
    assert list(backend.filter_users_by_claims(ATTACKER)) == [user]
    assert backend.verify_claims({"email": "a@corp.example", "email_verified": True}) is False  # no sub


def test_a_verified_email_names_the_new_user(oidc):
    claims = {"sub": "u-1", "email": "Olga@Corp.example", "email_verified": True, "preferred_username": "boss"}
    user = sign_in(claims)
    assert (user.username, user.email, user.first_name) == ("olga@corp.example", "olga@corp.example", "boss")
    # "true" as a string is how some providers say it; anything else leaves the address unused.
    assert sign_in({"sub": "u-2", "email": "ann@corp.example", "email_verified": "true"}).username == "ann@corp.example"
    assert sign_in({"sub": "u-3", "email": "eve@corp.example", "email_verified": "false"}).username == "oidc-u-3"
    assert sign_in({"sub": "u-4", "email": "max@corp.example"}).username == "oidc-u-4"


def test_never_an_existing_local_account_or_a_super_admins_name(oidc, root):
    local = make_user("root@corp.example")
    assert sign_in({"sub": "r-1", "email": "root@corp.example", "email_verified": True}) is None
    assert not OIDCIdentity.objects.exists()
    assert not hasattr(User.objects.get(pk=local.pk), "oidc_identity")
    # A super admin's name that has no user yet is not handed out either.
    SuperAdmin.objects.create(erp="chief@corp.example")
    assert sign_in({"sub": "r-2", "email": "chief@corp.example", "email_verified": True}) is None
    assert not User.objects.filter(username="chief@corp.example").exists()
    # Nor a name another subject's user already has.
    assert sign_in({"sub": "s-1", "email": "sam@corp.example", "email_verified": True}).username == "sam@corp.example"
    assert sign_in({"sub": "s-2", "email": "sam@corp.example", "email_verified": True}) is None
    failed = AuditLog.objects.filter(action="login_failed").values_list("actor", "message")
    assert list(failed) == [("anonymous", "oidc from 127.0.0.1")] * 3


def test_allowed_domains_need_a_verified_address_in_them(oidc):
    oidc.TOWER_OIDC_ALLOWED_DOMAINS = ["corp.example"]
    assert sign_in(ATTACKER) is None
    assert sign_in({"sub": "d-1", "email": "root@attacker.example", "email_verified": True}) is None
    assert sign_in({"sub": "d-2", "email": "ann@corp.example", "email_verified": False}) is None
    assert sign_in({"sub": "d-3", "email": "ann@corp.example.evil", "email_verified": True}) is None
    assert not User.objects.exists()
    assert sign_in({"sub": "d-4", "email": "ann@corp.example", "email_verified": True}).username == "ann@corp.example"


def test_userinfo_must_describe_the_id_tokens_subject(oidc):
    assert sign_in({"sub": "victim", "email": "v@corp.example", "email_verified": True}, id_token_sub="x") is None
    assert not User.objects.exists()


def test_later_sign_ins_refresh_only_verified_details(oidc):
    user = sign_in({"sub": "k-1", "email": "kim@corp.example", "email_verified": True, "preferred_username": "kim"})
    again = sign_in({"sub": "k-1", "email": "kim@other.example", "email_verified": False, "preferred_username": "K"})
    assert again.pk == user.pk
    again.refresh_from_db()
    assert (again.username, again.email, again.first_name) == ("kim@corp.example", "kim@corp.example", "K")
    assert list(AuditLog.objects.filter(action="login").values_list("actor", flat=True)) == []  # no login() here
