"""The Celery app `tower`: `celery -A tower worker`, `celery -A tower beat`."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tower.settings")

app = Celery("tower")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers"])
