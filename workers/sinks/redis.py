"""redis://host:port/db?key=<template>&mode=set|list&ttl=N

set mode (default): INSERT/UPDATE SET the key to the row as a JSON object
(with an expiry when ttl is given), DELETE removes the key; an UPDATE that
changes a key column deletes the old key. list mode: LPUSH each change as a
JSON event onto the key. A batch is one MULTI/EXEC round trip, so a batch is
applied whole or (connection lost) not acknowledged at all; replays are
harmless because SET/DEL by key are idempotent.

The key is a template (templates.py: `{$SchemaName}`, `{$TableName}`,
`{$EventType}`, `{$<column>}`), compiled once per sink. The default key is
`{$SchemaName}-{$TableName}-{$__pk__}`: the values of a composite key joined
by `-`; a table without a primary key is keyed by an md5 of the row.

key, mode and ttl (URI query or options) are all a redis target takes: the client is built from the URI's
host, port, db and credentials only, and any other setting is refused (options.py).
"""
from urllib.parse import parse_qs, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .base import Sink, SinkError
from .encoding import dumps_bytes, json_row
from .templates import Template

DEFAULT_TEMPLATE = "{$SchemaName}-{$TableName}-{$__pk__}"


def list_event(change) -> bytes:
    position = change.position
    return dumps_bytes({
        "SchemaName": change.schema,
        "TableName": change.table,
        "EventType": change.type.lower(),
        "Rows": json_row(change.row),
        "Old": json_row(change.old),
        "BinlogFile": position.binlog_file,
        "BinlogPosition": position.binlog_pos,
        "Gtid": position.gtid,
        "Seq": change.seq,
        "Timestamp": change.timestamp,
    })


class RedisSink(Sink):
    def __init__(self, uri, options=None, subscription=None):
        super().__init__(uri, options, subscription)
        parts = urlsplit(uri)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        options = self.options or {}
        self.mode = (options.get("mode") or query.get("mode") or "set").lower()
        if self.mode not in ("set", "list"):
            raise SinkError(f"redis mode must be 'set' or 'list', not '{self.mode}'", retryable=False)
        self.template = Template(options.get("key") or query.get("key") or DEFAULT_TEMPLATE)
        try:
            self.ttl = int(options.get("ttl") or query.get("ttl") or 0)
        except ValueError:
            raise SinkError("redis ttl must be a whole number of seconds", retryable=False) from None
        path = parts.path.strip("/")
        self.client = redis.Redis(
            host=parts.hostname or "127.0.0.1", port=parts.port or 6379, db=int(path) if path.isdigit() else 0,
            username=parts.username or None, password=parts.password or None,
            # Fail fast and let the subscription retry with its own backoff: redis-py's default retries
            # (three, with backoff: ~4 s against a stopped server) only held the dump loop, and every other
            # subscription of the instance with it. One immediate retry remains, for a pooled connection a
            # restarted server closed.
            socket_timeout=5, socket_connect_timeout=3,
            retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
        )

    def write(self, batch) -> None:
        pipe = self.client.pipeline(transaction=True)
        commands = 0
        for change in batch.changes:
            if not hasattr(change, "row"):  # a SchemaChange: nothing to store in a key-value target
                continue
            commands += self._queue(pipe, change)
        if not commands:
            return
        try:
            pipe.execute()
        except redis.ResponseError as exc:
            raise SinkError(f"redis refused a command: {exc}", retryable=True) from exc
        except redis.RedisError as exc:
            raise SinkError(f"redis write failed: {exc}", retryable=True) from exc

    def _queue(self, pipe, change) -> int:
        if self.mode == "list":
            pipe.lpush(self.template.render(change, change.row), list_event(change))
            return 1
        key = self.template.render(change, change.row)
        if change.type == "DELETE":
            pipe.delete(key)
            return 1
        if change.type == "UPDATE" and change.old is not None:
            old_key = self.template.render(change, change.old)
            if old_key != key:
                pipe.delete(old_key)
        value = dumps_bytes(change.row)  # redis-py would encode a str to these same bytes
        if self.ttl > 0:
            pipe.set(key, value, ex=self.ttl)
        else:
            # the command itself: pipe.set's option handling costs about as much as queueing it
            pipe.execute_command("SET", key, value)
        return 1

    def close(self) -> None:
        self.client.close()


SINK_CLASS = RedisSink
