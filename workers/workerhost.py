"""A Celery worker as a Tower worker host: its own dump queue and its `waves` heartbeat.

Connected to Celery's signals in tower/celery.py:
- celeryd_after_setup: also consume `tower.dump.<TOWER_WORKER_NAME>`, where the
  supervisor routes the dumps it gives this worker;
- worker_ready: register in `waves` and heartbeat every second from a thread; a
  second thread checks the fleet's owner every SUPERVISE_EVERY and, on the owner
  only, runs the supervisor pass (workers.tasks.hand_out) itself, so supervision
  survives the loss of beat's host as well as of any one worker;
- worker_shutting_down (the start of a warm shutdown) and worker_shutdown: stop the
  heartbeat and mark the wave dead. A dump of this worker sees that within a
  second (workers.dump), commits, releases its lease and returns, so the warm
  shutdown ends and another worker takes the instance at once.
"""
import logging
import os
import socket
import threading

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 1.0  # well inside console.domain.fleet.WORKER_TTL, the freshness that makes a worker alive
# The owner's supervisor pass; beat's "supervise" has the same period (tower/settings.py).
SUPERVISE_EVERY = float(os.environ.get("TOWER_SUPERVISE_EVERY", "3"))

_stop = threading.Event()
_thread = None
_supervisor = None


def dump_queue(name=None) -> str:
    return f"tower.dump.{name or settings.WORKER_NAME}"


def consume_own_queue(worker_instance) -> None:
    worker_instance.app.amqp.queues.select_add(dump_queue())


def _ip() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def heartbeat(name=None) -> None:
    """Register or refresh this worker in `waves`."""
    from console.models import Wave

    name = name or settings.WORKER_NAME
    now = timezone.now()
    # How many dumps it takes (tower/settings.py): the supervisor reads them here (workers.tasks.with_room).
    slots = {"dump_slots": settings.TOWER_DUMP_SLOTS, "host_dump_slots": settings.TOWER_DUMPS_PER_HOST}
    updated = Wave.objects.filter(name=name).update(state="alive", last_heartbeat=now, update_time=now, **slots)
    if not updated:
        Wave.objects.update_or_create(name=name, defaults={"ip": _ip(), "state": "alive", "last_heartbeat": now,
                                                           **slots})


def mark_dead(name=None) -> None:
    from console.models import Wave

    Wave.objects.filter(name=name or settings.WORKER_NAME).update(state="dead", update_time=timezone.now())


def _beat_forever():
    while not _stop.is_set():
        try:
            heartbeat()
        except Exception:  # noqa: BLE001 - a locked or unreachable metadata DB must not kill the thread
            log.exception("worker heartbeat failed")
        finally:
            close_old_connections()
        _stop.wait(HEARTBEAT_EVERY)


def supervise_if_owner(name=None) -> list | None:
    """Check the owner (electing one if it died); on the owner, one supervisor pass. None: not the owner."""
    from console.domain import fleet

    from .tasks import hand_out

    name = name or settings.WORKER_NAME
    now = timezone.now()
    if fleet.ensure_owner(now) != name:
        return None
    return hand_out(now)


def _supervise_forever():
    # A thread of its own: a pass waiting on the metadata database's lock must not delay the heartbeat, whose
    # lapse would cost this worker its place in the fleet (and the ownership).
    try:
        while not _stop.is_set():
            try:
                close_old_connections()
                supervise_if_owner()
            except Exception:  # noqa: BLE001 - a locked or unreachable metadata DB: try again next period
                log.exception("supervisor pass failed")
            finally:
                close_old_connections()
            _stop.wait(SUPERVISE_EVERY)
    finally:
        connection.close()  # this thread's own database connection


def start_heartbeat() -> None:
    global _thread, _supervisor
    _stop.clear()
    heartbeat()
    _thread = threading.Thread(target=_beat_forever, name="tower-heartbeat", daemon=True)
    _thread.start()
    _supervisor = threading.Thread(target=_supervise_forever, name="tower-supervisor", daemon=True)
    _supervisor.start()


def stop_heartbeat() -> None:
    _stop.set()
    if _thread is not None and _thread is not threading.current_thread():
        _thread.join(timeout=5)  # a heartbeat in flight must not mark the wave alive again after us
    if _supervisor is not None and _supervisor is not threading.current_thread():
        _supervisor.join(timeout=5)  # no dispatch from this worker once it is leaving
    try:
        mark_dead()
    except Exception:  # noqa: BLE001
        log.exception("could not mark this worker dead")
