from django.db import models

from console.fields import EncryptedTextField

from .base import TimestampedModel


class Config(TimestampedModel):
    """Global settings, one row per keyword (the `default` row is the one in use). Super admins only."""

    keyword = models.CharField(max_length=64, primary_key=True, default="default")
    mark = models.CharField(max_length=255, blank=True, default="")
    slave_id = models.PositiveIntegerField(default=1000, help_text="first server_id handed to new instances")
    slave_uuid = models.CharField(max_length=64, blank=True, default="")
    dbs_api = models.CharField(max_length=512, blank=True, default="", help_text="approval system endpoint")
    dbs_token = EncryptedTextField(blank=True, default="")
    callback_secret = EncryptedTextField(blank=True, default="", help_text="HMAC secret of the DBA callback")
    mq_addr = models.CharField(max_length=512, blank=True, default="")
    dump_user = models.CharField(max_length=64, blank=True, default="")
    dump_password = EncryptedTextField(blank=True, default="")
    manager_token = EncryptedTextField(blank=True, default="")
    retry_latch = models.PositiveIntegerField(default=10, help_text="failed starts before an instance is parked")

    class Meta:
        db_table = "config"

    def __str__(self):
        return self.keyword

    @classmethod
    def current(cls):
        return cls.objects.get_or_create(keyword="default")[0]
