"""Helpers shared by the console tests."""
import time

from django.contrib.auth import get_user_model
from django.test import Client

from console.models import Instance
from waiting import wait_for  # noqa: F401  (re-exported to this package's tests)

PASSWORD = "s3cret-pass"


def make_user(username):
    return get_user_model().objects.create_user(username=username, password=PASSWORD, email=f"{username}@example.com")



def make_instance(group, host="127.0.0.1", port=3306, **fields):
    instance = Instance(group=group, host=host, port=port, slave_id=fields.pop("slave_id", 5000 + port % 1000), **fields)
    instance.save()
    return instance


def client_for(username):
    client = Client()
    if username:
        client.login(username=username, password=PASSWORD)
    return client


def source_address(source_url):
    """(host, port, user, password) of a mysql:// URL."""
    from urllib.parse import urlsplit

    parts = urlsplit(source_url)
    return parts.hostname, parts.port or 3306, parts.username or "root", parts.password or ""


def signed_callback(client, secret, body: dict, timestamp=None, signature=None):
    """POST a DBA decision to /workflow/callback/ the way the approval system does."""
    import json

    from console.services import sign_callback

    raw = json.dumps(body).encode()
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    return client.post(
        "/workflow/callback/", data=raw, content_type="application/json",
        HTTP_X_TOWER_TIMESTAMP=timestamp, HTTP_X_TOWER_SIGNATURE=signature or sign_callback(secret, timestamp, raw),
    )
