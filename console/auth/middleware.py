"""Sign-in enforcement for the browser console, the ticket-SSO session bridge, and the audit of refusals (403)."""
import hashlib

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, authenticate, login, logout
from django.core.cache import cache

from console.domain.audit import record_denied

from .redirects import unauthenticated_response
from .signals import client_address

SESSION_TICKET_KEY = "tower_sso_ticket"
TICKET_BACKEND = "console.auth.ticket.TicketSSOBackend"


def _digest(ticket):
    return hashlib.sha256(ticket.encode("utf-8")).hexdigest()


class TicketSSOMiddleware:
    """Turns a valid SSO ticket cookie into a Django session; ends it when the cookie goes or changes."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.TOWER_SSO_VERIFY_URL and not request.path.startswith(settings.STATIC_URL):
            self.sync_session(request)
        return self.get_response(request)

    def sync_session(self, request):
        ticket = request.COOKIES.get(settings.TOWER_SSO_COOKIE, "")
        digest = _digest(ticket) if ticket else ""
        if request.user.is_authenticated:
            from_sso = request.session.get(BACKEND_SESSION_KEY) == TICKET_BACKEND
            if not from_sso or request.session.get(SESSION_TICKET_KEY) == digest:
                return
            logout(request)  # the SSO session ended or belongs to someone else now
        if not ticket or cache.get(f"tower:sso-bad:{digest}"):
            return
        user = authenticate(request, sso_ticket=ticket)
        if user is None:
            cache.set(f"tower:sso-bad:{digest}", 1, 60)  # don't ask the SSO again on every request
            return
        login(request, user, backend=TICKET_BACKEND)
        request.session[SESSION_TICKET_KEY] = digest


class ConsoleLoginRequiredMiddleware:
    """Every console view needs a signed-in user unless marked @login_not_required.

    Only console views are covered: the REST and compatibility APIs authenticate
    with DRF (token, basic, session) and answer 401/403 JSON themselves.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        module = getattr(view_func, "__module__", "") or ""
        if not (module.startswith("console.views") or module.startswith("console.auth")):
            return None
        if getattr(view_func, "login_required", True) is False:
            return None
        if request.user.is_authenticated:
            return None
        return unauthenticated_response(request)


class DeniedAuditMiddleware:
    """Every 403 on any surface (console, native API, compatibility APIs) is an audit record of who was refused.

    The compatibility APIs identify their caller themselves and leave it on the request (compat/auth.py);
    DRF sets request.user on the Django request when it authenticates.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 403:
            record_denied(self.actor(request), request.method, request.get_full_path(), client_address(request))
        return response

    @staticmethod
    def actor(request):
        caller = getattr(request, "tower_caller", None)
        if caller is not None:
            return caller.actor
        user = getattr(request, "user", None)
        return user if user is not None and user.is_authenticated else None
