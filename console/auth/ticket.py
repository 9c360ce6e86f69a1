"""BinLake-style ticket SSO: the SSO site sets a ticket cookie; Tower asks the SSO's verify URL who it is.

The verify URL answers JSON naming the user, either flat
`{"erp": "...", "email": "...", "orgName": "..."}` or wrapped in `data` /
`REQ_DATA`. Anything else (HTTP error, no erp) means "not signed in".
"""
import logging

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend

logger = logging.getLogger(__name__)


class SSOVerifyError(Exception):
    pass


def verify_ticket(ticket: str) -> dict:
    """{'erp', 'email', 'org_name'} for a valid ticket; raises SSOVerifyError otherwise."""
    url = settings.TOWER_SSO_VERIFY_URL
    param = settings.TOWER_SSO_TICKET_PARAM
    try:
        if settings.TOWER_SSO_VERIFY_METHOD == "POST":
            response = requests.post(url, data={param: ticket}, timeout=5)
        else:
            response = requests.get(url, params={param: ticket}, timeout=5)
    except requests.RequestException as exc:
        raise SSOVerifyError(f"SSO verify URL unreachable: {exc.__class__.__name__}") from exc
    if response.status_code != 200:
        raise SSOVerifyError(f"SSO verify answered HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError as exc:
        raise SSOVerifyError("SSO verify did not answer JSON") from exc
    if isinstance(body, dict):
        for wrapper in ("data", "REQ_DATA"):
            if isinstance(body.get(wrapper), dict):
                body = body[wrapper]
                break
    erp = str(body.get("erp") or body.get("username") or "").strip() if isinstance(body, dict) else ""
    if not erp or len(erp) > 64:
        raise SSOVerifyError("SSO verify did not name a user")
    return {
        "erp": erp,
        "email": str(body.get("email") or "")[:128],
        "org_name": str(body.get("orgName") or body.get("org_name") or "")[:128],
    }


def sync_user(erp, email="", org_name=""):
    """Create or update the Django user (username = erp) and refresh email/org on the user's memberships."""
    from console.models import Member

    user, created = get_user_model().objects.get_or_create(username=erp, defaults={"email": email})
    if created:
        user.set_unusable_password()
        user.save()
    elif email and user.email != email:
        user.email = email
        user.save(update_fields=["email"])
    updates = {k: v for k, v in (("email", email), ("org_name", org_name)) if v}
    if updates:
        Member.objects.filter(erp=erp).update(**updates)
    return user


class TicketSSOBackend(BaseBackend):
    def authenticate(self, request, sso_ticket=None, **kwargs):
        if not sso_ticket or not settings.TOWER_SSO_VERIFY_URL:
            return None
        try:
            info = verify_ticket(sso_ticket)
        except SSOVerifyError as exc:
            logger.info("ticket SSO refused: %s", exc)
            return None
        user = sync_user(info["erp"], info["email"], info["org_name"])
        return user if user.is_active else None

    def get_user(self, user_id):
        return get_user_model().objects.filter(pk=user_id, is_active=True).first()
