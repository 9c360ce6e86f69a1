"""`probe(uri, options)`: can Tower reach this target with these settings? Opens the sink the way a
subscription would (so the allow-lists of options.py refuse what they refuse, before any client acts), makes
one round trip with a short timeout, and closes it. Nothing is written."""
from urllib.parse import urlsplit

from . import open_sink
from .base import SinkError

PROBE_TIMEOUT = 5  # seconds, for the round trips that take a timeout


def _redis(sink):
    sink.client.ping()
    return "PING answered"


def _mongodb(sink):
    sink.client.admin.command("ping", maxTimeMS=PROBE_TIMEOUT * 1000)
    return "ping answered"


def _clickhouse(sink):
    sink.client.execute("SELECT 1")
    return "SELECT 1 answered"


def _kafka(sink):
    metadata = sink._get_producer().list_topics(timeout=PROBE_TIMEOUT)
    return f"{len(metadata.brokers)} broker(s) answered"


def _amqp(sink):
    sink._open()
    return "connected and channel opened"


ROUND_TRIPS = {"redis": _redis, "mongodb": _mongodb, "clickhouse": _clickhouse, "kafka": _kafka, "amqp": _amqp}


def probe(uri: str, options: dict | None = None) -> str:
    """What answered (a short sentence), or SinkError saying why the target cannot be used (secrets masked)."""
    sink = open_sink(uri, options)
    try:
        round_trip = ROUND_TRIPS.get(urlsplit(uri).scheme.lower())
        return round_trip(sink) if round_trip else "nothing to reach (blackhole discards every change)"
    except SinkError:
        raise
    except Exception as exc:  # each client library has its own errors; all mean "cannot use it now"
        raise SinkError(f"cannot reach the target: {exc}", retryable=True) from None
    finally:
        try:
            sink.close()
        except Exception:  # closing a connection that never opened is not the answer asked for
            pass
