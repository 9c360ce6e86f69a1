"""Users, roles, tokens and the HTTP callers tests act as: one place for every test package."""
import base64
import json

from django.contrib.auth import get_user_model
from django.test import Client
from knox.models import AuthToken

from console.choices import MemberRole
from console.models import Member, SuperAdmin

PASSWORD = "s3cret-pass"


def make_user(username, group=None, role=MemberRole.USER, super_admin=False):
    """A user with PASSWORD, a member of `group` with `role` and/or a super admin; `user.token` is an API token."""
    user = get_user_model().objects.create_user(username=username, password=PASSWORD, email=f"{username}@example.com")
    if group is not None:
        Member.objects.create(erp=username, group=group, role=role)
    if super_admin:
        SuperAdmin.objects.create(erp=username)
    user.token = AuthToken.objects.create(user=user)[1]
    return user


def client_for(username):
    """A console session (django.test.Client) logged in as `username` (None: anonymous)."""
    client = Client()
    if username:
        assert client.login(username=username, password=PASSWORD)
    return client


class Api:
    """A machine caller: a user's token (or HTTP Basic, or nothing) and JSON bodies."""

    def __init__(self, token=None, basic=None):
        self.client = Client()
        self.headers = {}
        if token:
            self.headers["HTTP_AUTHORIZATION"] = f"Token {token}"
        if basic:
            raw = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
            self.headers["HTTP_AUTHORIZATION"] = f"Basic {raw}"

    def get(self, path, params=None):
        return self.client.get(path, params or {}, **self.headers)

    def post(self, path, body=None, raw=None, content_type="application/json"):
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self.client.post(path, data, content_type=content_type, **self.headers)

    def put(self, path, body):
        return self.client.put(path, json.dumps(body), content_type="application/json", **self.headers)

    def patch(self, path, body):
        return self.client.patch(path, json.dumps(body), content_type="application/json", **self.headers)

    def delete(self, path):
        return self.client.delete(path, **self.headers)
