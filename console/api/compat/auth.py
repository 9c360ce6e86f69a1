"""Who is calling a compatibility surface.

Every machine surface takes `Authorization: Token <key>` (DRF tokens, one per
user, `manage.py drf_create_token <username>`); a token acts with its user's
permissions. The Bifrost surface also takes HTTP Basic with a Tower user's
password; the manager MetaData surface also takes the manager token of
Config.current().manager_token, which acts as a super admin (BinLake's manager
is trusted with every instance), either as `Authorization: Token <it>` or in
BinLake's own header `token: <it>`. Sessions are not accepted here: these views
take POSTs without CSRF tokens, so a browser session must not be enough.
"""
import base64
import binascii
import hmac

from django.contrib.auth import authenticate
from rest_framework.authtoken.models import Token

from console.domain.caller import Caller


class AuthFailed(Exception):
    """No or bad credentials: the surface answers 401 in its own error shape."""


def _authorization(request):
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    return scheme.lower(), value.strip()


def _token_user(key):
    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return None
    return token.user


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
    user = authenticate(request, username=username, password=password)
    return user if user is not None and user.is_active else None


def identify(request, *, basic=False, manager_token=False) -> Caller:
    """The caller of a machine request, or AuthFailed."""
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
