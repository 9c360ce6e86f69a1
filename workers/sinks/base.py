"""The interface every target implements. One module per target in this package.

The engine calls `write(batch)` with whole transactions in binlog order and
moves the subscription's position only after `write` returned: a sink must
return only once every change of the batch is durable at the target (acked by
Kafka, confirmed by RabbitMQ, written to Redis/MongoDB/ClickHouse) and raise
otherwise. Writes must be idempotent, because after a crash the engine
re-delivers from the last committed position (at-least-once).

Sink.__init__ refuses a URI or options with a setting not on the allow-lists of options.py, so no sink
passes an unlisted setting on to its client library.
"""
from workers.masking import mask_text

from .options import check_target


class SinkError(Exception):
    """A write failed; `retryable` tells the engine whether retrying may help.

    The message is shown to every member of the group (the subscription's error) and logged, and may echo a
    client library's message quoting the sink URI or its settings: URIs and secrets in it are masked here."""

    def __init__(self, message, retryable=True):
        super().__init__(mask_text(str(message)))
        self.retryable = retryable


class Sink:
    #: set by open_sink: the parsed URI and the subscription's options
    def __init__(self, uri: str, options: dict | None = None, subscription=None):
        problems = check_target(uri, options)
        if problems:
            raise SinkError(f"target settings refused: {'; '.join(problems)}", retryable=False)
        self.uri = uri
        self.options = options or {}
        self.subscription = subscription

    def write(self, batch) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass
