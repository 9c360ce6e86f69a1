import pytest
from django.contrib import admin
from django.contrib.auth.models import User

from console import models

pytestmark = pytest.mark.django_db


def test_every_model_is_registered():
    from django.apps import apps

    for model in apps.get_app_config("console").get_models():
        assert admin.site.is_registered(model), model.__name__


def test_admin_lists_and_forms_never_show_secrets(client):
    User.objects.create_superuser("root", password="pw")
    client.login(username="root", password="pw")
    group = models.Group.objects.create(name="g")
    inst = models.Instance.objects.create(group=group, host="h", port=1, password="PLAIN-PW-123")
    target = models.Target.objects.create(group=group, name="t", uri="amqp://u:PLAIN-PW-456@h:5672/%2F")
    pages = [
        "/admin/console/instance/", f"/admin/console/instance/{inst.pk}/change/",
        "/admin/console/target/", f"/admin/console/target/{target.pk}/change/",
    ]
    for model in ("group", "member", "superadmin", "filter", "mqrule", "mqfilterrelation", "rule", "subscription",
                  "checkpoint", "flowsample", "wave", "config", "auditlog"):
        pages.append(f"/admin/console/{model}/")
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert b"PLAIN-PW" not in response.content, url


def test_admin_keeps_secret_when_left_empty(client):
    User.objects.create_superuser("root", password="pw")
    client.login(username="root", password="pw")
    group = models.Group.objects.create(name="g")
    inst = models.Instance.objects.create(group=group, host="h", port=1, user="u", password="keep-me")
    data = {"group": group.pk, "slave_id": 7, "host": "h", "port": 1, "status": "init", "user": "u", "password": "",
            "request_id": "", "url": "", "comment": "", "state": "OFFLINE", "slave_uuid": "", "meta_version": 0,
            "binlog_file": "", "binlog_pos": 0, "gtid_set": "", "binlog_when": 0, "transaction_id": 0, "leader": "",
            "pre_leader": "", "leader_version": 0, "candidates": "[]", "retry_times": 0, "kill_times": 0,
            "last_error": "", "master_file": "", "master_pos": 0, "master_gtid": "", "lag_bytes": 0, "lag_events": 0,
            "lag_seconds": 0}
    response = client.post(f"/admin/console/instance/{inst.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]
    inst.refresh_from_db()
    assert (inst.slave_id, inst.password) == (7, "keep-me")
