"""Every sign-in and failed sign-in, on any surface, is an audit record (console.domain.audit.record_login).

Django sends user_logged_in / user_login_failed for the console, the admin, OIDC and ticket SSO, and
user_login_failed for HTTP Basic (console/api/compat/auth.py records its successes itself: it does not call
login()). Its credentials arrive with the password already masked; only the username is kept.
"""
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from console.domain.audit import record_login

from . import lockout

SURFACE_BY_BACKEND = {
    "console.auth.oidc.TowerOIDCBackend": "oidc",
    "console.auth.ticket.TicketSSOBackend": "sso",
}


def client_address(request) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy sets it.
    return request.META.get("REMOTE_ADDR", "") if request is not None else ""


def surface_of(request, backend="") -> str:
    if backend in SURFACE_BY_BACKEND:
        return SURFACE_BY_BACKEND[backend]
    if request is None:
        return "no request"
    if request.META.get("HTTP_AUTHORIZATION", "").lower().startswith("basic "):
        return "basic"
    path = request.path
    for prefix, surface in (("/admin/", "admin"), ("/oidc/", "oidc"), ("/login/", "console")):
        if path.startswith(prefix):
            return surface
    return "console"


@receiver(user_logged_in, dispatch_uid="tower-audit-login")
def audit_login(sender, request, user, **kwargs):
    backend = getattr(user, "backend", "")
    record_login(user.get_username(), surface_of(request, backend), client_address(request), user=user)


@receiver(user_login_failed, dispatch_uid="tower-audit-login-failed")
def audit_login_failed(sender, credentials, request=None, **kwargs):
    reason = "locked out" if request is not None and lockout.is_locked_out(request) else ""
    surface = "sso" if "sso_ticket" in credentials else surface_of(request)
    record_login(credentials.get("username", ""), surface, client_address(request), ok=False, reason=reason)
