"""A subscription's own delivery thread, so that a target that hangs holds back only its subscription.

The dump loop hands each active subscription its batch through its courier and waits for all of them, at most
TOWER_TARGET_STALL_SECONDS; one still writing after that is left to finish on its own while the loop reads on
for the others (workers/dump.py). A courier runs one job at a time; while a job runs, the dump loop leaves its
subscription alone (`busy`), so a SubscriptionRuntime is only ever touched by one thread at a time.

The thread is a daemon: a write that never returns (a target that accepts a connection and never answers,
with no timeout of its own) must not keep the worker process from exiting.
"""
import logging
import queue
import threading
from concurrent.futures import Future

from django.db import connections

log = logging.getLogger(__name__)

_STOP = object()


class Courier:
    def __init__(self, name):
        self._jobs = queue.SimpleQueue()
        self._current = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        """A job was handed over and has not finished."""
        return self._current is not None and not self._current.done()

    def submit(self, fn, *args) -> Future:
        if self.busy:
            raise RuntimeError("a courier runs one job at a time")
        future = Future()
        self._current = future
        self._jobs.put((future, fn, args))
        return future

    def stop(self, then=None):
        """End the thread after the job it may be running; `then()` runs in it last (e.g. close the sink)."""
        self._jobs.put((_STOP, then, ()))

    def _run(self):
        while True:
            future, fn, args = self._jobs.get()
            if future is _STOP:
                if fn is not None:
                    try:
                        fn()
                    except Exception:  # noqa: BLE001 - a close at the end must not raise in a dead thread
                        log.exception("%s: closing failed", self._thread.name)
                connections.close_all()
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - the dump loop re-raises it (Fenced, Stop, a bug)
                future.set_exception(exc)
            finally:
                # A job may have used the metadata DB (a changefeed's audit): its connection is this thread's.
                connections.close_all()
