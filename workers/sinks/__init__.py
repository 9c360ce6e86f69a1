"""Targets. `open_sink(uri, options)` returns the Sink for the URI's scheme."""
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
