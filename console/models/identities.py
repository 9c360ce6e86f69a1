from django.conf import settings
from django.db import models


class OIDCIdentity(models.Model):
    """A user the OIDC backend created, by the provider's stable subject: the only users OIDC signs in as."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oidc_identity")
    sub = models.CharField(max_length=255, unique=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "oidc_identity"

    def __str__(self):
        return f"{self.sub} -> {self.user_id}"
