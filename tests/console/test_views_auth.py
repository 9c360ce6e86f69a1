"""Sign-in: local login with lockout, redirects vs JSON 401, ticket SSO and OIDC against providers served over
real HTTP by the test."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from console.models import AuditLog, Member

from accounts import PASSWORD


@pytest.fixture(autouse=True)
def clean_cache():
    cache.clear()
    yield
    cache.clear()


class FakeProvider(BaseHTTPRequestHandler):
    """Ticket SSO verify endpoint + OIDC token/userinfo endpoints, in one tiny server."""

    tickets = {}  # ticket -> {"erp", "email", "orgName"}
    codes = {}  # OIDC code -> nonce
    client_secret = "oidc-client-secret-for-tower-tests-0123456789"
    calls = []

    def _json(self, status, body):
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self):
        url = urlsplit(self.path)
        FakeProvider.calls.append(url.path)
        if url.path == "/sso/verify":
            ticket = parse_qs(url.query).get("ticket", [""])[0]
            if ticket in self.tickets:
                return self._json(200, {"REQ_CODE": 1, "REQ_DATA": self.tickets[ticket]})
            return self._json(403, {"REQ_CODE": 0, "REQ_MSG": "bad ticket"})
        if url.path == "/oidc/userinfo":
            if self.headers.get("Authorization") != "Bearer access-olga":
                return self._json(401, {"error": "invalid_token"})
            return self._json(200, {"sub": "olga-1", "preferred_username": "olga", "email": "olga@example.com",
                                    "email_verified": True})
        self._json(404, {})

    def do_POST(self):
        url = urlsplit(self.path)
        FakeProvider.calls.append(url.path)
        form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        if url.path == "/oidc/token":
            code = form.get("code", [""])[0]
            if code not in self.codes or form.get("client_secret", [""])[0] != self.client_secret:
                return self._json(400, {"error": "invalid_grant"})
            id_token = jwt.encode({"sub": "olga-1", "nonce": self.codes.pop(code), "iat": int(time.time()),
                                   "exp": int(time.time()) + 300, "aud": "tower"}, self.client_secret, algorithm="HS256")
            return self._json(200, {"id_token": id_token, "access_token": "access-olga", "token_type": "Bearer"})
        self._json(404, {})

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def provider():
    server = HTTPServer(("127.0.0.1", 0), FakeProvider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


# --- local login ------------------------------------------------------------------


def test_local_login_and_logout(world):
    client = Client()
    response = client.post("/login/", {"username": "carol", "password": PASSWORD, "next": "/groups/"})
    assert response.status_code == 302 and response["Location"] == "/groups/"
    assert client.get("/groups/").status_code == 200
    # An off-site next is ignored.
    other = Client()
    assert other.post("/login/", {"username": "carol", "password": PASSWORD, "next": "http://evil.example/"})["Location"] == "/"
    assert client.get("/logout/").status_code == 200  # GET only asks
    assert client.get("/groups/").status_code == 200
    assert client.post("/logout/")["Location"] == "/login/"
    assert client.get("/groups/").status_code == 302


def test_failed_logins_lock_the_account(world, settings):
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(2):
        response = client.post("/login/", {"username": "carol", "password": "wrong"})
        assert response.status_code == 401 and b"Wrong username or password." in response.content
    # The third failure locks the account, and says so.
    response = client.post("/login/", {"username": "carol", "password": "wrong"})
    assert response.status_code == 429 and b"Too many failed sign-ins for this account" in response.content
    # Locked: even the right password is refused, with the same clear message on the sign-in page.
    response = client.post("/login/", {"username": "carol", "password": PASSWORD})
    assert response.status_code == 429 and b"Too many failed sign-ins for this account" in response.content
    assert b'name="password"' in response.content
    assert "_auth_user_id" not in client.session
    # The lock is the account's, not the address's: other accounts from this address still sign in.
    assert client.post("/login/", {"username": "adam", "password": PASSWORD}).status_code == 302


def test_a_success_before_the_limit_forgets_the_failures(world, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        assert Client().post("/login/", {"username": "carol", "password": "wrong"}).status_code == 401
    assert Client().post("/login/", {"username": "carol", "password": PASSWORD}).status_code == 302
    for _ in range(2):
        assert Client().post("/login/", {"username": "carol", "password": "wrong"}).status_code == 401
    assert Client().post("/login/", {"username": "carol", "password": PASSWORD}).status_code == 302


def test_local_login_can_be_turned_off(world, settings):
    settings.TOWER_LOCAL_LOGIN = False
    client = Client()
    response = client.post("/login/", {"username": "carol", "password": PASSWORD})
    assert response.status_code == 403 and "_auth_user_id" not in client.session
    assert b'name="password"' not in client.get("/login/").content


def test_bad_login_input_is_a_400(db):
    assert Client().post("/login/", {"username": ""}).status_code == 400


# --- unauthenticated requests ---------------------------------------------------------


def test_pages_redirect_and_ajax_gets_json_401(db):
    client = Client()
    response = client.get("/instances/?status=dump")
    assert response.status_code == 302 and response["Location"] == "/login/?next=%2Finstances%2F%3Fstatus%3Ddump"
    for headers in ({"HTTP_ACCEPT": "application/json"}, {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}):
        response = client.get("/monitor/abc/flow/", **headers)
        assert response.status_code == 401 and response.json()["error"] == "authentication required"
    assert client.post("/workflow/abc/apply/", HTTP_ACCEPT="application/json").status_code == 401
    assert client.get("/login/").status_code == 200


# --- ticket SSO -------------------------------------------------------------------------


@pytest.fixture
def ticket_sso(settings, provider):
    settings.TOWER_SSO_VERIFY_URL = f"{provider}/sso/verify"
    settings.TOWER_SSO_LOGIN_URL = "http://sso.example/login"
    settings.TOWER_SSO_LOGOUT_URL = "http://sso.example/logout"
    settings.TOWER_SSO_COOKIE = "sso.jd.com"
    FakeProvider.tickets.clear()
    FakeProvider.tickets["T-erin"] = {"erp": "erin", "email": "erin@example.com", "orgName": "Payments"}
    FakeProvider.tickets["T-carol"] = {"erp": "carol", "email": "carol@corp.example", "orgName": "Platform"}
    return provider


def test_ticket_sso_creates_the_user_and_starts_a_session(world, ticket_sso):
    client = Client()
    client.cookies["sso.jd.com"] = "T-erin"
    assert client.get("/groups/").status_code == 200
    erin = get_user_model().objects.get(username="erin")
    assert erin.email == "erin@example.com" and not erin.has_usable_password()
    # Verified once per session, not per request.
    calls = len(FakeProvider.calls)
    assert client.get("/").status_code == 200
    assert len(FakeProvider.calls) == calls


def test_ticket_sso_updates_member_details_and_follows_cookie_changes(world, ticket_sso):
    client = Client()
    client.cookies["sso.jd.com"] = "T-carol"
    assert client.get("/").context["user"].username == "carol"
    member = Member.objects.get(erp="carol")
    assert (member.email, member.org_name) == ("carol@corp.example", "Platform")
    # Someone else's ticket in the same browser: the session follows the SSO.
    client.cookies["sso.jd.com"] = "T-erin"
    assert client.get("/").context["user"].username == "erin"
    # The SSO cookie goes away: so does the session.
    del client.cookies["sso.jd.com"]
    response = client.get("/groups/")
    assert response.status_code == 302 and response["Location"].startswith("http://sso.example/login?ReturnUrl=")
    assert "http%3A%2F%2Ftestserver%2Fgroups%2F" in response["Location"]


def test_bad_ticket_redirects_to_sso_and_json_gets_401(db, ticket_sso):
    client = Client()
    client.cookies["sso.jd.com"] = "forged"
    response = client.get("/filters/")
    assert response.status_code == 302 and response["Location"].startswith("http://sso.example/login?ReturnUrl=")
    assert client.get("/filters/", HTTP_ACCEPT="application/json").status_code == 401
    assert not get_user_model().objects.filter(username="forged").exists()


def test_logout_ends_the_sso_session(world, ticket_sso):
    client = Client()
    client.cookies["sso.jd.com"] = "T-erin"
    client.get("/")
    response = client.post("/logout/")
    assert response.status_code == 302 and response["Location"].startswith("http://sso.example/logout?ReturnUrl=")
    assert client.cookies["sso.jd.com"].value == ""  # cleared for this site too
    assert "_auth_user_id" not in client.session


def test_unreachable_sso_is_not_a_500(db, settings):
    settings.TOWER_SSO_VERIFY_URL = "http://127.0.0.1:9/verify"
    settings.TOWER_SSO_LOGIN_URL = "http://sso.example/login"
    client = Client()
    client.cookies["sso.jd.com"] = "T-x"
    assert client.get("/").status_code == 302


# --- OIDC ----------------------------------------------------------------------------------


@pytest.fixture
def oidc(settings, provider):
    settings.OIDC_RP_CLIENT_ID = "tower"
    settings.OIDC_RP_CLIENT_SECRET = FakeProvider.client_secret
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{provider}/oidc/authorize"
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{provider}/oidc/token"
    settings.OIDC_OP_USER_ENDPOINT = f"{provider}/oidc/userinfo"
    settings.OIDC_RP_SIGN_ALGO = "HS256"
    settings.OIDC_RP_SCOPES = "openid email profile"
    return provider


def test_oidc_code_flow_signs_in(db, oidc):
    client = Client()
    assert b"oidc-login" in client.get("/login/").content
    response = client.get("/oidc/authenticate/?next=/groups/")
    assert response.status_code == 302 and response["Location"].startswith(f"{oidc}/oidc/authorize?")
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["client_id"] == ["tower"] and query["redirect_uri"][0].endswith("/oidc/callback/")
    FakeProvider.codes["code-1"] = query["nonce"][0]  # the provider "signs the user in"
    response = client.get(f"/oidc/callback/?code=code-1&state={query['state'][0]}")
    assert response.status_code == 302 and response["Location"] == "/groups/"
    # Named after the verified e-mail address, linked to the provider's sub; preferred_username is for display.
    olga = get_user_model().objects.get(username="olga@example.com")
    assert (olga.email, olga.first_name, olga.oidc_identity.sub) == ("olga@example.com", "olga", "olga-1")
    assert not get_user_model().objects.filter(username="olga").exists()
    assert client.get("/groups/").status_code == 200
    login = AuditLog.objects.get(action="login")
    assert (login.actor, login.message) == ("olga@example.com", "oidc from 127.0.0.1")


def test_oidc_with_a_wrong_state_or_code_does_not_sign_in(db, oidc):
    client = Client()
    query = parse_qs(urlsplit(client.get("/oidc/authenticate/")["Location"]).query)
    FakeProvider.codes["code-2"] = query["nonce"][0]
    response = client.get("/oidc/callback/?code=code-2&state=forged")
    assert response.status_code == 400  # a state this session never issued: refused outright
    assert client.get("/groups/").status_code == 302
    response = client.get(f"/oidc/callback/?code=unknown&state={query['state'][0]}")
    assert (response.status_code, response["Location"]) == (302, "/")  # the provider refused the code: the failure URL
    assert client.get("/groups/").status_code == 302
    assert not get_user_model().objects.filter(username="olga@example.com").exists()
    assert AuditLog.objects.filter(action="login_failed", message__startswith="oidc from").count() == 1


def test_oidc_only_site_redirects_to_the_provider(db, oidc, settings):
    settings.TOWER_LOCAL_LOGIN = False
    response = Client().get("/audit/")
    assert response.status_code == 302 and response["Location"] == "/oidc/authenticate/?next=%2Faudit%2F"
