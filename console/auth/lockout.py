"""One lockout for every way of presenting a password: django-axes, counting per username in the database.

LockoutBackend comes first in AUTHENTICATION_BACKENDS, so every authenticate() with a request (the console's
/login/, /admin/login/, HTTP Basic on the compatibility APIs) is refused while the username is locked, and
axes counts each failure through Django's user_login_failed signal, whichever surface it came from.
A surface that answers a lockout in its own shape marks the request with `answered`; axes' middleware
answers the others (the admin login) with lockout_response.
"""
from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.http import HttpResponse


class LockoutBackend(AxesStandaloneBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        # Without a request nobody is signing in over HTTP (a management command, a test client's login()):
        # there is no client to lock out, and axes would refuse the call outright.
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def is_locked_out(request) -> bool:
    """Whether the authenticate() just made on this request was refused (or ended) by a lockout."""
    return bool(getattr(request, "axes_locked_out", False))


def message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return f"Too many failed sign-ins for this account. Try again in {minutes} minutes."


def answered(request):
    """The surface answered the lockout itself (console login page, Bifrost JSON): axes keeps that answer."""
    request.tower_lockout_answered = True


def lockout_response(request, original_response=None, credentials=None):
    if original_response is not None and getattr(request, "tower_lockout_answered", False):
        return original_response
    return HttpResponse(message(), status=429, content_type="text/plain; charset=utf-8")
