"""Who is calling a compatibility surface.

Every machine surface takes `Authorization: Token <key>` (knox tokens, stored
as digests with an expiry, `manage.py token create <username>`), looked up as
the native API's knox.auth.TokenAuthentication does; a token acts with its
user's permissions. The Bifrost surface also takes HTTP Basic with a Tower user's
password, under the same lockout as /login/ (console/auth/lockout.py); the
manager MetaData surface also takes the manager token of
Config.current().manager_token, which acts as a super admin (BinLake's manager
is trusted with every instance), either as `Authorization: Token <it>` or in
BinLake's own header `token: <it>`. Sessions are not accepted here: these views
take POSTs without CSRF tokens, so a browser session must not be enough.
"""
import base64
import binascii
import hmac

from django.contrib.auth import authenticate
from django.core.cache import cache
from knox.auth import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from console.auth import lockout
from console.auth.signals import client_address
from console.domain.audit import record_login
from console.domain.caller import Caller

# A script polling with Basic signs in on every request: its successful sign-ins are audited once per user and
# address in this many seconds (failures always are).
BASIC_LOGIN_AUDIT_SECONDS = 15 * 60


class AuthFailed(Exception):
    """No or bad credentials: the surface answers 401 in its own error shape."""


def _authorization(request):
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    return scheme.lower(), value.strip()


def _token_user(key):
    # knox refuses an unknown or expired key (and deletes the expired row) or an inactive user.
    try:
        user, _token = TokenAuthentication().authenticate_credentials(key.encode())
    except AuthenticationFailed:
        return None
    return user


def _manager_token_matches(key) -> bool:
    from console.models import Config

    # Read, don't get_or_create: a refused request must not write the config row.
    config = Config.objects.filter(keyword="default").first()
    expected = config.manager_token if config else ""
    return bool(expected) and hmac.compare_digest(expected.encode(), key.encode())


def _basic_user(request, value):
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    if not sep:
        return None
    # Through Django's authenticate with the request: django-axes counts a failure here as on /login/
    # and refuses a locked username whatever the password (console.auth.lockout).
    user = authenticate(request, username=username, password=password)
    if user is None and lockout.is_locked_out(request):
        lockout.answered(request)
        raise AuthFailed(lockout.message())
    if user is None or not user.is_active:
        return None
    if cache.add(f"tower:basic-login:{user.pk}:{client_address(request)}", 1, BASIC_LOGIN_AUDIT_SECONDS):
        record_login(user.get_username(), "basic", client_address(request), user=user)
    return user


def identify(request, *, basic=False, manager_token=False) -> Caller:
    """The caller of a machine request, or AuthFailed; kept on the request for the audit of a refusal."""
    request.tower_caller = _identify(request, basic=basic, manager_token=manager_token)
    return request.tower_caller


def _identify(request, *, basic=False, manager_token=False) -> Caller:
    scheme, value = _authorization(request)
    if manager_token and not scheme:
        # BinLake's manager sends its token in a header of its own; only the manager token is taken there.
        key = request.META.get("HTTP_TOKEN", "").strip()
        if key:
            if _manager_token_matches(key):
                return Caller(is_manager=True)
            raise AuthFailed("invalid token")
    if scheme == "token" and value:
        user = _token_user(value)
        if user is not None:
            return Caller(user=user)
        if manager_token and _manager_token_matches(value):
            return Caller(is_manager=True)
        raise AuthFailed("invalid token")
    if scheme == "basic" and basic and value:
        user = _basic_user(request, value)
        if user is not None:
            return Caller(user=user)
        raise AuthFailed("invalid username or password")
    raise AuthFailed("authentication credentials were not provided (Authorization: Token <key>)")


def challenge(basic=False) -> str:
    """The WWW-Authenticate value of a 401."""
    return 'Basic realm="tower"' if basic else "Token"
