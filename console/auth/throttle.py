"""Failed-login throttling, per username and per client IP, kept in Django's cache.

A username is locked after TOWER_LOGIN_MAX_FAILURES failures within
TOWER_LOGIN_LOCK_MINUTES; an IP after four times as many (one office behind
one NAT address should not lock itself out because of one user).
"""
from django.conf import settings
from django.core.cache import cache

IP_FACTOR = 4


def _keys(username, ip):
    return f"tower:login-fail:user:{(username or '').strip().lower()}", f"tower:login-fail:ip:{ip or '-'}"


def _window_seconds():
    return settings.TOWER_LOGIN_LOCK_MINUTES * 60


def client_ip(request) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy sets it.
    return request.META.get("REMOTE_ADDR", "")


def lock_reason(username, ip):
    """A message when this username or IP is locked, else None."""
    user_key, ip_key = _keys(username, ip)
    limit = settings.TOWER_LOGIN_MAX_FAILURES
    minutes = settings.TOWER_LOGIN_LOCK_MINUTES
    if username and (cache.get(user_key) or 0) >= limit:
        return f"Too many failed sign-ins for this account. Try again in {minutes} minutes."
    if (cache.get(ip_key) or 0) >= limit * IP_FACTOR:
        return f"Too many failed sign-ins from your address. Try again in {minutes} minutes."
    return None


def record_failure(username, ip):
    for key in _keys(username, ip):
        if not cache.add(key, 1, _window_seconds()):
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, _window_seconds())


def reset(username, ip=None):
    user_key, ip_key = _keys(username, ip)
    cache.delete(user_key)
