"""OIDC sign-in through mozilla-django-oidc, with username = the provider's erp / preferred_username."""
from django.conf import settings
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from .ticket import sync_user


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
        return super().authenticate(request, **kwargs)

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
