"""Targets. `open_sink(uri, options)` returns the Sink for the URI's scheme.

Every sink refuses (Sink.__init__: a permanent SinkError) a URI or options with a setting not on the
allow-lists of workers/sinks/options.py before it or its client library acts on them: the domain checks them
when a user gives them, this catches whatever was written around it.
"""
from importlib import import_module
from urllib.parse import urlsplit

from .base import Sink, SinkError

MODULES = {
    "blackhole": "workers.sinks.blackhole",
    "redis": "workers.sinks.redis",
    "mongodb": "workers.sinks.mongodb",
    "clickhouse": "workers.sinks.clickhouse",
    "kafka": "workers.sinks.kafka",
    "amqp": "workers.sinks.amqp",
}


def open_sink(uri: str, options: dict | None = None, subscription=None) -> Sink:
    scheme = urlsplit(uri).scheme.lower()
    if scheme not in MODULES:
        raise SinkError(f"unsupported sink URI scheme '{scheme}'", retryable=False)
    return import_module(MODULES[scheme]).SINK_CLASS(uri, options, subscription)


__all__ = ["Sink", "SinkError", "open_sink"]
