"""The Celery app `tower`: `celery -A tower worker`, `celery -A tower beat`."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tower.settings")

app = Celery("tower")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers"])


# Engine worker hosts: consume the worker's own dump queue and heartbeat into `waves` (workers.workerhost).
from celery.signals import (  # noqa: E402
    after_setup_logger, after_setup_task_logger, celeryd_after_setup, worker_ready, worker_shutdown,
    worker_shutting_down,
)


@after_setup_logger.connect
@after_setup_task_logger.connect
def _mask_secrets_in_logs(logger, **kwargs):
    """Celery sets up its own handlers in place of the settings' LOGGING: they mask secrets too."""
    from workers.masking import MaskSecrets

    for handler in logger.handlers:
        if not any(isinstance(f, MaskSecrets) for f in handler.filters):
            handler.addFilter(MaskSecrets())


@celeryd_after_setup.connect
def _consume_own_dump_queue(sender, instance, **kwargs):
    from workers.workerhost import consume_own_queue

    consume_own_queue(instance)


@worker_ready.connect
def _start_heartbeat(sender, **kwargs):
    from workers.workerhost import start_heartbeat

    start_heartbeat()


@worker_shutting_down.connect
@worker_shutdown.connect
def _stop_heartbeat(sender, **kwargs):
    from workers.workerhost import stop_heartbeat

    stop_heartbeat()
