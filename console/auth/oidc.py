"""OIDC sign-in through mozilla-django-oidc: the identity is the provider's verified claims, never a name it sends.

A provider signs a user in as its stable `sub`. The first sign-in creates a Tower user linked to that `sub`
(OIDCIdentity); later ones find the user by the link, so OIDC never signs anyone in as an account it did not
create. The new user is named after the e-mail address when the provider says it is verified
(`email_verified`) and its domain is allowed (TOWER_OIDC_ALLOWED_DOMAINS), else `oidc-<sub>`; a name
already taken (a local account) or held by a super admin is refused. `preferred_username` is only a
display name: anyone can choose theirs at many providers.
"""
import hashlib
import logging
import re

import requests
from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

logger = logging.getLogger(__name__)

USERNAME_MAX = 64  # Member.erp / SuperAdmin.erp hold a username
SAFE_SUB = re.compile(r"[\w.@+-]{1,%d}" % (USERNAME_MAX - len("oidc-")))


def oidc_configured() -> bool:
    return bool(getattr(settings, "OIDC_RP_CLIENT_ID", "") and getattr(settings, "OIDC_OP_TOKEN_ENDPOINT", ""))


def subject(claims) -> str:
    sub = claims.get("sub")
    return sub.strip() if isinstance(sub, str) else ""


def verified_email(claims) -> str:
    """The e-mail address, lowercased, only when the provider says it verified it; else ''."""
    email = claims.get("email")
    verified = claims.get("email_verified")
    # Some providers send the flag as the string "true".
    if not isinstance(email, str) or "@" not in email or verified not in (True, "true"):
        return ""
    return email.strip().lower()


def allowed_email(claims) -> str:
    """The verified e-mail address when its domain is allowed (any domain when no list is set); else ''."""
    email = verified_email(claims)
    domains = getattr(settings, "TOWER_OIDC_ALLOWED_DOMAINS", [])
    if email and domains and email.rpartition("@")[2] not in domains:
        return ""
    return email


def username_for(claims) -> str:
    email = allowed_email(claims)
    if email and len(email) <= USERNAME_MAX:
        return email
    sub = subject(claims)
    if not SAFE_SUB.fullmatch(sub):
        sub = hashlib.sha256(sub.encode("utf-8")).hexdigest()[:40]
    return f"oidc-{sub}"


class TowerOIDCBackend(OIDCAuthenticationBackend):
    """Inert when OIDC is not configured (Django instantiates every backend on each authenticate())."""

    def __init__(self, *args, **kwargs):
        self.configured = oidc_configured()
        if self.configured:
            super().__init__(*args, **kwargs)

    def authenticate(self, request, **kwargs):
        if not self.configured:
            return None
        try:
            return super().authenticate(request, **kwargs)
        except (requests.RequestException, SuspiciousOperation, ValueError) as exc:
            # A refused code, an unreachable provider or a bad token is a failed sign-in, not a server error.
            logger.info("OIDC sign-in refused: %s", exc.__class__.__name__)
            return None

    def get_userinfo(self, access_token, id_token, payload):
        claims = super().get_userinfo(access_token, id_token, payload)
        # The userinfo answer must describe the subject of the signed id token (OIDC Core 5.3.2).
        if subject(claims) != subject(payload):
            raise SuspiciousOperation("userinfo sub differs from the id token's")
        return claims

    def verify_claims(self, claims):
        if not subject(claims):
            return False
        if getattr(settings, "TOWER_OIDC_ALLOWED_DOMAINS", []) and not allowed_email(claims):
            return False  # only people with a verified address in an allowed domain may sign in
        return True

    def filter_users_by_claims(self, claims):
        sub = subject(claims)
        if not sub:
            return self.UserModel.objects.none()
        return self.UserModel.objects.filter(oidc_identity__sub=sub, is_active=True)

    def create_user(self, claims):
        from console.models import Member, OIDCIdentity, SuperAdmin

        username = username_for(claims)
        if self.UserModel.objects.filter(username=username).exists():
            logger.warning("OIDC sign-in refused: %s is a local account OIDC did not create", username)
            return None
        if SuperAdmin.objects.filter(erp=username).exists():
            logger.warning("OIDC sign-in refused: %s is a super admin's name", username)
            return None
        email = allowed_email(claims)
        with transaction.atomic():
            user = self.UserModel(username=username, email=email, first_name=self.display_name(claims))
            user.set_unusable_password()
            user.save()
            OIDCIdentity.objects.create(user=user, sub=subject(claims))
        if email:
            Member.objects.filter(erp=username).update(email=email)
        return user

    def update_user(self, user, claims):
        from console.models import Member

        email = allowed_email(claims) or user.email
        display = self.display_name(claims) or user.first_name
        if (user.email, user.first_name) != (email, display):
            user.email, user.first_name = email, display
            user.save(update_fields=["email", "first_name"])
            Member.objects.filter(erp=user.username).update(email=email)
        return user

    @staticmethod
    def display_name(claims) -> str:
        name = claims.get("preferred_username") or claims.get("name") or ""
        return str(name).strip()[:150]

    def get_user(self, user_id):
        return self.UserModel.objects.filter(pk=user_id, is_active=True).first()
