"""OIDC sign-in through mozilla-django-oidc, with username = the provider's erp / preferred_username."""
import logging

import requests
from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from .ticket import sync_user

logger = logging.getLogger(__name__)


def oidc_configured() -> bool:
    return bool(getattr(settings, "OIDC_RP_CLIENT_ID", "") and getattr(settings, "OIDC_OP_TOKEN_ENDPOINT", ""))


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

    @staticmethod
    def username_from_claims(claims) -> str:
        name = claims.get("erp") or claims.get("preferred_username") or ""
        if not name and claims.get("email"):
            name = claims["email"].split("@", 1)[0]
        return str(name).strip()[:64]

    def verify_claims(self, claims):
        return bool(self.username_from_claims(claims))

    def filter_users_by_claims(self, claims):
        return self.UserModel.objects.filter(username=self.username_from_claims(claims))

    def create_user(self, claims):
        return sync_user(self.username_from_claims(claims), claims.get("email", ""), claims.get("orgName", ""))

    def update_user(self, user, claims):
        return sync_user(user.username, claims.get("email", ""), claims.get("orgName", ""))

    def get_user(self, user_id):
        return self.UserModel.objects.filter(pk=user_id, is_active=True).first()
