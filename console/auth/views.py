"""/login/ and /logout/."""
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from console.forms.auth import LoginForm

from . import lockout
from .redirects import oidc_enabled, ticket_sso_enabled, with_param


def _safe_next(request, fallback="/"):
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return fallback


@login_not_required
@never_cache
@csrf_protect
def login_view(request):
    next_url = _safe_next(request)
    if request.user.is_authenticated:
        return redirect(next_url)
    form = LoginForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if not settings.TOWER_LOCAL_LOGIN:
            form.add_error(None, "Password sign-in is turned off on this site; use single sign-on.")
            status = 403
        elif form.is_valid():
            # django-axes counts the failure and refuses a locked username (console.auth.lockout).
            user = authenticate(request, username=form.cleaned_data["username"], password=form.cleaned_data["password"])
            if user is not None:
                login(request, user)
                return redirect(next_url)
            if lockout.is_locked_out(request):
                lockout.answered(request)
                form.add_error(None, lockout.message())
                status = 429
            else:
                form.add_error(None, "Wrong username or password.")
                status = 401
        else:
            status = 400
    context = {
        "form": form,
        "next": next_url,
        "local_login": settings.TOWER_LOCAL_LOGIN,
        "oidc": oidc_enabled(),
        "sso_login_url": (
            with_param(settings.TOWER_SSO_LOGIN_URL, settings.TOWER_SSO_RETURN_PARAM, request.build_absolute_uri(next_url))
            if ticket_sso_enabled() and settings.TOWER_SSO_LOGIN_URL else ""
        ),
    }
    return render(request, "auth/login.html", context, status=status)


@login_not_required
@never_cache
def logout_view(request):
    """GET asks for confirmation (a link must not sign anyone out); POST signs out here and at the SSO."""
    if request.method != "POST":
        return render(request, "auth/logout.html")
    logout(request)
    messages.info(request, "You are signed out.")
    if ticket_sso_enabled() and settings.TOWER_SSO_LOGOUT_URL:
        response = redirect(with_param(
            settings.TOWER_SSO_LOGOUT_URL, settings.TOWER_SSO_RETURN_PARAM, request.build_absolute_uri("/")
        ))
        response.delete_cookie(settings.TOWER_SSO_COOKIE)
        return response
    if oidc_enabled() and getattr(settings, "OIDC_OP_LOGOUT_URL", ""):
        return redirect(settings.OIDC_OP_LOGOUT_URL)
    return redirect("login")
