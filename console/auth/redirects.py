"""Where an unauthenticated request goes: a JSON 401 for scripts, the sign-in page for browsers."""
from urllib.parse import urlencode

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse


def wants_json(request) -> bool:
    accept = request.headers.get("Accept", "")
    return (
        request.path.startswith("/api/")
        or request.headers.get("X-Requested-With") == "XMLHttpRequest"
        or ("application/json" in accept and "text/html" not in accept)
    )


def oidc_enabled() -> bool:
    return bool(getattr(settings, "OIDC_RP_CLIENT_ID", "") and getattr(settings, "OIDC_OP_AUTHORIZATION_ENDPOINT", ""))


def ticket_sso_enabled() -> bool:
    return bool(settings.TOWER_SSO_VERIFY_URL)


def with_param(url, name, value):
    return f"{url}{'&' if '?' in url else '?'}{urlencode({name: value})}"


def login_url_for(request) -> str:
    """The SSO login (with an absolute return URL) when ticket SSO is on, else /login/?next=."""
    if ticket_sso_enabled() and settings.TOWER_SSO_LOGIN_URL:
        return with_param(settings.TOWER_SSO_LOGIN_URL, settings.TOWER_SSO_RETURN_PARAM, request.build_absolute_uri())
    if oidc_enabled() and not settings.TOWER_LOCAL_LOGIN:
        return with_param(reverse("oidc_authentication_init"), "next", request.get_full_path())
    return with_param(reverse("login"), "next", request.get_full_path())


def unauthenticated_response(request):
    if wants_json(request):
        return JsonResponse({"error": "authentication required", "login_url": reverse("login")}, status=401)
    return redirect(login_url_for(request))
