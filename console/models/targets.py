from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import models

from console.choices import TargetKind
from console.fields import EncryptedTextField
from workers.masking import mask_options, mask_uri

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

MULTI_HOST_SCHEMES = ("kafka", "mongodb")


def kind_of_uri(uri: str) -> str:
    """The target kind of a sink URI, once its scheme, hosts and ports parse: ValidationError (saying what is
    wrong) otherwise. Kafka (its bootstrap brokers, `kafka://h1:9092,h2:9092/t`) and MongoDB (a replica set's
    seed list) take a list of hosts; the other sinks connect to one."""
    try:
        parts = urlsplit(uri)
    except ValueError as exc:  # e.g. an unclosed '[' of an IPv6 host
        raise ValidationError(f"malformed sink URI: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEME_KINDS:
        raise ValidationError(
            f"unsupported sink URI scheme '{scheme}': use one of {', '.join(sorted(SCHEME_KINDS))}"
        )
    hosts = parts.netloc.rpartition("@")[2].split(",")
    if len(hosts) > 1 and scheme not in MULTI_HOST_SCHEMES:
        raise ValidationError(f"a {scheme} sink URI names one host (only kafka and mongodb take a list)")
    for host in hosts:
        try:
            address = urlsplit(f"//{host}")
            address.port
        except ValueError:
            if "@" in uri:  # the "host" may be the tail of a password holding an unescaped '#', '/' or '?'
                raise ValidationError("a port in the sink URI is not a number from 0 to 65535 (a password's "
                                      "'#', '/', '?' and '@' must be percent-encoded)") from None
            raise ValidationError(f"the port of '{host}' in the sink URI is not a number from 0 to 65535") from None
        if len(hosts) > 1 and not address.hostname:
            raise ValidationError(f"every entry of the {scheme} sink URI's host list needs a host")
    return SCHEME_KINDS[scheme]


def masked_uri(uri: str) -> str:
    """The URI safe to show, audit and log: password, secret query parameters and nested URIs masked."""
    return mask_uri(uri)


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

    @property
    def display_options(self):
        """The options with every secret-named value (sasl.password, producer_config's ...) masked."""
        return mask_options(self.options)

    def clean(self):
        self.kind = kind_of_uri(self.uri)

    def save(self, *args, **kwargs):
        self.kind = kind_of_uri(self.uri)
        super().save(*args, **kwargs)
