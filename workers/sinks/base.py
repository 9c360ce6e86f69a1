"""The interface every target implements. One module per target in this package.

The engine calls `write(batch)` with whole transactions in binlog order and
moves the subscription's position only after `write` returned: a sink must
return only once every change of the batch is durable at the target (acked by
Kafka, confirmed by RabbitMQ, written to Redis/MongoDB/ClickHouse) and raise
otherwise. Writes must be idempotent, because after a crash the engine
re-delivers from the last committed position (at-least-once).
"""


class SinkError(Exception):
    """A write failed; `retryable` tells the engine whether retrying may help."""

    def __init__(self, message, retryable=True):
        super().__init__(message)
        self.retryable = retryable


class Sink:
    #: set by open_sink: the parsed URI and the subscription's options
    def __init__(self, uri: str, options: dict | None = None, subscription=None):
        self.uri = uri
        self.options = options or {}
        self.subscription = subscription

    def write(self, batch) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass
