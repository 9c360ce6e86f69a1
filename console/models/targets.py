from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import ValidationError
from django.db import models

from console.choices import TargetKind
from console.fields import EncryptedTextField

from .base import TimestampedModel
from .groups import Group

SCHEME_KINDS = {
    "blackhole": TargetKind.BLACKHOLE,
    "redis": TargetKind.REDIS,
    "mongodb": TargetKind.MONGODB,
    "clickhouse": TargetKind.CLICKHOUSE,
    "kafka": TargetKind.KAFKA,
    "amqp": TargetKind.AMQP,
}


def kind_of_uri(uri: str) -> str:
    scheme = urlsplit(uri).scheme.lower()
    if scheme not in SCHEME_KINDS:
        raise ValidationError(
            f"unsupported sink URI scheme '{scheme}': use one of {', '.join(sorted(SCHEME_KINDS))}"
        )
    return SCHEME_KINDS[scheme]


def masked_uri(uri: str) -> str:
    """The URI with any password replaced, safe to show and log."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = f"{parts.username}:******@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class Target(TimestampedModel):
    """A sink endpoint. The URI may carry credentials, so it is encrypted at rest."""

    name = models.CharField(max_length=128)
    group = models.ForeignKey(Group, on_delete=models.CASCADE, db_column="group_id", related_name="targets")
    kind = models.CharField(max_length=16, choices=TargetKind.choices)
    uri = EncryptedTextField()
    options = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "targets"
        ordering = ["group__name", "name"]
        constraints = [models.UniqueConstraint(fields=["group", "name"], name="targets_group_name_uniq")]

    def __str__(self):
        return self.name

    @property
    def display_uri(self):
        return masked_uri(self.uri)

    def clean(self):
        self.kind = kind_of_uri(self.uri)

    def save(self, *args, **kwargs):
        self.kind = kind_of_uri(self.uri)
        super().save(*args, **kwargs)
