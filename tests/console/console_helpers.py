"""Helpers shared by the console tests."""
import time

from django.contrib.auth import get_user_model
from django.test import Client

from console.models import Instance

PASSWORD = "s3cret-pass"


def wait_for(predicate, timeout=10.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


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
